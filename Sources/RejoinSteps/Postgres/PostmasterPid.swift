import Foundation

/// The lines of `postmaster.pid` (see PostgreSQL's pidfile.h): pid, data directory, start time,
/// port, socket directory, listen address, shared memory key, status.
public struct PostmasterPid: Sendable, Equatable {
    public var pid: Int32
    public var dataDirectory: String
    public var port: Int?
    public var socketDirectory: String?
    public var listenAddress: String?
    public var status: String?

    public init?(parsing text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = lines.first, let pid = Int32(first), pid > 0 else { return nil }
        func line(_ i: Int) -> String? { i < lines.count && !lines[i].isEmpty ? lines[i] : nil }
        self.pid = pid
        self.dataDirectory = line(1) ?? ""
        self.port = line(3).flatMap { Int($0) }
        // The socket directory line may list several, comma-separated; the first is the one
        // libpq should use.
        self.socketDirectory = line(4).map { String($0.split(separator: ",").first ?? "") }.flatMap { $0.isEmpty ? nil : $0 }
        self.listenAddress = line(5)
        self.status = line(7)
    }

    public static func read(dataDirectory: String) -> PostmasterPid? {
        Files.read(dataDirectory + "/postmaster.pid").flatMap { PostmasterPid(parsing: $0) }
    }
}
