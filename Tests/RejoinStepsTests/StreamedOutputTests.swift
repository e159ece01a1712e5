import XCTest
@testable import RejoinSteps

/// pg_waldump's output reaches the summary in pipe-sized chunks cut anywhere: the result must
/// not depend on where the cuts fall.
final class StreamedOutputTests: XCTestCase {
    func testLinesSplitAcrossChunksArriveWhole() {
        let text = "first line\nsecond\n\nfourth, without newline"
        for size in 1...text.utf8.count {
            var splitter = LineSplitter()
            var lines: [String] = []
            let bytes = Array(text.utf8)
            for start in stride(from: 0, to: bytes.count, by: size) {
                bytes[start..<min(start + size, bytes.count)].withUnsafeBytes { chunk in
                    splitter.feed(chunk) { lines.append(String(decoding: $0, as: UTF8.self)) }
                }
            }
            splitter.finish { lines.append(String(decoding: $0, as: UTF8.self)) }
            XCTAssertEqual(lines, ["first line", "second", "", "fourth, without newline"], "chunk size \(size)")
        }
    }

    func testWalDumpSummaryIsTheSameWhateverTheChunks() throws {
        let text = try Fixtures.text("waldump/after-fork.txt")
        let whole = DivergenceSummary(parsing: text)
        let bytes = Array(text.utf8)
        for size in [1, 7, 64, 333, 4096] {
            var builder = DivergenceSummary.Builder()
            for start in stride(from: 0, to: bytes.count, by: size) {
                bytes[start..<min(start + size, bytes.count)].withUnsafeBytes { builder.feed($0) }
            }
            XCTAssertEqual(builder.summary, whole, "chunk size \(size)")
        }
    }

    func testRelationsOfEveryBlockReferenceAreCounted() {
        let line = "rmgr: Heap2 len (rec/tot): 60/60, tx: 0, lsn: 0/05000028, prev 0/05000000, desc: MULTI_INSERT, "
            + "blkref #0: rel 1663/5/16384 blk 1, blkref #1: rel 1663/16390/2619 fork fsm blk 0\n"
            + "rmgr: Standby len (rec/tot): 50/50, tx: 0, lsn: 0/05000060, prev 0/05000028, desc: RUNNING_XACTS\n"
        let summary = DivergenceSummary(parsing: line)
        XCTAssertEqual(summary.records, 2)
        XCTAssertEqual(summary.relations, ["16390/2619", "5/16384"])
        XCTAssertEqual(summary.recordsByResourceManager, ["Heap2": 1, "Standby": 1])
        XCTAssertEqual(summary.firstLSN, "0/05000028")
        XCTAssertEqual(summary.lastLSN, "0/05000060")
        XCTAssertEqual(summary.commits, 0)
        XCTAssertNil(summary.lastCommitTime)
    }

    func testNoRecordsGiveAnEmptySummary() {
        let summary = DivergenceSummary(parsing: "pg_waldump: error: could not find a valid record after 0/5000000\n")
        XCTAssertEqual(summary.records, 0)
        XCTAssertNil(summary.firstLSN)
        XCTAssertNil(summary.lastLSN)
        XCTAssertEqual(summary.relations, [])
    }
}
