import Foundation
import XCTest

/// Bad upstreams and bad situations: a clear error, a documented exit code, nothing changed.
final class RefusalTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    /// Runs pg-rejoin on pg1 and asserts the exit code, the message, and that pg1's data
    /// directory and its siblings are exactly as before.
    func assertRefused(_ local: PostgresNode, from upstream: String, status: Int32, message: String,
                       extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let running = local.isRunning
        let before = try DataSnapshot(local.dataDirectory, running: running)
        let siblingsBefore = siblings(of: local)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: local, from: upstream, extra: extra))
        XCTAssertEqual(result.status, status, result.output, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "expected '\(message)' in: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("Nothing was changed"), result.stderr, file: file, line: line)
        XCTAssertEqual(try DataSnapshot(local.dataDirectory, running: running), before, "data directory changed", file: file, line: line)
        XCTAssertEqual(siblings(of: local), siblingsBefore, file: file, line: line)
        XCTAssertFalse(result.output.contains(sandbox.password), file: file, line: line)
    }

    func testUpstreamThatIsAStandbyIsRefused() throws {
        let f = try Failover.make(in: sandbox, promote: false)
        try assertRefused(f.pg1, from: f.pg2.address, status: 10, message: "is in recovery (a standby)")
    }

    func testUpstreamOfAnotherClusterIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        let other = try sandbox.node("other")
        try other.initdb()
        try other.start()
        try other.sql("CREATE ROLE repl LOGIN REPLICATION PASSWORD '\(sandbox.password)'")
        try assertRefused(f.pg1, from: other.address, status: 10, message: "belongs to another cluster")
    }

    func testUnreachableUpstreamIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try assertRefused(f.pg1, from: "127.0.0.1:\(Command.freePort())", status: 10, message: "cannot reach the upstream")
    }

    func testSecondConcurrentRunIsRefusedAndNamesTheHolder() throws {
        let f = try Failover.make(in: sandbox)
        // Another pg-rejoin is mid-run: it holds the flock on the lock file with its pid in it.
        let work = f.pg1.dataDirectory + ".rejoin"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let fd = open(work + "/lock", O_RDWR | O_CREAT, 0o600)
        try Sandbox.giveToPostgres(work)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let pid = "\(getpid())\n"
        XCTAssertEqual(write(fd, pid, pid.utf8.count), pid.utf8.count)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 11, result.output)
        XCTAssertTrue(result.stderr.contains("another pg-rejoin (pid \(getpid()))"), result.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/journal.jsonl"))
    }

    func testUsageErrorsChangeNothing() throws {
        let f = try Failover.make(in: sandbox)
        for (arguments, message) in [
            (["--from", "", "--pgdata", f.pg1.dataDirectory], "--from is empty"),
            (["--from", "127.0.0.1:70000", "--pgdata", f.pg1.dataDirectory], "invalid port"),
            (["--from", f.pg2.address, "--pgdata", f.pg1.dataDirectory, "--method", "magic"], "--method 'magic' is not known"),
            (["--from", f.pg2.address, "--pgdata", f.pg1.dataDirectory, "--verify-timeout", "-5"], "--verify-timeout"),
        ] {
            let before = try DataSnapshot(f.pg1.dataDirectory)
            let result = try sandbox.rejoin(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.output)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        }
    }

    func testMissingDataDirectoryIsRefused() throws {
        let result = try sandbox.rejoin(["--from", "127.0.0.1:5432", "--pgdata", sandbox.root + "/nope"])
        XCTAssertEqual(result.status, 10, result.output)
        XCTAssertTrue(result.stderr.contains("does not exist"), result.stderr)
    }
}
