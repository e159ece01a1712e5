import XCTest
@testable import RejoinSteps

/// How lost tuples become changes (chains of updates followed back to the fork, inserts then
/// deletes folded away) and how changes are written as SQL, text and CSV. Real failovers are in
/// LostTransactionsTests.
final class LostRowsTests: XCTestCase {
    let file = RelationFile(tablespace: 1663, database: 5, relfilenode: 16384)

    func change(_ xid: UInt32, _ kind: LostWAL.ChangeKind, _ tuple: (UInt32, UInt16)?, old: (UInt32, UInt16)? = nil) -> LostWAL.HeapChange {
        LostWAL.HeapChange(xid: xid, kind: kind, relation: file, tuple: tuple.map { TupleID(block: $0.0, offset: $0.1) },
                           old: old.map { TupleID(block: $0.0, offset: $0.1) }, block: tuple?.0 ?? 0)
    }

    func testChainsAreFollowedBackToTheForkAndInsertThenDeleteLeavesNothing() {
        let capture = LostCapture(wal: LostWAL(), connect: { _ in throw PgError.connect(target: "none", message: "unit test") })
        let changes = [
            change(100, .insert, (0, 5)),                  // inserted, then updated by 101
            change(101, .update, (0, 6), old: (0, 5)),
            change(102, .update, (1, 1), old: (0, 1)),     // a pre-fork row updated twice
            change(103, .update, (1, 2), old: (1, 1)),
            change(104, .insert, (0, 7)),                  // inserted, then deleted
            change(105, .delete, (0, 7)),
            change(106, .update, (1, 3), old: (0, 2)),     // a pre-fork row updated, then deleted
            change(107, .delete, (1, 3)),
        ]
        let rows: [TupleID: (xmin: UInt32, values: [String?])] = [
            TupleID(block: 0, offset: 6): (101, ["a"]),
            TupleID(block: 1, offset: 2): (103, ["b"]),
        ]
        let top: [UInt32: UInt32] = Dictionary(uniqueKeysWithValues: (100...107).map { ($0, $0) })
        let (result, notes) = capture.classify(changes, rows: rows, table: 0, top: top)
        let byOwner = Dictionary(grouping: result, by: \.0).mapValues { $0.map(\.1) }
        XCTAssertEqual(byOwner[101]?.first?.kind, .insert)
        XCTAssertEqual(byOwner[101]?.first?.alsoBy, [100])
        XCTAssertEqual(byOwner[103]?.first?.kind, .update)
        XCTAssertEqual(byOwner[103]?.first?.oldTuple, "(0,1)")
        XCTAssertEqual(byOwner[103]?.first?.alsoBy, [102])
        XCTAssertEqual(byOwner[107]?.first?.kind, .delete)
        XCTAssertEqual(byOwner[107]?.first?.oldTuple, "(0,2)")
        XCTAssertNil(byOwner[105])
        XCTAssertEqual(notes.map(\.0), [105])
        XCTAssertTrue(notes.first?.1.contains("inserted after the fork") ?? false)
    }

    let table = LostTable(name: "public.\"Order Lines\"", database: "shop", relation: RelationFile(tablespace: 1663, database: 5, relfilenode: 16384),
                          columns: [LostColumn(name: "id", quoted: "id", type: "integer"),
                                    LostColumn(name: "note", quoted: "note", type: "text"),
                                    LostColumn(name: "amount", quoted: "amount", type: "numeric(10,2)")],
                          key: ["id"], keyKind: "primary key")

    func testLiteralsAreTypedQuotedAndNull() {
        XCTAssertEqual(LostSQL.literal("it's", type: "text"), "'it''s'::text")
        XCTAssertEqual(LostSQL.literal("C:\\path", type: "text"), "'C:\\path'::text")
        XCTAssertEqual(LostSQL.literal(nil, type: "jsonb"), "NULL")
        XCTAssertEqual(LostSQL.literal("12.50", type: "numeric(10,2)"), "'12.50'::numeric(10,2)")
    }

    func testAnUpdateSetsOnlyWhatChangedAndIsGuardedByThePreForkRow() {
        let update = LostRowChange(kind: .update, table: 0, tuple: "(1,2)", oldTuple: "(0,1)", new: ["1", "new", "2.00"],
                                   old: ["1", "old", "2.00"], conflict: nil, alsoBy: nil)
        XCTAssertEqual(LostSQL.statement(update, table: table), [
            "UPDATE ONLY public.\"Order Lines\" AS t SET note = 'new'::text WHERE t.id = '1'::integer AND ROW(t.id::text, t.note::text, t.amount::text) IS NOT DISTINCT FROM ROW('1'::text, 'old'::text, '2.00'::text);",
        ])
    }

    func testAConflictingInsertDoesNothingAndAnUnknownPreForkRowIsOnlyAComment() {
        let insert = LostRowChange(kind: .insert, table: 0, tuple: "(1,2)", oldTuple: nil, new: ["9", nil, "1.00"], old: nil,
                                   conflict: "the new primary has a row with this key since the fork", alsoBy: nil)
        XCTAssertEqual(LostSQL.statement(insert, table: table).last,
                       "INSERT INTO public.\"Order Lines\" (id, note, amount) VALUES ('9'::integer, NULL, '1.00'::numeric(10,2)) ON CONFLICT DO NOTHING;")
        let delete = LostRowChange(kind: .delete, table: 0, tuple: nil, oldTuple: "(0,3)", new: nil, old: nil, conflict: "gone", alsoBy: nil)
        XCTAssertTrue(LostSQL.statement(delete, table: table).allSatisfy { $0.hasPrefix("--") })
    }

    func testTextAndCSVShowNullsAndQuotes() {
        let report = LostReport(format: 1, run: "r", systemIdentifier: "1", timeline: 1, fork: "0/3000000", capturedAt: Date(),
                                tables: [table], transactions: [
                                    LostTransaction(xid: 740, committed: "2026-12-06 07:00:00 UTC", lsn: "0/3000100", changes: [
                                        LostRowChange(kind: .insert, table: 0, tuple: "(0,1)", oldTuple: nil, new: ["1", "a, \"b\"", nil],
                                                      old: nil, conflict: nil, alsoBy: nil),
                                    ], notes: []),
                                ], notes: [], oldValues: nil)
        let text = LostText.render(report)
        XCTAssertTrue(text.contains("+ id=1 note='a, \"b\"' amount=NULL"), text)
        XCTAssertTrue(text.hasSuffix("1 lost transaction\n"), text)
        XCTAssertEqual(LostText.csv(report)["public.Order Lines.inserted.csv"], "xid,id,note,amount\n740,1,\"a, \"\"b\"\"\",\n")
    }
}

extension LostRowsTests {
    /// The hand-written lost.json reads back, through JSONDecoder, as the report it was made
    /// from: quotes, backslashes, control characters, NULLs and non-ASCII included.
    func testTheReportWrittenByHandReadsBackWhole() throws {
        let report = LostReport(format: 1, run: "20261206T070000Z", systemIdentifier: "7716", timeline: 1, fork: "0/3000000",
                                capturedAt: Date(timeIntervalSince1970: 1_796_000_000), tables: [table], transactions: [
                                    LostTransaction(xid: 740, committed: "2026-12-06 07:00:00 UTC", lsn: "0/3000100", changes: [
                                        LostRowChange(kind: .update, table: 0, tuple: "(0,2)", oldTuple: "(0,1)",
                                                      new: ["1", "a \"q\" \\ \n\t\u{1} é ✓", nil], old: ["1", "b", "2.00"],
                                                      conflict: "c", alsoBy: [738, 739]),
                                        LostRowChange(kind: .insert, table: 0, tuple: "(0,3)", oldTuple: nil, new: ["2", "", "1"],
                                                      old: nil, conflict: nil, alsoBy: nil),
                                    ], notes: ["n"]),
                                ], notes: ["note"], oldValues: "read")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        XCTAssertEqual(try decoder.decode(LostReport.self, from: LostReportJSON.encode(report)), report)
    }

    /// Written straight to the file, a buffer at a time: across many flushes (20 000 rows, some
    /// 2 MB of JSON) the file is the same document.
    func testTheReportStreamedToItsFileIsTheSameDocument() throws {
        let changes = (0..<20_000).map { n in
            LostRowChange(kind: .insert, table: 0, tuple: "(\(n / 100),\(n % 100 + 1))", oldTuple: nil,
                          new: [String(n), "row \"\(n)\" é", n % 7 == 0 ? nil : "1.50"], old: nil, conflict: nil, alsoBy: nil)
        }
        let report = LostReport(format: 1, run: "20261206T070000Z", systemIdentifier: "7716", timeline: 1, fork: "0/3000000",
                                capturedAt: Date(timeIntervalSince1970: 1_796_000_000), tables: [table], transactions: [
                                    LostTransaction(xid: 740, committed: "2026-12-06 07:00:00 UTC", lsn: "0/3000100", changes: changes, notes: []),
                                ], notes: [], oldValues: nil)
        let directory = NSTemporaryDirectory() + "lost-json-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LostReportJSON.write(report, to: directory + "/lost.json")
        let written = try Data(contentsOf: URL(fileURLWithPath: directory + "/lost.json"))
        XCTAssertGreaterThan(written.count, 1 << 20)
        XCTAssertEqual(written, LostReportJSON.encode(report))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["lost.json"], "no temporary file left")
    }
}

extension LostRowsTests {
    /// A key deleted and inserted again in one transaction re-applies in that order; rows by
    /// their place, (0,9) before (0,10).
    func testChangesApplyDeletesThenUpdatesThenInsertsInPlaceOrder() {
        func change(_ kind: LostRowChange.Kind, _ tuple: String) -> LostRowChange {
            LostRowChange(kind: kind, table: 0, tuple: kind == .delete ? nil : tuple, oldTuple: kind == .insert ? nil : tuple,
                          new: nil, old: nil, conflict: nil, alsoBy: nil)
        }
        let sorted = [change(.insert, "(0,10)"), change(.insert, "(0,9)"), change(.update, "(0,2)"), change(.delete, "(0,5)")]
            .sorted(by: LostCapture.applyOrder)
        XCTAssertEqual(sorted.map(\.kind), [.delete, .update, .insert, .insert])
        XCTAssertEqual(sorted.suffix(2).map(\.tuple), ["(0,9)", "(0,10)"])
    }
}
