import Foundation
import XCTest

/// Debian's cluster layout, as most keepalived users run it: pg_createcluster, postgresql.conf
/// in /etc/postgresql/MAJOR/NAME, pg_ctlcluster (15, and 13 in the version matrix). Two clusters on two ports with data checksums; a
/// real failover; `pg-rejoin --cluster 15/NAME` takes the fast path (crash recovery and
/// pg_rewind get the configuration file), and pg_lsclusters shows the node online, in recovery.
final class DebianClusterTests: XCTestCase {
    var sandbox: Sandbox!
    var clusters: [String] = []
    /// The major under test when it is Debian's own package (PG_BINDIR of the version matrix:
    /// 13 from bullseye); the matrix's other majors are not packaged here, and skip.
    let version: String = {
        let bindir = ProcessInfo.processInfo.environment["PG_BINDIR"] ?? "/usr/lib/postgresql/15/bin"
        let parts = bindir.split(separator: "/")
        guard bindir.hasPrefix("/usr/lib/postgresql/"), parts.count >= 4 else { return "none" }
        return String(parts[3])
    }()

    override func setUpWithError() throws {
        try XCTSkipUnless(Command.isRoot, "pg_createcluster needs root")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/pg_createcluster"), "postgresql-common is not installed")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/postgres"), "PostgreSQL \(version) is not installed")
        sandbox = try Sandbox()
    }

    override func tearDown() {
        for name in clusters {
            _ = try? Command.run(["/usr/bin/pg_dropcluster", "--stop", version, name])
        }
        sandbox?.tearDown()
    }

    /// A new cluster (unique name, its own port), configured for replication in conf.d.
    func createCluster(_ role: String, port: Int) throws -> String {
        let name = "rj\(UUID().uuidString.prefix(6).lowercased())\(role)"
        try Command.check(["/usr/bin/pg_createcluster", "-p", String(port), version, name, "--", "--data-checksums"])
        clusters.append(name)
        let conf = "/etc/postgresql/\(version)/\(name)"
        try """
            listen_addresses = '127.0.0.1'
            wal_level = replica
            hot_standby = on
            max_wal_senders = 10
            wal_keep_size = '256MB'
            fsync = off

            """.write(toFile: conf + "/conf.d/pg-rejoin-test.conf", atomically: true, encoding: .utf8)
        let hba = conf + "/pg_hba.conf"
        let text = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host replication repl 127.0.0.1/32 scram-sha-256\n" + text).write(toFile: hba, atomically: true, encoding: .utf8)
        return name
    }

    func ctl(_ name: String, _ action: String) throws {
        try Command.check(["/usr/bin/pg_ctlcluster", version, name, action])
    }

    func sql(_ port: Int, _ statement: String) throws -> String {
        let result = try Command.run(["/usr/lib/postgresql/\(version)/bin/psql", "-X", "-q", "-A", "-t", "-h", "/var/run/postgresql",
                                      "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", statement],
                                     asPostgres: true)
        guard result.status == 0 else { throw Command.CommandFailed(argv: ["psql", statement], result: result) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func waitFor(_ port: Int, _ statement: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(60)
        var last = ""
        while Date() < deadline {
            last = (try? sql(port, statement)) ?? "(error)"
            if last == expected { return }
            usleep(200_000)
        }
        XCTFail("\(statement) is \(last), expected \(expected)", file: file, line: line)
    }

    func testADebianClusterTakesTheFastPathThroughItsOwnConfiguration() throws {
        try rejoinACluster(method: "auto")
    }

    /// The copy path: the old data set aside is read for its lost rows through the cluster's
    /// configuration in /etc, which names PGDATA as the data directory (crash recovery and the
    /// private server are told the set-aside one).
    func testADebianClusterCopiedKeepsItsLostRowsReadable() throws {
        try rejoinACluster(method: "basebackup")
    }

    func rejoinACluster(method: String) throws {
        let portA = Command.freePort(), portB = Command.freePort()
        let a = try createCluster("a", port: portA)
        try ctl(a, "start")
        _ = try sql(portA, "SET password_encryption = 'scram-sha-256'; CREATE ROLE repl LOGIN REPLICATION PASSWORD '\(sandbox.password)'")
        _ = try sql(portA, """
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO repl;
            """)
        let major = Int(version) ?? 0
        if major >= 15 { _ = try sql(portA, "GRANT pg_checkpoint TO repl") }
        _ = try sql(portA, "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'before' FROM generate_series(1, 1000) g")

        // b: a standby of a, in a cluster of its own (its data replaced by a copy of a's).
        let b = try createCluster("b", port: portB)
        let dataB = "/var/lib/postgresql/\(version)/\(b)"
        try Command.check(["/usr/bin/find", dataB, "-mindepth", "1", "-delete"])
        try Command.check(["/usr/lib/postgresql/\(version)/bin/pg_basebackup", "-D", dataB, "-h", "127.0.0.1", "-p", String(portA),
                           "-U", "repl", "-X", "stream", "-R", "--checkpoint=fast", "-w"],
                          asPostgres: true, environment: ["PGPASSFILE": sandbox.passfile])
        try ctl(b, "start")
        waitFor(portB, "SELECT count(*) FROM orders", "1000")

        // The failover: b goes away, a takes orders b never gets and is killed; b is promoted.
        try ctl(b, "stop")
        _ = try sql(portA, "INSERT INTO orders SELECT g, 'lost' FROM generate_series(1001, 1050) g")
        let dataA = "/var/lib/postgresql/\(version)/\(a)"
        let pid = try XCTUnwrap(Int32((try String(contentsOfFile: dataA + "/postmaster.pid", encoding: .utf8)).split(separator: "\n").first ?? ""))
        kill(pid, SIGKILL)
        for _ in 0..<100 where (try? sql(portA, "SELECT 1")) != nil { usleep(100_000) }
        usleep(300_000)
        try? FileManager.default.removeItem(atPath: "/var/run/postgresql/.s.PGSQL.\(portA).lock")
        try ctl(b, "start")
        try ctl(b, "promote")
        waitFor(portB, "SELECT pg_is_in_recovery()", "f")
        _ = try sql(portB, "INSERT INTO orders SELECT g, 'after' FROM generate_series(5001, 5100) g")
        // Before 15 only a superuser may CHECKPOINT (VersionTests): the one an operator makes.
        if major < 15 { _ = try sql(portB, "CHECKPOINT") }

        let result = try sandbox.rejoin(["--cluster", "\(version)/\(a)", "--from", "127.0.0.1:\(portB)", "--passfile", sandbox.passfile,
                                         "--node-name", a, "--verify-timeout", "60", "--connect-timeout", "3", "--method", method])
        XCTAssertEqual(result.status, 0, result.output)
        if method == "auto" {
            XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
            XCTAssertTrue(result.stdout.contains("recover-local done"), result.stdout)
            XCTAssertTrue(result.stdout.contains("rewind done"), result.stdout)
            XCTAssertFalse(result.stdout.contains("] clone"), "no full copy: \(result.stdout)")
        } else {
            XCTAssertTrue(result.stdout.contains("set-aside done"), result.stdout)
            XCTAssertTrue(result.stdout.contains("clone done"), result.stdout)
        }
        // The old primary read privately through its own configuration in /etc: the lost orders as rows.
        XCTAssertTrue(result.stdout.contains("1 lost transaction(s), 50 row change(s)"), result.stdout)

        waitFor(portA, "SELECT status FROM pg_stat_wal_receiver", "streaming")
        XCTAssertEqual(try sql(portA, "SELECT count(*) FROM orders"), "1100")
        let clusters = try Command.check(["/usr/bin/pg_lsclusters", "--no-header"]).stdout
        let line = try XCTUnwrap(clusters.split(separator: "\n").first { $0.contains(" \(a) ") }, clusters)
        XCTAssertTrue(line.contains("online,recovery"), String(line))
        // /etc was left alone: the node's own configuration is still its own.
        XCTAssertTrue(try String(contentsOfFile: "/etc/postgresql/\(version)/\(a)/postgresql.conf", encoding: .utf8).contains("port = \(portA)"))
    }
}
