import Foundation
import XCTest

/// The happy paths, on real servers after a real failover.
final class RejoinAfterFailoverTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func testCrashedPrimaryRejoinsAsStreamingStandbyAndRerunIsANoOp() throws {
        let f = try Failover.make(in: sandbox)
        let before = try DataSnapshot(f.pg1.dataDirectory)

        // --lost-rows skip: the old copy is then left byte for byte (reading its lost rows starts
        // it privately; LostTransactionsTests checks what that leaves).
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--lost-rows", "skip"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("rejoined: streaming standby of \(f.pg2.address)"), result.stdout)

        // pg1 is a standby streaming from pg2, with pg2's rows and without its own lost ones.
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "t")
        XCTAssertEqual(try f.pg1.sql("SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver"),
                       "streaming|127.0.0.1|\(f.pg2.port)")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        let expected = Failover.rowsBefore + Failover.rowsAfter
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), String(expected))
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders WHERE note = 'lost'"), "0")
        // Rows written on pg2 now reach pg1.
        try f.pg2.sql("INSERT INTO orders VALUES (9999, 'streamed')")
        f.pg1.waitFor("SELECT count(*) FROM orders WHERE id = 9999", toBe: "1")

        // The old data directory is kept beside PGDATA, untouched.
        let old = siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }
        XCTAssertEqual(old.count, 1, "\(siblings(of: f.pg1))")
        let oldPath = f.pg1.home + "/" + (old.first ?? "")
        XCTAssertEqual(try DataSnapshot(oldPath), before, "every file, byte for byte")

        // The node kept its own configuration; primary_conninfo carries a passfile, no password.
        let conf = try String(contentsOfFile: f.pg1.dataDirectory + "/postgresql.conf", encoding: .utf8)
        XCTAssertTrue(conf.contains("port = \(f.pg1.port)"))
        XCTAssertEqual(try f.pg1.sql("SHOW primary_conninfo"),
                       "host='127.0.0.1' port='\(f.pg2.port)' user='repl' application_name='pg1' passfile='\(sandbox.passfile)'")
        let auto = try String(contentsOfFile: f.pg1.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
        XCTAssertFalse(auto.contains(sandbox.password))
        XCTAssertFalse(result.output.contains(sandbox.password))
        XCTAssertTrue(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/standby.signal"))

        // The journal ends with the run finished, and holds no secret.
        let journal = try String(contentsOfFile: f.pg1.dataDirectory + ".rejoin/journal.jsonl", encoding: .utf8)
        XCTAssertTrue(journal.contains("\"kind\":\"finished\""), journal)
        XCTAssertFalse(journal.contains(sandbox.password))

        // Rerun on the healthy standby: nothing to do, exit 0, nothing changed.
        let again = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.stdout.contains("already a standby of \(f.pg2.address)"), again.stdout)
        XCTAssertEqual(siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }.count, 1)
    }

    func testRunningPrimaryIsRefusedWithoutDemoteAndRejoinedWithIt() throws {
        let f = try Failover.make(in: sandbox)
        // The failed primary came back up on its own: two primaries now.
        try f.pg1.start()
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        let before = try DataSnapshot(f.pg1.dataDirectory).control

        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(refused.status, 12, refused.output)
        XCTAssertTrue(refused.stderr.contains("running as a primary"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--demote"), refused.stderr)
        XCTAssertTrue(f.pg1.isRunning)
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "f")
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory).control, before)
        XCTAssertEqual(siblings(of: f.pg1), [])

        let demoted = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--demote"]))
        XCTAssertEqual(demoted.status, 0, demoted.output)
        XCTAssertEqual(try f.pg1.sql("SELECT pg_is_in_recovery()"), "t")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), String(Failover.rowsBefore + Failover.rowsAfter))
    }

    func testJSONOutputIsOneObjectPerLine() throws {
        let f = try Failover.make(in: sandbox)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--json"]))
        XCTAssertEqual(result.status, 0, result.output)
        let events = try result.stdout.split(separator: "\n").map { line -> [String: Any] in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try XCTUnwrap(object as? [String: Any], String(line))
        }
        let names = events.compactMap { $0["event"] as? String }
        XCTAssertEqual(names.first, "info")
        XCTAssertTrue(names.contains("plan"))
        XCTAssertEqual(names.filter { $0 == "step_finished" }.count, 8, "\(names)")
        XCTAssertEqual(names.last, "result")
        XCTAssertEqual(events.last?["outcome"] as? String, "rejoined")
        let summary = try XCTUnwrap(events.first { $0["event"] as? String == "summary" })
        XCTAssertNotNil(summary["lag_bytes"] as? Int, "standby lag at verify: \(summary)")
        XCTAssertNotNil(summary["step_seconds"] as? [String: Any])
    }
}
