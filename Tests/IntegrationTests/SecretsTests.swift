import Foundation
import XCTest

/// Secrets stay secret, files stay private, and names stay names: a password given every way
/// pg-rejoin accepts never shows up in a byte it or its children wrote; what it creates is not
/// world-readable and (as root) belongs to the data directory's owner; a node name with quotes,
/// spaces and backslashes reaches primary_conninfo intact and cannot inject a setting.
final class SecretsTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func testPasswordsNeverLeakAndCreatedFilesArePrivateAndOwnedByPostgres() throws {
        let f = try Failover.make(in: sandbox, grants: .rewind)
        // initdb's pg_hba.conf trusts 127.0.0.1: make the upstream really ask for the password.
        try f.pg2.setHBA(["host replication repl 127.0.0.1/32 scram-sha-256", "host all repl 127.0.0.1/32 scram-sha-256"])
        let right = sandbox.password
        let wrongByEnvironment = "wrong-env-\(UUID().uuidString.prefix(8))"
        let wrongByFile = "wrong-file-\(UUID().uuidString.prefix(8))"
        let wrongPassfile = sandbox.root + "/wrong-pgpass"
        try "127.0.0.1:*:*:repl:\(wrongByFile)\n".write(toFile: wrongPassfile, atomically: false, encoding: .utf8)
        chmod(wrongPassfile, 0o600)
        try Sandbox.giveToPostgres(wrongPassfile)
        let secrets = [right, wrongByEnvironment, wrongByFile]
        var outputs: [String] = []

        func run(_ arguments: [String], environment: [String: String] = [:], expect status: Int32, saying message: String,
                 line: UInt = #line) throws {
            let result = try sandbox.rejoin(arguments, environment: environment)
            XCTAssertEqual(result.status, status, "\(arguments): \(result.output)", line: line)
            XCTAssertTrue(result.output.contains(message), "expected '\(message)' in \(result.output)", line: line)
            outputs.append(result.output)
        }
        let args = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
        var withWrongPassfile = args
        withWrongPassfile[withWrongPassfile.firstIndex(of: sandbox.passfile)!] = wrongPassfile
        let noPassfile = ["--from", f.pg2.address, "--pgdata", f.pg1.dataDirectory, "--node-name", "pg1",
                          "--bindir", sandbox.bindir, "--verify-timeout", "60", "--connect-timeout", "3"]

        // Failures first, each with a known password in play.
        let refused = "refused the password for role repl"
        try run(noPassfile, environment: ["PGPASSWORD": wrongByEnvironment], expect: 10, saying: refused)  // wrong, by PGPASSWORD
        try run(withWrongPassfile, expect: 10, saying: refused)                                           // wrong, by passfile
        try run(sandbox.rejoinArguments(local: f.pg1, from: "127.0.0.1:\(Command.freePort())"),
                environment: ["PGPASSWORD": right], expect: 10, saying: "cannot reach the upstream")      // right, unreachable
        try run(["--from", "host=127.0.0.1 port=\(f.pg2.port) password=\(right)", "--pgdata", f.pg1.dataDirectory],
                expect: 64, saying: "--from looks like a connection string")                              // right, in a conninfo
        try run(args + ["--json"], environment: ["PGPASSWORD": wrongByEnvironment], expect: 10,
                saying: #""event":"error""#)                                                             // JSON error events too
        XCTAssertEqual(siblings(of: f.pg1), [], "a refusal left something behind")

        // Then the real thing, the password both in the passfile and in PGPASSWORD (libpq
        // prefers the environment), by pg_rewind: its argv carries a conninfo, and it works in
        // PGDATA itself. (The other tests here and in BadInputTests cover pg_basebackup.)
        try run(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "rewind"),
                environment: ["PGPASSWORD": right], expect: 0, saying: "rejoined: streaming standby")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")

        // Not one byte of output, and no file under the sandbox but the two passfiles: the
        // journal, the lock, the server logs (PostgreSQL's own too), postgresql.auto.conf,
        // the old and the new data directory.
        for output in outputs {
            for secret in secrets { XCTAssertFalse(output.contains(secret), "output holds a password: \(output)") }
        }
        var searched = 0
        for entry in TreeSnapshot(sandbox.root).entries where (entry.mode & S_IFMT) == S_IFREG && entry.path != sandbox.passfile && entry.path != wrongPassfile {
            guard let data = FileManager.default.contents(atPath: entry.path) else { continue }
            searched += 1
            for secret in secrets {
                XCTAssertNil(data.range(of: Data(secret.utf8)), "\(entry.path) holds a password")
            }
        }
        XCTAssertGreaterThan(searched, 1000)
        let work = f.pg1.dataDirectory + ".rejoin"
        let serverLog = try XCTUnwrap((try FileManager.default.contentsOfDirectory(atPath: work)).first { $0.hasPrefix("postgresql-") })
        XCTAssertTrue(try String(contentsOfFile: work + "/" + serverLog, encoding: .utf8).contains("started streaming WAL"))

        // Not world-readable: working directory 0700, journal, lock and server log 0600, PGDATA 0700.
        func mode(_ path: String) -> mode_t {
            var st = stat()
            XCTAssertEqual(lstat(path, &st), 0, path)
            return st.st_mode & 0o777
        }
        XCTAssertEqual(mode(work), 0o700)
        XCTAssertEqual(mode(work + "/journal.jsonl"), 0o600)
        XCTAssertEqual(mode(work + "/lock"), 0o600)
        XCTAssertEqual(mode(work + "/" + serverLog), 0o600)
        XCTAssertEqual(mode(f.pg1.dataDirectory), 0o700)
        XCTAssertEqual(mode(f.pg1.dataDirectory + "/postgresql.auto.conf"), 0o600)
        for entry in TreeSnapshot(work).entries + TreeSnapshot(f.pg1.dataDirectory).entries where (entry.mode & S_IFMT) != S_IFLNK {
            XCTAssertEqual(entry.mode & 0o007, 0, "\(entry.path) is open to others: \(String(entry.mode & 0o777, radix: 8))")
        }

        // As root, pg-rejoin became postgres first: everything it (and its children) created
        // belongs to postgres, nothing to root.
        if Command.isRoot {
            let postgres = try XCTUnwrap(PostgresUser.ids, "no postgres OS user")
            // (pg_rewind works in place: no data.old-* this time, but whatever exists counts.)
            let old = siblings(of: f.pg1).filter { $0.hasPrefix("data.old-") }.map { f.pg1.home + "/" + $0 }
            for root in [work, f.pg1.dataDirectory] + old {
                for entry in TreeSnapshot(root).entries {
                    XCTAssertEqual(entry.uid, postgres.uid, "\(entry.path) is owned by uid \(entry.uid)")
                }
            }
        }
    }

    func testNodeNameWithQuotesSpacesAndBackslashesIsQuotedAndNewlinesAreRefused() throws {
        let f = try Failover.make(in: sandbox)
        // A newline would end the setting in postgresql.auto.conf, and PostgreSQL would show it
        // as '?' in application_name: refused up front, nothing written.
        let injected = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address)
            + ["--node-name", "pg1'\nrestore_command = 'rm -rf /'"])
        XCTAssertEqual(injected.status, 64, injected.output)
        XCTAssertTrue(injected.stderr.contains("--node-name may hold only printable ASCII"), injected.stderr)
        XCTAssertTrue(injected.stderr.contains("U+000A"), injected.stderr)
        XCTAssertEqual(siblings(of: f.pg1), [])

        let name = #"pg1 "east" it's a\b\\c' host=evil"#
        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address) + ["--node-name", name]
        var result = try sandbox.rejoin(arguments)
        if result.status == 20 {
            // A start that failed (seen rarely, right after the crash, on these machines) is what
            // a rerun is for; this test is about quoting. The first output is kept in the log.
            print("first run failed, rerunning as documented:\n\(result.output)")
            result = try sandbox.rejoin(arguments)
        }
        XCTAssertEqual(result.status, 0, result.output)
        // The upstream sees exactly that name, and the conninfo holds no extra key.
        XCTAssertEqual(try f.pg2.sql("SELECT application_name || '|' || state FROM pg_stat_replication"), name + "|streaming")
        XCTAssertEqual(try f.pg1.sql("SHOW primary_conninfo"),
                       #"host='127.0.0.1' port='\#(f.pg2.port)' user='repl' application_name='pg1 "east" it\'s a\\b\\\\c\' host=evil' passfile='\#(sandbox.passfile)'"#)
        XCTAssertEqual(try f.pg1.sql("SELECT sender_host FROM pg_stat_wal_receiver"), "127.0.0.1")
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM pg_file_settings WHERE name = 'restore_command' OR error IS NOT NULL"), "0")
    }
}
