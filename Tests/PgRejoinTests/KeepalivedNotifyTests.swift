import XCTest
@testable import PgRejoin

/// keepalived's notify argument conventions.
final class KeepalivedNotifyTests: XCTestCase {
    func testNotifyArguments() throws {
        let full = try KeepalivedEvent(["INSTANCE", "VI_PG", "BACKUP", "110"])
        XCTAssertEqual(full.type, "INSTANCE")
        XCTAssertEqual(full.name, "VI_PG")
        XCTAssertEqual(full.state, "BACKUP")
        XCTAssertEqual(full.priority, 110)
        XCTAssertTrue(full.startsHeal)
        XCTAssertEqual(full.description, "INSTANCE VI_PG BACKUP 110")
        // A sync group passes no priority.
        XCTAssertEqual(try KeepalivedEvent(["GROUP", "G1", "FAULT"]).state, "FAULT")
        // notify_backup / notify_fault with the state as the only argument.
        XCTAssertTrue(try KeepalivedEvent(["FAULT"]).startsHeal)
        XCTAssertTrue(try KeepalivedEvent(["backup"]).startsHeal)
        XCTAssertFalse(try KeepalivedEvent(["MASTER"]).startsHeal)
        XCTAssertFalse(try KeepalivedEvent(["INSTANCE", "VI_PG", "STOP", "0"]).startsHeal)
    }

    func testBadArgumentsAreUsageErrors() {
        for words in [[], ["INSTANCE", "VI_PG"], ["PRIMARY"], ["INSTANCE", "VI_PG", "BACKUP", "high"], ["a", "b", "c", "d", "e"]] {
            XCTAssertThrowsError(try KeepalivedEvent(words), "\(words)")
        }
        XCTAssertThrowsError(try KeepalivedNotifyCommand.parse(["--pgdata", "/d", "INSTANCE", "VI_PG"]))
        XCTAssertNoThrow(try KeepalivedNotifyCommand.parse(["--config", "/etc/x.toml", "INSTANCE", "VI_PG", "BACKUP", "100"]))
    }

    func testStampRoundTripAndDeadPid() throws {
        let path = NSTemporaryDirectory() + "stamp-\(UUID().uuidString)"
        defer { unlink(path) }
        try HealStamp(pid: 999_999, started: Date(timeIntervalSince1970: 1_700_000_000.5)).write(path, owner: nil)
        let stamp = try XCTUnwrap(HealStamp.read(path))
        XCTAssertEqual(stamp.pid, 999_999)
        XCTAssertEqual(stamp.started.timeIntervalSince1970, 1_700_000_000.5, accuracy: 0.001)
        XCTAssertFalse(stamp.isRunning)
        // A live pid of another program (a recycled pid) does not debounce; this program does.
        XCTAssertFalse(HealStamp(pid: getppid(), started: Date()).isRunning)
        XCTAssertTrue(HealStamp(pid: getpid(), started: Date()).isRunning)
    }
}
