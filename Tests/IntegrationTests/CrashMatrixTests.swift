import Foundation
import XCTest

/// Killed anywhere, resumed everywhere. For every step and every moment (before, during,
/// after) pg-rejoin SIGKILLs itself (PG_REJOIN_FAULT), the invariants are checked, and a rerun
/// of the same command must resume, finish and verify. One failover serves all cases: the
/// crashed pg1 is kept as a template and copied back before each case.
final class CrashMatrixTests: XCTestCase {
    static var shared: FailoverTemplate?

    override class func setUp() {
        do { shared = try FailoverTemplate() } catch { XCTFail("cannot set up the failover: \(error)") }
    }

    override class func tearDown() { shared?.tearDown() }

    /// `keepsOldData`: the run leaves the old data byte for byte (checked after each kill and
    /// after the rerun); false for capture-lost, which reads it by starting it.
    func killAt(_ step: String, moments: [String] = ["before", "during", "after"], keepsOldData: Bool = true) throws {
        let shared = try XCTUnwrap(Self.shared)
        let sandbox = shared.sandbox, f = shared.failover
        for moment in moments {
            let running = step == "stop-local"
            let pg1 = try shared.resetLocal(running: running)
            let original = running || !keepsOldData ? nil : try DataSnapshot(pg1.dataDirectory)
            // --lost-rows skip: the old data stays byte for byte through the whole run (reading
            // its lost rows, the copy path's last step, starts it; testKillAroundCaptureLost).
            let lostRows = keepsOldData ? ["--lost-rows", "skip"] : []
            let arguments = sandbox.rejoinArguments(local: pg1, from: f.pg2.address, extra: (running ? ["--demote"] : []) + lostRows)
            let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "\(step):\(moment)"])
            XCTAssertEqual(killed.status, 128 + SIGKILL, "\(step):\(moment) did not die: \(killed.output)")
            try assertInvariants(pg1, original: original, context: "\(step):\(moment)")

            let rerun = try sandbox.rejoin(arguments)
            XCTAssertEqual(rerun.status, 0, "\(step):\(moment) rerun: \(rerun.output)")
            XCTAssertTrue(rerun.stdout.contains("resuming run"), "\(step):\(moment) did not resume: \(rerun.stdout)")
            XCTAssertEqual(try pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", "\(step):\(moment)")
            XCTAssertEqual(try pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), "\(step):\(moment)")
            if let original {
                let old = try XCTUnwrap(RejoinJournal(pgdata: pg1.dataDirectory).oldDataDirectory)
                XCTAssertEqual(try DataSnapshot(old), original, "\(step):\(moment): old data changed by the rerun")
            }
        }
    }

    /// After any kill: the old data is intact where the journal says; PGDATA is the old
    /// directory, absent, or the complete new one; never a partial copy.
    func assertInvariants(_ pg1: PostgresNode, original: DataSnapshot?, context: String,
                          file: StaticString = #filePath, line: UInt = #line) throws {
        let journal = try RejoinJournal(pgdata: pg1.dataDirectory)
        let oldPath = try XCTUnwrap(journal.oldDataDirectory, "\(context): no plan in the journal", file: file, line: line)
        let pgdataExists = FileManager.default.fileExists(atPath: pg1.dataDirectory)
        let oldAtPGDATA = pgdataExists && !FileManager.default.fileExists(atPath: oldPath)
        let oldLocation = oldAtPGDATA ? pg1.dataDirectory : oldPath
        XCTAssertTrue(FileManager.default.fileExists(atPath: oldLocation + "/PG_VERSION"), "\(context): old data missing", file: file, line: line)
        if let original {
            XCTAssertEqual(try DataSnapshot(oldLocation), original, "\(context): old data changed", file: file, line: line)
        }
        if pgdataExists && !oldAtPGDATA {
            // The new copy, complete: swap-in only moves a cloned, configured directory.
            for name in ["backup_manifest", "standby.signal", "global/pg_control"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: pg1.dataDirectory + "/" + name),
                              "\(context): PGDATA is a partial copy (no \(name))", file: file, line: line)
            }
        }
    }

    func testKillAroundPreflight() throws { try killAt("preflight", moments: ["after"]) }
    func testKillAroundStopLocal() throws { try killAt("stop-local") }
    func testKillAroundSetAside() throws { try killAt("set-aside") }
    func testKillAroundClone() throws { try killAt("clone") }
    func testKillAroundKeepLocalConfig() throws { try killAt("keep-local-config") }
    func testKillAroundWriteStandbyConfig() throws { try killAt("write-standby-config") }
    func testKillAroundSwapIn() throws { try killAt("swap-in") }
    func testKillAroundStart() throws { try killAt("start") }
    func testKillAroundVerify() throws { try killAt("verify") }
    /// The copy path's last step reads the old data by starting it: the old data is not byte
    /// for byte after it, but every other invariant holds, and a rerun finishes.
    func testKillAroundCaptureLost() throws { try killAt("capture-lost", keepsOldData: false) }
}
