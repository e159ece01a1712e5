import Foundation
import XCTest

/// Kills on the rewind path. pg_rewind cannot be resumed, so a run killed once pg_rewind had
/// started falls back to a full copy; kills elsewhere resume on the rewind path.
final class RewindCrashTests: XCTestCase {
    static var shared: FailoverTemplate?

    override class func setUp() {
        do { shared = try FailoverTemplate(grants: .rewind) } catch { XCTFail("cannot set up the failover: \(error)") }
    }

    override class func tearDown() { shared?.tearDown() }

    /// Kills at `fault`, reruns, and returns the rerun's output after checking it streams.
    @discardableResult
    func killAndResume(_ fault: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let shared = try XCTUnwrap(Self.shared)
        let sandbox = shared.sandbox, f = shared.failover
        try shared.resetLocal()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto")
        let killed = try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": fault])
        XCTAssertEqual(killed.status, 128 + SIGKILL, "\(fault): \(killed.output)", file: file, line: line)
        let oldPath = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/PG_VERSION")
                      || FileManager.default.fileExists(atPath: oldPath), "\(fault): no data directory left", file: file, line: line)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, "\(fault): \(rerun.output)", file: file, line: line)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), "\(fault): \(rerun.stdout)", file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming", fault, file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"), fault, file: file, line: line)
        return rerun.stdout
    }

    func testKillBeforeAndAfterPgRewindFallsBackToACopy() throws {
        for fault in ["rewind:before", "rewind:after"] {
            let output = try killAndResume(fault)
            XCTAssertTrue(output.contains("falling back to a full copy"), "\(fault): \(output)")
            XCTAssertTrue(output.contains("clone done"), "\(fault): \(output)")
        }
    }

    func testKillsAroundTheRewindResumeOnTheRewindPath() throws {
        for fault in ["recover-local:after", "capture-lost:during", "capture-lost:after", "keep-local-config:during", "write-standby-config:during", "start:during", "verify:before"] {
            let output = try killAndResume(fault)
            XCTAssertFalse(output.contains("] clone"), "\(fault) should not copy: \(output)")
        }
    }
}
