import Foundation
import XCTest

/// Data directories laid out the way operators lay them out: WAL on its own disk, a symlinked
/// PGDATA, an upstream's tablespace (TablespaceTests has the rest).
final class DataLayoutTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func testASymlinkedPgWalGetsANewWalDirectoryBesideTheOldOneWhichStaysUntouched() throws {
        let f = try Failover.make(in: sandbox, externalWAL: true)
        let oldWAL = f.pg1.home + "/wal"
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: f.pg1.dataDirectory + "/pg_wal"), oldWAL)
        let oldWALFiles = try FileManager.default.contentsOfDirectory(atPath: oldWAL).sorted()
        let oldSegment = try XCTUnwrap(oldWALFiles.first { $0.count == 24 })
        let oldSegmentBytes = try Data(contentsOf: URL(fileURLWithPath: oldWAL + "/" + oldSegment))

        // --lost-rows skip: the old WAL directory is compared file for file after the run.
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        let newWAL = try FileManager.default.destinationOfSymbolicLink(atPath: f.pg1.dataDirectory + "/pg_wal")
        XCTAssertTrue(newWAL.hasPrefix(oldWAL + ".rejoin-"), "new WAL directory beside the old one: \(newWAL)")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: newWAL).isEmpty)
        // The old data directory still points at the old WAL, which nobody touched.
        let old = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: old + "/pg_wal"), oldWAL)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: oldWAL).sorted(), oldWALFiles)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: oldWAL + "/" + oldSegment)), oldSegmentBytes)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"))
    }

    /// A tablespace the upstream created after the fork is made where streaming replication
    /// would make it: at the upstream's path. On one host that path holds the upstream's own
    /// files, so it is refused before anything changes. (TablespaceTests has the node's own.)
    func testAnUpstreamTablespaceWhosePathIsTakenHereIsRefusedBeforeAnythingChanges() throws {
        let f = try Failover.make(in: sandbox)
        let location = f.pg2.home + "/ts"
        try FileManager.default.createDirectory(atPath: location, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(location)
        try f.pg2.sql("CREATE TABLESPACE fast LOCATION '\(location)'")
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 10, result.output)
        XCTAssertTrue(result.stderr.contains("the upstream's tablespace fast ("), result.stderr)
        XCTAssertTrue(result.stderr.contains("exists on this node"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Nothing was changed"), result.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])
    }

    /// PGDATA a symlink to the directory on another disk (here: another directory). Set aside,
    /// the directory is renamed and the link dangles: the journal is still found through it.
    func symlinkedFailover(in sandbox: Sandbox? = nil, grants: RoleGrants = []) throws -> (Failover, real: String) {
        let f = try Failover.make(in: sandbox ?? self.sandbox, grants: grants)
        let disk = f.pg1.home + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(disk)
        try FileManager.default.moveItem(atPath: f.pg1.dataDirectory, toPath: disk + "/data")
        try FileManager.default.createSymbolicLink(atPath: f.pg1.dataDirectory, withDestinationPath: disk + "/data")
        return (f, disk + "/data")
    }

    func testASymlinkedPGDATAIsFoundWhileItDanglesByRerunAndStatus() throws {
        let (f, real) = try symlinkedFailover()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "swap-in:before"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory), "the link dangles while the directory is set aside")

        let status = try sandbox.rejoin(["status", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(status.status, 40, status.output)
        XCTAssertTrue(status.stdout.contains("old data:   \(real).old-"), status.stdout)

        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: f.pg1.dataDirectory), real, "the link is kept")
    }

    func testASymlinkedPGDATAIsFoundWhileItDanglesByAbortAndHeal() throws {
        let (f, real) = try symlinkedFailover()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let before = try DataSnapshot(real)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "swap-in:before"]).status, 128 + SIGKILL)
        let abort = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(abort.status, 0, abort.output)
        XCTAssertTrue(abort.stdout.contains("the old data directory is back at \(real)"), abort.stdout)
        XCTAssertEqual(try DataSnapshot(real), before, "the old data back as it was, where the link points")

        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "swap-in:before"]).status, 128 + SIGKILL)
        let heal = try sandbox.rejoin(["heal", "--pgdata", f.pg1.dataDirectory, "--peers", "\(f.pg1.address),\(f.pg2.address)",
                                       "--passfile", sandbox.passfile, "--bindir", sandbox.bindir, "--node-name", "pg1", "--verify-timeout", "60"])
        XCTAssertEqual(heal.status, 0, heal.output)
        XCTAssertTrue(heal.stdout.contains("resume the unfinished rejoin"), heal.stdout)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
    }

    /// The crash matrix on a symlinked PGDATA, both paths: killed at each step where the link
    /// dangles or points at a new directory, the same command resumes and the link is kept.
    func testASymlinkedPGDATAKilledAtEachStepResumes() throws {
        let cases: [(fault: String, method: String)] = [
            ("set-aside:during", "basebackup"), ("clone:during", "basebackup"), ("swap-in:during", "basebackup"),
            ("verify:before", "basebackup"), ("rewind:during", "auto"), ("start:before", "auto"),
        ]
        for (fault, method) in cases {
            let sandbox = try Sandbox()
            defer { sandbox.tearDown() }
            let (f, real) = try symlinkedFailover(in: sandbox, grants: method == "auto" ? .rewind : [])
            let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: method)
            let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": fault])
            XCTAssertEqual(killed.status, 128 + SIGKILL, "\(fault) \(method): \(killed.output)")
            let status = try sandbox.rejoin(["status", "--pgdata", f.pg1.dataDirectory])
            XCTAssertEqual(status.status, 40, "\(fault) \(method): \(status.output)")
            let rerun = try sandbox.rejoin(arguments)
            XCTAssertEqual(rerun.status, 0, "\(fault) \(method): \(rerun.output)")
            XCTAssertTrue(rerun.stdout.contains("resuming run"), "\(fault) \(method): \(rerun.stdout)")
            XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", "\(fault) \(method)")
            XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), "\(fault) \(method)")
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: f.pg1.dataDirectory), real, "\(fault) \(method): the link is kept")
        }
    }
}
