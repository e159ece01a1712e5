import XCTest
@testable import RejoinSteps

/// How tablespaces are read, named and matched; the moves themselves run on real servers in
/// TablespaceTests.
final class TablespacePlanTests: XCTestCase {
    func testTheProbesTriplesAreParsed() {
        let parsed = UpstreamTablespace.parse(json: #"[["16384", "fast", "/srv/ts1"], ["16390", "odd, name", "pg_tblspc/16390"]]"#)
        XCTAssertEqual(parsed, [UpstreamTablespace(oid: "16384", name: "fast", location: "/srv/ts1"),
                                UpstreamTablespace(oid: "16390", name: "odd, name", location: "pg_tblspc/16390")])
        XCTAssertEqual(UpstreamTablespace.parse(json: "[]"), [])
        XCTAssertEqual(UpstreamTablespace.parse(json: nil), [])
    }

    func testTheVersionDirectoryIsNamedFromTheCatalogVersion() throws {
        let control = ControlData(parsing: try Fixtures.text("controldata/pg15-primary-crashed.txt"))
        XCTAssertEqual(LocalTablespaces.versionDirectory(major: 15, control: control), "PG_15_202209061")
        XCTAssertNil(LocalTablespaces.versionDirectory(major: 15, control: ControlData(parsing: "")))
    }

    func testThePathsOfARunStayInsideTheLocation() {
        let plan = TablespacePlan(oid: "16384", name: "fast", location: "/srv/ts1", upstreamLocation: "/srv/ts1",
                                  versionDirectory: "PG_15_202209061", local: true)
        XCTAssertEqual(plan.current, "/srv/ts1/PG_15_202209061")
        XCTAssertEqual(plan.oldLocation(run: "20261206T070000Z"), "/srv/ts1/pg-rejoin-old-20261206T070000Z")
        XCTAssertEqual(plan.newLocation(run: "20261206T070000Z"), "/srv/ts1/pg-rejoin-new-20261206T070000Z")
        XCTAssertEqual(plan.label, "fast (16384)")
    }

    func testAnEqualsSignInAMappedPathIsEscapedForPgBasebackup() {
        XCTAssertEqual(CloneStep.mappingPart("/srv/a=b/ts"), #"/srv/a\=b/ts"#)
        XCTAssertEqual(CloneStep.mappingPart("/srv/ts"), "/srv/ts")
    }

    func testLinksAreReadInPlaceDirectoriesSkippedAndAnythingElseNamed() throws {
        let root = NSTemporaryDirectory() + "tblspc-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/pg_tblspc"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/16384", withDestinationPath: "/srv/ts1/")
        try FileManager.default.createSymbolicLink(atPath: directory + "/16385", withDestinationPath: "../../elsewhere")
        try FileManager.default.createDirectory(atPath: directory + "/16386", withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: directory + "/16387", contents: Data())
        let (links, problems) = LocalTablespaces.read(root)
        XCTAssertEqual(links.map(\.oid), ["16384", "16385"])
        XCTAssertEqual(links.map(\.location), ["/srv/ts1", (root as NSString).deletingLastPathComponent + "/elsewhere"])
        XCTAssertEqual(problems, ["\(directory)/16387 is neither a symlink nor an in-place tablespace directory"])
    }

    func testATablespaceCreatedAfterTheForkSendsAutoToTheCopyPath() throws {
        let own = TablespacePlan(oid: "16384", name: "fast", location: "/srv/ts1", upstreamLocation: "/srv/ts1",
                                 versionDirectory: "PG_15_202209061", local: true)
        var theirs = own
        theirs.oid = "16400"
        theirs.name = "new"
        theirs.location = "/srv/ts2"
        theirs.local = false
        XCTAssertNil(MethodChoice.tablespaceCheck([]))
        XCTAssertEqual(MethodChoice.tablespaceCheck([own])?.passed, true)
        let check = try XCTUnwrap(MethodChoice.tablespaceCheck([own, theirs]))
        XCTAssertFalse(check.passed)
        XCTAssertTrue(check.detail.contains("new (16400)"), check.detail)
        XCTAssertTrue(check.detail.contains("/srv/ts2"), check.detail)
    }
}
