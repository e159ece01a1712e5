import Foundation
import XCTest

/// The operator's 3 a.m. mistakes, one test each on real servers: every one ends in a
/// documented exit code and a message that names the problem and the fix, and leaves PGDATA,
/// its siblings and the upstream exactly as they were. RefusalTests has the first few
/// (a standby upstream, another cluster, a refused port, the lock, usage errors, no PGDATA).
final class BadInputTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    /// Runs pg-rejoin and asserts the exit code, the message, and that nothing changed: every
    /// file under `untouched` (PGDATA's parent: PGDATA and its siblings) keeps its name, mode,
    /// owner, size and mtime, and the upstream keeps its state.
    @discardableResult
    func assertRefused(_ arguments: [String], untouched: String, upstream: PostgresNode? = nil,
                       status: Int32 = 10, messages: [String], environment: [String: String]? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let before = TreeSnapshot(untouched)
        let upstreamBefore = try upstream?.state()
        let result = try sandbox.rejoin(arguments, environment: environment)
        XCTAssertEqual(result.status, status, result.output, file: file, line: line)
        for message in messages {
            XCTAssertTrue(result.stderr.contains(message), "expected '\(message)' in: \(result.stderr)", file: file, line: line)
        }
        if status != 64 {
            XCTAssertTrue(result.stderr.contains("Nothing was changed"), result.stderr, file: file, line: line)
        }
        let after = TreeSnapshot(untouched)
        XCTAssertEqual(after, before, "changed: \(after.difference(before))", file: file, line: line)
        if let upstream, let upstreamBefore {
            XCTAssertEqual(try upstream.state(), upstreamBefore, "the upstream changed", file: file, line: line)
        }
        XCTAssertFalse(result.output.contains(sandbox.password), file: file, line: line)
        return result
    }

    // MARK: the upstream

    func testHostThatDoesNotResolveIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: "no-such-host.invalid:5432"), untouched: f.pg1.home,
                          messages: ["upstream host 'no-such-host.invalid' does not resolve", "Check the spelling of --from"])
    }

    func testUpstreamThatDoesNotAnswerTimesOutAfterConnectTimeout() throws {
        let f = try Failover.make(in: sandbox)
        // A port that accepts TCP connections (the kernel completes the handshake) but where
        // nobody ever answers: a hung host, or a firewall that lets SYN through only.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        XCTAssertEqual(listen(fd, 16), 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))

        let started = Date()
        try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: "127.0.0.1:\(port)"), untouched: f.pg1.home,
                          messages: ["did not answer within 3 s", "--connect-timeout"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 15, "--connect-timeout 3 should bound the wait")
    }

    func testWrongPasswordIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256", "host all repl 127.0.0.1/32 scram-sha-256"])
        let wrong = sandbox.root + "/wrong-pgpass"
        let wrongPassword = "not-the-Pa55word-\(UUID().uuidString.prefix(6))"
        try "127.0.0.1:*:*:repl:\(wrongPassword)\n".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        try Sandbox.giveToPostgres(wrong)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        arguments[arguments.firstIndex(of: sandbox.passfile)!] = wrong
        let result = try assertRefused(arguments, untouched: f.pg1.home, upstream: f.pg2,
                                       messages: ["refused the password for role repl", "password authentication failed", "--passfile"])
        XCTAssertFalse(result.output.contains(wrongPassword), result.output)
    }

    func testRoleWithoutReplicationIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try f.pg2.sql("ALTER ROLE repl NOREPLICATION")
        try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address), untouched: f.pg1.home, upstream: f.pg2,
                          messages: ["role repl may log in to the upstream \(f.pg2.address) but may not replicate",
                                     "ALTER ROLE repl REPLICATION"])
    }

    func testPgHbaRejectingReplicationIsRefusedThoughSQLIsAllowed() throws {
        let f = try Failover.make(in: sandbox)
        // SQL connections for repl are allowed; replication connections have no line.
        try f.pg2.setHBA(["host all repl 127.0.0.1/32 scram-sha-256"])
        try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address), untouched: f.pg1.home, upstream: f.pg2,
                          messages: ["does not allow replication connections for role repl from this host",
                                     "no pg_hba.conf entry for replication connection", "host replication repl", "pg_reload_conf()"])
    }

    func testUpstreamThatIsThisVeryNodeIsRefusedBeforeStoppingIt() throws {
        let f = try Failover.make(in: sandbox)
        // The failed primary came back up, and --from names its own address: with --demote
        // a naive tool would stop it and then try to clone from it.
        try f.pg1.start()
        let pid = f.pg1.postmasterPid
        let control = try DataSnapshot(f.pg1.dataDirectory).control
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg1.address, extra: ["--demote"]))
        XCTAssertEqual(result.status, 10, result.output)
        XCTAssertTrue(result.stderr.contains("--from \(f.pg1.address) is this node itself"), result.stderr)
        XCTAssertTrue(result.stderr.contains("pass --from the new primary"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Nothing was changed"), result.stderr)
        XCTAssertTrue(f.pg1.isRunning)
        XCTAssertEqual(f.pg1.postmasterPid, pid, "the local server was restarted")
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory).control, control)
        XCTAssertEqual(siblings(of: f.pg1), [])
    }

    /// The local side claims 16 (its PG_VERSION file, which is what pg-rejoin reads) against a
    /// 15 upstream. With 16's programs (scripts/pg-versions.sh puts them in .pg-versions/16,
    /// make test first) the upstream comparison refuses; without them, already the binaries'
    /// check does. PreflightComparisonTests covers the comparison itself in both directions.
    func testUpstreamOfAnotherMajorVersionIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try "16\n".write(toFile: f.pg1.dataDirectory + "/PG_VERSION", atomically: false, encoding: .utf8)
        let sixteen = Sandbox.repositoryRoot + "/.pg-versions/16"
        guard FileManager.default.isExecutableFile(atPath: sixteen + "/bin/postgres") else {
            try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address), untouched: f.pg1.home, upstream: f.pg2,
                              messages: ["holds PostgreSQL 15", "the data directory is PostgreSQL 16"])
            return
        }
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        arguments[try XCTUnwrap(arguments.firstIndex(of: sandbox.bindir))] = sixteen + "/bin"
        try assertRefused(arguments, untouched: f.pg1.home, upstream: f.pg2,
                          messages: ["runs PostgreSQL 15, the local data directory is 16", "same major version"],
                          environment: ["LD_LIBRARY_PATH": sixteen + "/lib"])
    }

    func testNotEnoughFreeDiskIsRefused() throws {
        let f = try Failover.make(in: sandbox)
        try assertRefused(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--disk-reserve", "1000TB"]),
                          untouched: f.pg1.home, upstream: f.pg2,
                          messages: ["not enough free space for the copy on the filesystem of \(f.pg1.home)",
                                     "--disk-reserve 1000.0 TB", "Free space"])
    }

    // MARK: the data directory

    /// A directory for a bad PGDATA, owned by postgres like a real data directory's parent.
    func badDataParent() throws -> String {
        let parent = sandbox.root + "/node"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(parent)
        return parent
    }

    func refuseDataDirectory(_ pgdata: String, parent: String, messages: [String],
                             file: StaticString = #filePath, line: UInt = #line) throws {
        try assertRefused(["--from", "127.0.0.1:1", "--pgdata", pgdata, "--passfile", sandbox.passfile, "--bindir", sandbox.bindir],
                          untouched: parent, messages: messages, file: file, line: line)
    }

    func testEmptyDataDirectoryIsRefused() throws {
        let parent = try badDataParent()
        try FileManager.default.createDirectory(atPath: parent + "/data", withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(parent)
        try refuseDataDirectory(parent + "/data", parent: parent, messages: ["\(parent)/data is empty", "pass --pgdata"])
    }

    func testDirectoryThatIsNoDataDirectoryIsRefused() throws {
        let parent = try badDataParent()
        try FileManager.default.createDirectory(atPath: parent + "/data", withIntermediateDirectories: false)
        try "not PostgreSQL\n".write(toFile: parent + "/data/notes.txt", atomically: false, encoding: .utf8)
        try Sandbox.giveToPostgres(parent)
        try refuseDataDirectory(parent + "/data", parent: parent,
                                messages: ["is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)", "pass --pgdata"])
    }

    func testDataDirectoryThatIsAFileIsRefused() throws {
        let parent = try badDataParent()
        try "a file\n".write(toFile: parent + "/data", atomically: false, encoding: .utf8)
        try Sandbox.giveToPostgres(parent)
        try refuseDataDirectory(parent + "/data", parent: parent, messages: ["\(parent)/data is not a directory", "pass --pgdata"])
    }

    func testDataDirectoryThatIsASymlinkLoopIsRefused() throws {
        let parent = try badDataParent()
        XCTAssertEqual(symlink(parent + "/data2", parent + "/data"), 0)
        XCTAssertEqual(symlink(parent + "/data", parent + "/data2"), 0)
        try refuseDataDirectory(parent + "/data", parent: parent, messages: ["\(parent)/data is a symlink loop", "pass --pgdata"])
    }

    func testRootOwnedDataDirectoryIsRefused() throws {
        guard Command.isRoot else {
            throw XCTSkip("a root-owned data directory can only be made as root; CI runs the tests as root")
        }
        let parent = try badDataParent()
        try FakeDataDirectory.make(parent + "/data")   // created by root, left to root
        try refuseDataDirectory(parent + "/data", parent: parent,
                                messages: ["\(parent)/data is owned by root", "chown -R postgres:"])
    }

    func testRunAsAnotherUserThanTheOwnerIsRefused() throws {
        guard Command.isRoot else {
            throw XCTSkip("running pg-rejoin as a third user needs root (runuser); CI runs the tests as root")
        }
        let parent = try badDataParent()
        try FakeDataDirectory.make(parent + "/data")
        try Sandbox.giveToPostgres(parent)
        let before = TreeSnapshot(parent)
        let result = try Command.run(["/usr/sbin/runuser", "-u", "nobody", "--", Sandbox.binary, "--from", "127.0.0.1:1",
                                      "--pgdata", parent + "/data", "--bindir", sandbox.bindir])
        XCTAssertEqual(result.status, 10, result.output)
        XCTAssertTrue(result.stderr.contains("\(parent)/data belongs to postgres, but pg-rejoin runs as nobody"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Run pg-rejoin as postgres or as root"), result.stderr)
        XCTAssertTrue(result.stderr.contains("Nothing was changed"), result.stderr)
        XCTAssertEqual(TreeSnapshot(parent), before)
    }

    func testParentNotWritableByTheOwnerIsRefused() throws {
        let parent = try badDataParent()
        try FakeDataDirectory.make(parent + "/data")
        try Sandbox.giveToPostgres(parent + "/data")
        // The data directory's owner cannot create PGDATA.old-* or PGDATA.rejoin beside it.
        if Command.isRoot { XCTAssertEqual(chown(parent, 0, 0), 0) } else { chmod(parent, 0o555) }
        defer { chmod(parent, 0o755) }
        try refuseDataDirectory(parent + "/data", parent: parent,
                                messages: ["\(parent) is not writable by", "make it writable by the data directory's owner"])
    }

    func testWorkingDirectoryNotWritableIsRefused() throws {
        let parent = try badDataParent()
        try FakeDataDirectory.make(parent + "/data")
        try FileManager.default.createDirectory(atPath: parent + "/data.rejoin", withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(parent + "/data")
        // Left to root (or read-only): an earlier run as root by hand, say.
        if !Command.isRoot { chmod(parent + "/data.rejoin", 0o500) }
        defer { chmod(parent + "/data.rejoin", 0o755) }
        try refuseDataDirectory(parent + "/data", parent: parent,
                                messages: ["the working directory \(parent)/data.rejoin is not writable", "mode 0700"])
    }

    func testInvalidValuesOfTheNewOptionsAreUsageErrors() throws {
        let parent = try badDataParent()
        try FakeDataDirectory.make(parent + "/data")
        try Sandbox.giveToPostgres(parent)
        let base = ["--pgdata", parent + "/data", "--bindir", sandbox.bindir]
        for (arguments, message) in [
            (["--from", "127.0.0.1:1", "--disk-reserve", "lots"], "--disk-reserve 'lots' is not a size"),
            (["--from", "127.0.0.1:1", "--disk-reserve", "512"], "--disk-reserve '512' is not a size"),
            (["--from", "127.0.0.1:1", "--connect-timeout", "0"], "--connect-timeout must be a positive number"),
            (["--from", "127.0.0.1:1", "--node-name", "pg1\nprimary_conninfo='host=evil'"], "--node-name may hold only printable ASCII"),
            (["--from", "127.0.0.1:1", "--node-name", "knoten-ü"], "--node-name may hold only printable ASCII"),
            (["--from", "127.0.0.1:1", "--node-name", String(repeating: "n", count: 64)], "PostgreSQL cuts application_name at 63"),
            (["--from", "host=127.0.0.1 password=\(sandbox.password)"], "--from looks like a connection string"),
            (["--from", "postgresql://repl:\(sandbox.password)@127.0.0.1/postgres"], "--from looks like a connection string"),
        ] {
            try assertRefused(arguments + base, untouched: parent, status: 64, messages: [message])
        }
    }

    // MARK: the local server

    func testStalePostmasterPidWhoseProcessIsGoneCountsAsCrashed() throws {
        let f = try Failover.make(in: sandbox)
        // A pid that surely belongs to no process: a child that has exited and been reaped.
        let gone = try BackgroundChild(["/bin/true"])
        _ = gone.wait()
        try f.pg1.forgePostmasterPid(gone.pid)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("crashed (stale postmaster.pid with pid \(gone.pid): no such process)"), result.stdout)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
    }

    func testPostmasterPidOfAnotherProgramCountsAsCrashedAndThatProgramIsLeftAlone() throws {
        let f = try Failover.make(in: sandbox)
        // First the nastiest case: the pid is now another cluster's postmaster (the upstream's,
        // on this machine). `pg_ctl status` would call that "running", and stopping it would
        // stop the upstream. pg-rejoin must see it is not this data directory's server.
        let upstreamPid = try XCTUnwrap(f.pg2.postmasterPid)
        try f.pg1.forgePostmasterPid(upstreamPid)
        let dry = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--dry-run"]))
        XCTAssertEqual(dry.status, 0, dry.output)
        XCTAssertTrue(dry.stdout.contains("crashed (stale postmaster.pid with pid \(upstreamPid): that pid is now a postgres process of another data directory"), dry.stdout)
        XCTAssertEqual(f.pg2.postmasterPid, upstreamPid)

        // Then an ordinary program: a `sleep` of ours. The rejoin goes ahead and never signals it.
        let sleeper = try BackgroundChild(["/bin/sleep", "120"])
        defer { sleeper.kill(); _ = sleeper.wait() }
        try f.pg1.forgePostmasterPid(sleeper.pid)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("crashed (stale postmaster.pid with pid \(sleeper.pid): that pid is now sleep, not postgres)"), result.stdout)
        // A signalled sleep would be our zombie, which kill(pid, 0) still finds: ask for a live one.
        XCTAssertTrue(HealTests.isAlive(sleeper.pid), "pg-rejoin signalled the program that now has the old pid")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        XCTAssertEqual(f.pg2.postmasterPid, upstreamPid)
    }

    // MARK: the upstream dies part-way

    func testUpstreamDyingMidCloneLeavesOldDataUntouchedAndARerunFinishes() throws {
        let f = try Failover.make(in: sandbox)
        // A few hundred MB, so that the copy lasts long enough to be cut.
        try f.pg2.sql("CREATE TABLE big AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 200000) g")
        let before = try DataSnapshot(f.pg1.dataDirectory)

        // A full copy (pg_rewind would copy little here): the case where the old data matters
        // most. --max-rate keeps the copy going for a couple of seconds even on a fast disk.
        // --lost-rows skip: the old data is compared byte for byte after the rerun too.
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "basebackup",
                                                extra: ["--max-rate", "100M", "--lost-rows", "skip"])
        let run = try BackgroundChild([Sandbox.binary] + arguments)
        let staging = f.pg1.dataDirectory + ".rejoin/staging"
        let deadline = Date().addingTimeInterval(60)
        var clones: [ProcessInfoSnapshot] = []
        while !FileManager.default.fileExists(atPath: staging) && Date() < deadline { usleep(5_000) }
        let sawStaging = FileManager.default.fileExists(atPath: staging)
        clones = ProcessInfoSnapshot.all(named: "pg_basebackup")
        let rejoinItself = ProcessInfoSnapshot.of(run.pid)
        try Command.check([sandbox.bindir + "/pg_ctl", "stop", "-w", "-D", f.pg2.dataDirectory, "-m", "immediate"], asPostgres: true)
        let failed = run.wait()

        XCTAssertTrue(sawStaging, "the clone never started: \(failed.output)")
        XCTAssertEqual(failed.status, 20, failed.output)
        XCTAssertTrue(failed.stderr.contains("pg_basebackup failed"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("rerun"), failed.stderr)
        XCTAssertFalse(failed.output.contains(sandbox.password))

        // The old data, set aside, is byte for byte what it was.
        let old = siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }
        XCTAssertEqual(old.count, 1, "\(siblings(of: f.pg1))")
        let oldPath = f.pg1.home + "/" + (old.first ?? "")
        XCTAssertEqual(try DataSnapshot(oldPath), before)

        // Every thread of pg-rejoin (the first one included: it switches users before the async
        // runtime starts) and the copy ran as the data directory's owner, with its groups and
        // none of root's, and no password was in any argv.
        XCTAssertFalse(clones.isEmpty, "no pg_basebackup seen while staging existed")
        for clone in clones + [rejoinItself].compactMap({ $0 }) {
            XCTAssertFalse(clone.argv.joined(separator: " ").contains(sandbox.password), "\(clone.argv)")
            if Command.isRoot {
                let postgres = try XCTUnwrap(PostgresUser.ids, "no postgres OS user")
                XCTAssertEqual(Set(clone.uids), [String(postgres.uid)], "\(clone.argv.first ?? "") uids \(clone.uids)")
                XCTAssertEqual(Set(clone.gids), [String(postgres.gid)], "\(clone.argv.first ?? "") gids \(clone.gids)")
                XCTAssertEqual(Set(clone.groups), postgres.groups, "\(clone.argv.first ?? "") groups \(clone.groups)")
            }
        }

        // Upstream back: the same command finishes the job.
        try f.pg2.start()
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM big"), "200000")
        XCTAssertEqual(try DataSnapshot(oldPath), before)
    }
}
