import Foundation
import XCTest

/// What differs between majors, on whichever major PG_BINDIR names (`make test-versions` runs
/// this on 13 to 18): the binaries must be the data directory's major, the role's right to
/// CHECKPOINT depends on it, and pg_rewind restores the target's archived WAL (13+).
final class VersionTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    var major: Int { sandbox.major }

    /// Another major's programs, refused before anything changes with a message naming --bindir.
    func testAnotherMajorsBinariesAreRefused() throws {
        let candidates = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/13/bin"]
            + (ProcessInfo.processInfo.environment["PG_OTHER_BINDIR"].map { [$0] } ?? [])
        let mine = major
        guard let other = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") && !$0.contains("/\(mine)/") }) else {
            throw XCTSkip("no second major installed")
        }
        let f = try Failover.make(in: sandbox)
        let before = try DataSnapshot(f.pg1.dataDirectory)
        var arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        arguments[try XCTUnwrap(arguments.firstIndex(of: sandbox.bindir))] = other
        let refused = try sandbox.rejoin(arguments)
        XCTAssertEqual(refused.status, 10, refused.output)
        XCTAssertTrue(refused.stderr.contains("--bindir \(other) holds PostgreSQL"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("the data directory is PostgreSQL \(mine)"), refused.stderr)
        XCTAssertEqual(try DataSnapshot(f.pg1.dataDirectory), before)
        XCTAssertEqual(siblings(of: f.pg1), [])
        // The advice: --bindir this major's programs.
        let rerun = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address))
        XCTAssertEqual(rerun.status, 0, rerun.output)
    }

    /// The rewind grants without a right to CHECKPOINT: from 15 on pg_checkpoint gives it;
    /// before 15 only a superuser has it, and the check says so when the upstream still needs
    /// one. Either way the rejoin ends streaming.
    func testTheCheckpointRightIsJudgedForThisMajor() throws {
        // The pg_rewind grants given on the new primary (Failover's .rewind would also make the
        // CHECKPOINT before 15 that this test wants to see missing).
        let f = try Failover.make(in: sandbox)
        try f.pg2.sql("""
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO repl;
            GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO repl;
            """)
        if major >= 15 { try f.pg2.sql("GRANT pg_checkpoint TO repl") }
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
        let checkpointed = result.stdout.split(separator: "\n").first { $0.contains("upstream-timeline-checkpointed") }.map(String.init) ?? ""
        if major >= 15 {
            XCTAssertTrue(checkpointed.contains(": ok,"), checkpointed)
            XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        } else if checkpointed.contains(": no,") {
            XCTAssertTrue(checkpointed.contains("only a superuser may"), checkpointed)
            XCTAssertTrue(result.stdout.contains("clone done"), result.stdout)
        } else {
            XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        }
    }

    /// The WAL around the fork is gone from the old primary's pg_wal (archived, then recycled
    /// by its own checkpoints after the fork): pg_rewind gets it through the node's
    /// restore_command (`--restore-target-wal`, 13+), and the rejoin stays on the fast path.
    func testTheForkWALOnlyInTheArchiveIsRestoredForTheRewind() throws {
        let archive = sandbox.root + "/archive"
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        try Sandbox.giveToPostgres(archive)
        // pg2's copy of the configuration must not restore from pg1's archive (it would replay
        // the lost WAL from there): the commands are pg1's own, set once pg2 is gone.
        let settings = """
            archive_mode = on
            archive_command = ''
            wal_keep_size = 0
            max_wal_size = '32MB'
            min_wal_size = '32MB'
            """
        let f = try Failover.make(in: sandbox, grants: .rewind, pg1Settings: settings) { pg1 in
            try pg1.sql("ALTER SYSTEM SET archive_command = 'test ! -f \(archive)/%f && cp %p \(archive)/%f'")
            try pg1.sql("ALTER SYSTEM SET restore_command = 'cp \(archive)/%f %p'")
            try pg1.sql("SELECT pg_reload_conf()")
            for round in 0..<4 {
                try pg1.sql("INSERT INTO orders SELECT g, 'lost' FROM generate_series(\(20000 + round * 100), \(20099 + round * 100)) g")
                try pg1.sql("SELECT pg_switch_wal()")
                pg1.waitFor("SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'", toBe: "0")
                try pg1.sql("CHECKPOINT")
            }
        }
        // Where timeline 2 forked from 1, and the segment of timeline 1 that holds it.
        let history = try f.pg2.sql("SELECT pg_read_file('pg_wal/00000002.history')")
        let fork = try XCTUnwrap(history.split(separator: "\n").first { $0.hasPrefix("1\t") }?.split(separator: "\t")[1])
        let halves = fork.split(separator: "/").compactMap { UInt64($0, radix: 16) }
        let segment = ((halves[0] << 32) | halves[1]) >> 24
        let name = String(format: "00000001%08X%08X", segment >> 8, segment & 0xFF)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pg1.dataDirectory + "/pg_wal/" + name), "\(name) should be recycled")
        XCTAssertTrue(FileManager.default.fileExists(atPath: archive + "/" + name), "\(name) should be archived")

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertEqual(try f.pg1.sql("SELECT status FROM pg_stat_wal_receiver"), "streaming")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM orders"), try f.pg2.sql("SELECT count(*) FROM orders"))
    }
}
