import Foundation
import XCTest

/// The node's own replication settings survive a rejoin: its primary_conninfo options and
/// application_name, and the standby settings set with ALTER SYSTEM; a password is never
/// copied; settings that would keep the standby from ever verifying are refused up front.
final class NodeSettingsTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    /// The usual arguments without --node-name: the node's own application_name wins then.
    func argumentsWithoutNodeName(_ f: Failover) -> [String] {
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        if let at = arguments.firstIndex(of: "--node-name") { arguments.removeSubrange(at...(at + 1)) }
        return arguments
    }

    func appendAutoConf(_ node: PostgresNode, _ text: String) throws {
        let path = node.dataDirectory + "/postgresql.auto.conf"
        try ((try String(contentsOfFile: path, encoding: .utf8)) + text).write(toFile: path, atomically: false, encoding: .utf8)
    }

    func testTheNodesOwnReplicationSettingsSurvive() throws {
        let f = try Failover.make(in: sandbox)
        // What the failed primary had from its days as a standby, set with ALTER SYSTEM.
        try appendAutoConf(f.pg1, """
            primary_conninfo = 'host=127.0.0.1 port=1 user=old sslmode=prefer keepalives=1 keepalives_idle=30 connect_timeout=7 application_name=''pg1-app'' password=old-secret-123'
            restore_command = 'cp /nonexistent-archive/%f %p'
            archive_cleanup_command = '/bin/true'
            recovery_min_apply_delay = '10ms'

            """)
        let result = try sandbox.rejoin(argumentsWithoutNodeName(f))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("warning: this node's primary_conninfo holds a password; it is not copied"), result.output)
        XCTAssertTrue(result.stdout.contains("kept from this node's primary_conninfo: sslmode, keepalives, keepalives_idle, connect_timeout, application_name pg1-app"), result.stdout)
        XCTAssertFalse(result.output.contains("old-secret-123"), "the password was printed")

        let conninfo = try f.pg1.sql("SHOW primary_conninfo")
        for option in ["host='127.0.0.1'", "port='\(f.pg2.port)'", "user='repl'", "application_name='pg1-app'", "sslmode='prefer'",
                       "keepalives='1'", "keepalives_idle='30'", "connect_timeout='7'"] {
            XCTAssertTrue(conninfo.contains(option), "\(option) in \(conninfo)")
        }
        XCTAssertFalse(conninfo.contains("old-secret-123"), conninfo)
        XCTAssertFalse(try String(contentsOfFile: f.pg1.dataDirectory + "/postgresql.auto.conf", encoding: .utf8).contains("old-secret-123"))
        XCTAssertEqual(try f.pg1.sql("SHOW restore_command"), "cp /nonexistent-archive/%f %p")
        XCTAssertEqual(try f.pg1.sql("SHOW archive_cleanup_command"), "/bin/true")
        XCTAssertEqual(try f.pg1.sql("SHOW recovery_min_apply_delay"), "10ms")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name FROM pg_stat_replication"), "pg1-app")
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
    }

    /// hot_standby = off: the standby would accept no connection and never verify. Refused
    /// before any change, naming the line; the advised rerun (line removed) finishes.
    func testSettingsThatWouldNeverVerifyAreRefusedWithTheLine() throws {
        let f = try Failover.make(in: sandbox)
        let conf = f.pg1.dataDirectory + "/postgresql.conf"
        let original = try String(contentsOfFile: conf, encoding: .utf8)
        try (original + "hot_standby = off\n").write(toFile: conf, atomically: false, encoding: .utf8)
        let line = original.split(separator: "\n", omittingEmptySubsequences: false).count
        let before = try DataSnapshot(f.pg1.dataDirectory)
        let refused = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("hot_standby = off (\(conf) line \(line))"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("Nothing was changed"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])

        try original.write(toFile: conf, atomically: false, encoding: .utf8)
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
    }
}

/// WAL the old primary never archived is not lost to a rejoin: crash recovery keeps `.ready`
/// segments (archive_mode stays on, with a command that fails), and the rewind step keeps them
/// beside the divergence WAL before pg_rewind replaces pg_wal.
final class UnarchivedWALTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func testSegmentsTheArchiveNeverGotAreKeptAndNamed() throws {
        // An archive_command that has fallen behind: it fails, every segment stays .ready. No
        // wal_keep_size, and several finished segments: the end-of-recovery checkpoint would
        // recycle them if archiving were off during crash recovery.
        let f = try Failover.make(in: sandbox, grants: .all,
                                  pg1Settings: "archive_mode = on\narchive_command = '/bin/false'\nwal_keep_size = 0\n") { pg1 in
            for batch in 0..<3 {
                try pg1.sql("INSERT INTO orders SELECT g, 'lost' FROM generate_series(\(2000 + batch * 100), \(2099 + batch * 100)) g")
                try pg1.sql("SELECT pg_switch_wal()")
            }
        }
        let status = f.pg1.dataDirectory + "/pg_wal/archive_status"
        let ready = try FileManager.default.contentsOfDirectory(atPath: status).filter { $0.hasSuffix(".ready") }
            .map { String($0.dropLast(6)) }.sorted()
        XCTAssertFalse(ready.isEmpty, "the test needs WAL waiting to be archived")

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertTrue(result.stdout.contains("recover-local done"), result.stdout)
        let work = f.pg1.dataDirectory + ".rejoin"
        let kept = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: work).first { $0.hasPrefix("unarchived-") })
        let saved = try FileManager.default.contentsOfDirectory(atPath: work + "/" + kept).sorted()
        // Everything that was waiting before the crash is still there (crash recovery recycled none).
        for name in ready { XCTAssertTrue(saved.contains(name), "\(name) was lost: \(saved)") }
        XCTAssertTrue(result.output.contains("WAL file(s) the old primary never archived, kept in \(work)/\(kept)"), result.output)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
    }
}
