import Foundation
import Logging
import XCTest
@testable import PgRejoin
import RejoinSteps

/// The progress figures (bar, plain line, throughput, ETA) and the log file's permissions.
final class OutputTests: XCTestCase {
    func testMeterMeasuresThroughputOverTheWindowAndEstimatesTimeLeft() {
        var meter = ProgressMeter()
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let first = meter.add(.clone, done: 0, total: 1000 << 20, at: t0)
        XCTAssertNil(first.bytesPerSecond, "one report is no rate")
        XCTAssertNil(first.secondsLeft)
        var figures = meter.add(.clone, done: 100 << 20, total: 1000 << 20, at: t0.addingTimeInterval(1))
        XCTAssertEqual(figures.bytesPerSecond ?? 0, Double(100 << 20), accuracy: 1)
        XCTAssertEqual(figures.secondsLeft ?? 0, 9, accuracy: 0.01)
        XCTAssertEqual(figures.percent, 10)
        // 50 MB/s up to 600 MB, then a stall: within the window the rate falls to nothing.
        for second in 2...12 { _ = meter.add(.clone, done: UInt64(second) * (50 << 20), total: 1000 << 20, at: t0.addingTimeInterval(Double(second))) }
        figures = meter.add(.clone, done: 600 << 20, total: 1000 << 20, at: t0.addingTimeInterval(30))
        XCTAssertEqual(figures.bytesPerSecond ?? 0, 0, accuracy: 1, "no progress for the whole window")
        XCTAssertNil(figures.secondsLeft)
        // Another step starts afresh.
        XCTAssertNil(meter.add(.rewind, done: 5, total: 10, at: t0.addingTimeInterval(31)).bytesPerSecond)
    }

    func testBarAndLineShowBytesThroughputAndETA() {
        let figures = ProgressFigures(done: 450 << 20, total: 1 << 30, bytesPerSecond: 85.3 * 1048576, secondsLeft: 6.2)
        XCTAssertEqual(figures.line, "450.0 MB of 1.0 GB (43%), 85.3 MB/s, ETA 7 s")
        XCTAssertEqual(figures.bar(width: 10), "[===>      ]  43%  450.0 MB / 1.0 GB  85.3 MB/s  ETA 7 s")
        XCTAssertEqual(ProgressFigures(done: 1 << 30, total: 1 << 30, bytesPerSecond: nil, secondsLeft: nil).bar(width: 10),
                       "[==========] 100%  1.0 GB / 1.0 GB  --/s  ETA --")
        XCTAssertEqual(ProgressFigures(done: 5 << 20, total: 0).line, "5.0 MB", "an unknown total: no percent, no ETA")
        XCTAssertEqual(ProgressFigures.clock(125), "2m05s")
        XCTAssertEqual(ProgressFigures.clock(3720), "1h02m")
    }

    func testLogFileIsPrivateAndAppends() throws {
        let dir = NSTemporaryDirectory() + "log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/pg-rejoin.log"
        FileManager.default.createFile(atPath: path, contents: Data("earlier\n".utf8), attributes: [.posixPermissions: 0o644])
        let file = try LogFile(path: path)
        var handler = FileLogHandler(label: "t", file: file, level: .info)
        handler[metadataKey: "step.kind"] = "clone"
        let logger = Logger(label: "t") { _ in handler }
        logger.notice("step clone done")
        logger.debug("not at info level")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("earlier\n"), text)
        XCTAssertTrue(text.contains("notice: step clone done step.kind=clone"), text)
        XCTAssertFalse(text.contains("not at info level"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o600)
        XCTAssertThrowsError(try LogFile(path: dir + "/missing/dir/log"))
    }
}
