import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the bad-input and secrets tests: an upstream that refuses in a chosen way, a
/// record of the upstream to prove a refusal left it alone, fake data directories, and
/// pg-rejoin as a background child.
extension PostgresNode {
    /// Replaces pg_hba.conf with `lines` and reloads. initdb's file trusts every local and
    /// 127.0.0.1 connection, so no password would ever be checked: tests about passwords and
    /// about replication being refused write their own. psql keeps working over the socket.
    func setHBA(_ lines: [String]) throws {
        let text = (["local all postgres trust"] + lines).joined(separator: "\n") + "\n"
        try text.write(toFile: dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
        XCTAssertEqual(try sql("SELECT pg_reload_conf()"), "t")
        // The postmaster rereads pg_hba.conf on SIGHUP; new connections see it a moment later.
        usleep(300_000)
    }

    /// What pg-rejoin must never change on an upstream it refused: its role, timeline, data,
    /// and who replicates from it (pg-rejoin's own short-lived probe aside).
    struct State: Equatable, CustomStringConvertible {
        var row: String
        var description: String { row }
    }

    func state() throws -> State {
        State(row: try sql("""
            SELECT pg_is_in_recovery(),
                   substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8),
                   (SELECT system_identifier FROM pg_control_system()),
                   (SELECT count(*) FROM orders),
                   (SELECT count(*) FROM pg_replication_slots),
                   (SELECT count(*) FROM pg_stat_replication WHERE application_name <> 'pg-rejoin'),
                   (SELECT string_agg(rolname || ':' || rolreplication, ',' ORDER BY rolname) FROM pg_roles WHERE rolname = 'repl')
            """))
    }

    /// The postmaster's pid, from its postmaster.pid.
    var postmasterPid: Int32? {
        (try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8))
            .flatMap { Int32($0.split(separator: "\n").first ?? "") }
    }

    /// Rewrites the pid line of postmaster.pid, as if that pid had been the postmaster's.
    func forgePostmasterPid(_ pid: Int32) throws {
        let path = dataDirectory + "/postmaster.pid"
        var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        lines[0] = String(pid)
        try lines.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }
}

enum FakeDataDirectory {
    /// A directory that passes for a data directory by name only (PG_VERSION and
    /// global/pg_control): enough for the checks that come before pg-rejoin reads anything.
    static func make(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/global", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try "15\n".write(toFile: path + "/PG_VERSION", atomically: false, encoding: .utf8)
        try Data(repeating: 7, count: 512).write(to: URL(fileURLWithPath: path + "/global/pg_control"))
        chmod(path, 0o700)
    }
}

/// A child left running (pg-rejoin mid-clone, a `sleep` whose pid a test borrows). posix_spawn,
/// never Foundation.Process, which can miss a child's exit on Linux.
struct BackgroundChild {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String

    init(_ argv: [String], environment: [String: String] = [:]) throws {
        let base = NSTemporaryDirectory() + "bg-\(UUID().uuidString)"
        stdoutPath = base + ".out"
        stderrPath = base + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, cEnv)
        guard rc == 0 else { throw Command.SpawnFailed(argv: argv, errno: rc) }
        self.pid = pid
    }

    /// Waits for the exit and returns what the child did.
    func wait() -> CommandResult {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        defer {
            unlink(stdoutPath)
            unlink(stderrPath)
        }
        return CommandResult(status: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f),
                             stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }
}

/// What the kernel says about a running process: its argv and its credentials.
struct ProcessInfoSnapshot {
    var pid: Int32
    var argv: [String]
    var uids: [String]
    var gids: [String]
    var groups: [String]

    /// Live processes whose program name (comm) is `name`.
    static func all(named name: String) -> [ProcessInfoSnapshot] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.compactMap { pid in
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                  comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { return nil }
            return of(pid)
        }
    }

    /// The credentials of every live thread, merged (credentials are per thread on Linux).
    /// `workersOnly` leaves out the first thread (in a Swift program with an async `main`,
    /// dispatch_main() parks it in pthread_exit where glibc's setuid skips it; pg-rejoin's
    /// synchronous main avoids that, so its tests check every thread).
    static func of(_ pid: Int32, workersOnly: Bool = false) -> ProcessInfoSnapshot? {
        guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let argv = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        var snapshot = ProcessInfoSnapshot(pid: pid, argv: argv, uids: [], gids: [], groups: [])
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks where !(workersOnly && task == String(pid)) {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            func field(_ key: String) -> [String] {
                status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                    .map { $0.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) } ?? []
            }
            guard field("State").first != "Z" else { continue }
            snapshot.uids += field("Uid")
            snapshot.gids += field("Gid")
            snapshot.groups += field("Groups")
        }
        return snapshot.uids.isEmpty ? nil : snapshot
    }
}

enum PostgresUser {
    /// uid, primary gid and all group ids of the postgres OS user (`id`), for ownership checks.
    static let ids: (uid: uid_t, gid: gid_t, groups: Set<String>)? = {
        guard let pw = getpwnam("postgres") else { return nil }
        let groups = (try? Command.run(["/usr/bin/id", "-G", "postgres"]))?.stdout
            .split(whereSeparator: \.isWhitespace).map(String.init) ?? []
        return (pw.pointee.pw_uid, pw.pointee.pw_gid, Set(groups))
    }()
}

/// Everything under a directory, not following symlinks: path, type and mode, owner, size and
/// modification time. Equal snapshots mean nothing was created, removed, renamed, written or
/// chmod'ed there.
struct TreeSnapshot: Equatable, CustomStringConvertible {
    struct Entry: Equatable {
        var path: String
        var mode: mode_t
        var uid: uid_t
        var size: Int64
        var mtime: Int
    }

    var entries: [Entry]

    init(_ root: String) {
        var entries: [Entry] = []
        func visit(_ path: String) {
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            entries.append(Entry(path: path, mode: st.st_mode, uid: st.st_uid, size: Int64(st.st_size),
                                 mtime: st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec))
            guard (st.st_mode & S_IFMT) == S_IFDIR else { return }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                visit(path + "/" + name)
            }
        }
        visit(root)
        self.entries = entries
    }

    var description: String { entries.map(\.path).joined(separator: "\n") }

    /// Paths that differ, for a readable failure.
    func difference(_ other: TreeSnapshot) -> [String] {
        let mine = Dictionary(entries.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.entries.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        return Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.sorted()
    }
}
