import XCTest
@testable import RejoinSteps

/// pg_waldump's output of the same workload on 13, 15 and 18 (fixtures/waldump/lost-pgNN.txt:
/// an insert of two rows, a HOT update, a key update, a delete, a transaction with a
/// subtransaction, a rolled-back insert, a COPY and a TRUNCATE) reads the same on every major.
final class LostWALTests: XCTestCase {
    func parse(_ major: Int) throws -> LostWAL {
        LostWAL(parsing: try Fixtures.text("waldump/lost-pg\(major).txt"))
    }

    func testEveryMajorReadsTheSameTransactions() throws {
        for major in [13, 15, 18] {
            let wal = try parse(major)
            // Two inserts, HOT update, key update, delete, sub-transaction, COPY, TRUNCATE: 7 commits.
            XCTAssertEqual(wal.commits.count, 7, "\(major)")
            XCTAssertEqual(wal.aborted.count, 1, "\(major)")
            let withSub = try XCTUnwrap(wal.commits.first { !$0.subtransactions.isEmpty }, "\(major)")
            XCTAssertEqual(withSub.subtransactions, [withSub.xid + 1], "\(major)")
            XCTAssertEqual(wal.topLevel[withSub.xid + 1], withSub.xid, "\(major)")
            XCTAssertTrue(withSub.time.hasSuffix("UTC"), withSub.time)
            let truncate = try XCTUnwrap(wal.commits.last, "\(major)")
            XCTAssertEqual(truncate.droppedFiles.count, 4, "\(major): \(truncate.droppedFiles)")
            XCTAssertTrue(wal.catalogChanges.contains(truncate.xid), "\(major): TRUNCATE rewrote pg_class")
        }
    }

    func testInsertsUpdatesAndDeletesKeepTheirTuplesOnEveryMajor() throws {
        for major in [13, 15, 18] {
            let wal = try parse(major)
            let user = wal.changes.filter { !$0.relation.isCatalog }
            let inserts = user.filter { $0.kind == .insert }.compactMap(\.tuple)
            XCTAssertEqual(Array(inserts.prefix(2)), [TupleID(block: 0, offset: 1), TupleID(block: 0, offset: 2)], "\(major)")
            let updates = user.filter { $0.kind == .update }
            XCTAssertEqual(updates.map(\.old), [TupleID(block: 0, offset: 1), TupleID(block: 0, offset: 2)], "\(major)")
            XCTAssertEqual(updates.map(\.tuple), [TupleID(block: 0, offset: 3), TupleID(block: 0, offset: 4)], "\(major)")
            let deletes = user.filter { $0.kind == .delete }
            XCTAssertEqual(deletes.map(\.tuple), [TupleID(block: 0, offset: 4)], "\(major)")
            // COPY: 16+ prints the offsets, before that only the block.
            if major >= 16 {
                XCTAssertEqual(user.filter { $0.kind == .insert }.count, 2 + 2 + 1 + 6, "\(major)")
            } else {
                XCTAssertEqual(user.filter { $0.kind == .multiInsert }.map(\.block), [0], "\(major)")
            }
        }
    }

    func testOffsetsAreFoundByTheirOwnNameOnly() {
        XCTAssertEqual(LostWAL.offset(named: "off", in: "UPDATE old_xmax: 755, old_off: 2, flags: 0x40, new_xmax: 0, new_off: 4"), nil)
        XCTAssertEqual(LostWAL.offset(named: "old_off", in: "UPDATE old_xmax: 755, old_off: 2, flags: 0x40, new_off: 4"), 2)
        XCTAssertEqual(LostWAL.offset(named: "off", in: "DELETE xmax: 756, off: 4, infobits: [KEYS_UPDATED]"), 4)
        XCTAssertEqual(LostWAL.offset(named: "new off", in: "UPDATE off 2 xmax 727 flags 0x40 KEYS_UPDATED ; new off 4 xmax 0"), 4)
    }

    func testAnUpdateAcrossBlocksTakesTheOldBlockFromTheSecondReference() {
        var wal = LostWAL()
        wal.add(line: "rmgr: Heap        len (rec/tot):     69/    69, tx:        800, lsn: 0/05000028, prev 0/05000000, desc: UPDATE off 7 xmax 800 flags 0x00 ; new off 1 xmax 0, blkref #0: rel 1663/5/16400 blk 12, blkref #1: rel 1663/5/16400 blk 3")
        XCTAssertEqual(wal.changes.first?.tuple, TupleID(block: 12, offset: 1))
        XCTAssertEqual(wal.changes.first?.old, TupleID(block: 3, offset: 7))
    }

    func testTupleIDsReadAndPrintAsPostgreSQLDoes() {
        XCTAssertEqual(TupleID("(12,3)"), TupleID(block: 12, offset: 3))
        XCTAssertEqual(TupleID(block: 0, offset: 1).description, "(0,1)")
        XCTAssertNil(TupleID("nope"))
    }

    /// A tid as PostgreSQL prints it, parsed by hand; anything else is refused.
    func testTupleIDsParseAsPostgreSQLPrintsThem() {
        XCTAssertEqual(TupleID("(12,3)"), TupleID(block: 12, offset: 3))
        XCTAssertEqual(TupleID("( 4294967295 , 65535 )"), TupleID(block: 4_294_967_295, offset: 65535))
        XCTAssertEqual(TupleID("(0,1)")?.description, "(0,1)")
        for bad in ["", "()", "(1,2", "1,2)", "(,3)", "(1,)", "(1,2,3)", "(1;2)", "(-1,2)", "(4294967296,1)", "(1,65536)", "(1,2)x", "((1,2)"] {
            XCTAssertNil(TupleID(bad), bad)
        }
    }
}
