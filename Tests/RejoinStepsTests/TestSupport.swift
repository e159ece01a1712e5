import Foundation
import XCTest
@testable import RejoinSteps

/// Files under the package's `fixtures/` directory, found from this source file's path:
/// …/Tests/RejoinStepsTests/TestSupport.swift → package root → fixtures/.
enum Fixtures {
    static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // RejoinStepsTests
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // package root
        .appendingPathComponent("fixtures").path

    static func path(_ relative: String) -> String { root + "/" + relative }

    static func text(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = path(relative)
        guard let data = FileManager.default.contents(atPath: path) else {
            XCTFail("missing fixture \(path)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when the value goes away.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "rejoin-tests") throws {
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath().path
        // No `//` or symlinked prefix: paths compared by the code under test must be canonical.
        path = (base as NSString).appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` at `relative` (creating parent directories) and returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        return full
    }

    func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }
}

/// Plans as preflight would compute them, with only the fields a test cares about varied.
enum TestPlans {
    static let pgdata = "/var/lib/postgresql/15/main"

    static func plan(runID: String = "20251124T180000Z",
                     nodeName: String = "pg1",
                     pgdata: String = TestPlans.pgdata,
                     upstream: UpstreamAddress = UpstreamAddress(host: "pg2"),
                     user: String = "repl",
                     passfile: String? = nil,
                     format: Int = RejoinPlan.formatVersion) -> RejoinPlan {
        let work = pgdata + ".rejoin"
        return RejoinPlan(
            format: format, runID: runID, created: Date(timeIntervalSince1970: 1_764_007_200),
            upstream: UpstreamEndpoint(address: upstream, user: user, database: "postgres", passfile: passfile, connectTimeout: 10),
            nodeName: nodeName, pgdata: pgdata, workDirectory: work, stagingDirectory: work + "/staging",
            oldDataDirectory: pgdata + ".old-" + runID, oldDataIdentity: FileIdentity(device: 2049, inode: 131_073),
            walDirectory: nil, bindir: "/usr/lib/postgresql/15/bin", majorVersion: 15,
            systemIdentifier: "7711815148230747666", method: "basebackup",
            steps: [.preflight, .stopLocal, .setAside, .clone, .keepLocalConfig, .writeStandbyConfig, .swapIn, .start, .verify],
            localUser: "postgres", serverLog: work + "/postgresql-\(runID).log", verifyTimeout: 120,
            upstreamBytes: 31_457_280)
    }
}

extension TemporaryDirectory {
    /// stdout and stderr of a short command (through files in this directory: no pipe to fill).
    func run(_ argv: [String]) throws -> (String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let out = path + "/run.out", err = path + "/run.err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        defer { unlink(out); unlink(err) }
        return (try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }
}

extension ChecksumAlgorithm {
    /// The checksum of `data` as lowercase hex, as a manifest holds it.
    func hex(of data: Data) throws -> String {
        let digest = try makeDigest()
        try data.withUnsafeBytes { try digest.update($0) }
        return try digest.finish()
    }
}
