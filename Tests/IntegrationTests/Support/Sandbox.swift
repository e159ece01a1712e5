import Foundation
import XCTest

/// A temporary directory for one test's servers, removed (servers stopped first) at the end.
final class Sandbox {
    let root: String
    private(set) var nodes: [PostgresNode] = []
    let bindir = ProcessInfo.processInfo.environment["PG_BINDIR"] ?? "/usr/lib/postgresql/15/bin"

    /// The major of the servers under test (`postgres -V` of bindir).
    lazy var major: Int = {
        let result = try? Command.run([bindir + "/postgres", "-V"])
        let words = (result?.stdout ?? "").split(whereSeparator: \.isWhitespace)
        return words.firstIndex(of: "(PostgreSQL)").flatMap { Int(words[$0 + 1].prefix { $0.isNumber }) } ?? 0
    }()
    let password = "s3cret-Pa55-\(UUID().uuidString.prefix(8))"
    let passfile: String

    init() throws {
        root = "/tmp/pg-rejoin-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        passfile = root + "/pgpass"
        try "127.0.0.1:*:*:repl:\(password)\n".write(toFile: passfile, atomically: true, encoding: .utf8)
        chmod(passfile, 0o600)
        try Sandbox.giveToPostgres(passfile)
    }

    /// Directories the servers (and pg-rejoin, which becomes the data directory's owner) write.
    static func giveToPostgres(_ path: String) throws {
        guard Command.isRoot else { return }
        try Command.check(["/bin/chown", "-R", "postgres:postgres", path])
    }

    func node(_ name: String) throws -> PostgresNode {
        let node = try PostgresNode(name: name, sandbox: self)
        nodes.append(node)
        return node
    }

    func tearDown() {
        for node in nodes { node.stopQuietly() }
        if ProcessInfo.processInfo.environment["KEEP_SANDBOX"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    // MARK: pg-rejoin itself

    /// The package's root, from this file's path.
    static let repositoryRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["PG_REJOIN_BIN"] { return explicit }
        return repositoryRoot + "/.build/debug/pg-rejoin"
    }()

    func rejoin(_ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
        try Command.run([Sandbox.binary] + arguments, environment: environment)
    }

    /// The usual arguments for rejoining `local` from `upstream`.
    /// Tests of the copy path name basebackup; the rewind tests pass auto or rewind.
    func rejoinArguments(local: PostgresNode, from upstream: String, method: String = "basebackup", extra: [String] = []) -> [String] {
        ["--from", upstream, "--pgdata", local.dataDirectory, "--passfile", passfile, "--node-name", local.name,
         "--bindir", bindir, "--verify-timeout", "60", "--connect-timeout", "3", "--method", method] + extra
    }
}
