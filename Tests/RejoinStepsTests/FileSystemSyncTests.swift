import Foundation
import XCTest
@testable import RejoinSteps

/// syncfs instead of an fsync per file: only where the kernel reports write-back errors from
/// it, and over every file system a data directory's files live on.
final class FileSystemSyncTests: XCTestCase {
    func testSyncfsIsTrustedFromLinux58On() {
        XCTAssertTrue(FileSystemSync.kernel("6.1.0-18-amd64", isAtLeast: (5, 8)))
        XCTAssertTrue(FileSystemSync.kernel("5.8.0", isAtLeast: (5, 8)))
        XCTAssertTrue(FileSystemSync.kernel("5.10.209+", isAtLeast: (5, 8)))
        XCTAssertFalse(FileSystemSync.kernel("5.4.0-150-generic", isAtLeast: (5, 8)))
        XCTAssertFalse(FileSystemSync.kernel("4.19.0-26-amd64", isAtLeast: (5, 8)))
        XCTAssertFalse(FileSystemSync.kernel("", isAtLeast: (5, 8)), "an unreadable release is not trusted")
        XCTAssertFalse(FileSystemSync.kernel("weird", isAtLeast: (5, 8)))
    }

    /// The data directory, the WAL behind a pg_wal symlink, each tablespace's target; a link
    /// that leads nowhere holds nothing to sync.
    func testRootsAreTheDataDirectoryItsWALAndItsTablespaces() throws {
        let temp = try TemporaryDirectory("fs-sync-tests")
        let pgdata = temp.path + "/main"
        try temp.makeDirectory("main/pg_tblspc")
        try temp.makeDirectory("wal")
        try temp.makeDirectory("ts/16384")
        try temp.makeDirectory("ts/16390")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: pgdata + "/pg_wal", withDestinationPath: temp.path + "/wal")
        try fm.createSymbolicLink(atPath: pgdata + "/pg_tblspc/16390", withDestinationPath: "../../ts/16390")
        try fm.createSymbolicLink(atPath: pgdata + "/pg_tblspc/16384", withDestinationPath: temp.path + "/ts/16384")
        try fm.createSymbolicLink(atPath: pgdata + "/pg_tblspc/16400", withDestinationPath: temp.path + "/gone")
        XCTAssertEqual(FileSystemSync.roots(of: pgdata), [pgdata, temp.path + "/wal", temp.path + "/ts/16384", temp.path + "/ts/16390"])
        XCTAssertNoThrow(try FileSystemSync.sync(pgdata))

        // A pg_wal that is a plain directory is part of the data directory's own file system.
        try fm.removeItem(atPath: pgdata + "/pg_wal")
        try temp.makeDirectory("main/pg_wal")
        XCTAssertEqual(FileSystemSync.roots(of: pgdata).first, pgdata)
        XCTAssertFalse(FileSystemSync.roots(of: pgdata).contains(pgdata + "/pg_wal"))
    }

    func testAMissingDataDirectoryIsAnErrorNotASilentSuccess() {
        XCTAssertThrowsError(try FileSystemSync.sync("/nonexistent/pg-rejoin/main")) { error in
            guard case .open? = error as? FileError else { return XCTFail("\(error)") }
        }
    }
}
