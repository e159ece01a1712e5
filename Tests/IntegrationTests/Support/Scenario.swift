import Foundation
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
    static func make(in sandbox: Sandbox, promote: Bool = true, diverge: Bool = true, walLogHints: Bool = true,
                     externalWAL: Bool = false) throws -> Failover {
        let pg1 = try sandbox.node("pg1")
        pg1.walLogHints = walLogHints
        try pg1.initdb(walDirectory: externalWAL ? pg1.home + "/wal" : nil)
        try pg1.start()
        try pg1.sql("CREATE ROLE repl LOGIN REPLICATION PASSWORD '\(sandbox.password)'; GRANT pg_monitor TO repl;")
        // What pg_rewind's source role needs (PostgreSQL's documentation), and CHECKPOINT.
        try pg1.sql("""
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO repl;
            GRANT pg_checkpoint TO repl;
            """)
        try pg1.sql("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        try pg1.sql("INSERT INTO orders SELECT g, 'before' FROM generate_series(1, \(rowsBefore)) g")

        let pg2 = try sandbox.node("pg2")
        try pg2.cloneAsStandby(of: pg1)
        try pg2.start()
        pg2.waitFor("SELECT count(*) FROM orders", toBe: String(rowsBefore))

        if diverge {
            // pg2 goes away for a moment; pg1 accepts rows that never reach it, then dies.
            try pg2.stop()
            try pg1.sql("INSERT INTO orders SELECT g, 'lost' FROM generate_series(\(rowsBefore + 1), \(rowsBefore + lostRows)) g")
            try pg1.crash()
            try pg2.start()
        } else {
            // A planned switchover: pg1 stops cleanly and pg2 receives its last WAL.
            try pg1.stop()
            usleep(500_000)
        }
        if promote {
            try pg2.promote()
            try pg2.sql("INSERT INTO orders SELECT g, 'after' FROM generate_series(5001, \(5000 + rowsAfter)) g")
        }
        return Failover(pg1: pg1, pg2: pg2)
    }
}

/// What "nothing changed" means for a data directory: the same files and the same control file.
struct DataSnapshot: Equatable {
    var files: [String]
    var control: Data

    init(_ dataDirectory: String) throws {
        let enumerator = FileManager.default.enumerator(atPath: dataDirectory)
        var files: [String] = []
        while let path = enumerator?.nextObject() as? String { files.append(path) }
        self.files = files.sorted()
        self.control = try Data(contentsOf: URL(fileURLWithPath: dataDirectory + "/global/pg_control"))
    }
}

extension XCTestCase {
    /// Siblings of PGDATA that pg-rejoin might have created (old copies, working directory).
    func siblings(of node: PostgresNode) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: node.home)) ?? [])
            .filter { $0.hasPrefix("data.") }.sorted()
    }
}
