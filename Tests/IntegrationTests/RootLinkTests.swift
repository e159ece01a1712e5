import Foundation
import XCTest

/// From the postgres OS user to root: keepalived runs `keepalived-notify` as root, and it writes
/// in `PGDATA.rejoin`, which postgres owns. A link planted at any path pg-rejoin writes as root
/// must never be written through (DESIGN invariant 8). Each case plants links to root-owned
/// "victim" files and checks they are byte for byte, owner and mode, what they were.
final class RootLinkTests: XCTestCase {
    var sandbox: Sandbox!
    var node: PostgresNode!
    var victims: String { sandbox.root + "/victims" }
    var work: String { node.dataDirectory + ".rejoin" }

    override func setUpWithError() throws {
        try XCTSkipUnless(Command.isRoot, "links planted for root need root")
        sandbox = try Sandbox()
        node = try sandbox.node("pg1")
        try node.initdb()
        // Root's own directory, like /etc: what an attacker would aim at.
        try FileManager.default.createDirectory(atPath: victims, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        for name in ["shadow", "passwd", "sudoers", "cron", "hard"] {
            try "root-only \(name)\n".write(toFile: victims + "/" + name, atomically: false, encoding: .utf8)
            chmod(victims + "/" + name, 0o640)
        }
    }

    override func tearDown() { sandbox?.tearDown() }

    /// What a victim is: content, owner, mode.
    func state(_ name: String) throws -> String {
        let path = victims + "/" + name
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let content = try String(contentsOfFile: path, encoding: .utf8)
        return "\(content)|\(attributes[.ownerAccountID] ?? "?")|\(attributes[.posixPermissions] ?? "?")"
    }

    func assertVictimsUntouched(file: StaticString = #filePath, line: UInt = #line) throws {
        for name in ["shadow", "passwd", "sudoers", "cron", "hard"] {
            XCTAssertEqual(try state(name), "root-only \(name)\n|0|\(0o640)", name, file: file, line: line)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: victims).sorted(),
                       ["cron", "hard", "passwd", "shadow", "sudoers"], "something was created in root's directory", file: file, line: line)
    }

    /// The working directory as postgres would have it, with `links` planted (name -> target).
    func plant(_ links: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: work + "/" + name, withDestinationPath: target)
        }
        try Sandbox.giveToPostgres(work)
    }

    func notify(_ words: [String], extra: [String] = []) throws -> CommandResult {
        try sandbox.rejoin(["keepalived-notify", "--pgdata", node.dataDirectory, "--peers", "127.0.0.1:1",
                            "--bindir", sandbox.bindir] + extra + words)
    }

    func testALinkAtTheNotifyLogIsRefused() throws {
        try plant(["keepalived-notify.log": victims + "/shadow"])
        let result = try notify(["MASTER"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("keepalived-notify.log is a symbolic link"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Remove it (someone may have planted it), then rerun"), result.stderr)
        try assertVictimsUntouched()
        // The advice: the link removed, the notify goes through.
        try FileManager.default.removeItem(atPath: work + "/keepalived-notify.log")
        XCTAssertEqual(try notify(["MASTER"]).status, 0)
        try assertVictimsUntouched()
    }

    func testAHardLinkAtTheNotifyLogIsRefused() throws {
        try plant([:])
        XCTAssertEqual(link(victims + "/hard", work + "/keepalived-notify.log"), 0)
        let result = try notify(["MASTER"])
        XCTAssertNotEqual(result.status, 0, result.output)
        try assertVictimsUntouched()
    }

    /// The stamp and its temporary name: both are replaced, never written through; what is
    /// written belongs to postgres.
    func testLinksAtTheStampAndItsTemporaryNameAreReplacedNotFollowed() throws {
        try plant(["keepalived-notify.stamp.pg-rejoin-tmp": victims + "/passwd",
                   "keepalived-notify.stamp": victims + "/sudoers"])
        let result = try notify(["BACKUP"])
        XCTAssertEqual(result.status, 0, result.output)
        try assertVictimsUntouched()
        let stamp = work + "/keepalived-notify.stamp"
        let attributes = try FileManager.default.attributesOfItem(atPath: stamp)
        XCTAssertEqual(attributes[.type] as? FileAttributeType, .typeRegular)
        XCTAssertEqual(attributes[.ownerAccountID] as? UInt32, try XCTUnwrap(PostgresUser.ids).uid)
        // The heal it started (detached, and failing: no peer answers) is left to end.
        if let pid = Int32((try String(contentsOfFile: stamp, encoding: .utf8)).split(separator: " ").first ?? "") {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && HealTests.isAlive(pid) { usleep(100_000) }
        }
        try assertVictimsUntouched()
    }

    /// PGDATA.rejoin itself a link into root's directory: nothing is created there.
    func testTheWorkingDirectoryAsALinkIsRefused() throws {
        try FileManager.default.createSymbolicLink(atPath: work, withDestinationPath: victims)
        let result = try notify(["MASTER"])
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stderr.contains("symbolic link"), result.stderr)
        try assertVictimsUntouched()
    }

    /// --log-file in a directory postgres can write, pointing at root's file.
    func testALinkAtTheLogFileIsRefused() throws {
        let logs = node.home + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: logs + "/pg-rejoin.log", withDestinationPath: victims + "/cron")
        try Sandbox.giveToPostgres(logs)
        for command in [["keepalived-notify", "--pgdata", node.dataDirectory, "--log-file", logs + "/pg-rejoin.log", "MASTER"],
                        ["status", "--pgdata", node.dataDirectory, "--log-file", logs + "/pg-rejoin.log"]] {
            // Refused with a warning; the command goes on without the file.
            let result = try sandbox.rejoin(command)
            XCTAssertTrue(result.stderr.contains("warning: the log file: \(logs)/pg-rejoin.log is a symbolic link"), "\(command): \(result.stderr)")
            try assertVictimsUntouched()
        }
        // In root's own directory a link is root's choice, and is followed.
        let rootLogs = sandbox.root + "/root-logs"
        try FileManager.default.createDirectory(atPath: rootLogs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let status = try sandbox.rejoin(["status", "--pgdata", node.dataDirectory, "--log-file", rootLogs + "/pg-rejoin.log"])
        XCTAssertFalse(status.stderr.contains("symbolic link"), status.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: rootLogs + "/pg-rejoin.log"))
    }
}
