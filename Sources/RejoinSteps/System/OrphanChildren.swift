import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Children left running by a pg-rejoin that was killed with -9 (pg_basebackup still filling
/// staging, pg_rewind still rewriting PGDATA): found by their argument vector in /proc and
/// stopped before their work is redone.
public enum OrphanChildren {
    public static func terminate(program: String, flag: String, value: String) {
        let pids = find(program: program, flag: flag, value: value)
        guard !pids.isEmpty else { return }
        pids.forEach { kill($0, SIGTERM) }
        for _ in 0..<50 {
            guard pids.contains(where: { kill($0, 0) == 0 }) else { break }
            usleep(100_000)
        }
        pids.forEach { kill($0, SIGKILL) }
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
