import Foundation
import XCTest

/// `pg-rejoin heal` and `keepalived-notify` on real servers, in each state the issue lists:
/// the exit code and what changed (or that nothing did).
final class HealTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func peers(_ nodes: PostgresNode...) -> String { nodes.map(\.address).joined(separator: ",") }

    func heal(_ node: PostgresNode, peers: String, extra: [String] = []) throws -> (CommandResult, TimeInterval) {
        let started = Date()
        let result = try sandbox.rejoin(["heal", "--pgdata", node.dataDirectory, "--peers", peers, "--passfile", sandbox.passfile,
                                         "--bindir", sandbox.bindir, "--node-name", node.name, "--verify-timeout", "60"] + extra)
        return (result, Date().timeIntervalSince(started))
    }

    /// pg1 primary with rows and the replication role, and `standbys` streaming from it.
    func cluster(standbys: [String]) throws -> (PostgresNode, [PostgresNode]) {
        let pg1 = try sandbox.node("pg1")
        try pg1.initdb()
        try pg1.start()
        try pg1.createReplicationRole(sandbox: sandbox)
        try pg1.sql("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        try pg1.sql("INSERT INTO orders SELECT g, 'before' FROM generate_series(1, 1000) g")
        var nodes: [PostgresNode] = []
        for name in standbys {
            let node = try sandbox.node(name)
            try node.cloneAsStandby(of: pg1)
            try node.start()
            node.waitFor("SELECT count(*) FROM orders", toBe: "1000")
            nodes.append(node)
        }
        return (pg1, nodes)
    }

    func assertStreaming(_ node: PostgresNode, from upstream: PostgresNode, file: StaticString = #filePath, line: UInt = #line) {
        node.waitFor("SELECT pg_is_in_recovery()", toBe: "t", file: file, line: line)
        node.waitFor("SELECT status || ' ' || sender_port FROM pg_stat_wal_receiver", toBe: "streaming \(upstream.port)", file: file, line: line)
    }

    // MARK: healthy: silent, fast, nothing changed

    func testHealthyStandbyAndOnlyPrimaryAreLeftAloneSilentlyAndFast() throws {
        let (pg1, standbys) = try cluster(standbys: ["pg2"])
        let pg2 = standbys[0]
        let all = peers(pg1, pg2)
        _ = try heal(pg2, peers: all)   // warm the page cache: a cron run every minute is warm too
        for node in [pg2, pg1] {
            let pid = node.postmasterPid
            let (result, seconds) = try heal(node, peers: all)
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertEqual(result.stdout, "", "heal on a healthy \(node.name) must be silent")
            XCTAssertEqual(result.stderr, "", "heal on a healthy \(node.name) must be silent")
            XCTAssertLessThan(seconds, 1.0, "heal on a healthy \(node.name) took \(seconds) s")
            XCTAssertEqual(node.postmasterPid, pid, "\(node.name) was restarted")
            XCTAssertEqual(siblings(of: node), [], "heal created something beside \(node.name)'s PGDATA")
        }
        XCTAssertEqual(try pg2.sql("SELECT status, sender_port FROM pg_stat_wal_receiver"), "streaming|\(pg1.port)")
        XCTAssertEqual(try pg1.sql("SELECT pg_is_in_recovery()"), "f")
        // --verbose says why nothing was done.
        let (verbose, _) = try heal(pg2, peers: all, extra: ["--verbose"])
        XCTAssertEqual(verbose.status, 0, verbose.output)
        XCTAssertTrue(verbose.stdout.contains("healthy: streaming standby of \(pg1.address)"), verbose.output)

        // Another pg-rejoin holds the lock: heal leaves it alone, silently, exit 11.
        let work = pg2.dataDirectory + ".rejoin"
        try Command.check(["/bin/mkdir", "-m", "700", work], asPostgres: true)
        let holder = try BackgroundChild(["/usr/sbin/runuser", "-u", "postgres", "--", "/usr/bin/flock", work + "/lock", "/bin/sleep", "30"])
        defer { holder.kill(); _ = holder.wait() }
        for _ in 0..<50 where (try? Command.run(["/usr/bin/flock", "-n", work + "/lock", "/bin/true"]))?.status == 0 { usleep(100_000) }
        let (busy, _) = try heal(pg2, peers: all)
        XCTAssertEqual(busy.status, 11, busy.output)
        XCTAssertEqual(busy.output, "")
    }

    // MARK: down: rejoin (config file, dry run first)

    func testCrashedOldPrimaryIsRejoinedFromTheConfigFileAndThenLeftAlone() throws {
        let f = try Failover.make(in: sandbox)
        let config = sandbox.root + "/pg-rejoin.toml"
        try """
            pgdata = "\(f.pg1.dataDirectory)"
            bindir = "\(sandbox.bindir)"
            passfile = "\(sandbox.passfile)"
            node_name = "pg1"
            peers = ["\(f.pg1.address)", "\(f.pg2.address)"]
            method = "basebackup"
            verify_timeout = 60
            connect_timeout = 3

            [commands]
            # As a packaged cluster would use pg_ctlcluster: here pg_ctl with a log of its own,
            # to see that this command, not pg-rejoin's own pg_ctl, started the standby.
            start = ["\(sandbox.bindir)/pg_ctl", "start", "-w", "-D", "\(f.pg1.dataDirectory)", "-l", "\(f.pg1.home)/custom-start.log"]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let before = try DataSnapshot(f.pg1.dataDirectory)

        let dry = try sandbox.rejoin(["heal", "--config", config, "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.output)
        XCTAssertTrue(dry.stdout.contains("heal: rejoin as a standby of \(f.pg2.address)"), dry.output)
        XCTAssertTrue(dry.stdout.contains("the local server is down"), dry.output)
        XCTAssertTrue(dry.stdout.contains("dry run: nothing was changed"), dry.output)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertFalse(f.pg1.isRunning)

        let result = try sandbox.rejoin(["heal", "--config", config])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("rejoined: streaming standby of \(f.pg2.address)"), result.output)
        assertStreaming(f.pg1, from: f.pg2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.home + "/custom-start.log"), "commands.start was not used")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE note = 'lost'"), "0")
        XCTAssertEqual(siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }.count, 1)
        XCTAssertFalse(result.output.contains(sandbox.password))

        // Healthy now: silent.
        let again = try sandbox.rejoin(["heal", "--config", config])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(again.output, "")
    }

    // MARK: an unfinished run: resumed

    func testUnfinishedRunIsResumedByHeal() throws {
        let f = try Failover.make(in: sandbox)
        // A rejoin killed right after it set PGDATA aside: PGDATA does not exist now.
        let killed = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address),
                                        environment: ["PG_REJOIN_FAULT": "set-aside:after"])
        XCTAssertEqual(killed.status, 128 + SIGKILL, killed.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory))

        let (result, _) = try heal(f.pg1, peers: peers(f.pg1, f.pg2))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("heal: resume the unfinished rejoin from \(f.pg2.address)"), result.output)
        XCTAssertTrue(result.stdout.contains("resuming run"), result.output)
        assertStreaming(f.pg1, from: f.pg2)
        XCTAssertEqual(siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }.count, 1)
    }

    // MARK: two primaries: split brain on the new one, stale primary on the old one

    func testSplitBrainIsRefusedAndTheStalePrimaryIsDemotedOnlyWhenAllowed() throws {
        let f = try Failover.make(in: sandbox)
        // The failed primary came back on its own, as a primary on the old timeline.
        try f.pg1.start()
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        let all = peers(f.pg1, f.pg2)
        let pg2Pid = f.pg2.postmasterPid

        // On pg2 (the primary on the newer timeline) both are primaries: alert, change nothing.
        let (split, _) = try heal(f.pg2, peers: all)
        XCTAssertEqual(split.status, 13, split.output)
        XCTAssertTrue(split.stderr.contains("SPLIT BRAIN"), split.stderr)
        XCTAssertTrue(split.stderr.contains(f.pg1.address), split.stderr)
        XCTAssertTrue(split.stderr.contains("this node: primary on timeline 2"), split.stderr)
        XCTAssertEqual(try f.pg2.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(f.pg2.postmasterPid, pg2Pid)
        XCTAssertEqual(siblings(of: f.pg2), [])
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")

        // `rejoin --from auto` on pg1 skips pg1 itself (its backend is a child of pg1's
        // postmaster) and finds pg2; a dry run changes nothing.
        let auto = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", all, "--demote", "--dry-run"]))
        XCTAssertEqual(auto.status, 0, auto.output)
        XCTAssertTrue(auto.stdout.contains("primary among the peers: \(f.pg2.address)"), auto.output)
        XCTAssertTrue(auto.stdout.contains("\(f.pg1.address) (this node): primary on timeline 1"), auto.output)
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")

        // On pg1 (a stale primary on timeline 1): it still takes writes, so by default heal
        // alerts and changes nothing, as for any two primaries (README, exit 13).
        let (stale, _) = try heal(f.pg1, peers: all, extra: ["--config", "/nonexistent-is-an-error.toml"])
        XCTAssertEqual(stale.status, 78, stale.output)
        XCTAssertTrue(stale.stderr.contains("/nonexistent-is-an-error.toml does not exist"), stale.stderr)
        let pg1Pid = f.pg1.postmasterPid
        let (alerted, _) = try heal(f.pg1, peers: all)
        XCTAssertEqual(alerted.status, 13, alerted.output)
        XCTAssertTrue(alerted.stderr.contains("stale primary on timeline 1"), alerted.stderr)
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(f.pg1.postmasterPid, pg1Pid)
        XCTAssertEqual(siblings(of: f.pg1), [])

        // With the operator's consent (demote_on_split_brain): stopped, rejoined, streaming.
        let config = sandbox.root + "/demote.toml"
        try "[heal]\ndemote_on_split_brain = true\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (healed, _) = try heal(f.pg1, peers: all, extra: ["--config", config])
        XCTAssertEqual(healed.status, 0, healed.output)
        XCTAssertTrue(healed.stdout.contains("stale primary on timeline 1"), healed.output)
        XCTAssertTrue(healed.stdout.contains("stopping the local primary"), healed.output)
        assertStreaming(f.pg1, from: f.pg2)

        // And pg2 is the only primary again: silent.
        let (calm, _) = try heal(f.pg2, peers: all)
        XCTAssertEqual(calm.status, 0, calm.output)
        XCTAssertEqual(calm.output, "")
    }

    // MARK: no primary

    func testNoPrimaryChangesNothing() throws {
        let f = try Failover.make(in: sandbox, promote: false)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let (result, _) = try heal(f.pg1, peers: peers(f.pg1, f.pg2))
        XCTAssertEqual(result.status, 14, result.output)
        // `rejoin --from auto` refuses the same way.
        let auto = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: "auto", extra: ["--peers", peers(f.pg1, f.pg2)]))
        XCTAssertEqual(auto.status, 14, auto.output)
        XCTAssertTrue(auto.stderr.contains("no primary among the peers"), auto.stderr)
        XCTAssertTrue(result.stderr.contains("no primary to follow"), result.stderr)
        XCTAssertTrue(result.stderr.contains("\(f.pg2.address): standby"), result.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])
        XCTAssertFalse(f.pg1.isRunning)
        XCTAssertEqual(try f.pg2.sql("SELECT pg_is_in_recovery()"), "t")
    }

    // MARK: a standby of a node that is no longer primary: repoint, no copy

    func testStandbyOfTheOldPrimaryIsRepointedWithoutACopy() throws {
        let (pg1, standbys) = try cluster(standbys: ["pg2", "pg3"])
        let (pg2, pg3) = (standbys[0], standbys[1])
        // A planned switchover: pg1 stops cleanly (both standbys got everything), pg2 takes over.
        try pg1.stop()
        usleep(500_000)
        try pg2.promote()
        try pg2.sql("INSERT INTO orders VALUES (7001, 'after')")
        let identity = try FileManager.default.attributesOfItem(atPath: pg3.dataDirectory)[.systemFileNumber] as? Int

        let (result, _) = try heal(pg3, peers: peers(pg1, pg2, pg3))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("heal: repoint the standby to \(pg2.address) without a copy"), result.output)
        XCTAssertTrue(result.stdout.contains("repointed"), result.output)
        assertStreaming(pg3, from: pg2)
        pg3.waitFor("SELECT count(*) FROM orders WHERE id = 7001", toBe: "1")
        // The same data directory, no copy, nothing set aside.
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: pg3.dataDirectory)[.systemFileNumber] as? Int, identity)
        XCTAssertEqual(siblings(of: pg3).filter { $0.hasPrefix("data.old-") }, [])
        let auto = try String(contentsOfFile: pg3.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
        XCTAssertFalse(auto.contains(sandbox.password))
        XCTAssertEqual(try pg3.sql("SHOW primary_conninfo"),
                       "host='127.0.0.1' port='\(pg2.port)' user='repl' application_name='pg3' passfile='\(sandbox.passfile)'")

        let (again, _) = try heal(pg3, peers: peers(pg1, pg2, pg3))
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(again.output, "")
    }

    // MARK: maintenance: a stopped standby is started, never rebuilt; a pause holds heal off

    func testAStandbyStoppedForMaintenanceIsOnlyStartedAndAPauseHoldsHealOff() throws {
        let (pg1, standbys) = try cluster(standbys: ["pg2"])
        let pg2 = standbys[0]
        let all = peers(pg1, pg2)
        try pg2.stop()

        // Paused: heal and keepalived-notify change nothing; status says so.
        let pause = try sandbox.rejoin(["heal", "--pgdata", pg2.dataDirectory, "--pause", "--reason", "kernel upgrade"])
        XCTAssertEqual(pause.status, 0, pause.output)
        let status = try sandbox.rejoin(["status", "--pgdata", pg2.dataDirectory])
        XCTAssertTrue(status.stdout.contains("heal:       paused by"), status.stdout)
        XCTAssertTrue(status.stdout.contains("kernel upgrade"), status.stdout)
        let (paused, _) = try heal(pg2, peers: all)
        XCTAssertEqual(paused.status, 0, paused.output)
        XCTAssertEqual(paused.output, "", "a paused heal is silent")
        XCTAssertFalse(pg2.isRunning)
        let notify = try sandbox.rejoin(["keepalived-notify", "--pgdata", pg2.dataDirectory, "--peers", all, "BACKUP"])
        XCTAssertEqual(notify.status, 0, notify.output)
        let log = try String(contentsOfFile: pg2.dataDirectory + ".rejoin/keepalived-notify.log", encoding: .utf8)
        XCTAssertTrue(log.contains("not starting heal: paused by"), log)
        XCTAssertFalse(pg2.isRunning)

        // Resumed: the cleanly stopped standby is started as it is, no copy.
        XCTAssertEqual(try sandbox.rejoin(["heal", "--pgdata", pg2.dataDirectory, "--resume"]).status, 0)
        try pg1.sql("INSERT INTO orders VALUES (7001, 'while pg2 was down')")
        let (started, _) = try heal(pg2, peers: all)
        XCTAssertEqual(started.status, 0, started.output)
        XCTAssertTrue(started.stdout.contains("start the stopped standby"), started.output)
        XCTAssertFalse(started.output.contains("] clone"), started.output)
        XCTAssertEqual(siblings(of: pg2), ["data.rejoin"], "no old copy, no staging: nothing was rebuilt")
        assertStreaming(pg2, from: pg1)
        pg2.waitFor("SELECT count(*) FROM orders WHERE id = 7001", toBe: "1")
    }

    // MARK: keepalived-notify

    func testKeepalivedNotifyBackupReturnsAtOnceAndTheDetachedHealEndsStreaming() throws {
        let f = try Failover.make(in: sandbox)
        let config = sandbox.root + "/pg-rejoin.toml"
        try """
            pgdata = "\(f.pg1.dataDirectory)"
            bindir = "\(sandbox.bindir)"
            passfile = "\(sandbox.passfile)"
            node_name = "pg1"
            peers = ["\(f.pg1.address)", "\(f.pg2.address)"]
            method = "basebackup"
            verify_timeout = 60
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = f.pg1.dataDirectory + ".rejoin/keepalived-notify.log"

        // MASTER: logged, nothing started.
        let master = try sandbox.rejoin(["keepalived-notify", "--config", config, "INSTANCE", "VI_PG", "MASTER", "110"])
        XCTAssertEqual(master.status, 0, master.output)
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("MASTER: nothing to do"))
        XCTAssertFalse(f.pg1.isRunning)

        // BACKUP, as keepalived's notify passes it: back within a second, heal runs detached.
        let started = Date()
        let backup = try sandbox.rejoin(["keepalived-notify", "--config", config, "INSTANCE", "VI_PG", "BACKUP", "110"])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(backup.status, 0, backup.output)
        XCTAssertLessThan(seconds, 1.0)
        // A second call right away (notify_backup style, lone state) is debounced.
        let repeated = try sandbox.rejoin(["keepalived-notify", "--config", config, "BACKUP"])
        XCTAssertEqual(repeated.status, 0, repeated.output)

        let stamp = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/keepalived-notify.stamp", encoding: .utf8)
        let pid = try XCTUnwrap(Int32(stamp.split(separator: " ").first ?? ""))
        // The detached heal is in its own session, not in ours.
        XCTAssertEqual(getsid(pid), pid)

        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && HealTests.isAlive(pid) { usleep(250_000) }
        XCTAssertFalse(HealTests.isAlive(pid), "the detached heal did not finish")
        assertStreaming(f.pg1, from: f.pg2)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(text.contains("keepalived-notify: INSTANCE VI_PG BACKUP 110"), text)
        XCTAssertTrue(text.contains("started heal (pid \(pid)"), text)
        XCTAssertTrue(text.contains("not starting heal"), text)
        XCTAssertTrue(text.contains("rejoined: streaming standby of \(f.pg2.address)"), text)
        XCTAssertFalse(text.contains(sandbox.password))
        // What it created belongs to postgres, like everything pg-rejoin creates.
        if Command.isRoot {
            let ids = try XCTUnwrap(PostgresUser.ids, "no postgres OS user")
            for path in [log, f.pg1.dataDirectory + ".rejoin/keepalived-notify.stamp"] {
                XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.ownerAccountID] as? UInt32, ids.uid, path)
            }
        }

        // BACKUP again on the now healthy standby: the heal it starts leaves it alone.
        let healthy = try sandbox.rejoin(["keepalived-notify", "--config", config, "FAULT"])
        XCTAssertEqual(healthy.status, 0, healthy.output)
        let second = try XCTUnwrap(Int32(try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/keepalived-notify.stamp", encoding: .utf8)
            .split(separator: " ").first ?? ""))
        while HealTests.isAlive(second) { usleep(100_000) }
        XCTAssertTrue(try String(contentsOfFile: log, encoding: .utf8).contains("heal: healthy: streaming standby of \(f.pg2.address)"))
    }

    /// Alive and not a zombie (nobody may reap a detached child in a container without init).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
