import Foundation
@testable import RejoinSteps
import XCTest

/// The story pg-rejoin exists for, played for real: pg1 primary with rows, pg2 its standby;
/// pg1 takes rows pg2 never gets and crashes; pg2 is promoted and written to.
struct Failover {
    let pg1: PostgresNode
    let pg2: PostgresNode

    static let rowsBefore = 1000
    static let lostRows = 50
    static let rowsAfter = 100

    /// With `promote: false` pg2 stays a (disconnected) standby: the "upstream is a standby" case.
    /// With `diverge: false` pg1 is shut down cleanly after pg2 got everything (no lost rows).
    /// `grants`: what the replication role gets beyond the seed's REPLICATION LOGIN; the
    /// default is nothing, as users have it.
    static func make(in sandbox: Sandbox, promote: Bool = true, diverge: Bool = true, walLogHints: Bool = true,
                     externalWAL: Bool = false, grants: RoleGrants = [], pg1Settings: String = "", tablespace: Bool = false,
                     prepare: (PostgresNode) throws -> Void = { _ in },
                     beforeFailover: (PostgresNode) throws -> Void = { _ in }) throws -> Failover {
        let pg1 = try sandbox.node("pg1")
        pg1.walLogHints = walLogHints
        pg1.extraSettings = pg1Settings
        try pg1.initdb(walDirectory: externalWAL ? pg1.home + "/wal" : nil)
        try pg1.start()
        try pg1.createReplicationRole(sandbox: sandbox, grants: grants)
        try pg1.sql("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        try pg1.sql("INSERT INTO orders SELECT g, 'before' FROM generate_series(1, \(rowsBefore)) g")
        try prepare(pg1)
        let pg2 = try sandbox.node("pg2")
        var mapping: [String: String] = [:]
        if tablespace {
            // Table `items` in tablespace `ts`, outside PGDATA; each node keeps it in its own
            // directory (one host here), as two hosts would at the same path.
            try FileManager.default.createDirectory(atPath: pg1.tablespaceDirectory, withIntermediateDirectories: true)
            try Sandbox.giveToPostgres(pg1.tablespaceDirectory)
            try pg1.sql("CREATE TABLESPACE ts LOCATION '\(pg1.tablespaceDirectory)'")
            try pg1.sql("CREATE TABLE items (id int PRIMARY KEY, note text) TABLESPACE ts")
            try pg1.sql("INSERT INTO items SELECT g, 'before' FROM generate_series(1, \(rowsBefore)) g")
            mapping[pg1.tablespaceDirectory] = pg2.tablespaceDirectory
        }

        try pg2.cloneAsStandby(of: pg1, tablespaceMapping: mapping)
        try pg2.start()
        pg2.waitFor("SELECT count(*) FROM orders", toBe: String(rowsBefore))

        if diverge {
            // pg2 goes away for a moment; pg1 accepts rows that never reach it, then dies.
            try pg2.stop()
            try pg1.sql("INSERT INTO orders SELECT g, 'lost' FROM generate_series(\(rowsBefore + 1), \(rowsBefore + lostRows)) g")
            if tablespace { try pg1.sql("INSERT INTO items SELECT g, 'lost' FROM generate_series(\(rowsBefore + 1), \(rowsBefore + lostRows)) g") }
            try beforeFailover(pg1)
            try pg1.crash()
            try pg2.start()
        } else {
            // A planned switchover: pg1 stops cleanly and pg2 receives its last WAL.
            try beforeFailover(pg1)
            try pg1.stop()
            usleep(500_000)
        }
        if promote {
            try pg2.promote()
            try pg2.sql("INSERT INTO orders SELECT g, 'after' FROM generate_series(5001, \(5000 + rowsAfter)) g")
            if tablespace { try pg2.sql("INSERT INTO items SELECT g, 'after' FROM generate_series(5001, \(5000 + rowsAfter)) g") }
            // Before 15 no grant lets the role CHECKPOINT (VersionTests covers that): a rewind
            // test gets the checkpoint on the new timeline an operator or the server would make.
            if grants.contains(.rewind), Int(try pg2.sql("SHOW server_version_num")) ?? 0 < 150000 {
                try pg2.sql("CHECKPOINT")
            }
        }
        return Failover(pg1: pg1, pg2: pg2)
    }
}

/// What the tests' replication role `repl` may do beyond REPLICATION LOGIN (the seed's role,
/// and every test's unless it names more: the least-privileged setup is the one users have).
struct RoleGrants: OptionSet {
    let rawValue: Int
    /// pg_monitor: the upstream-side check of verify reads pg_stat_replication.state.
    static let monitor = RoleGrants(rawValue: 1)
    /// What pg_rewind needs on its source (PostgreSQL's documentation), and pg_checkpoint.
    static let rewind = RoleGrants(rawValue: 2)
    static let all: RoleGrants = [.monitor, .rewind]
}

extension PostgresNode {
    func createReplicationRole(sandbox: Sandbox, grants: RoleGrants = []) throws {
        // SCRAM, as the hba lines ask: 13 still hashes with md5 by default.
        try sql("SET password_encryption = 'scram-sha-256'; CREATE ROLE repl LOGIN REPLICATION PASSWORD '\(sandbox.password)'")
        if grants.contains(.monitor) { try sql("GRANT pg_monitor TO repl") }
        if grants.contains(.rewind) {
            try sql("""
                GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO repl;
                GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO repl;
                GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO repl;
                GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO repl;
                """)
            if Int(try sql("SHOW server_version_num")) ?? 0 >= 150000 { try sql("GRANT pg_checkpoint TO repl") }
        }
    }
}

/// What "nothing changed" means for a data directory: the same files, each with the same
/// bytes (XXH3-128 of its contents), and the same control file. A running server rewrites files
/// by itself (statistics, WAL, hint bits, its pid file): for a directory with a live postmaster
/// pass `running: true`, and only what no server writes on its own is compared by content
/// (its configuration, PG_VERSION, the signal files), the rest by name.
struct DataSnapshot: Equatable {
    var files: [String]
    var contents: [String: String]
    var control: Data

    /// Written by a running server on its own, so left out of a running directory's listing.
    static let transient = ["postmaster.pid", "postmaster.opts", "pg_stat_tmp/", "pg_stat/", "pg_wal/", "pg_logical/",
                            "pg_subtrans/", "pg_replslot/", "pg_xact/", "pg_multixact/", "pg_notify/", "pg_snapshots/",
                            "pg_dynshmem/", "current_logfiles", "log/", "global/pg_internal.init", "global/pg_control"]
    /// What no server rewrites by itself: compared by content even while one runs.
    static let stable = ["postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf", "PG_VERSION",
                         "standby.signal", "recovery.signal"]

    init(_ dataDirectory: String, running: Bool = false) throws {
        let enumerator = FileManager.default.enumerator(atPath: dataDirectory)
        var files: [String] = []
        var contents: [String: String] = [:]
        while let path = enumerator?.nextObject() as? String {
            if running && (Self.transient.contains { path == $0 || path.hasPrefix($0) } || path.hasPrefix("base/")) { continue }
            files.append(path)
            let full = dataDirectory + "/" + path
            guard !running || Self.stable.contains(path) else { continue }
            var st = stat()
            guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            contents[path] = try Self.digest(full)
        }
        self.files = files.sorted()
        self.contents = contents
        self.control = try Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/global/pg_control"))
    }

    static func digest(_ path: String) throws -> String {
        let digest = try XXH128Digest()
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            try chunk.withUnsafeBytes { try digest.update($0) }
        }
        return try digest.finish()
    }
}

extension XCTestCase {
    /// Siblings of PGDATA that pg-rejoin might have created (old copies, working directory).
    func siblings(of node: PostgresNode) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: node.home)) ?? [])
            .filter { $0.hasPrefix("data.") }.sorted()
    }
}
