import XCTest
@testable import RejoinSteps

/// pg_basebackup --progress lines, as PostgreSQL 15 writes them to a non-terminal stderr
/// (fixtures/basebackup/ were captured from real runs, with and without --verbose).
final class ProgressParserTests: XCTestCase {
    private func lines(_ fixture: String) throws -> [String] {
        try Fixtures.text(fixture).split(separator: "\n").map(String.init)
    }

    func testPlainProgressLine() throws {
        let parser = ProgressParser(total: 1)
        let parsed = try XCTUnwrap(parser.parse("218500/329461 kB (66%), 0/1 tablespace"))
        XCTAssertEqual(parsed.0, 218_500 * 1024)
        XCTAssertEqual(parsed.1, 329_461 * 1024)
        XCTAssertEqual(parser.lastDone, 218_500 * 1024)
    }

    func testPaddedVerboseLineWithAFileName() throws {
        let parser = ProgressParser(total: 1)
        let parsed = try XCTUnwrap(parser.parse("   0/22620 kB (0%), 0/1 tablespace (...ta.rejoin/staging/backup_label )"))
        XCTAssertEqual(parsed.0, 0)
        XCTAssertEqual(parsed.1, 22_620 * 1024)
        XCTAssertEqual(parser.lastDone, 0)
    }

    func testFinalLine() throws {
        let parsed = try XCTUnwrap(ProgressParser(total: 1).parse("329401/329401 kB (100%), 1/1 tablespace                                         "))
        XCTAssertEqual(parsed.0, parsed.1)
    }

    func testUnknownTotalFallsBackToThePlan() throws {
        let parsed = try XCTUnwrap(ProgressParser(total: 31_457_280).parse("0/0 kB (100%), 0/1 tablespace"))
        XCTAssertEqual(parsed.0, 0)
        XCTAssertEqual(parsed.1, 31_457_280)
    }

    func testNonProgressLines() {
        let parser = ProgressParser(total: 1)
        for line in [
            "", "waiting for checkpoint",
            "pg_basebackup: initiating base backup, waiting for checkpoint to complete",
            "pg_basebackup: write-ahead log start point: 0/15000028 on timeline 1",
            "pg_basebackup: write-ahead log end point: 0/15000100",
            "pg_basebackup: error: could not connect to server: connection refused",
            "pg_basebackup: error: could not write to file \"/data/main.rejoin/staging/base/5/16404\": No space left on device",
            " kB", "abc/123 kB (1%)", "1/2/3 kB", "12 kB", "/12 kB",
        ] {
            XCTAssertNil(parser.parse(line), line)
            XCTAssertFalse(ProgressParser.isProgressLine(line), line)
        }
        XCTAssertEqual(parser.lastDone, 0, "non-progress lines leave lastDone alone")
    }

    func testLastDoneFollowsTheLatestLine() {
        let parser = ProgressParser(total: 1)
        _ = parser.parse("100/400 kB (25%), 0/1 tablespace")
        _ = parser.parse("pg_basebackup: checkpoint completed")
        XCTAssertEqual(parser.lastDone, 100 * 1024)
        _ = parser.parse("400/400 kB (100%), 1/1 tablespace")
        XCTAssertEqual(parser.lastDone, 400 * 1024)
    }

    func testRealQuietRun() throws {
        let all = try lines("basebackup/progress.stderr")
        let parser = ProgressParser(total: 1)
        let parsed = all.compactMap { parser.parse($0) }
        XCTAssertEqual(parsed.count, 3)
        let expected: [UInt64] = [277_663, 329_401, 329_401].map { $0 * 1024 }
        XCTAssertEqual(parsed.map(\.0), expected)
        XCTAssertEqual(parser.lastDone, 329_401 * 1024)
        XCTAssertEqual(all.filter { !ProgressParser.isProgressLine($0) }, ["waiting for checkpoint"])
    }

    /// CloneStep keeps the non-progress lines for its error message.
    func testRealVerboseRun() throws {
        let all = try lines("basebackup/progress-verbose.stderr")
        let progress = all.filter(ProgressParser.isProgressLine)
        XCTAssertEqual(progress.count, 3)
        XCTAssertTrue(progress.allSatisfy { $0.contains("tablespace") })
        let messages = all.filter { !ProgressParser.isProgressLine($0) }
        XCTAssertEqual(messages.count, 10)
        XCTAssertTrue(messages.allSatisfy { $0.hasPrefix("pg_basebackup: ") })
        let parser = ProgressParser(total: 1)
        let expected: [UInt64] = [302_943, 329_401, 329_401].map { $0 * 1024 }
        XCTAssertEqual(progress.compactMap { parser.parse($0)?.0 }, expected)
    }
}
