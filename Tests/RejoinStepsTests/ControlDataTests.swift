import XCTest
@testable import RejoinSteps

/// `LC_ALL=C pg_controldata` output captured from real PostgreSQL 15 clusters (fixtures/controldata/):
/// one primary (wal_log_hints = on) in its life stages, a standby cloned from it with
/// pg_basebackup -R, that standby promoted, and a separate cluster made with --data-checksums.
final class ControlDataTests: XCTestCase {
    static let primaryID = "7711815148230747666"
    static let checksumsID = "7711815150995940896"

    private func load(_ name: String) throws -> ControlData {
        ControlData(parsing: try Fixtures.text("controldata/\(name).txt"))
    }

    func testCleanlyShutDownPrimary() throws {
        let data = try load("pg15-primary-shut-down")
        XCTAssertEqual(data.systemIdentifier, Self.primaryID)
        XCTAssertEqual(data.timeline, 1)
        XCTAssertEqual(data.clusterState, "shut down")
        XCTAssertTrue(data.isCleanShutdown)
        XCTAssertFalse(data.dataChecksumsEnabled)
        XCTAssertTrue(data.walLogHints)
    }

    func testRunningPrimary() throws {
        let data = try load("pg15-primary-in-production")
        XCTAssertEqual(data.systemIdentifier, Self.primaryID)
        XCTAssertEqual(data.timeline, 1)
        XCTAssertEqual(data.clusterState, "in production")
        XCTAssertFalse(data.isCleanShutdown)
        XCTAssertTrue(data.walLogHints)
    }

    /// pg_ctl stop -m immediate: the control file still says "in production".
    func testCrashedPrimaryIsNotACleanShutdown() throws {
        let data = try load("pg15-primary-crashed")
        XCTAssertEqual(data.systemIdentifier, Self.primaryID)
        XCTAssertEqual(data.clusterState, "in production")
        XCTAssertFalse(data.isCleanShutdown)
    }

    func testRunningStandby() throws {
        let data = try load("pg15-standby-in-archive-recovery")
        XCTAssertEqual(data.systemIdentifier, Self.primaryID)
        XCTAssertEqual(data.timeline, 1)
        XCTAssertEqual(data.clusterState, "in archive recovery")
        XCTAssertFalse(data.isCleanShutdown)
        XCTAssertTrue(data.walLogHints)
    }

    func testStandbyShutDownInRecoveryIsClean() throws {
        let data = try load("pg15-standby-shut-down-in-recovery")
        XCTAssertEqual(data.clusterState, "shut down in recovery")
        XCTAssertTrue(data.isCleanShutdown)
    }

    func testPromotedStandbyIsOnTimelineTwo() throws {
        let data = try load("pg15-promoted-timeline2-shut-down")
        XCTAssertEqual(data.systemIdentifier, Self.primaryID)
        XCTAssertEqual(data.timeline, 2)
        XCTAssertEqual(data.fields["Latest checkpoint's PrevTimeLineID"], "2")
        XCTAssertEqual(data.clusterState, "shut down")
        XCTAssertTrue(data.isCleanShutdown)
    }

    func testChecksumsCluster() throws {
        let data = try load("pg15-checksums-shut-down")
        XCTAssertEqual(data.systemIdentifier, Self.checksumsID)
        XCTAssertTrue(data.dataChecksumsEnabled)
        XCTAssertFalse(data.walLogHints)
        XCTAssertEqual(data.timeline, 1)
        XCTAssertTrue(data.isCleanShutdown)
    }

    /// Values with colons of their own (times, LSNs) keep everything after the first colon.
    func testValuesContainingColons() throws {
        let data = try load("pg15-primary-shut-down")
        let modified = try XCTUnwrap(data.fields["pg_control last modified"])
        XCTAssertTrue(modified.contains(":"), modified)
        let location = try XCTUnwrap(data.checkpointLocation)
        XCTAssertNotNil(location.range(of: #"^[0-9A-F]+/[0-9A-F]+$"#, options: .regularExpression), location)
        XCTAssertEqual(data.fields["Latest checkpoint's REDO WAL file"]?.count, 24)
    }

    func testEveryFixtureHasTheFieldsPreflightReads() throws {
        for name in ["pg15-primary-shut-down", "pg15-primary-in-production", "pg15-primary-crashed",
                     "pg15-standby-in-archive-recovery", "pg15-standby-shut-down-in-recovery",
                     "pg15-promoted-timeline2-shut-down", "pg15-checksums-shut-down"] {
            let data = try load(name)
            XCTAssertNotNil(data.systemIdentifier, name)
            XCTAssertNotNil(data.clusterState, name)
            XCTAssertNotNil(data.timeline, name)
            XCTAssertNotNil(data.checkpointLocation, name)
            XCTAssertEqual(data.fields["pg_control version number"], "1300", name)
        }
    }

    func testEmptyOrForeignOutput() {
        let empty = ControlData(parsing: "")
        XCTAssertNil(empty.systemIdentifier)
        XCTAssertNil(empty.clusterState)
        XCTAssertNil(empty.timeline)
        XCTAssertFalse(empty.isCleanShutdown)
        XCTAssertFalse(empty.dataChecksumsEnabled)
        XCTAssertFalse(empty.walLogHints)

        let error = ControlData(parsing: "pg_controldata: error: could not open file \"/nope/global/pg_control\" for reading: No such file or directory\n")
        XCTAssertNil(error.systemIdentifier)
        XCTAssertFalse(error.isCleanShutdown)
    }

    func testTranslatedOutputIsNotMistakenForClean() {
        // Without LC_ALL=C the labels are translated; nothing must be guessed from them.
        let german = "Datenbanksystemidentifikation:        7711815148230747666\nDatenbank-Cluster-Status:             heruntergefahren\n"
        let data = ControlData(parsing: german)
        XCTAssertNil(data.systemIdentifier)
        XCTAssertFalse(data.isCleanShutdown)
    }

    func testTimelineThatIsNotANumber() {
        let data = ControlData(parsing: "Latest checkpoint's TimeLineID:       x\n")
        XCTAssertNil(data.timeline)
    }

    func testCRLFLineEndings() {
        let data = ControlData(parsing: "Database cluster state:               shut down\r\nLatest checkpoint's TimeLineID:       3\r\n")
        XCTAssertEqual(data.clusterState, "shut down")
        XCTAssertEqual(data.timeline, 3)
    }
}
