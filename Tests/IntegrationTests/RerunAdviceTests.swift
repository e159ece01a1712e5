import Foundation
import XCTest

/// Every message that advises a rerun is followed here by exactly that rerun, which must
/// finish. (Others live beside the behaviour they test: ResumeSafetyTests, LeastPrivilegeTests,
/// NodeSettingsTests, InterruptionTests, StartFailureTests.)
final class RerunAdviceTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func withVerifyTimeout(_ arguments: [String], _ seconds: Int) -> [String] {
        var arguments = arguments
        if let at = arguments.firstIndex(of: "--verify-timeout") { arguments[at + 1] = String(seconds) }
        return arguments
    }

    /// "did not verify within N s ... rerun to verify again, or raise --verify-timeout": the
    /// rerun's --verify-timeout counts (it used to be the journal's); once the cause is gone,
    /// the rerun finishes.
    func testVerifyTimeoutAdviceRerunsWithTheNewTimeout() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "verify:before"]).status, 128 + SIGKILL)
        // The standby streams but does not replay: it cannot catch up with a new commit.
        f.pg1.waitFor("SELECT pg_is_in_recovery()", toBe: "t")
        try f.pg1.sql("SELECT pg_wal_replay_pause()")
        try f.pg2.sql("INSERT INTO orders VALUES (9001, 'after the pause')")
        let timedOut = try sandbox.rejoin(withVerifyTimeout(arguments, 3))
        XCTAssertEqual(timedOut.status, 21, timedOut.output)
        XCTAssertTrue(timedOut.stderr.contains("did not verify within 3 s"), timedOut.stderr)
        XCTAssertTrue(timedOut.stderr.contains("rerun to verify again, or raise --verify-timeout"), timedOut.stderr)

        // The advice: the cause gone, the rerun with a longer timeout finishes.
        try f.pg1.sql("SELECT pg_wal_replay_resume()")
        let rerun = try sandbox.rejoin(withVerifyTimeout(arguments, 60))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        f.pg1.waitFor("SELECT count(*) FROM orders WHERE id = 9001", toBe: "1")
    }

    /// "refused the password ... Put the replication password in a passfile (--passfile ...)":
    /// the rerun with the passfile, and nothing else, finishes.
    func testAWrongPasswordThenThePassfile() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256", "host all repl 127.0.0.1/32 scram-sha-256"])
        let wrong = sandbox.root + "/wrong-pgpass"
        try "127.0.0.1:*:*:repl:not-the-password\n".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        try Sandbox.giveToPostgres(wrong)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let at = try XCTUnwrap(arguments.firstIndex(of: sandbox.passfile))
        arguments[at] = wrong
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("Put the replication password in a passfile (--passfile"), refused.stderr)
        arguments[at] = sandbox.passfile
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "may not replicate ... On the upstream run ALTER ROLE repl REPLICATION": done, rerun.
    func testARoleWithoutReplicationThenAlterRole() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.sql("ALTER ROLE repl NOREPLICATION")
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("On the upstream run ALTER ROLE repl REPLICATION"), refused.stderr)
        try f.pg2.sql("ALTER ROLE repl REPLICATION")
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }
}
