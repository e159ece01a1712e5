import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Children left running by a pg-rejoin that was killed with -9 (pg_basebackup still filling
/// staging, pg_rewind still rewriting PGDATA): found by their argument vector in /proc and
/// stopped before their work is redone.
public enum OrphanChildren {
    /// SIGTERM, up to 5 s for them to go, then SIGKILL and up to 5 s more: it returns once
    /// none is left alive (or, for a process stuck in the kernel, after those 10 s), so the
    /// caller may remove what they were writing. An orphan that is still exiting
    /// (pg_basebackup removes its own half-written directory on the way out) would otherwise
    /// race the caller's removal of the same tree.
    public static func terminate(program: String, flag: String, value: String) {
        let pids = find(program: program, flag: flag, value: value)
        guard !pids.isEmpty else { return }
        pids.forEach { kill($0, SIGTERM) }
        if waitGone(pids) { return }
        pids.forEach { kill($0, SIGKILL) }
        _ = waitGone(pids)
    }

    /// A zombie counts as gone: it writes nothing, and PID 1 on some machines reaps late, so
    /// `kill(pid, 0)` alone would keep succeeding for a process that has already exited.
    private static func waitGone(_ pids: [pid_t]) -> Bool {
        for _ in 0..<50 {
            guard pids.contains(where: { kill($0, 0) == 0 && !LocalServerState.isZombie($0) }) else { return true }
            usleep(100_000)
        }
        return false
    }

    public static func find(program: String, flag: String, value: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let first = argv.first, first.hasSuffix("/" + program) || first == program else { return nil }
            if let i = argv.firstIndex(of: flag), i + 1 < argv.count, argv[i + 1] == value { return pid }
            if argv.contains(flag + "=" + value) { return pid }
            return nil
        }
    }
}
