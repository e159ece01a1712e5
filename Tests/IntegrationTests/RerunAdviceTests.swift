import Foundation
import XCTest

/// Every message that advises a rerun is followed here by exactly that rerun, which must
/// finish. (Others live beside the behaviour they test: ResumeSafetyTests, LeastPrivilegeTests,
/// NodeSettingsTests, InterruptionTests, StartFailureTests.)
final class RerunAdviceTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func withVerifyTimeout(_ arguments: [String], _ seconds: Int) -> [String] {
        var arguments = arguments
        if let at = arguments.firstIndex(of: "--verify-timeout") { arguments[at + 1] = String(seconds) }
        return arguments
    }

    /// "did not verify within N s ... rerun to verify again, or raise --verify-timeout": the
    /// rerun's --verify-timeout counts (it used to be the journal's); once the cause is gone,
    /// the rerun finishes.
    func testVerifyTimeoutAdviceRerunsWithTheNewTimeout() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "verify:before"]).status, 128 + SIGKILL)
        // The standby streams but does not replay: it cannot catch up with a new commit.
        f.pg1.waitFor("SELECT pg_is_in_recovery()", toBe: "t")
        try f.pg1.sql("SELECT pg_wal_replay_pause()")
        try f.pg2.sql("INSERT INTO orders VALUES (9001, 'after the pause')")
        let timedOut = try sandbox.rejoin(withVerifyTimeout(arguments, 3))
        XCTAssertEqual(timedOut.status, 21, timedOut.output)
        XCTAssertTrue(timedOut.stderr.contains("did not verify within 3 s"), timedOut.stderr)
        XCTAssertTrue(timedOut.stderr.contains("rerun to verify again, or raise --verify-timeout"), timedOut.stderr)

        // The advice: the cause gone, the rerun with a longer timeout finishes.
        try f.pg1.sql("SELECT pg_wal_replay_resume()")
        let rerun = try sandbox.rejoin(withVerifyTimeout(arguments, 60))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        f.pg1.waitFor("SELECT count(*) FROM orders WHERE id = 9001", toBe: "1")
    }

    /// "refused the password ... Put the replication password in a passfile (--passfile ...)":
    /// the rerun with the passfile, and nothing else, finishes.
    func testAWrongPasswordThenThePassfile() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256", "host all repl 127.0.0.1/32 scram-sha-256"])
        let wrong = sandbox.root + "/wrong-pgpass"
        try "127.0.0.1:*:*:repl:not-the-password\n".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        try Sandbox.giveToPostgres(wrong)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let at = try XCTUnwrap(arguments.firstIndex(of: sandbox.passfile))
        arguments[at] = wrong
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("Put the replication password in a passfile (--passfile"), refused.stderr)
        arguments[at] = sandbox.passfile
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "may not replicate ... On the upstream run ALTER ROLE repl REPLICATION": done, rerun.
    func testARoleWithoutReplicationThenAlterRole() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.sql("ALTER ROLE repl NOREPLICATION")
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("On the upstream run ALTER ROLE repl REPLICATION"), refused.stderr)
        try f.pg2.sql("ALTER ROLE repl REPLICATION")
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "did not answer within N s ... raise --connect-timeout on a slow link": through a link
    /// that holds every connection 4 s, the rerun with a longer --connect-timeout finishes,
    /// and the standby streams through that same link.
    func testASlowLinkThenALongerConnectTimeout() throws {
        let f = try Failover.make(in: sandbox)
        let link = try SlowLinkProxy(to: f.pg2.port, delay: 4)
        defer { link.stop() }
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: link.address)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("did not answer within 3 s"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("raise --connect-timeout on a slow link"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before, "a refusal changes nothing")

        let at = try XCTUnwrap(arguments.firstIndex(of: "--connect-timeout"))
        arguments[at + 1] = "20"
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        try f.pg2.sql("INSERT INTO orders VALUES (9002, 'over the slow link')")
        f.pg1.waitFor("SELECT count(*) FROM orders WHERE id = 9002", toBe: "1")
    }

    /// `pg-rejoin status` says what to run next; that command, exactly as printed, resumes
    /// (the journal holds the passfile, bindir and node name).
    func testTheCommandStatusPrintsResumesAsItIs() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "clone:after"]).status, 128 + SIGKILL)
        let status = try sandbox.rejoin(["status", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(status.status, 40, status.output)
        let next = try XCTUnwrap(status.stdout.split(separator: "\n").first { $0.hasPrefix("next:") }.map(String.init), status.stdout)
        let command = try XCTUnwrap(next.split(separator: "`").dropFirst().first, next)
        let words = command.split(separator: " ").map(String.init)
        XCTAssertEqual(words.first, "pg-rejoin")
        let rerun = try sandbox.rejoin(Array(words.dropFirst()))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
    }

    /// "another pg-rejoin ... holds the lock ... wait for it to finish": once it has, the rerun
    /// finishes.
    func testALockHeldThenReleased() throws {
        let f = try Failover.make(in: sandbox)
        let work = f.pg1.dataDirectory + ".rejoin"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let fd = open(work + "/lock", O_RDWR | O_CREAT, 0o600)
        try Sandbox.giveToPostgres(work)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let locked = try sandbox.rejoin(arguments)
        XCTAssertEqual(locked.status, 11, locked.output)
        close(fd)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "an unfinished rejoin from A is recorded ... Rerun with --from A": the same server by
    /// another name is refused; the rerun with the recorded one finishes.
    func testAnUnfinishedRunFromAnotherUpstreamNameThenTheRecordedOne() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "set-aside:after"]).status, 128 + SIGKILL)
        let other = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: "localhost:\(f.pg2.port)"))
        XCTAssertEqual(other.status, 10, other.output)
        XCTAssertTrue(other.stderr.contains("Rerun with --from \(f.pg2.address)"), other.stderr)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "upstream ... is in recovery (a standby) ...; pass --from the current primary": once it
    /// is the primary (promoted), the rerun finishes.
    func testAStandbyUpstreamThenThePrimary() throws {
        let f = try Failover.make(in: sandbox, promote: false)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("pass --from the current primary"), refused.stderr)
        try f.pg2.promote()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "could not stop the local server ... Stop it by hand, then rerun".
    func testAStopThatFailsThenStoppedByHand() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg1.start()
        let config = sandbox.root + "/stop-fails.toml"
        try "[commands]\nstop = [\"/bin/false\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--demote", "--config", config])
        let failed = try sandbox.rejoin(arguments)
        XCTAssertEqual(failed.status, 20, failed.output)
        XCTAssertTrue(failed.stderr.contains("Stop it by hand, then rerun"), failed.stderr)
        XCTAssertTrue(f.pg1.isRunning)
        try f.pg1.stop()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "--from ... is this node itself ... pass --from the new primary".
    func testThisNodeAsUpstreamThenTheNewPrimary() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg1.start()
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg1.address, extra: ["--demote"]))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("pass --from the new primary"), refused.stderr)
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--demote"]))
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "not enough free space ... Free space ... and rerun": here the space asked for is a
    /// reserve no disk has; with the default reserve the rerun finishes.
    func testNotEnoughSpaceThenEnough() throws {
        let f = try Failover.make(in: sandbox)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--disk-reserve", "100000TB"]))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("Free space"), refused.stderr)
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "... exists again but is neither the old nor the new data directory ... Move it aside
    /// and rerun".
    func testSomethingInPGDATABeforeSwapInThenMovedAside() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "swap-in:before"]).status, 128 + SIGKILL)
        try FileManager.default.createDirectory(atPath: f.pg1.dataDirectory, withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(f.pg1.dataDirectory)
        let occupied = try sandbox.rejoin(arguments)
        XCTAssertEqual(occupied.status, 20, occupied.output)
        XCTAssertTrue(occupied.stderr.contains("Move it aside and rerun"), occupied.stderr)
        try FileManager.default.moveItem(atPath: f.pg1.dataDirectory, toPath: f.pg1.home + "/junk")
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// The new copy removed by hand between the clone and the swap-in: the rerun sees the
    /// clone is no longer done, copies again and finishes. (So "the new copy is neither at
    /// STAGING nor at PGDATA; rerun to clone again" is only a guard for a copy that vanishes
    /// while the run itself goes on.)
    func testTheNewCopyRemovedByHandThenClonedAgain() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "swap-in:before"]).status, 128 + SIGKILL)
        let staging = try XCTUnwrap(RejoinJournal(pgdata: f.pg1.dataDirectory).stagingDirectory)
        try FileManager.default.removeItem(atPath: staging)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("copied"), rerun.stdout)
        f.pg1.waitFor("SELECT pg_is_in_recovery()", toBe: "t")
    }

    /// abort: "... holds neither the old data nor this run's new copy; move it aside by hand,
    /// then abort again".
    func testAbortWithSomethingElseInPGDATAThenMovedAside() throws {
        let f = try Failover.make(in: sandbox)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        XCTAssertEqual(try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address),
                                          environment: ["PG_REJOIN_FAULT": "set-aside:after"]).status, 128 + SIGKILL)
        try FileManager.default.createDirectory(atPath: f.pg1.dataDirectory, withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("move it aside by hand, then abort again"), refused.stderr)
        try FileManager.default.moveItem(atPath: f.pg1.dataDirectory, toPath: f.pg1.home + "/junk")
        let abort = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(abort.status, 0, abort.output)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
    }

    /// old remove of an unfinished run's old data: "finish it (rerun) or give it up ... first".
    func testOldRemoveOfAnUnfinishedRunThenFinished() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "clone:after"]).status, 128 + SIGKILL)
        let copy = try XCTUnwrap(siblings(of: f.pg1).first { $0.hasPrefix("data.old-") })
        let refused = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, copy])
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("finish it (rerun)"), refused.stderr)
        XCTAssertEqual(try sandbox.rejoin(arguments).status, 0)
        let removed = try sandbox.rejoin(["old", "remove", "--pgdata", f.pg1.dataDirectory, copy])
        XCTAssertEqual(removed.status, 0, removed.output)
    }

    /// --from auto: "no primary among the peers ...; promote one, or pass --from the primary".
    func testNoPrimaryAmongThePeersThenPromoted() throws {
        let f = try Failover.make(in: sandbox, promote: false)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", "\(f.pg1.address),\(f.pg2.address)"])
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 14, refused.output)
        XCTAssertTrue(refused.stderr.contains("promote one, or pass --from the primary"), refused.stderr)
        try f.pg2.promote()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "PGPASSWORD serves this run only ... Put the password in a passfile and pass
    /// --passfile": the rerun with --passfile on the standby that run made writes it into
    /// primary_conninfo, so the standby still streams after a restart.
    func testAPasswordByEnvironmentThenThePassfile() throws {
        let f = try Failover.make(in: sandbox)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let at = try XCTUnwrap(arguments.firstIndex(of: "--passfile"))
        arguments.removeSubrange(at...(at + 1))
        let first = try sandbox.rejoin(arguments, environment: ["PGPASSWORD": sandbox.password])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("Put the password in a passfile and pass --passfile"), first.output)
        XCTAssertFalse(try f.pg1.sql("SHOW primary_conninfo").contains("passfile"))

        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("already a standby"), rerun.stdout)
        f.pg1.waitFor("SELECT current_setting('primary_conninfo') LIKE '%passfile=''\(sandbox.passfile)''%'", toBe: "t")
        try f.pg1.stop()
        try f.pg1.start()
        f.pg1.waitFor("SELECT status FROM pg_stat_wal_receiver", toBe: "streaming")
    }

    /// --from auto: "SPLIT BRAIN ... fence one of them, then rejoin it with --from the other".
    func testSplitBrainAmongThePeersThenFencedAndRejoined() throws {
        let f = try Failover.make(in: sandbox)
        let pg3 = try sandbox.node("pg3")
        try pg3.cloneAsStandby(of: f.pg2)
        try pg3.start()
        pg3.waitFor("SELECT pg_is_in_recovery()", toBe: "t")
        try pg3.promote()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", "\(f.pg2.address),\(pg3.address)"])
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 13, refused.output)
        XCTAssertTrue(refused.stderr.contains("fence one of them, then rejoin it with --from the other"), refused.stderr)
        // pg3 fenced (stopped; its newer timeline makes it no candidate for a rejoin to pg2,
        // as pg-rejoin would say), then pg1's rerun finishes.
        try pg3.stop()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// "... does not exist; pass --pgdata the failed primary's data directory".
    func testAWrongPGDATAThenTheRightOne() throws {
        let f = try Failover.make(in: sandbox)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let at = try XCTUnwrap(arguments.firstIndex(of: f.pg1.dataDirectory))
        arguments[at] = f.pg1.home + "/no-such-data"
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("pass --pgdata the failed primary's data directory"), refused.stderr)
        arguments[at] = f.pg1.dataDirectory
        XCTAssertEqual(try sandbox.rejoin(arguments).status, 0)
    }

    func heal(_ node: PostgresNode, peers: [PostgresNode], extra: [String] = []) throws -> CommandResult {
        try sandbox.rejoin(["heal", "--pgdata", node.dataDirectory, "--peers", peers.map(\.address).joined(separator: ","),
                            "--passfile", sandbox.passfile, "--bindir", sandbox.bindir, "--node-name", node.name,
                            "--verify-timeout", "60"] + extra)
    }

    /// heal: "an unfinished run rejoins from A, but the primary is now B; finish or undo it by
    /// hand (`pg-rejoin status`, `pg-rejoin abort`), then heal again".
    func testHealRefusesAnUnfinishedRunTowardAFormerPrimaryThenAbortAndHealAgain() throws {
        let f = try Failover.make(in: sandbox)
        XCTAssertEqual(try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address),
                                          environment: ["PG_REJOIN_FAULT": "set-aside:after"]).status, 128 + SIGKILL)
        // Meanwhile pg3, a standby of pg2, becomes the primary and pg2 goes away.
        let pg3 = try sandbox.node("pg3")
        try pg3.cloneAsStandby(of: f.pg2)
        try pg3.start()
        pg3.waitFor("SELECT count(*) FROM orders", toBe: try f.pg2.sql("SELECT count(*) FROM orders"))
        try f.pg2.stop()
        try pg3.promote()
        let refused = try heal(f.pg1, peers: [f.pg1, f.pg2, pg3])
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("then heal again"), refused.stderr)
        XCTAssertEqual(try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory]).status, 0)
        let again = try heal(f.pg1, peers: [f.pg1, f.pg2, pg3])
        XCTAssertEqual(again.status, 0, again.output)
        f.pg1.waitFor("SELECT sender_port FROM pg_stat_wal_receiver", toBe: String(pg3.port))
    }

    /// heal: "the standby was started but did not stream ... run heal again": a standby stopped
    /// for maintenance with a replay delay cannot catch up in time; without it, the next heal
    /// finds it healthy.
    func testHealStartThatDoesNotCatchUpThenHealAgain() throws {
        let f = try Failover.make(in: sandbox, promote: false, diverge: false)
        // Here pg1 is down (stopped cleanly) and pg2 its standby: make pg1 the primary again
        // and pg2 the standby stopped for maintenance, with a replay delay.
        try f.pg1.start()
        f.pg2.waitFor("SELECT status FROM pg_stat_wal_receiver", toBe: "streaming")
        try f.pg2.sql("ALTER SYSTEM SET recovery_min_apply_delay = '1h'")
        try f.pg2.stop()
        try f.pg1.sql("INSERT INTO orders VALUES (8001, 'while pg2 was stopped')")
        let short = try heal(f.pg2, peers: [f.pg1, f.pg2], extra: ["--verify-timeout", "5"])
        XCTAssertEqual(short.status, 21, short.output)
        XCTAssertTrue(short.stderr.contains("run heal again"), short.stderr)
        try f.pg2.sql("ALTER SYSTEM RESET recovery_min_apply_delay")
        try f.pg2.sql("SELECT pg_reload_conf()")
        let again = try heal(f.pg2, peers: [f.pg1, f.pg2])
        XCTAssertEqual(again.status, 0, again.output)
        f.pg2.waitFor("SELECT count(*) FROM orders WHERE id = 8001", toBe: "1")
    }

    /// "... is owned by root ... give it back to its server user (chown -R postgres: ...) and
    /// rerun".
    func testARootOwnedDataDirectoryThenGivenBack() throws {
        try XCTSkipUnless(Command.isRoot, "chown needs root")
        let f = try Failover.make(in: sandbox)
        try Command.check(["/bin/chown", "root:root", f.pg1.dataDirectory])
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("(chown -R postgres: \(f.pg1.dataDirectory)) and rerun"), refused.stderr)
        try Command.check(["/bin/chown", "-R", "postgres:", f.pg1.dataDirectory])
        XCTAssertEqual(try sandbox.rejoin(arguments).status, 0)
    }

    /// "... belongs to postgres, but pg-rejoin runs as nobody ... Run pg-rejoin as postgres or
    /// as root".
    func testAnotherUserThenRoot() throws {
        try XCTSkipUnless(Command.isRoot, "needs root to run as another user")
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        let refused = try Command.run(["/usr/sbin/runuser", "-u", "nobody", "--", Sandbox.binary] + arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("Run pg-rejoin as postgres or as root"), refused.stderr)
        XCTAssertEqual(try sandbox.rejoin(arguments).status, 0)
    }

    /// "journal ... is damaged at line N ...; nothing was changed. Inspect it, then move it aside
    /// to start afresh": a finished run's journal with a damaged middle line; moved aside, the
    /// next run starts afresh and finishes.
    func testADamagedJournalMovedAside() throws {
        let f = try Failover.make(in: sandbox)
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "set-aside:before"]).status, 128 + SIGKILL)
        XCTAssertEqual(try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory]).status, 0)
        let journal = f.pg1.dataDirectory + ".rejoin/journal.jsonl"
        var lines = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(lines.count, 2)
        lines[1] = "{not json"
        try (lines.joined(separator: "\n") + "\n").write(toFile: journal, atomically: false, encoding: .utf8)
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("Inspect it, then move it aside to start afresh"), refused.stderr)
        try FileManager.default.moveItem(atPath: journal, toPath: journal + ".damaged")
        XCTAssertEqual(try sandbox.rejoin(arguments).status, 0)
    }

    /// Configuration advice: "--from auto needs peers: pass --peers ...".
    func testFromAutoWithoutPeersThenWithThem() throws {
        let f = try Failover.make(in: sandbox)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: "auto"))
        XCTAssertNotEqual(refused.status, 0, refused.output)
        XCTAssertTrue(refused.stderr.contains("pass --peers"), refused.stderr)
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", "\(f.pg1.address),\(f.pg2.address)"]))
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }
}
