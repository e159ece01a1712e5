import Foundation
import XCTest

/// A node with a tablespace outside PGDATA (table `items` in `ts`), rejoined on both paths,
/// killed around every rename and aborted. The copy path sets the tablespace's files aside
/// beside themselves (`…/ts/pg-rejoin-old-RUN/PG_…`), copies the upstream's into
/// `…/ts/pg-rejoin-new-RUN/` and swaps them in; the rewind path works through the links.
final class TablespaceTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    /// The files under a directory, by relative path, with their contents' digests.
    func files(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            var st = stat()
            guard lstat(root + "/" + path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            result[path] = try DataSnapshot.digest(root + "/" + path)
        }
        return result
    }

    func link(_ dataDirectory: String) throws -> (oid: String, target: String) {
        let oid = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/pg_tblspc").first)
        return (oid, try FileManager.default.destinationOfSymbolicLink(atPath: dataDirectory + "/pg_tblspc/" + oid))
    }

    func versionDirectory(_ node: PostgresNode) throws -> String {
        try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: node.tablespaceDirectory).first { $0.hasPrefix("PG_") })
    }

    /// What pg-rejoin left in the tablespace's directory besides the version directory.
    func leftovers(_ node: PostgresNode) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: node.tablespaceDirectory).filter { !$0.hasPrefix("PG_") }.sorted()
    }

    func assertRejoined(_ f: Failover, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "t", context, file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM items"), try f.pg2.sql("SELECT count(*) FROM items"), context, file: file, line: line)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM items WHERE note = 'lost'"), "0", context, file: file, line: line)
        XCTAssertEqual(try link(f.pg1.dataDirectory).target, f.pg1.tablespaceDirectory, context, file: file, line: line)
        try f.pg2.sql("INSERT INTO items VALUES (9001, 'streamed')")
        f.pg1.waitFor("SELECT count(*) FROM items WHERE id = 9001", toBe: "1")
    }

    func testTheCopyPathKeepsTheOldTablespaceBesideItAndOldRemoveTakesBoth() throws {
        let f = try Failover.make(in: sandbox, tablespace: true)
        let version = try versionDirectory(f.pg1)
        let before = try files(f.pg1.tablespaceDirectory + "/" + version)
        let (oid, _) = try link(f.pg1.dataDirectory)
        // --lost-rows skip leaves the old files byte for byte (the lost rows are read by starting them).
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        try assertRejoined(f)
        // pg2's own tablespace was never written to by the copy.
        XCTAssertEqual(try f.pg2.sql("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'"), f.pg2.tablespaceDirectory)

        // The old copy is whole: its link leads to the old tablespace files, unchanged.
        let old = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)
        let run = String(old.dropFirst((f.pg1.dataDirectory + ".old-").count))
        let oldTablespace = f.pg1.tablespaceDirectory + "/pg-rejoin-old-" + run
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: old + "/pg_tblspc/" + oid), oldTablespace)
        XCTAssertEqual(try files(oldTablespace + "/" + version), before)
        XCTAssertEqual(try leftovers(f.pg1), ["pg-rejoin-old-" + run])
        XCTAssertTrue(result.stdout.contains("its tablespaces in \(oldTablespace)"), result.stdout)

        let list = try sandbox.rejoin(["old", "list", "--pgdata", f.pg1.dataDirectory, "--bindir", sandbox.bindir])
        XCTAssertTrue(list.stdout.contains("tablespace: \(old): \(oldTablespace)"), list.stdout)
        let removed = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, old])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: old))
        XCTAssertEqual(try leftovers(f.pg1), [], "old remove takes the copy's tablespace with it")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM items"), try f.pg2.sql("SELECT count(*) FROM items"))
    }

    func testTheRewindPathWorksThroughTheLinks() throws {
        let f = try Failover.make(in: sandbox, grants: .rewind, tablespace: true)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("tablespaces: ok"), result.stdout)
        try assertRejoined(f)
        XCTAssertEqual(try leftovers(f.pg1), [])
    }

    /// Killed between any two renames of the copy path, the rerun finishes; the old files,
    /// PGDATA's and the tablespace's, are intact wherever the kill left them.
    func testKilledAroundEveryTablespaceRenameThenResumed() throws {
        for fault in ["set-aside:during", "set-aside:after", "clone:during", "swap-in:during", "swap-in:after", "start:before"] {
            let sandbox = try Sandbox()
            defer { sandbox.tearDown() }
            let f = try Failover.make(in: sandbox, tablespace: true)
            let version = try versionDirectory(f.pg1)
            let before = try files(f.pg1.tablespaceDirectory + "/" + version)
            // --lost-rows skip: the old tablespace files are compared byte for byte after the rerun.
            let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--lost-rows", "skip"])
            XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": fault]).status, 128 + SIGKILL, fault)
            let old = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)
            let run = String(old.dropFirst((f.pg1.dataDirectory + ".old-").count))
            let aside = f.pg1.tablespaceDirectory + "/pg-rejoin-old-" + run + "/" + version
            let oldFiles = FileManager.default.fileExists(atPath: aside) ? aside : f.pg1.tablespaceDirectory + "/" + version
            XCTAssertEqual(try files(oldFiles), before, "\(fault): the old tablespace files changed")
            if fault == "swap-in:during" {
                // Between two renames: the new tablespace files are in place, PGDATA not yet.
                XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory), fault)
                XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.tablespaceDirectory + "/" + version), fault)
            }

            let rerun = try sandbox.rejoin(arguments)
            XCTAssertEqual(rerun.status, 0, "\(fault): \(rerun.output)")
            XCTAssertTrue(rerun.stdout.contains("resuming run"), "\(fault): \(rerun.stdout)")
            try assertRejoined(f, fault)
            XCTAssertEqual(try files(aside), before, "\(fault): the old tablespace files changed")
            XCTAssertEqual(try leftovers(f.pg1), ["pg-rejoin-old-" + run], fault)
        }
    }

    /// abort from any point puts the old tablespace back where it was, with the old data, and
    /// leaves nothing of the run in the tablespace's directory: the old primary starts with
    /// its lost rows.
    func testAbortPutsTheTablespaceBack() throws {
        for fault in ["set-aside:during", "clone:after", "swap-in:during", "start:before"] {
            let sandbox = try Sandbox()
            defer { sandbox.tearDown() }
            let f = try Failover.make(in: sandbox, tablespace: true)
            let version = try versionDirectory(f.pg1)
            let before = try files(f.pg1.tablespaceDirectory + "/" + version)
            let data = try DataSnapshot(f.pg1.dataDirectory)
            XCTAssertEqual(try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address),
                                              environment: ["PG_REJOIN_FAULT": fault]).status, 128 + SIGKILL, fault)
            let abort = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
            XCTAssertEqual(abort.status, 0, "\(fault): \(abort.output)")
            XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), data, fault)
            XCTAssertEqual(try files(f.pg1.tablespaceDirectory + "/" + version), before, fault)
            XCTAssertEqual(try link(f.pg1.dataDirectory).target, f.pg1.tablespaceDirectory, fault)
            XCTAssertEqual(try leftovers(f.pg1), [], fault)
            try f.pg1.start()
            XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM items WHERE note = 'lost'"), String(Failover.lostRows), fault)
            try f.pg1.stop()
        }
    }

    /// --old-data archive: the archive holds the tablespace's files (restored, an in-place
    /// tablespace under pg_tblspc), and its set-aside directory goes with the old copy.
    func testTheArchiveHoldsTheTablespace() throws {
        let f = try Failover.make(in: sandbox, tablespace: true)
        let version = try versionDirectory(f.pg1)
        let before = try files(f.pg1.tablespaceDirectory + "/" + version)
        let (oid, _) = try link(f.pg1.dataDirectory)
        // --lost-rows skip: the archive's files are compared byte for byte with the old ones.
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--old-data", "archive", "--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try leftovers(f.pg1), [], "the archived tablespace directory is removed with the old copy")
        let old = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).oldDataDirectory)
        let archive = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: f.pg1.home)
            .first { $0.hasPrefix((old as NSString).lastPathComponent) && $0.hasSuffix(".tar.zst") })
        let restored = sandbox.root + "/restored"
        let extract = try sandbox.rejoin(["old", "extract", f.pg1.home + "/" + archive, "--to", restored])
        XCTAssertEqual(extract.status, 0, extract.output)
        XCTAssertEqual(try files(restored + "/pg_tblspc/" + oid + "/" + version), before)
    }

    func testAStrayFileInPgTblspcIsRefused() throws {
        let f = try Failover.make(in: sandbox, tablespace: true)
        let stray = f.pg1.dataDirectory + "/pg_tblspc/99999"
        try "not a link".write(toFile: stray, atomically: false, encoding: .utf8)
        try Sandbox.giveToPostgres(stray)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("\(stray) is neither a symlink nor an in-place tablespace directory"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("Nothing was changed"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        try FileManager.default.removeItem(atPath: stray)
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }
}
