import Foundation
import XCTest

/// The seed's own setup: `CREATE ROLE repl LOGIN REPLICATION` and nothing more. Each richer
/// role is a case here, not the default: every rejoin ends with exit 0, and what a missing grant
/// costs is said once, with the grant that would lift it.
final class LeastPrivilegeTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func assertStreams(_ f: Failover, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", file: file, line: line)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming", file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), file: file, line: line)
    }

    func journal(_ f: Failover) throws -> String {
        try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
    }

    func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// REPLICATION LOGIN only, under auto: the rewind checks see the missing grants before
    /// anything changes, so no crash recovery and no pg_rewind attempt; a full copy; verify
    /// relies on the local WAL receiver and says once that the upstream side was skipped.
    func testReplicationOnlyRoleCopiesAndVerifiesWithoutTheUpstreamSideCheck() throws {
        let f = try Failover.make(in: sandbox)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method basebackup: pg_rewind is not possible (upstream-role-privileges"), result.stdout)
        XCTAssertTrue(result.stdout.contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO repl"), result.stdout)
        XCTAssertFalse(result.stdout.contains("recover-local"), "no crash recovery before a copy: \(result.stdout)")
        XCTAssertFalse(result.stdout.contains("falling back"), "no pg_rewind attempt: \(result.stdout)")
        XCTAssertTrue(result.stdout.contains("clone done"), result.stdout)
        XCTAssertEqual(occurrences(of: "upstream-side check was skipped", in: result.output), 1, result.output)
        XCTAssertTrue(result.output.contains("GRANT pg_monitor TO repl enables the check"), result.output)
        XCTAssertTrue(try journal(f).contains(#""verify.upstream-side":"skipped""#))
        try assertStreams(f)

        // heal on the healthy standby with the same role: nothing to do, exit 0.
        let heal = try sandbox.rejoin(["heal", "--pgdata", f.pg1.dataDirectory, "--peers", "\(f.pg1.address),\(f.pg2.address)",
                                       "--passfile", sandbox.passfile, "--bindir", sandbox.bindir, "--node-name", "pg1",
                                       "--verify-timeout", "60"])
        XCTAssertEqual(heal.status, 0, heal.output)
    }

    /// --method rewind with the seed's role refuses before anything changes, naming the grants;
    /// the rerun its message advises (--method auto) finishes.
    func testExplicitRewindRefusesWithTheGrantsAndTheAdvisedRerunFinishes() throws {
        let f = try Failover.make(in: sandbox)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO repl"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("rerun with --method auto"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("Nothing was changed\n(exit 10: refused)"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])

        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        try assertStreams(f)
    }

    /// + pg_monitor: the upstream-side check runs, and nothing is said about it.
    func testWithPgMonitorTheUpstreamSideIsChecked() throws {
        let f = try Failover.make(in: sandbox, grants: .monitor)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertFalse(result.output.contains("upstream-side check was skipped"), result.output)
        XCTAssertFalse(try journal(f).contains("verify.upstream-side"))
        try assertStreams(f)
    }

    /// + the pg_rewind grants and pg_checkpoint, without pg_monitor: the fast path, right
    /// after the promotion (the upstream needs a CHECKPOINT the role may now run).
    func testWithTheRewindGrantsAutoRewinds() throws {
        let f = try Failover.make(in: sandbox, grants: .rewind)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertTrue(result.stdout.contains("upstream-role-privileges: ok"), result.stdout)
        XCTAssertTrue(result.stdout.contains("rewind done"), result.stdout)
        XCTAssertEqual(occurrences(of: "upstream-side check was skipped", in: result.output), 1, result.output)
        try assertStreams(f)
    }

    /// The seed's hba, on two hosts: a line for replication and nothing else. Preflight refuses
    /// before any change with the exact line to add; with it added, the rerun finishes.
    func testReplicationOnlyHBAIsRefusedWithTheLineToAdd() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256"])
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(refused.status, 10, refused.output)
        let line = "host postgres repl 127.0.0.1/32 scram-sha-256"
        XCTAssertTrue(refused.stderr.contains("Add `\(line)`"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("Nothing was changed\n(exit 10: refused)"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])

        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256", line])
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        try assertStreams(f)
    }
}
