import XCTest
@testable import RejoinSteps

/// The journal as a resumed run reads it: written with `Journal.append`, read back with
/// `Journal.read`, and damaged journals from fixtures/journal/.
final class JournalTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var path: String { directory.path + "/journal.jsonl" }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("rejoin-journal")
    }

    override func tearDown() {
        directory = nil
    }

    private func write(_ records: [JournalRecord]) throws {
        let journal = try Journal(path: path)
        for record in records { try journal.append(record) }
    }

    private func step(_ plan: RejoinPlan, _ kind: StepKind, _ event: StepEvent, facts: [String: String]? = nil) -> JournalRecord {
        JournalRecord(kind: .step, run: plan.runID, step: kind, event: event, facts: facts)
    }

    private func assertReadFails(_ path: String, expectedPGDATA: String? = TestPlans.pgdata, _ expected: JournalError,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Journal.read(path: path, expectedPGDATA: expectedPGDATA), file: file, line: line) { error in
            XCTAssertEqual(error as? JournalError, expected, file: file, line: line)
        }
    }

    // MARK: writing and reading back

    func testMissingJournalIsEmpty() throws {
        let state = try Journal.read(path: path, expectedPGDATA: TestPlans.pgdata)
        XCTAssertNil(state.plan)
        XCTAssertFalse(state.finished)
        XCTAssertFalse(state.isUnfinished)
        XCTAssertTrue(state.status.isEmpty)
        XCTAssertTrue(state.warnings.isEmpty)
    }

    func testPlanThenStepsGiveTheState() throws {
        let plan = TestPlans.plan()
        try write([
            JournalRecord(kind: .plan, run: plan.runID, plan: plan),
            step(plan, .preflight, .done, facts: ["upstream": "pg2:5432"]),
            step(plan, .stopLocal, .started),
            step(plan, .stopLocal, .done, facts: ["summary": "stopped"]),
            step(plan, .setAside, .started),
            step(plan, .setAside, .done, facts: ["summary": "renamed", "old.path": plan.oldDataDirectory]),
            JournalRecord(kind: .note, run: plan.runID, message: "resumed by pid 42"),
            step(plan, .clone, .started),
        ])
        let state = try Journal.read(path: path, expectedPGDATA: plan.pgdata)
        XCTAssertEqual(state.plan, plan)
        XCTAssertTrue(state.isUnfinished)
        XCTAssertFalse(state.finished)
        XCTAssertEqual(state.status, [.preflight: .done, .stopLocal: .done, .setAside: .done, .clone: .started])
        XCTAssertTrue(state.isDone(.setAside))
        XCTAssertFalse(state.isDone(.clone))
        XCTAssertFalse(state.isDone(.verify))
        // Later facts override earlier ones with the same key.
        XCTAssertEqual(state.facts, ["upstream": "pg2:5432", "summary": "renamed", "old.path": plan.oldDataDirectory])
        XCTAssertTrue(state.warnings.isEmpty)
        // Where a resumed run picks up.
        XCTAssertEqual(plan.steps.first { !state.isDone($0) }, .clone)
    }

    func testFailedStepIsNotDone() throws {
        let plan = TestPlans.plan()
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan),
                   step(plan, .clone, .started), step(plan, .clone, .failed)])
        let state = try Journal.read(path: path)
        XCTAssertEqual(state.status[.clone], .failed)
        XCTAssertFalse(state.isDone(.clone))
    }

    func testRecordsAreSingleSortedJSONLines() throws {
        let plan = TestPlans.plan(nodeName: "pg1\nwith a newline")
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan),
                   JournalRecord(kind: .note, run: plan.runID, message: "two\nlines and a / slash")])
        let text = try XCTUnwrap(Files.read(path))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 3, text)
        XCTAssertEqual(lines.last, "")
        XCTAssertTrue(lines[0].hasPrefix(#"{"kind":"plan","plan":{"bindir":"/usr/lib/postgresql/15/bin","#), String(lines[0]))
        XCTAssertTrue(lines[1].contains(#""message":"two\nlines and a / slash""#), String(lines[1]))
        for line in lines.dropLast() {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)))
        }
    }

    func testAppendingAcrossReopensKeepsEverything() throws {
        let plan = TestPlans.plan()
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan), step(plan, .preflight, .done)])
        try write([step(plan, .stopLocal, .done)])
        let state = try Journal.read(path: path)
        XCTAssertEqual(state.status, [.preflight: .done, .stopLocal: .done])
    }

    func testJournalFileIsPrivate() throws {
        let plan = TestPlans.plan()
        let old = umask(0)
        defer { umask(old) }
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan)])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let mode = try XCTUnwrap(attributes[.posixPermissions] as? NSNumber).intValue
        XCTAssertEqual(mode & 0o777, 0o600, String(mode, radix: 8))
    }

    // MARK: runs

    func testSecondPlanStartsAFreshState() throws {
        let first = TestPlans.plan(runID: "20251124T180000Z")
        let second = TestPlans.plan(runID: "20251125T090000Z", nodeName: "pg1-again")
        try write([
            JournalRecord(kind: .plan, run: first.runID, plan: first),
            step(first, .preflight, .done, facts: ["first": "yes"]),
            step(first, .stopLocal, .done),
            JournalRecord(kind: .finished, run: first.runID),
            JournalRecord(kind: .plan, run: second.runID, plan: second),
            step(second, .preflight, .done, facts: ["second": "yes"]),
            // A straggler from the first run must not leak into the second.
            step(first, .setAside, .done, facts: ["first.late": "yes"]),
            JournalRecord(kind: .finished, run: first.runID),
        ])
        let state = try Journal.read(path: path, expectedPGDATA: TestPlans.pgdata)
        XCTAssertEqual(state.plan, second)
        XCTAssertEqual(state.status, [.preflight: .done])
        XCTAssertEqual(state.facts, ["second": "yes"])
        XCTAssertFalse(state.finished)
        XCTAssertTrue(state.isUnfinished)
    }

    func testFinishedMarksTheRunDone() throws {
        let plan = TestPlans.plan()
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan),
                   step(plan, .verify, .done),
                   JournalRecord(kind: .finished, run: plan.runID, message: "verified streaming standby of pg2:5432")])
        let state = try Journal.read(path: path)
        XCTAssertTrue(state.finished)
        XCTAssertFalse(state.isUnfinished)
    }

    func testFinishedOfAnotherRunIsIgnored() throws {
        let plan = TestPlans.plan()
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan),
                   JournalRecord(kind: .finished, run: "some-other-run")])
        let state = try Journal.read(path: path)
        XCTAssertFalse(state.finished)
        XCTAssertTrue(state.isUnfinished)
    }

    func testStepsBeforeAnyPlanAreIgnored() throws {
        let plan = TestPlans.plan()
        try write([step(plan, .clone, .done), JournalRecord(kind: .plan, run: plan.runID, plan: plan)])
        let state = try Journal.read(path: path)
        XCTAssertEqual(state.plan, plan)
        XCTAssertTrue(state.status.isEmpty)
    }

    func testOtherDataDirectory() throws {
        let plan = TestPlans.plan()
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan)])
        assertReadFails(path, expectedPGDATA: "/srv/postgresql/main",
                        .otherDataDirectory(path: path, recorded: plan.pgdata, expected: "/srv/postgresql/main"))
        XCTAssertNoThrow(try Journal.read(path: path, expectedPGDATA: nil))
    }

    // MARK: damaged journals (fixtures)

    func testTornLastLineIsDroppedWithAWarning() throws {
        let fixture = Fixtures.path("journal/torn-last-line.jsonl")
        let state = try Journal.read(path: fixture, expectedPGDATA: TestPlans.pgdata)
        XCTAssertEqual(state.warnings.count, 1)
        XCTAssertTrue(state.warnings.first?.contains("torn last line") ?? false, "\(state.warnings)")
        XCTAssertTrue(state.warnings.first?.contains(fixture) ?? false, "\(state.warnings)")
        XCTAssertEqual(state.plan?.runID, "20251124T180000Z")
        XCTAssertEqual(state.plan?.upstream.address, UpstreamAddress(host: "pg2"))
        XCTAssertEqual(state.status, [.preflight: .done, .stopLocal: .done, .setAside: .started])
        XCTAssertEqual(state.facts["summary"], "stopped (fast)")
        XCTAssertNil(state.facts["old.path"], "nothing from the torn record")
        XCTAssertTrue(state.isUnfinished)
    }

    /// The fixture is a real tear: no newline at the end.
    func testTornFixtureEndsMidRecord() throws {
        let text = try Fixtures.text("journal/torn-last-line.jsonl")
        XCTAssertFalse(text.hasSuffix("\n"))
    }

    func testCorruptMiddleLineRefuses() {
        let fixture = Fixtures.path("journal/corrupt-middle-line.jsonl")
        assertReadFails(fixture, .corrupt(path: fixture, line: 3))
    }

    func testUnknownFormatVersionRefuses() {
        let fixture = Fixtures.path("journal/unknown-format-99.jsonl")
        assertReadFails(fixture, .unknownFormat(path: fixture, version: 99))
    }

    /// A future plan this version cannot decode at all still names its format.
    func testUndecodableFuturePlanRefusesWithItsFormat() {
        let fixture = Fixtures.path("journal/unknown-format-2-undecodable.jsonl")
        assertReadFails(fixture, .unknownFormat(path: fixture, version: 2))
    }

    func testUnknownFormatWrittenByThisVersion() throws {
        let plan = TestPlans.plan(format: 99)
        try write([JournalRecord(kind: .plan, run: plan.runID, plan: plan)])
        assertReadFails(path, .unknownFormat(path: path, version: 99))
    }

    /// A rerun after a torn write appends to the same file: the torn fragment must not glue
    /// itself to the next record and turn into a "corrupt middle line" on the read after.
    func testAppendAfterATornLineKeepsTheJournalReadable() throws {
        try FileManager.default.copyItem(atPath: Fixtures.path("journal/torn-last-line.jsonl"), toPath: path)
        let before = try Journal.read(path: path, expectedPGDATA: TestPlans.pgdata)
        let plan = try XCTUnwrap(before.plan)
        try write([JournalRecord(kind: .note, run: plan.runID, message: "resumed by pid 4242 at set-aside"),
                   step(plan, .setAside, .started),
                   step(plan, .setAside, .done)])
        let after = try Journal.read(path: path, expectedPGDATA: TestPlans.pgdata)
        XCTAssertEqual(after.status[.setAside], .done)
    }

    func testErrorMessagesSayWhatToDo() {
        XCTAssertTrue(JournalError.corrupt(path: "/j", line: 3).errorDescription?.contains("line 3") ?? false)
        XCTAssertTrue(JournalError.unknownFormat(path: "/j", version: 99).errorDescription?.contains("format 99") ?? false)
        XCTAssertTrue(JournalError.otherDataDirectory(path: "/j", recorded: "/a", expected: "/b").errorDescription?.contains("--pgdata") ?? false)
    }
}
