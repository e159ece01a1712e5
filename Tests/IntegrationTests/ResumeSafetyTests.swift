import Foundation
import XCTest

/// What a rerun finds after a run stopped: a directory pg_rewind left half-written is never
/// handed back as the old data, the rerun a message advises finishes, and a primary started by
/// hand since is not stopped without --demote.
final class ResumeSafetyTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func assertStreams(_ f: Failover, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), file: file, line: line)
    }

    /// A plain `pg_ctl start`, once (PostgresNode.start retries).
    func plainStart(_ node: PostgresNode) throws -> CommandResult {
        try Command.run([sandbox.bindir + "/pg_ctl", "start", "-w", "-t", "20", "-D", node.dataDirectory, "-l", node.logFile],
                        asPostgres: true)
    }

    func oldList(_ node: PostgresNode) throws -> String {
        try sandbox.rejoin(["old", "list", "--pgdata", node.dataDirectory, "--bindir", sandbox.bindir]).stdout
    }

    /// pg_rewind killed part-way (the whole run with it): abort does not call the directory
    /// "the old data", it is marked so it cannot start, and what is intact is named; the next
    /// run copies, and `old list` marks the damaged copy.
    func testAKilledRewindIsMarkedDamagedNeverOfferedBackAsTheOldData() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto")
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "rewind:during"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)

        let abort = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(abort.status, 0, abort.output)
        XCTAssertFalse(abort.output.contains("the old data directory is back"), abort.output)
        XCTAssertTrue(abort.output.contains("is not the old data"), abort.output)
        XCTAssertTrue(abort.output.contains("the WAL from the fork"), abort.output)
        let marker = try String(contentsOfFile: f.pg1.dataDirectory + "/PG_REJOIN_DAMAGED", encoding: .utf8)
        XCTAssertTrue(marker.contains("partly rewritten by pg_rewind"), marker)
        XCTAssertTrue(marker.contains("divergence-"), "names where the divergent WAL is: \(marker)")
        // A plain start refuses it.
        let start = try plainStart(f.pg1)
        XCTAssertNotEqual(start.status, 0, start.output)
        XCTAssertFalse(f.pg1.isRunning)
        XCTAssertTrue(try String(contentsOfFile: f.pg1.logFile, encoding: .utf8).contains("pg_rejoin_damaged_by_interrupted_pg_rewind"))

        // The next run sees the mark: a full copy, and the damaged directory kept aside, marked.
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("method basebackup: the data directory was partly rewritten by an interrupted pg_rewind"), rerun.stdout)
        try assertStreams(f)
        let list = try oldList(f.pg1)
        XCTAssertTrue(list.contains("DAMAGED"), list)
    }

    /// --method rewind, pg_rewind fails part-way: the message advises --method basebackup, and
    /// exactly that rerun finishes (it used to exit 20 forever: the journal's plan won).
    func testAfterAFailedExplicitRewindTheAdvisedRerunCopies() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let failed = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"),
                                        environment: ["PG_REJOIN_FAULT": "rewind:child"])
        XCTAssertEqual(failed.status, 20, failed.output)
        XCTAssertTrue(failed.stderr.contains("Rerun with --method basebackup (or auto)"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("marked damaged"), failed.stderr)
        // Marked where it is: --method rewind moved nothing.
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/PG_REJOIN_DAMAGED"), "marked in place")
        XCTAssertEqual(siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }, [], "nothing was moved")

        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "basebackup"))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("falling back to a full copy"), rerun.stdout)
        try assertStreams(f)
        let list = try oldList(f.pg1)
        XCTAssertTrue(list.contains("DAMAGED"), list)
        let copy = try XCTUnwrap(siblings(of: f.pg1).first { $0.hasPrefix("data.old-") })
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.home + "/" + copy + "/PG_REJOIN_DAMAGED"))
    }

    /// An interrupted run; the operator starts the node by hand as a primary and writes to it.
    /// The rerun applies a first run's rule: no stopping a primary without --demote.
    func testAResumeDoesNotStopAPrimaryStartedByHandWithoutDemote() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "set-aside:before"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)

        try f.pg1.start()
        try f.pg1.sql("INSERT INTO orders VALUES (90001, 'written by hand after the interruption')")
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 12, rerun.output)
        XCTAssertTrue(rerun.stderr.contains("rerun with --demote"), rerun.stderr)
        XCTAssertTrue(f.pg1.isRunning, "the primary was stopped")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE id = 90001"), "1")

        let demoted = try sandbox.rejoin(arguments + ["--demote"])
        XCTAssertEqual(demoted.status, 0, demoted.output)
        try assertStreams(f)
    }

    /// --from auto chose pg2 among the peers; before the first change a third node was
    /// promoted too. Every peer is asked again there: two primaries stop the run, exit 13,
    /// nothing changed; once one is fenced the rerun finishes.
    func testTwoPrimariesFoundLateStopTheRunBeforeAnyChange() throws {
        let f = try Failover.make(in: sandbox)
        let pg3 = try sandbox.node("pg3")
        try pg3.cloneAsStandby(of: f.pg2)
        try pg3.start()
        pg3.waitFor("SELECT pg_is_in_recovery()", toBe: "t")
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", "\(f.pg2.address),\(pg3.address)"])
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "set-aside:before"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertTrue(killed.stdout.contains("primary among the peers: \(f.pg2.address)"), killed.output)
        let before = try DataSnapshot(f.pg1.dataDirectory)

        try pg3.promote()
        // `--from auto` would see both at discovery already (exit 13 too); naming the chosen
        // primary resumes the journaled run, whose recorded peers are all asked again.
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(refused.status, 13, refused.output)
        XCTAssertTrue(refused.stderr.contains("no longer show \(f.pg2.address) as the only primary"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains(pg3.address), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), ["data.rejoin"])

        try pg3.stop()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        try assertStreams(f)
    }
}
