import Foundation
import XCTest

/// Data directories laid out the way operators lay them out: WAL on its own disk, tablespaces.
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

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
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

    func testUpstreamTablespacesAreRefusedBeforeAnythingChanges() throws {
        let f = try Failover.make(in: sandbox)
        let location = f.pg2.home + "/ts"
        try FileManager.default.createDirectory(atPath: location, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(location)
        try f.pg2.sql("CREATE TABLESPACE fast LOCATION '\(location)'")
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 10, result.output)
        XCTAssertTrue(result.stderr.contains("tablespaces (fast)"), result.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])
    }
}
