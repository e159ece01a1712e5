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

        // --lost-rows skip: the archive is compared byte for byte with the old data.
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--old-data", "archive", "--lost-rows", "skip"]))
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

        // --lost-rows skip: the archive is compared byte for byte with the old data.
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--old-data", "archive", "--lost-rows", "skip"]))
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

    /// --keep-old prunes older copies, but never one that holds commits no other node has (or
    /// may: a copy nobody judged), nor a hand-made one; --old-data discard removes this run's
    /// copy unless it holds lost commits; `old remove` is the explicit way to let those go.
    func testKeepOldPrunesOnlyCopiesWithoutLostCommitsAndOldRemoveIsExplicit() throws {
        let f = try Failover.make(in: sandbox)
        let work = f.pg1.dataDirectory + ".rejoin"
        // Copies from earlier rejoins, judged then: a directory and an archive without lost
        // commits, a directory with some; one nobody judged; and a hand-made copy pg-rejoin
        // must never touch.
        func olderCopy(_ run: String, verdict: String?) throws -> String {
            let path = f.pg1.home + "/data.old-\(run)"
            try FileManager.default.createDirectory(atPath: path + "/base", withIntermediateDirectories: true)
            try Data(run.utf8).write(to: URL(fileURLWithPath: path + "/base/f"))
            if let verdict {
                try FileManager.default.createDirectory(atPath: work + "/lost-\(run)", withIntermediateDirectories: true)
                try (verdict + "\n").write(toFile: work + "/lost-\(run)/verdict.txt", atomically: true, encoding: .utf8)
            }
            return path
        }
        let clean = try olderCopy("20200101T000000Z", verdict: "none\tno commits after the fork")
        let holding = try olderCopy("20200103T000000Z", verdict: "lost\t3\t0/3000000\t2020-01-03 00:00:00 UTC")
        let unjudged = try olderCopy("20200104T000000Z", verdict: nil)
        let source = sandbox.root + "/src/data.old-20200102T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("y".utf8).write(to: URL(fileURLWithPath: source + "/f"))
        let olderArchive = f.pg1.home + "/data.old-20200102T000000Z.tar.zst"
        try DirectoryArchive().archive(directory: source, to: olderArchive)
        try FileManager.default.createDirectory(atPath: work + "/lost-20200102T000000Z", withIntermediateDirectories: true)
        try "none\tno commits after the fork\n".write(toFile: work + "/lost-20200102T000000Z/verdict.txt", atomically: true, encoding: .utf8)
        let byHand = f.pg1.home + "/data.old-before-upgrade"
        try FileManager.default.createDirectory(atPath: byHand, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(f.pg1.home)

        // Rejoin 1, after the failover: its copy holds the lost orders (one commit), said and
        // kept. --keep-old 2 keeps the two newest (this run's and the unjudged 2020-01-04); of
        // the older ones the clean directory and archive are pruned, the one with lost commits
        // stays beyond it.
        let first = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--keep-old", "2"]))
        XCTAssertEqual(first.status, 0, first.output)
        let firstCopy = try XCTUnwrap(oldCopies(f.pg1).first { $0.range(of: "^data\\.old-20[0-9]{6}T[0-9]{6}Z$", options: .regularExpression) != nil && !$0.hasPrefix("data.old-2020") })
        XCTAssertTrue(first.output.contains("holds 1 commit(s) after the fork"), first.output)
        XCTAssertTrue(first.stdout.contains("pruned \(clean)"), first.stdout)
        XCTAssertTrue(first.stdout.contains("pruned \(olderArchive)"), first.stdout)
        XCTAssertTrue(first.stdout.contains("kept \(holding) beyond --keep-old 2: lost commits 3 commit(s)"), first.stdout)
        XCTAssertEqual(oldCopies(f.pg1).sorted(), ["data.old-20200103T000000Z", "data.old-20200104T000000Z",
                                                   "data.old-before-upgrade", firstCopy].sorted())
        let listed = try listJSON(f.pg1)
        let mine = try XCTUnwrap(listed.first { ($0["path"] as? String)?.hasSuffix(firstCopy) ?? false })
        XCTAssertEqual((mine["control"] as? [String: Any])?["timeline"] as? Int, 1, "\(listed)")
        XCTAssertTrue((mine["lost_commits"] as? String)?.hasPrefix("1 commit(s) after the fork") ?? false, "\(mine)")
        let text = try sandbox.rejoin(["old", "list", "--pgdata", f.pg1.dataDirectory, "--bindir", sandbox.bindir]).stdout
        XCTAssertTrue(text.contains("LOST COMMITS"), text)
        XCTAssertTrue(text.contains("kept: \(f.pg1.home)/\(firstCopy): lost commits 1 commit(s)"), text)

        // Rejoin 2 (the standby stopped and rejoined again) with --keep-old 1: its own copy is a
        // standby's, nothing lost, and kept; every older one holds lost or unknown commits and
        // stays beyond --keep-old, the lost orders of rejoin 1 first of all.
        try f.pg1.stop()
        let second = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--keep-old", "1"]))
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("kept \(f.pg1.home)/\(firstCopy) beyond --keep-old 1: lost commits 1 commit(s)"), second.stdout)
        XCTAssertTrue(second.stdout.contains("kept \(unjudged) beyond --keep-old 1: lost commits unknown"), second.stdout)
        XCTAssertFalse(second.output.contains("which no other node has"), "a standby's copy holds nothing lost: \(second.output)")
        let afterSecond = oldCopies(f.pg1)
        XCTAssertTrue(afterSecond.contains(firstCopy), "the lost orders were pruned: \(afterSecond)")
        let secondCopy = try XCTUnwrap(afterSecond.first { ![firstCopy, "data.old-before-upgrade", "data.old-20200103T000000Z", "data.old-20200104T000000Z"].contains($0) })

        // Rejoin 3 with --old-data discard: its own old directory (nothing lost) goes; with
        // --keep-old 1 the second run's copy is the one kept. Quietly, into a log file, as cron
        // would run it.
        try f.pg1.stop()
        // Written as the data directory's owner (pg-rejoin switches users first): a directory
        // that user may write, as /var/log/pg-rejoin/ would be in production.
        let log = f.pg1.home + "/pg-rejoin.log"
        let third = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address,
                                                               extra: ["--old-data", "discard", "--keep-old", "1", "--quiet", "--log-file", log]))
        XCTAssertEqual(third.status, 0, third.output)
        XCTAssertEqual(third.stdout, "rejoined: streaming standby of \(f.pg2.address)\n")
        // Quiet leaves warnings: the seed's role cannot have the upstream-side check, and says so.
        XCTAssertEqual(third.stderr.split(separator: "\n").filter { !$0.contains("upstream-side check was skipped") }, [], third.stderr)
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(logged.contains("(--old-data discard)"), logged)
        XCTAssertTrue(logged.contains("notice: step clone done in"), logged)
        XCTAssertTrue(logged.contains("notice: rejoined: streaming standby of \(f.pg2.address)"), logged)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(oldCopies(f.pg1).sorted(), ["data.old-20200103T000000Z", "data.old-20200104T000000Z",
                                                   "data.old-before-upgrade", firstCopy, secondCopy].sorted())
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), String(Failover.rowsBefore + Failover.rowsAfter))

        // The explicit way: `old remove` takes the copy with the lost orders, and says what it held.
        let notACopy = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, byHand])
        XCTAssertEqual(notACopy.status, 10, notACopy.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: byHand))
        let removed = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, firstCopy])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertTrue(removed.stdout.contains("it held lost commits: 1 commit(s) after the fork"), removed.output)
        XCTAssertFalse(oldCopies(f.pg1).contains(firstCopy))
    }

    /// A copy someone has started to look at (a postmaster runs in it) is never pruned nor
    /// removed, even one without lost commits; once stopped, `old remove` takes it.
    func testACopyAPostmasterRunsInIsNeverRemoved() throws {
        let f = try Failover.make(in: sandbox, diverge: false)
        let first = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(first.status, 0, first.output)
        let copy = f.pg1.home + "/" + (try XCTUnwrap(oldCopies(f.pg1).first))
        XCTAssertFalse(first.output.contains("which no other node has"), "a clean switchover loses nothing: \(first.output)")
        // Started by hand on a port of its own, to look inside.
        let port = Command.freePort()
        try Command.check([sandbox.bindir + "/pg_ctl", "start", "-w", "-D", copy, "-l", f.pg1.home + "/copy.log",
                           "-o", "-p \(port) -c unix_socket_directories=\(f.pg1.socketDirectory)"], asPostgres: true)
        defer { _ = try? Command.run([sandbox.bindir + "/pg_ctl", "stop", "-w", "-D", copy, "-m", "immediate"], asPostgres: true) }

        try f.pg1.stop()
        let second = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--keep-old", "0"]))
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("kept \(copy) beyond --keep-old 0: a postmaster (pid"), second.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy))
        let refused = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, copy])
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("runs in \(copy); stop it first"), refused.stderr)

        try Command.check([sandbox.bindir + "/pg_ctl", "stop", "-w", "-D", copy, "-m", "fast"], asPostgres: true)
        let removed = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, copy])
        XCTAssertEqual(removed.status, 0, removed.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy))
    }
}
