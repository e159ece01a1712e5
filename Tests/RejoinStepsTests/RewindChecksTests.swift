import Foundation
import XCTest
@testable import RejoinSteps

/// The rewind checks use the upstream settings preflight's probe read, and connect on their own
/// only without them or when the upstream still needs a CHECKPOINT. The endpoint here refuses
/// every connection, so a check that connected says "upstream-settings".
final class RewindChecksTests: XCTestCase {
    private let refusing = UpstreamEndpoint(address: UpstreamAddress(host: "127.0.0.1", port: 1), user: "repl",
                                            database: "postgres", passfile: nil, connectTimeout: 2)

    private func run(known: RewindSettings?, upstreamTimeline: Int = 2) throws -> [RewindCheck] {
        let control = ControlData(parsing: try Fixtures.text("controldata/pg15-primary-shut-down.txt"))
        let tools = PgTools(bindir: "/nonexistent", children: ChildProcessRunner())
        return RewindChecks.run(control: control, tools: tools, endpoint: refusing, upstreamTimeline: upstreamTimeline, known: known)
    }

    func testKnownSettingsNeedNoConnection() throws {
        let checks = try run(known: RewindSettings(fullPageWrites: true, checkpointTimeline: 2))
        XCTAssertEqual(checks.map(\.name), ["pg_rewind-installed", "hint-bits-logged", "upstream-full-page-writes", "upstream-timeline-checkpointed"])
        XCTAssertEqual(checks.first { $0.name == "upstream-timeline-checkpointed" }?.passed, true)
        XCTAssertEqual(checks.first { $0.name == "hint-bits-logged" }?.passed, true)
    }

    func testFullPageWritesOffIsRefusedFromKnownSettings() throws {
        let checks = try run(known: RewindSettings(fullPageWrites: false, checkpointTimeline: 2))
        let fpw = try XCTUnwrap(checks.first { $0.name == "upstream-full-page-writes" })
        XCTAssertFalse(fpw.passed)
        XCTAssertTrue(fpw.detail.contains("off"), fpw.detail)
    }

    func testAnUncheckpointedUpstreamIsAskedAgain() throws {
        // The probe saw the old timeline's checkpoint: the checks connect to run CHECKPOINT.
        let checks = try run(known: RewindSettings(fullPageWrites: true, checkpointTimeline: 1))
        XCTAssertEqual(checks.last?.name, "upstream-settings")
        XCTAssertEqual(checks.last?.passed, false)
    }

    func testWithoutKnownSettingsTheChecksConnect() throws {
        let checks = try run(known: nil)
        XCTAssertEqual(checks.last?.name, "upstream-settings")
        XCTAssertEqual(checks.last?.passed, false)
    }
}
