import Foundation
import RejoinSteps
import XCTest

/// --old-data keep|archive|discard, --keep-old and `pg-rejoin old list|extract`, after real
/// failovers and rejoins.
final class OldDataTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func oldCopies(_ node: PostgresNode) -> [String] {
        siblings(of: node).filter { $0.hasPrefix("data.old-") }
    }

    func listJSON(_ node: PostgresNode) throws -> [[String: Any]] {
        let list = try sandbox.rejoin(["old", "list", "--pgdata", node.dataDirectory, "--bindir", sandbox.bindir, "--json"])
        XCTAssertEqual(list.status, 0, list.output)
        let object = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        return object?["copies"] as? [[String: Any]] ?? []
    }

    func testArchiveLeavesAVerifiedArchiveAndExtractGivesBackTheOldData() throws {
        let f = try Failover.make(in: sandbox)
        let before = try DataSnapshot(f.pg1.dataDirectory)

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--old-data", "archive"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")

        // An archive and its manifest, no directory, nothing half-done.
        let copies = oldCopies(f.pg1)
        let archives = copies.filter { $0.hasSuffix(".tar.zst") || $0.hasSuffix(".tar.gz") }
        XCTAssertEqual(archives.count, 1, "\(copies)")
        XCTAssertEqual(copies.filter { $0.hasSuffix(".manifest.json") }.count, 1, "\(copies)")
        XCTAssertEqual(copies.count, 2, "no directory, no .partial: \(copies)")
        let archive = f.pg1.home + "/" + (archives.first ?? "")
        XCTAssertTrue(result.stdout.contains("re-read and verified"), result.stdout)
        XCTAssertTrue(result.stdout.contains(archive), "the summary says where the old data is: \(result.stdout)")
        var st = stat()
        XCTAssertEqual(stat(archive, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        if Command.isRoot { XCTAssertNotEqual(st.st_uid, 0, "the archive belongs to the data directory's owner") }
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("old data archived to \(archive)"), journal)

        // `old list` shows it with the timeline it ended on (pg1's old timeline, 1).
        let listed = try listJSON(f.pg1)
        XCTAssertEqual(listed.count, 1, "\(listed)")
        XCTAssertEqual(listed.first?["kind"] as? String, "archive")
        XCTAssertEqual((listed.first?["control"] as? [String: Any])?["timeline"] as? Int, 1)
        XCTAssertNotNil((listed.first?["control"] as? [String: Any])?["checkpoint_lsn"] as? String)
        let text = try sandbox.rejoin(["old", "list", "--pgdata", f.pg1.dataDirectory])
        XCTAssertTrue(text.stdout.contains("archive") && text.stdout.contains(archive), text.output)

        // `old verify` re-reads it whole; a damaged copy exits 1 and names the problem.
        let verified = try sandbox.rejoin(["old", "verify", archive])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertTrue(verified.stdout.contains("is whole") && verified.stdout.contains("checksums verified"), verified.output)
        var damaged = try Data(contentsOf: URL(fileURLWithPath: archive))
        damaged[damaged.count * 2 / 3] ^= 0x5A
        let damagedPath = sandbox.root + "/damaged" + ArchiveCompression.best.fileExtension
        try damaged.write(to: URL(fileURLWithPath: damagedPath))
        let refused = try sandbox.rejoin(["old", "verify", damagedPath])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertFalse(refused.stderr.isEmpty, refused.output)

        // Extracting gives back exactly the old data directory.
        let restored = sandbox.root + "/restored"
        let extract = try sandbox.rejoin(["old", "extract", archive, "--to", restored])
        XCTAssertEqual(extract.status, 0, extract.output)
        XCTAssertEqual(try DataSnapshot(restored), before)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: restored)[.posixPermissions] as? Int, 0o700)
        let lost = try String(contentsOfFile: restored + "/PG_VERSION", encoding: .utf8)
        XCTAssertEqual(lost, "15\n")

        // A second extract into the now non-empty directory is refused and changes nothing.
        let again = try sandbox.rejoin(["old", "extract", archive, "--to", restored])
        XCTAssertEqual(again.status, 10, again.output)
        XCTAssertTrue(again.stderr.contains("not an empty directory"), again.stderr)
        XCTAssertEqual(try DataSnapshot(restored), before)
    }

    func testAnArchiveThatFailsIsAWarningAndKeepsTheDirectory() throws {
        let f = try Failover.make(in: sandbox)
        // A file nobody but root may read: archiving the old data (as its owner) must fail.
        let unreadable = f.pg1.dataDirectory + "/unreadable"
        try Data("x".utf8).write(to: URL(fileURLWithPath: unreadable))
        chmod(unreadable, 0)
        try Sandbox.giveToPostgres(unreadable)
        let before = try DataSnapshot(f.pg1.dataDirectory)

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--old-data", "archive"]))
        XCTAssertEqual(result.status, 0, "a retention problem never fails the rejoin: \(result.output)")
        XCTAssertTrue(result.stdout.contains("warning: old data: could not archive"), result.stdout)
        XCTAssertTrue(result.stdout.contains("unreadable"), result.stdout)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        let copies = oldCopies(f.pg1)
        XCTAssertEqual(copies.count, 1, "the directory, no archive, no .partial: \(copies)")
        let old = f.pg1.home + "/" + (copies.first ?? "")
        XCTAssertTrue(Files.isDirectory(old))
        XCTAssertEqual(try DataSnapshot(old), before)
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("warning: could not archive"), journal)
    }

    func testKeepOldPrunesOlderCopiesAndDiscardRemovesThisRuns() throws {
        let f = try Failover.make(in: sandbox)
        // Copies from earlier rejoins: a directory and an archive, plus a hand-made copy that
        // pg-rejoin must never touch.
        let older = f.pg1.home + "/data.old-20200101T000000Z"
        try FileManager.default.createDirectory(atPath: older + "/base", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: older + "/base/f"))
        let source = sandbox.root + "/src/data.old-20200102T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("y".utf8).write(to: URL(fileURLWithPath: source + "/f"))
        let olderArchive = f.pg1.home + "/data.old-20200102T000000Z.tar.zst"
        try DirectoryArchive().archive(directory: source, to: olderArchive)
        let byHand = f.pg1.home + "/data.old-before-upgrade"
        try FileManager.default.createDirectory(atPath: byHand, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(f.pg1.home)

        // Rejoin 1 keeps its directory; with --keep-old 2 the 2020-01-02 archive stays too.
        let first = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--keep-old", "2"]))
        XCTAssertEqual(first.status, 0, first.output)
        let firstCopy = try XCTUnwrap(oldCopies(f.pg1).first { $0.range(of: "^data\\.old-20[0-9]{6}T[0-9]{6}Z$", options: .regularExpression) != nil && !$0.hasPrefix("data.old-2020") })
        XCTAssertEqual(oldCopies(f.pg1).sorted(), ["data.old-20200102T000000Z.manifest.json", "data.old-20200102T000000Z.tar.zst",
                                                   "data.old-before-upgrade", firstCopy].sorted())
        XCTAssertTrue(first.stdout.contains("pruned \(older)"), first.stdout)

        let listed = try listJSON(f.pg1)
        XCTAssertEqual(listed.compactMap { $0["kind"] as? String }, ["archive", "directory"])
        XCTAssertEqual((listed.last?["control"] as? [String: Any])?["timeline"] as? Int, 1, "\(listed)")

        // Rejoin 2 (the standby stopped and rejoined again) with --keep-old 1: only its own
        // copy stays; the older run's directory and the archive are pruned.
        try f.pg1.stop()
        let second = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--keep-old", "1"]))
        XCTAssertEqual(second.status, 0, second.output)
        let afterSecond = oldCopies(f.pg1)
        XCTAssertEqual(afterSecond.count, 2, "\(afterSecond)")
        XCTAssertTrue(afterSecond.contains("data.old-before-upgrade"))
        XCTAssertFalse(afterSecond.contains(firstCopy), "\(afterSecond)")
        let secondCopy = try XCTUnwrap(afterSecond.first { $0 != "data.old-before-upgrade" })
        XCTAssertEqual(try listJSON(f.pg1).count, 1)

        // Rejoin 3 with --old-data discard: its own old directory goes; with --keep-old 1 the
        // second run's copy is the one kept. Quietly, into a log file, as cron would run it.
        try f.pg1.stop()
        // Written as the data directory's owner (pg-rejoin switches users first): a directory
        // that user may write, as /var/log/pg-rejoin/ would be in production.
        let log = f.pg1.home + "/pg-rejoin.log"
        let third = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address,
                                                               extra: ["--old-data", "discard", "--keep-old", "1", "--quiet", "--log-file", log]))
        XCTAssertEqual(third.status, 0, third.output)
        XCTAssertEqual(third.stdout, "rejoined: streaming standby of \(f.pg2.address)\n")
        XCTAssertEqual(third.stderr, "")
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(logged.contains("(--old-data discard)"), logged)
        XCTAssertTrue(logged.contains("notice: step clone done in"), logged)
        XCTAssertTrue(logged.contains("notice: rejoined: streaming standby of \(f.pg2.address)"), logged)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(oldCopies(f.pg1).sorted(), ["data.old-before-upgrade", secondCopy].sorted())
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), String(Failover.rowsBefore + Failover.rowsAfter))
    }
}
