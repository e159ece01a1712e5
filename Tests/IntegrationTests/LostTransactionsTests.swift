import Foundation
import XCTest

/// What the failover lost, handed back as data: the old primary's transactions after the fork
/// are read before the rewind (or, on the copy path, from the old data set aside), and
/// `pg-rejoin lost` prints them as text, SQL, CSV and JSON.
/// The SQL, applied to the new primary in one transaction, gives back the old primary's rows;
/// a row the new primary changed since the fork is a guarded conflict.
final class LostTransactionsTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    /// Tables beside `orders` (which Failover fills, and into which pg1 loses ids 1001-1050).
    static let schema = """
        CREATE TABLE lines (order_id int, line_no int, amount numeric(12,3), attrs jsonb, big text,
                            PRIMARY KEY (order_id, line_no));
        INSERT INTO lines SELECT g, 1, g * 1.5, jsonb_build_object('g', g), NULL FROM generate_series(1, 20) g;
        CREATE TABLE nokey (label text, tags text[]);
        INSERT INTO nokey VALUES ('kept', '{a,b}'), ('gone', NULL);
        CREATE TABLE scratch (id int);
        INSERT INTO scratch SELECT generate_series(1, 5);
        ALTER TABLE orders ADD COLUMN price numeric, ADD COLUMN doc jsonb;
        """

    /// On pg1 once pg2 is gone: what the failover will lose.
    static let lostWork = [
        "INSERT INTO lines VALUES (1001, 1, 12.345, '{\"gift\": true, \"n\": [1, 2]}', NULL), (1001, 2, NULL, NULL, 'it''s')",
        "UPDATE orders SET note = 'changed on pg1', price = 19.99, doc = '{\"k\": \"v\"}' WHERE id = 5",
        "UPDATE orders SET note = 'pg1 lost this' WHERE id = 7",
        "DELETE FROM lines WHERE order_id = 3",
        "BEGIN; INSERT INTO orders VALUES (2001, 'rolled back'); ROLLBACK",
        "BEGIN; INSERT INTO orders VALUES (2002, 'top'); SAVEPOINT s; INSERT INTO orders VALUES (2003, 'in a subtransaction'); RELEASE s; COMMIT",
        "INSERT INTO lines SELECT 1002, 1, 0, NULL, string_agg(md5(g::text), '') FROM generate_series(1, 300) g",
        "INSERT INTO nokey VALUES ('new', '{x,\"y z\"}')",
        "DELETE FROM nokey WHERE label = 'gone'",
        "TRUNCATE scratch",
    ]

    /// pg1's rows as they were when it died, for the tables the SQL must restore.
    static let compared = [
        "orders": "SELECT string_agg(t::text, '|' ORDER BY id) FROM orders t WHERE id < 5000 AND id <> 7",
        "lines": "SELECT string_agg(t::text, '|' ORDER BY order_id, line_no) FROM lines t",
        "nokey": "SELECT string_agg(t::text, '|' ORDER BY label) FROM nokey t",
    ]

    /// `grants`: .rewind lets the role rewind; the least-privileged role (none) makes `auto` copy.
    func makeFailover(diverge: Bool = true, grants: RoleGrants = .rewind) throws -> (Failover, [String: String]) {
        var before: [String: String] = [:]
        let f = try Failover.make(in: sandbox, diverge: diverge, grants: grants, prepare: { pg1 in
            try pg1.sql(Self.schema)
        }, beforeFailover: { pg1 in
            guard diverge else { return }
            for statement in Self.lostWork { _ = try pg1.sql(statement) }
            for (table, query) in Self.compared { before[table] = try pg1.sql(query) }
        })
        // The new primary changes one of the rows pg1 also changed: a conflict.
        if diverge { try f.pg2.sql("UPDATE orders SET note = 'pg2 wins' WHERE id = 7") }
        return (f, before)
    }

    func lost(_ f: Failover, _ extra: [String] = []) throws -> CommandResult {
        try sandbox.rejoin(["lost", "--pgdata", f.pg1.dataDirectory] + extra)
    }

    func testTheLostTransactionsAreReadBeforeTheRewindAndTheSQLGivesThemBack() throws {
        let (f, before) = try makeFailover()
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("capture-lost done"), result.stdout)
        XCTAssertTrue(result.stdout.contains("pg-rejoin lost --pgdata"), result.stdout)
        try assertGivenBack(f, before)
    }

    /// The least-privileged role cannot rewind, so `auto` copies: the crashed old primary, set
    /// aside, is crash-recovered and read once the standby is verified, and the same SQL gives
    /// its rows back.
    func testTheCopyPathReadsTheOldDataSetAsideAndTheSQLGivesThemBack() throws {
        let (f, before) = try makeFailover(grants: [])
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("set-aside done"), "the copy path: \(result.stdout)")
        XCTAssertTrue(result.stdout.contains("capture-lost done"), result.stdout)
        XCTAssertTrue(result.stdout.contains("pg-rejoin lost --pgdata"), result.stdout)
        try assertGivenBack(f, before)

        // Read, the kept copy still is the old primary: renamed back (README's way to get the
        // old state), it starts with its lost rows.
        let copy = try XCTUnwrap(oldCopies(f).first)
        try f.pg1.stop()
        try FileManager.default.moveItem(atPath: f.pg1.dataDirectory, toPath: f.pg1.dataDirectory + ".standby")
        try FileManager.default.moveItem(atPath: copy, toPath: f.pg1.dataDirectory)
        try f.pg1.start()
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE id BETWEEN 1001 AND 1050"), String(Failover.lostRows))
        for (table, query) in Self.compared { XCTAssertEqual(try f.pg1.sql(query), before[table], table) }
        try f.pg1.stop()
    }

    /// The text, SQL (applied to the new primary, it restores pg1's rows; the conflict changes
    /// nothing), JSON and CSV of the run's lost transactions.
    func assertGivenBack(_ f: Failover, _ before: [String: String]) throws {

        let text = try lost(f)
        XCTAssertEqual(text.status, 0, text.output)
        // Failover's 50 orders, then the ten statements above less the rollback.
        XCTAssertTrue(text.stdout.hasSuffix("10 lost transactions\n"), text.stdout)
        XCTAssertFalse(text.stdout.contains("rolled back"), text.stdout)
        XCTAssertTrue(text.stdout.contains("public.orders: 50 inserted"), text.stdout)
        XCTAssertTrue(text.stdout.contains("public.orders: 2 inserted"), "the subtransaction folded into its transaction: \(text.stdout)")
        XCTAssertTrue(text.stdout.contains("~ id=5: note: before -> 'changed on pg1', price: NULL -> 19.99"), text.stdout)
        XCTAssertTrue(text.stdout.contains("- order_id=3 line_no=1 amount=4.500"), text.stdout)
        XCTAssertTrue(text.stdout.contains("! conflict: the new primary updated or deleted this row since the fork"), text.stdout)
        XCTAssertTrue(text.stdout.contains("removed the files of"), "TRUNCATE is reported: \(text.stdout)")

        let sql = try lost(f, ["--format", "sql"])
        XCTAssertEqual(sql.status, 0, sql.output)
        XCTAssertTrue(sql.stdout.hasPrefix("-- pg-rejoin: what the old primary committed after the failover"), sql.stdout)
        XCTAssertTrue(sql.stdout.contains("-- CONFLICT:"), sql.stdout)
        let script = sandbox.root + "/lost.sql"
        try sql.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        try Sandbox.giveToPostgres(script)
        let applied = try f.pg2.runScript(script)
        XCTAssertEqual(applied.status, 0, applied.output)
        for (table, query) in Self.compared {
            XCTAssertEqual(try f.pg2.sql(query), before[table], "\(table) after the script")
        }
        XCTAssertEqual(try f.pg2.sql("SELECT note FROM orders WHERE id = 7"), "pg2 wins", "a conflict changes nothing")
        XCTAssertEqual(try f.pg2.sql("SELECT count(*) FROM scratch"), "5", "TRUNCATE is reported, not re-applied")

        let json = try lost(f, ["--format", "json"])
        let transactions = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(transactions.count, 10)
        let csvDirectory = sandbox.root + "/csv"
        try FileManager.default.createDirectory(atPath: csvDirectory, withIntermediateDirectories: false)
        try Sandbox.giveToPostgres(csvDirectory)
        let csv = try lost(f, ["--format", "csv", "--to", csvDirectory])
        XCTAssertEqual(csv.status, 0, csv.output)
        let files = try FileManager.default.contentsOfDirectory(atPath: csvDirectory).sorted()
        XCTAssertTrue(files.contains("public.orders.inserted.csv") && files.contains("public.lines.deleted.csv")
                      && files.contains("public.orders.updated.csv"), "\(files)")
    }

    func testANodeThatDidNotDivergeLostNothing() throws {
        let (f, _) = try makeFailover(diverge: false)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(result.status, 0, result.output)
        let text = try lost(f)
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.stdout.hasSuffix("0 lost transactions\n"), text.stdout)
    }

    func testLostRowsSkipReadsNothing() throws {
        let (f, _) = try makeFailover()
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind", extra: ["--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        let text = try lost(f)
        XCTAssertEqual(text.status, 10, text.output)
        XCTAssertTrue(text.stderr.contains("no lost transactions were read"), text.stderr)
    }

    /// Killed while the old primary runs privately to be read: abort stops that server, takes
    /// pg-rejoin's standby.signal away, and the old primary starts as it was, lost rows and all.
    func testAbortWhileTheOldPrimaryIsReadPutsItBack() throws {
        let (f, _) = try makeFailover()
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind")
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "capture-lost:during"]).status, 128 + SIGKILL)
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/standby.signal"))
        let abort = try sandbox.rejoin(["abort", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(abort.status, 0, abort.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/standby.signal"))
        XCTAssertFalse(f.pg1.isRunning, "the private server is stopped")
        try f.pg1.start()
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE id BETWEEN 1001 AND 1050"), String(Failover.lostRows))
        try f.pg1.stop()
    }

    /// The copy path reads the old data after verify: killed while its private server runs, the
    /// run is unfinished (the standby streams meanwhile); the same command stops that server,
    /// reads again and finishes, and the copy keeps no standby.signal.
    func testAKillWhileTheSetAsideCopyIsReadResumes() throws {
        let (f, _) = try makeFailover(grants: [])
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto")
        XCTAssertEqual(try sandbox.rejoin(arguments, environment: ["PG_REJOIN_FAULT": "capture-lost:during"]).status, 128 + SIGKILL)
        let copy = try XCTUnwrap(oldCopies(f).first)
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy + "/standby.signal"), "the private server's")
        let status = try sandbox.rejoin(["status", "--pgdata", f.pg1.dataDirectory])
        XCTAssertEqual(status.status, 40, status.output)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("capture-lost done"), rerun.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy + "/standby.signal"))
        XCTAssertTrue(try lost(f).stdout.hasSuffix("10 lost transactions\n"))
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
    }

    /// A run that read nothing (`--lost-rows skip`) kept its old data: `lost --from-old` reads that
    /// copy later, as the run would have, and the SQL gives pg1's rows back. Bad paths are
    /// refused with nothing changed, and a copy is read once.
    func testFromOldReadsAKeptCopyLater() throws {
        let (f, before) = try makeFailover(grants: [])
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto", extra: ["--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try lost(f).status, 10, "nothing read during the run")
        let copy = try XCTUnwrap(oldCopies(f).first { !$0.hasSuffix(".tar.zst") }, "the kept copy")

        let pgdata = try lost(f, ["--from-old", f.pg1.dataDirectory])
        XCTAssertEqual(pgdata.status, 10, pgdata.output)
        XCTAssertTrue(pgdata.stderr.contains("is the node's own data directory"), pgdata.stderr)
        let missing = try lost(f, ["--from-old", copy + "-nowhere"])
        XCTAssertEqual(missing.status, 10, missing.output)
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + ".rejoin/lost-" + runID(of: copy) + "/lost.json"), "refusals change nothing")

        let read = try lost(f, ["--from-old", copy])
        XCTAssertEqual(read.status, 0, read.output)
        XCTAssertTrue(read.stdout.hasSuffix("10 lost transactions\n"), read.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy + "/standby.signal"), "the copy is left without pg-rejoin's standby.signal")
        let again = try lost(f, ["--from-old", copy])
        XCTAssertEqual(again.status, 10, again.output)
        XCTAssertTrue(again.stderr.contains("read already"), again.stderr)
        try assertGivenBack(f, before)
    }

    /// The same from an archive (`--old-data archive`), extracted into the working directory
    /// for the reading and removed after; over a report of a reading that failed.
    func testFromOldReadsAnArchive() throws {
        let (f, before) = try makeFailover(grants: [])
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto",
                                                                extra: ["--lost-rows", "skip", "--old-data", "archive"]))
        XCTAssertEqual(result.status, 0, result.output)
        let archive = try XCTUnwrap(oldCopies(f).first { $0.hasSuffix(".tar.zst") }, "the archive")
        // What a run leaves when its reading failed: a report that says it read nothing. Unlike
        // a report that read rows, it is read again.
        let lostDirectory = f.pg1.dataDirectory + ".rejoin/lost-" + runID(of: archive)
        try FileManager.default.createDirectory(atPath: lostDirectory, withIntermediateDirectories: true)
        try #"{"format":1,"run":"\#(runID(of: archive))","systemIdentifier":"0","timeline":0,"fork":"","capturedAt":"2026-12-06T00:00:00Z","tables":[],"transactions":[],"notes":["not read as rows: the private server did not start"]}"#
            .write(toFile: lostDirectory + "/lost.json", atomically: true, encoding: .utf8)
        try Sandbox.giveToPostgres(lostDirectory)
        let read = try lost(f, ["--from-old", archive])
        XCTAssertEqual(read.status, 0, read.output)
        XCTAssertTrue(read.stdout.hasSuffix("10 lost transactions\n"), read.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lostDirectory + "/old-data"), "the extract is removed")
        try assertGivenBack(f, before)
    }

    /// The old copies beside pg1's PGDATA, as paths.
    func oldCopies(_ f: Failover) throws -> [String] {
        let parent = (f.pg1.dataDirectory as NSString).deletingLastPathComponent
        let base = (f.pg1.dataDirectory as NSString).lastPathComponent
        return try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(base + ".old-") && !$0.hasSuffix(".json") }
            .sorted().map { parent + "/" + $0 }
    }

    /// The run id in a copy's name: `data.old-RUN`, `data.old-RUN.tar.zst`.
    func runID(of copy: String) -> String {
        let name = (copy as NSString).lastPathComponent
        let run = name[name.range(of: ".old-")!.upperBound...]
        return String(run.split(separator: ".").first ?? "")
    }
}
