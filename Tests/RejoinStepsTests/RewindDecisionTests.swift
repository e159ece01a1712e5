import XCTest
@testable import RejoinSteps

final class RewindDecisionTests: XCTestCase {
    func testLSNParsesComparesAndPrints() throws {
        let a = try XCTUnwrap(LSN("0/3000148")), b = try XCTUnwrap(LSN("1/0"))
        XCTAssertEqual(a.value, 0x3000148)
        XCTAssertEqual(b.value, 1 << 32)
        XCTAssertLessThan(a, b)
        XCTAssertEqual(a.description, "0/3000148")
        XCTAssertEqual(try XCTUnwrap(LSN("0/03000028")), LSN(0x3000028))
        XCTAssertNil(LSN("nope"))
        XCTAssertNil(LSN("0/3000148/1"))
        XCTAssertNil(LSN("100000000/0"))
        XCTAssertEqual(a.segment(size: 16 << 20), 3)
    }

    func testTimelineHistoryFindsTheForkOfEachAncestor() throws {
        let history = TimelineHistory(parsing: try Fixtures.text("timeline/00000003.history"))
        XCTAssertEqual(history.entries.count, 2)
        XCTAssertEqual(history.forkPoint(of: 1), LSN("0/3000000"))
        XCTAssertEqual(history.forkPoint(of: 2), LSN("0/5A000110"))
        XCTAssertNil(history.forkPoint(of: 3))
    }

    func testDivergenceDecisions() throws {
        let history = TimelineHistory(parsing: try Fixtures.text("timeline/00000002.history"))
        let fork = try XCTUnwrap(LSN("0/3000000"))
        func decide(_ localTLI: Int, _ checkpoint: String, _ upTLI: Int, _ upEnd: String, minRecovery: String = "0/0") throws -> Divergence {
            Divergence.decide(localTimeline: localTLI,
                              local: WALEnd(checkpoint: try XCTUnwrap(LSN(checkpoint)), minRecoveryPoint: try XCTUnwrap(LSN(minRecovery))),
                              upstreamTimeline: upTLI, upstreamEnd: try XCTUnwrap(LSN(upEnd)), history: history)
        }
        // Wrote past the fork: rewind.
        XCTAssertEqual(try decide(1, "0/300A3B0", 2, "0/5000000"), .diverged(fork: fork, localEnd: try XCTUnwrap(LSN("0/300A3B0"))))
        // Stopped before the fork (a clean switchover): only standby config.
        XCTAssertEqual(try decide(1, "0/2FFFF00", 2, "0/5000000"), .notDiverged(fork: fork))
        // A shutdown checkpoint that starts exactly at the fork ends past it: the new primary
        // never had that record, so this is divergence (pg_rewind compares the record's end).
        XCTAssertEqual(try decide(1, "0/3000000", 2, "0/5000000"), .diverged(fork: fork, localEnd: fork))
        // A standby whose recovery reached exactly the fork: nothing past it.
        XCTAssertEqual(try decide(1, "0/2FFFF00", 2, "0/5000000", minRecovery: "0/3000000"), .notDiverged(fork: fork))
        XCTAssertEqual(try decide(1, "0/2FFFF00", 2, "0/5000000", minRecovery: "0/3000100"),
                       .diverged(fork: fork, localEnd: try XCTUnwrap(LSN("0/3000100"))))
        // Same timeline: behind is fine, ahead is invisible to pg_rewind.
        XCTAssertEqual(try decide(2, "0/4000000", 2, "0/5000000"), .notDiverged(fork: nil))
        XCTAssertEqual(try decide(2, "0/6000000", 2, "0/5000000"),
                       .aheadOnSameTimeline(localEnd: try XCTUnwrap(LSN("0/6000000")), upstreamEnd: try XCTUnwrap(LSN("0/5000000"))))
        // A timeline the upstream never had, or a newer local timeline.
        XCTAssertEqual(try decide(7, "0/3000000", 8, "0/5000000"), .unrelatedTimelines(local: 7, upstream: 8))
        XCTAssertEqual(try decide(3, "0/3000000", 2, "0/5000000"), .unrelatedTimelines(local: 3, upstream: 2))
    }

    func testWalDumpSummaryCountsRecordsRelationsAndCommits() throws {
        let summary = DivergenceSummary(parsing: try Fixtures.text("waldump/after-fork.txt"))
        XCTAssertEqual(summary.records, 8)
        XCTAssertEqual(summary.firstLSN, "0/03000028")
        XCTAssertEqual(summary.lastLSN, "0/03002250")
        XCTAssertEqual(summary.recordsByResourceManager, ["XLOG": 2, "Heap": 3, "Btree": 1, "Transaction": 2])
        XCTAssertEqual(summary.relations, ["16390/16400", "5/1259", "5/16384", "5/16389"])
        XCTAssertEqual(summary.commits, 2)
        XCTAssertEqual(summary.lastCommitTime, "2026-11-24 19:31:00.000001 UTC")
    }

    func testTimelineHistoryContentArrivesAsByteaHex() {
        let text = "1\t0/3000000\tno recovery target specified\n"
        let hex = "\\x" + text.utf8.map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(RewindSource.decodeBytea(hex), text)
        XCTAssertEqual(RewindSource.decodeBytea(text), text)
    }

    func testFaultSpecificationParses() {
        XCTAssertEqual(FaultInjection.parse("clone:during")?.step, "clone")
        XCTAssertEqual(FaultInjection.parse("write-standby-config:after")?.moment, .after)
        XCTAssertEqual(FaultInjection.parse("clone:child")?.moment, .child)
        XCTAssertNil(FaultInjection.parse("clone"))
        XCTAssertNil(FaultInjection.parse("clone:sometime"))
        XCTAssertNil(FaultInjection.parse(nil))
    }

    func testPlansListTheirSteps() {
        XCTAssertEqual(RejoinPlan.steps(for: .rewind, keepConfig: true),
                       [.preflight, .stopLocal, .recoverLocal, .captureLost, .rewind, .keepLocalConfig, .writeStandbyConfig, .start, .verify])
        XCTAssertEqual(RejoinPlan.steps(for: .basebackup, keepConfig: false),
                       [.preflight, .stopLocal, .setAside, .clone, .writeStandbyConfig, .swapIn, .start, .verify, .captureLost])
    }
}
