import Foundation
import XCTest

/// One PostgreSQL 15 server of a test: its own directory, port and socket directory on
/// 127.0.0.1. Everything runs as the postgres OS user when the tests run as root.
final class PostgresNode {
    let name: String
    let home: String
    let port: Int
    let sandbox: Sandbox
    var dataDirectory: String { home + "/data" }
    var socketDirectory: String { home + "/sock" }
    var logFile: String { home + "/server.log" }
    /// Where the scenario's tablespace `ts` lives for this node.
    var tablespaceDirectory: String { home + "/ts" }
    var address: String { "127.0.0.1:\(port)" }
    /// pg_rewind needs it (or data checksums); the fallback tests turn it off.
    var walLogHints = true
    /// More postgresql.conf lines for this node (archiving, say).
    var extraSettings = ""

    init(name: String, sandbox: Sandbox) throws {
        self.name = name
        self.sandbox = sandbox
        self.home = sandbox.root + "/" + name
        self.port = Command.freePort()
        try FileManager.default.createDirectory(atPath: home + "/sock", withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(home)
    }

    private func tool(_ name: String) -> String { sandbox.bindir + "/" + name }

    /// The settings every test server gets; written into postgresql.conf so that pg-rejoin's
    /// keep-local-config step has something of its own to keep.
    private func localSettings() -> String {
        """

        # test node \(name)
        port = \(port)
        listen_addresses = '127.0.0.1'
        unix_socket_directories = '\(socketDirectory)'
        wal_level = replica
        hot_standby = on
        wal_log_hints = \(walLogHints ? "on" : "off")
        max_wal_senders = 10
        wal_keep_size = '256MB'
        fsync = off
        \(extraSettings)
        """
    }

    /// With `walDirectory`, pg_wal is a symlink to it (initdb -X), as operators do for a WAL disk.
    func initdb(walDirectory: String? = nil) throws {
        // 18 turns data checksums on by default: a node without wal_log_hints must not have them
        // either, or pg_rewind would still work.
        let noChecksums = !walLogHints && sandbox.major >= 18 ? ["--no-data-checksums"] : []
        try Command.check([tool("initdb"), "-D", dataDirectory, "-U", "postgres", "-A", "trust"]
                          + noChecksums + (walDirectory.map { ["-X", $0] } ?? []), asPostgres: true)
        try appendToFile(dataDirectory + "/postgresql.conf", localSettings())
        try appendToFile(dataDirectory + "/pg_hba.conf", """

            host replication repl 127.0.0.1/32 scram-sha-256
            host all         repl 127.0.0.1/32 scram-sha-256
            """)
    }

    /// A standby of `primary`, made the way operators do (pg_basebackup -R).
    func cloneAsStandby(of primary: PostgresNode, tablespaceMapping: [String: String] = [:]) throws {
        let mappings = tablespaceMapping.map { "--tablespace-mapping=\($0.key)=\($0.value)" }
        try Command.check([tool("pg_basebackup"), "-D", dataDirectory, "-h", "127.0.0.1", "-p", String(primary.port),
                           "-U", "repl", "-X", "stream", "-R", "--checkpoint=fast", "-w"] + mappings,
                          asPostgres: true, environment: ["PGPASSFILE": sandbox.passfile])
        // The copy carries the primary's port and socket directory: give it its own.
        try appendToFile(dataDirectory + "/postgresql.conf", localSettings())
    }

    /// Right after a crash the killed server's backends may still hold its shared memory for a
    /// moment, and the new postmaster refuses to start: retry briefly before failing the test.
    func start() throws {
        for _ in 0..<20 {
            removeStalePidFile()
            let result = try Command.run([tool("pg_ctl"), "start", "-w", "-D", dataDirectory, "-l", logFile], asPostgres: true)
            if result.status == 0 { return }
            usleep(250_000)
        }
        removeStalePidFile()
        try Command.check([tool("pg_ctl"), "start", "-w", "-D", dataDirectory, "-l", logFile], asPostgres: true)
    }

    /// The pid of postmaster.pid when that process is gone or a zombie. Here nobody reaps a
    /// killed postmaster (PID 1 is not an init), and PostgreSQL's own lock-file check takes the
    /// zombie for a running server.
    var stalePid: Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let pid = Int32(text.split(separator: "\n").first ?? "") else { return nil }
        if kill(pid, 0) != 0 && errno == ESRCH { return pid }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") ? pid : nil
    }

    /// What an operator does before restarting a crashed server by hand.
    private func removeStalePidFile() {
        if stalePid != nil { try? FileManager.default.removeItem(atPath: dataDirectory + "/postmaster.pid") }
    }

    func stop(mode: String = "fast") throws {
        try Command.check([tool("pg_ctl"), "stop", "-w", "-D", dataDirectory, "-m", mode], asPostgres: true)
    }

    func stopQuietly() {
        _ = try? Command.run([tool("pg_ctl"), "stop", "-w", "-D", dataDirectory, "-m", "immediate"], asPostgres: true)
    }

    /// A real crash: SIGKILL to the postmaster; the stale postmaster.pid stays behind.
    func crash() throws {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let pid = Int32(text.split(separator: "\n").first ?? "") else {
            XCTFail("\(name) has no postmaster.pid to crash")
            return
        }
        kill(pid, SIGKILL)
        // Its backends notice the postmaster's death and exit; wait until the port is free.
        for _ in 0..<100 where (try? sql("SELECT 1")) != nil {
            usleep(100_000)
        }
        usleep(300_000)
        // PID 1 here reaps nothing, so the killed postmaster may stay a zombie, and PostgreSQL
        // takes a zombie's pid in the socket lock file for a live server. On a machine with an
        // init the pid would be gone and the lock file stale: make it so. (postmaster.pid stays:
        // a stale one is part of the crashed state pg-rejoin must handle.)
        if stalePid == pid {
            try? FileManager.default.removeItem(atPath: "\(socketDirectory)/.s.PGSQL.\(port).lock")
        }
    }

    func promote() throws {
        try Command.check([tool("pg_ctl"), "promote", "-w", "-D", dataDirectory], asPostgres: true)
    }

    /// pg_ctl status, except that a zombie postmaster is not running.
    var isRunning: Bool {
        guard stalePid == nil else { return false }
        return ((try? Command.run([tool("pg_ctl"), "status", "-D", dataDirectory], asPostgres: true))?.status ?? 1) == 0
    }

    /// One SQL statement through psql; rows as "a|b" lines.
    @discardableResult
    func sql(_ statement: String) throws -> String {
        let result = try Command.run([tool("psql"), "-X", "-q", "-A", "-t", "-h", socketDirectory, "-p", String(port),
                                      "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", statement],
                                     asPostgres: true)
        guard result.status == 0 else { throw Command.CommandFailed(argv: ["psql", statement], result: result) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a script file in one transaction, stopping at the first error.
    func runScript(_ path: String) throws -> CommandResult {
        try Command.run([tool("psql"), "-X", "-q", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", "postgres",
                         "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", path], asPostgres: true)
    }

    /// Polls until `statement` returns `expected`.
    func waitFor(_ statement: String, toBe expected: String, seconds: Double = 30,
                 file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            last = (try? sql(statement)) ?? "(error)"
            if last == expected { return }
            usleep(200_000)
        }
        XCTFail("\(name): \(statement) is \(last), expected \(expected)", file: file, line: line)
    }

    private func appendToFile(_ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }
}
