import Foundation
import RejoinSteps
import XCTest

/// The fast path: pg_rewind copies only what changed since the fork, and falls back to a full
/// copy when it cannot be trusted.
final class RewindTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func assertStreamsWithUpstreamRows(_ f: Failover, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", file: file, line: line)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming", file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE note = 'lost'"), "0", file: file, line: line)
    }

    /// --method rewind must refuse without touching PGDATA, so pg_rewind checks in a dry run
    /// first; under auto a failed pg_rewind ends in a full copy anyway, and the dry run is skipped.
    func testExplicitRewindChecksWithADryRunFirstAndAutoDoesNot() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(result.status, 0, result.output)
        try assertStreamsWithUpstreamRows(f)
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains(#""rewind.dry-run":"passed""#), journal)
        XCTAssertFalse(journal.contains("skipped under auto"), journal)
    }

    func testCrashedDivergedPrimaryIsRewoundInPlaceAndTheDivergenceIsReported() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertTrue(result.stdout.contains("recover-local done"), result.stdout)
        XCTAssertTrue(result.stdout.contains("rewind done"), result.stdout)
        XCTAssertFalse(result.stdout.contains("] clone"), "no full copy: \(result.stdout)")
        XCTAssertEqual(siblings(of: f.pg1), ["data.rejoin"], "rewound in place, no old copy, no staging")
        try assertStreamsWithUpstreamRows(f)
        // The node kept its own configuration although pg_rewind copied the upstream's.
        XCTAssertTrue(try String(contentsOfFile: f.pg1.dataDirectory + "/postgresql.conf", encoding: .utf8).contains("port = \(f.pg1.port)"))

        // What was thrown away is saved and named: the 50 lost orders.
        let work = f.pg1.dataDirectory + ".rejoin"
        let divergence = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: work).first { $0.hasPrefix("divergence-") })
        let report = try String(contentsOfFile: "\(work)/\(divergence)/report.txt", encoding: .utf8)
        XCTAssertTrue(report.contains("postgres.orders"), report)
        XCTAssertTrue(report.contains("commits after the fork: 1"), report)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: "\(work)/\(divergence)/wal").isEmpty)
        XCTAssertTrue(result.stdout.contains(divergence), "the output says where the saved WAL is")
        let journal = try String(contentsOfFile: work + "/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("skipped under auto"), journal)
        // Written while crash recovery ran, not beside pg_rewind.
        XCTAssertTrue(journal.contains(#""divergence.early-report":"1 commits"#), journal)
        // Made durable by syncfs where the kernel reports its errors (and a streaming standby
        // with the upstream's rows above says nothing was lost to --no-sync).
        XCTAssertTrue(journal.contains(FileSystemSync.reportsErrors ? "syncfs of each file system" : "an fsync of every file"), journal)
    }

    /// A former primary stopped cleanly after it diverged needs no crash recovery: the rewind
    /// step saves the WAL after the fork and writes the report itself, beside pg_rewind.
    func testACleanlyStoppedDivergedPrimaryGetsItsReportFromTheRewindStep() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        try f.pg1.start()   // crash recovery as a primary, still on the old timeline
        try f.pg1.stop()
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertTrue(result.stdout.contains("rewind done"), result.stdout)
        try assertStreamsWithUpstreamRows(f)

        let work = f.pg1.dataDirectory + ".rejoin"
        let divergence = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: work).first { $0.hasPrefix("divergence-") })
        let report = try String(contentsOfFile: "\(work)/\(divergence)/report.txt", encoding: .utf8)
        XCTAssertTrue(report.contains("postgres.orders"), report)
        let journal = try String(contentsOfFile: work + "/journal.jsonl", encoding: .utf8)
        XCTAssertFalse(journal.contains("divergence.early-report"), "recover-local did not run: \(journal)")
    }

    func testWithoutWalLogHintsRewindRefusesAndAutoCopiesInstead() throws {
        let f = try Failover.make(in: sandbox, walLogHints: false, grants: .all)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("hint-bits-logged"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("wal_log_hints"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])

        let auto = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(auto.status, 0, auto.output)
        XCTAssertTrue(auto.stdout.contains("method basebackup: pg_rewind is not possible (hint-bits-logged)"), auto.stdout)
        XCTAssertTrue(auto.stdout.contains("clone done"), auto.stdout)
        try assertStreamsWithUpstreamRows(f)
    }

    func testANodeThatNeverDivergedOnlyGetsStandbyConfig() throws {
        let f = try Failover.make(in: sandbox, diverge: false, grants: .all)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("not diverged"), result.stdout)
        XCTAssertFalse(result.stdout.contains("] clone"), result.stdout)
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("\"rewind.decision\":\"not-diverged\""), journal)
        // Nothing after the fork: no divergent WAL saved, no report (the name carries the run id).
        let work = try FileManager.default.contentsOfDirectory(atPath: f.pg1.dataDirectory + ".rejoin")
        XCTAssertEqual(work.filter { $0.hasPrefix("divergence-") }, [], "\(work)")
        try assertStreamsWithUpstreamRows(f)
    }

    func testKilledDuringPgRewindFallsBackToAFullCopyAndKeepsTheDamagedDirectory() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto")
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "rewind:during"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("falling back to a full copy"), rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains("clone done"), rerun.stdout)
        let kept = siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }
        XCTAssertEqual(kept.count, 1, "the directory pg_rewind worked on is kept aside: \(siblings(of: f.pg1))")
        try assertStreamsWithUpstreamRows(f)
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("fell back to basebackup"), journal)
    }
}
