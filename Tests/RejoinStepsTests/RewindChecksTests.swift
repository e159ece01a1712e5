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
        XCTAssertEqual(checks.map(\.name), ["pg_rewind-installed", "hint-bits-logged", "upstream-full-page-writes", "upstream-role-privileges", "upstream-timeline-checkpointed"])
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

    /// The seed's role (REPLICATION LOGIN only): the checks name the GRANTs pg_rewind needs,
    /// so auto copies without trying, and --method rewind refuses before anything changes.
    func testMissingSourcePrivilegesFailWithTheGrantsToRun() throws {
        let settings = RewindSettings(fullPageWrites: true, checkpointTimeline: 2, missingFunctions: RewindSettings.sourceFunctions)
        let checks = try run(known: settings)
        let privileges = try XCTUnwrap(checks.first { $0.name == "upstream-role-privileges" })
        XCTAssertFalse(privileges.passed)
        for function in RewindSettings.sourceFunctions {
            XCTAssertTrue(privileges.detail.contains("GRANT EXECUTE ON FUNCTION \(function) TO repl"), privileges.detail)
        }
    }

    /// A role that may not CHECKPOINT is not made to try (no connection here): the check says
    /// which grant would allow it, and before 15 that only a superuser may.
    func testCheckpointRightIsKnownPerMajor() throws {
        for (version, expected) in [(150000, "GRANT pg_checkpoint TO repl"), (140000, "only a superuser may"), (130000, "only a superuser may")] {
            let settings = RewindSettings(fullPageWrites: true, checkpointTimeline: 1, mayCheckpoint: false, versionNumber: version)
            let checks = try run(known: settings)
            let checkpointed = try XCTUnwrap(checks.first { $0.name == "upstream-timeline-checkpointed" }, "\(version)")
            XCTAssertFalse(checkpointed.passed)
            XCTAssertTrue(checkpointed.detail.contains(expected), "\(version): \(checkpointed.detail)")
            XCTAssertNil(checks.first { $0.name == "upstream-settings" }, "\(version): no connection was needed")
        }
    }

    func testRoleNamesAreQuotedAsIdentifiersInGrants() {
        XCTAssertEqual(Quoting.identifier("repl"), "repl")
        XCTAssertEqual(Quoting.identifier("Repl"), "\"Repl\"")
        XCTAssertEqual(Quoting.identifier("re\"pl"), "\"re\"\"pl\"")
        XCTAssertEqual(Quoting.identifier("user"), "\"user\"")
        let settings = RewindSettings(fullPageWrites: true, checkpointTimeline: 1, missingFunctions: [], mayCheckpoint: false, versionNumber: 160000)
        XCTAssertEqual(settings.grants(for: "Repl", checkpoint: true), ["GRANT pg_checkpoint TO \"Repl\""])
    }
}
