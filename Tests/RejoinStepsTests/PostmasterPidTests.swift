import XCTest
@testable import RejoinSteps

/// postmaster.pid files copied from running PostgreSQL 15 servers (fixtures/postmaster/), and
/// hand-made damaged ones.
final class PostmasterPidTests: XCTestCase {
    func testRealPrimaryPidFile() throws {
        let text = try Fixtures.text("postmaster/pg15-primary.pid")
        let pid = try XCTUnwrap(PostmasterPid(parsing: text))
        XCTAssertEqual(pid.pid, 5675)
        XCTAssertEqual(pid.dataDirectory, "/tmp/ut-fixgen-5165/primary")
        XCTAssertEqual(pid.port, 55811)
        XCTAssertEqual(pid.socketDirectory, "/tmp/ut-fixgen-5165")
        XCTAssertEqual(pid.listenAddress, "127.0.0.1")
        // The file pads the status; the parser trims it.
        XCTAssertTrue(text.contains("ready   \n"))
        XCTAssertEqual(pid.status, "ready")
    }

    func testRealStandbyPidFile() throws {
        let pid = try XCTUnwrap(PostmasterPid(parsing: try Fixtures.text("postmaster/pg15-standby.pid")))
        XCTAssertEqual(pid.pid, 5710)
        XCTAssertEqual(pid.dataDirectory, "/tmp/ut-fixgen-5165/standby")
        XCTAssertEqual(pid.port, 55812)
        XCTAssertEqual(pid.status, "ready")
    }

    func testReadFromDataDirectory() throws {
        let dir = try TemporaryDirectory()
        XCTAssertNil(PostmasterPid.read(dataDirectory: dir.path))
        try dir.write("postmaster.pid", try Fixtures.text("postmaster/pg15-primary.pid"))
        XCTAssertEqual(PostmasterPid.read(dataDirectory: dir.path)?.pid, 5675)
    }

    func testEmpty() {
        XCTAssertNil(PostmasterPid(parsing: ""))
        XCTAssertNil(PostmasterPid(parsing: "\n"))
    }

    func testGarbageFirstLine() {
        XCTAssertNil(PostmasterPid(parsing: "not a pid\n/var/lib/postgresql/15/main\n"))
        XCTAssertNil(PostmasterPid(parsing: "12x\n/data\n"))
        XCTAssertNil(PostmasterPid(parsing: "\u{0}\u{0}\u{0}\u{0}"))
    }

    func testPidMustBePositive() {
        XCTAssertNil(PostmasterPid(parsing: "0\n/data\n"))
        XCTAssertNil(PostmasterPid(parsing: "-42\n/data\n"))
        XCTAssertNil(PostmasterPid(parsing: "99999999999\n/data\n"))
    }

    /// A postmaster still starting (or a file cut short) has only its first lines.
    func testMissingLines() throws {
        let onlyPid = try XCTUnwrap(PostmasterPid(parsing: "1234\n"))
        XCTAssertEqual(onlyPid.pid, 1234)
        XCTAssertEqual(onlyPid.dataDirectory, "")
        XCTAssertNil(onlyPid.port)
        XCTAssertNil(onlyPid.socketDirectory)
        XCTAssertNil(onlyPid.listenAddress)
        XCTAssertNil(onlyPid.status)

        let noNewline = try XCTUnwrap(PostmasterPid(parsing: "1234"))
        XCTAssertEqual(noNewline.pid, 1234)

        let fourLines = try XCTUnwrap(PostmasterPid(parsing: "1234\n/data\n1795546885\n5433\n"))
        XCTAssertEqual(fourLines.dataDirectory, "/data")
        XCTAssertEqual(fourLines.port, 5433)
        XCTAssertNil(fourLines.socketDirectory)
        XCTAssertNil(fourLines.listenAddress)
        XCTAssertNil(fourLines.status)
    }

    func testEmptySocketAndListenLines() throws {
        // unix_socket_directories = '' and listen_addresses = '' leave those lines empty.
        let pid = try XCTUnwrap(PostmasterPid(parsing: "1234\n/data\n1795546885\n5432\n\n\n  16229472        16\nstarting\n"))
        XCTAssertNil(pid.socketDirectory)
        XCTAssertNil(pid.listenAddress)
        XCTAssertEqual(pid.status, "starting")
    }

    func testMultipleSocketDirectoriesUseTheFirst() throws {
        let pid = try XCTUnwrap(PostmasterPid(parsing: "1234\n/data\n1795546885\n5432\n/run/a,/tmp/b\n*\n  1 2\nready   \n"))
        XCTAssertEqual(pid.socketDirectory, "/run/a")
        XCTAssertEqual(pid.listenAddress, "*")

        let short = try XCTUnwrap(PostmasterPid(parsing: "1234\n/data\n1\n5432\na,b\n"))
        XCTAssertEqual(short.socketDirectory, "a")
    }

    func testPortThatIsNotANumber() throws {
        let pid = try XCTUnwrap(PostmasterPid(parsing: "1234\n/data\n1\nfive\n/tmp\n"))
        XCTAssertNil(pid.port)
        XCTAssertEqual(pid.socketDirectory, "/tmp")
    }

    func testSpacesAroundThePidAreTrimmed() throws {
        XCTAssertEqual(PostmasterPid(parsing: "  1234  \n/data\n")?.pid, 1234)
    }
}
