import XCTest
@testable import RejoinSteps

/// flock locks belong to an open file description, so a second `RunLock` in the same process
/// conflicts with the first exactly as another process would.
final class LockTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var path: String { directory.path + "/lock" }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("rejoin-lock")
    }

    override func tearDown() {
        directory = nil
    }

    func testLockWritesThePid() throws {
        let lock = try RunLock(path: path)
        XCTAssertEqual(lock.path, path)
        XCTAssertEqual(Files.read(path), "\(getpid())\n")
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber).intValue
        XCTAssertEqual(mode & 0o077, 0, String(mode, radix: 8))
        withExtendedLifetime(lock) {}
    }

    func testSecondLockIsRefusedWithTheHoldersPid() throws {
        let first = try RunLock(path: path)
        XCTAssertThrowsError(try RunLock(path: path)) { error in
            XCTAssertEqual(error as? LockError, .held(path: path, pid: getpid()))
            XCTAssertTrue((error as? LockError)?.errorDescription?.contains("pid \(getpid())") ?? false)
        }
        withExtendedLifetime(first) {}
    }

    func testReleasedLockCanBeTakenAgain() throws {
        var first: RunLock? = try RunLock(path: path)
        XCTAssertNotNil(first)
        first = nil
        let second = try RunLock(path: path)
        XCTAssertEqual(Files.read(path), "\(getpid())\n")
        withExtendedLifetime(second) {}
    }

    func testStalePidFromAnOldHolderIsReplaced() throws {
        try Data("999999\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(RunLock.holder(path: path).held, false)
        let lock = try RunLock(path: path)
        XCTAssertEqual(Files.read(path), "\(getpid())\n")
        withExtendedLifetime(lock) {}
    }

    func testHolderWhileHeldAndAfter() throws {
        XCTAssertFalse(RunLock.holder(path: path).held)
        XCTAssertNil(RunLock.holder(path: path).pid)

        var lock: RunLock? = try RunLock(path: path)
        let held = RunLock.holder(path: path)
        XCTAssertTrue(held.held)
        XCTAssertEqual(held.pid, getpid())
        XCTAssertNotNil(lock)

        lock = nil
        let after = RunLock.holder(path: path)
        XCTAssertFalse(after.held)
        XCTAssertEqual(after.pid, getpid(), "the file keeps the last holder's pid")
        // Asking did not take the lock.
        let again = try RunLock(path: path)
        withExtendedLifetime(again) {}
    }

    func testHeldLockWithUnreadablePid() throws {
        let lock = try RunLock(path: path)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data("not a pid".utf8))
        try handle.close()
        XCTAssertThrowsError(try RunLock(path: path)) { error in
            XCTAssertEqual(error as? LockError, .held(path: path, pid: nil))
            XCTAssertTrue((error as? LockError)?.errorDescription?.contains("another process") ?? false)
        }
        withExtendedLifetime(lock) {}
    }

    func testLockInAMissingDirectory() {
        let missing = directory.path + "/no/such/dir/lock"
        XCTAssertThrowsError(try RunLock(path: missing)) { error in
            guard case let .create(path, code)? = error as? FileError else {
                return XCTFail("expected FileError.create, got \(error)")
            }
            XCTAssertEqual(path, missing)
            XCTAssertEqual(code, ENOENT)
        }
    }
}
