import Foundation
import XCTest
@testable import RejoinSteps

/// PgTools.controlData reuses pg_controldata's answer only for the same bytes of pg_control.
/// The pg_controldata here is a stand-in script that counts its runs and prints a fixture.
final class ControlDataCacheTests: XCTestCase {
    private func setUp(_ dir: TemporaryDirectory) throws -> (PgTools, pgdata: String, runs: String) {
        let runs = dir.path + "/runs"
        let output = try dir.write("output.txt", try Fixtures.text("controldata/pg15-primary-crashed.txt"))
        let script = try dir.write("bin/pg_controldata", "#!/bin/sh\necho run >> '\(runs)'\ncat '\(output)'\n")
        chmod(script, 0o755)
        let pgdata = dir.path + "/data"
        try dir.write("data/global/pg_control", "control file, version 1")
        return (PgTools(bindir: dir.path + "/bin", children: ChildProcessRunner()), pgdata, runs)
    }

    private func runCount(_ path: String) -> Int {
        (Files.read(path) ?? "").split(separator: "\n").count
    }

    func testTheSameControlFileIsAskedAboutOnceAndAChangedOneAgain() async throws {
        let dir = try TemporaryDirectory()
        let (tools, pgdata, runs) = try setUp(dir)
        let first = try await tools.controlData(pgdata)
        let second = try await tools.controlData(pgdata)
        XCTAssertEqual(first, second)
        XCTAssertEqual(first.clusterState, "in production")
        XCTAssertEqual(runCount(runs), 1, "the same bytes: the answer is reused")

        // Crash recovery rewrote the control file: a new answer, however soon.
        try dir.write("output.txt", try Fixtures.text("controldata/pg15-primary-shut-down.txt"))
        try dir.write("data/global/pg_control", "control file, version 2")
        let third = try await tools.controlData(pgdata)
        XCTAssertEqual(third.clusterState, "shut down")
        XCTAssertEqual(runCount(runs), 2)
    }

    func testAnUnreadableControlFileIsNeverCached() async throws {
        let dir = try TemporaryDirectory()
        let (tools, _, runs) = try setUp(dir)
        let elsewhere = dir.path + "/no-control-file"
        try dir.makeDirectory("no-control-file")
        _ = try await tools.controlData(elsewhere)
        _ = try await tools.controlData(elsewhere)
        XCTAssertEqual(runCount(runs), 2)
    }
}
