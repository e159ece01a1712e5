import Foundation
import XCTest

/// Interruptions in the middle of a real copy (a rate-limited clone of ~150 MB), signals,
/// a killed child, and the operator's `status` and `abort` on real interrupted runs.
final class InterruptionTests: XCTestCase {
    /// At 32 MB/s the copy takes several seconds: long enough to be hit while in flight.
    static let slow = ["--max-rate", "32M"]

    static var shared: FailoverTemplate?

    override class func setUp() {
        do {
            shared = try FailoverTemplate { f in
                try f.pg2.sql("CREATE TABLE big AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 150000) g")
            }
        } catch {
            XCTFail("cannot set up the failover: \(error)")
        }
    }

    override class func tearDown() { shared?.tearDown() }

    func reset() throws -> (Sandbox, Failover, DataSnapshot) {
        let shared = try XCTUnwrap(Self.shared)
        let pg1 = try shared.resetLocal()
        return (shared.sandbox, shared.failover, try DataSnapshot(pg1.dataDirectory))
    }

    func assertStreams(_ f: Failover, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM big"), "150000", file: file, line: line)
    }

    func status(_ sandbox: Sandbox, _ pg1: PostgresNode) throws -> (CommandResult, [String: Any]) {
        let result = try sandbox.rejoin(["status", "--pgdata", pg1.dataDirectory, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (result, try XCTUnwrap(object, result.output))
    }

    func testKillDuringACopyInFlightThenRerunDiscardsAndRecopies() throws {
        let (sandbox, f, original) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: Self.slow)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "clone:during"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        let journal = try RejoinJournal(pgdata: f.pg1.dataDirectory)
        let staging = try XCTUnwrap(journal.stagingDirectory)
        XCTAssertTrue(FileManager.default.fileExists(atPath: staging), "a partial staging directory is left")
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging + "/backup_manifest"), "the copy was really in flight")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory), "PGDATA is never a partial copy")
        XCTAssertEqual(try DataSnapshot(try XCTUnwrap(journal.oldDataDirectory)), original)

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains("clone done"), rerun.stdout)
        try assertStreams(f)
    }

    func testAKilledChildIsNoticedJournaledAndResumable() throws {
        let (sandbox, f, original) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: Self.slow)
        let failed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "clone:child"])
        XCTAssertEqual(failed.status, 20, failed.output)
        XCTAssertTrue(failed.stderr.contains("pg_basebackup failed"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("old data directory is untouched"), failed.stderr)
        let journal = try RejoinJournal(pgdata: f.pg1.dataDirectory)
        XCTAssertEqual(journal.events("clone"), ["started", "failed"])
        XCTAssertEqual(try DataSnapshot(try XCTUnwrap(journal.oldDataDirectory)), original)

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        try assertStreams(f)
    }

    func testSIGTERMStopsTheCopyJournalsInterruptedAndARerunResumes() throws {
        let (sandbox, f, original) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: Self.slow)
        let run = try Command.background([Sandbox.binary] + arguments)
        let staging = f.pg1.dataDirectory + ".rejoin/staging"
        var inFlight = false
        for _ in 0..<300 {
            if (try? FileManager.default.attributesOfItem(atPath: staging + "/base")) != nil { inFlight = true; break }
            usleep(50_000)
        }
        XCTAssertTrue(inFlight, "the copy never started")
        usleep(500_000)
        kill(run.pid, SIGTERM)
        let result = run.wait()
        XCTAssertEqual(result.status, 30, result.output)
        XCTAssertTrue(result.stderr.contains("interrupted"), result.stderr)
        XCTAssertEqual(try RejoinJournal(pgdata: f.pg1.dataDirectory).events("clone"), ["started", "interrupted"])
        // The child's whole process group is gone: nothing writes into staging any more.
        usleep(500_000)
        let writers = try Command.run(["/usr/bin/pgrep", "-f", "pg_basebackup -D \(staging)"])
        XCTAssertNotEqual(writers.status, 0, "pg_basebackup still runs: \(writers.stdout)")

        let (statusResult, report) = try status(sandbox, f.pg1)
        XCTAssertEqual(statusResult.status, 40, statusResult.output)
        XCTAssertEqual(report["state"] as? String, "unfinished")
        XCTAssertEqual(report["currentStep"] as? String, "clone")
        XCTAssertEqual(report["pidAlive"] as? Bool, false)
        let old = try XCTUnwrap(report["oldDataDirectory"] as? String)
        XCTAssertEqual(try DataSnapshot(old), original)
        // With a config file that names the data directory, status needs no --pgdata.
        let config = sandbox.root + "/status.toml"
        try Data("pgdata = \"\(f.pg1.dataDirectory)\"\n".utf8).write(to: URL(fileURLWithPath: config))
        chmod(config, 0o644)
        let byConfig = try sandbox.rejoin(["status", "--config", config, "--json"], environment: ["PGDATA": ""])
        XCTAssertEqual(byConfig.status, 40, byConfig.output)
        XCTAssertTrue(byConfig.stdout.contains("\"unfinished\""), byConfig.stdout)

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
        try assertStreams(f)
        let (after, _) = try status(sandbox, f.pg1)
        XCTAssertEqual(after.status, 0, after.output)
    }

    func testAbortPutsTheOldDataBackAfterAnInterruptedClone() throws {
        let (sandbox, f, original) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "clone:after"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory))

        let aborted = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(aborted.status, 0, aborted.output)
        XCTAssertTrue(aborted.stdout.contains("back at \(f.pg1.dataDirectory)"), aborted.stdout)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), original, "the old data is back under PGDATA, unchanged")
        XCTAssertEqual(siblings(of: f.pg1), ["data.rejoin"], "staging and the .old name are gone")
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + ".rejoin/staging"))
        XCTAssertEqual(try RejoinJournal(pgdata: f.pg1.dataDirectory).kinds.last, "aborted")
        let (statusResult, report) = try status(sandbox, f.pg1)
        XCTAssertEqual(statusResult.status, 0, statusResult.output)
        XCTAssertEqual(report["lastOutcome"] as? String, "aborted")

        // A fresh run after the abort starts over and succeeds.
        let again = try sandbox.rejoin(arguments)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertFalse(again.stdout.contains("resuming run"), again.stdout)
    }

    func testAbortStopsAnUnverifiedNewServerAndRestoresTheOldData() throws {
        let (sandbox, f, original) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "verify:before"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertTrue(f.pg1.isRunning, "the new standby was started before the kill")

        let aborted = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(aborted.status, 0, aborted.output)
        XCTAssertFalse(f.pg1.isRunning, "abort stops the unverified server and does not start the old one")
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), original)
        XCTAssertEqual(siblings(of: f.pg1), ["data.rejoin"])
    }

    func testStatusAndAbortWhileARunHoldsTheLock() throws {
        let (sandbox, f, _) = try reset()
        let killed = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address),
                                        environment: ["PG_REJOIN_FAULT": "set-aside:after"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        let work = f.pg1.dataDirectory + ".rejoin"
        let fd = open(work + "/lock", O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)

        let (statusResult, report) = try status(sandbox, f.pg1)
        XCTAssertEqual(statusResult.status, 41, statusResult.output)
        XCTAssertEqual(report["state"] as? String, "running")
        let aborted = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(aborted.status, 11, aborted.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)))
    }

    func testTheDiskWinsWhenTheJournalSaysDoneButStagingIsGone() throws {
        let (sandbox, f, _) = try reset()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "keep-local-config:after"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertEqual(try RejoinJournal(pgdata: f.pg1.dataDirectory).events("clone"), ["started", "done"])
        // Someone removed the finished copy behind the journal's back.
        try FileManager.default.removeItem(atPath: f.pg1.dataDirectory + ".rejoin/staging")

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("the journal says clone finished, but the data on disk disagrees"), rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains("clone done"), rerun.stdout)
        try assertStreams(f)
    }
}
