import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the local server is doing, from postmaster.pid, the process table, pg_ctl status and
/// pg_controldata together. A pid file alone proves nothing: after a crash it stays behind, and
/// its pid may since belong to another program.
public enum LocalServerState: Equatable, Sendable, CustomStringConvertible {
    case stopped(clean: Bool)
    /// postmaster.pid is left from a server that is gone (or the pid is now another program).
    case crashed(stalePid: Int32, note: String)
    case runningPrimary(pid: Int32)
    case runningStandby(pid: Int32)

    public var isRunning: Bool {
        switch self {
        case .runningPrimary, .runningStandby: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .stopped(clean): return clean ? "stopped (clean shutdown)" : "stopped (not shut down cleanly)"
        case let .crashed(pid, note): return "crashed (stale postmaster.pid with pid \(pid): \(note))"
        case let .runningPrimary(pid): return "running as a primary (pid \(pid))"
        case let .runningStandby(pid): return "running as a standby (pid \(pid))"
        }
    }

    /// `control`: pg_controldata's answer when the caller just read it (preflight does).
    public static func inspect(_ dataDirectory: String, tools: PgTools, control known: ControlData? = nil) async throws -> LocalServerState {
        let control: ControlData
        if let known { control = known } else { control = try await tools.controlData(dataDirectory) }
        guard let pidFile = PostmasterPid.read(dataDirectory: dataDirectory) else {
            return .stopped(clean: control.isCleanShutdown)
        }
        let pid = pidFile.pid
        if kill(pid, 0) != 0 && errno == ESRCH {
            return .crashed(stalePid: pid, note: "no such process")
        }
        // A killed postmaster whose parent never reaps it (containers without an init) is a
        // zombie: kill(pid, 0) and pg_ctl status both still call it alive.
        if Self.isZombie(pid) {
            return .crashed(stalePid: pid, note: "the process is a zombie")
        }
        let program = (Files.read("/proc/\(pid)/comm") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if !program.isEmpty && program != "postgres" && program != "postmaster" {
            return .crashed(stalePid: pid, note: "that pid is now \(program), not postgres")
        }
        // It may be a postgres process of another cluster (the upstream on the same machine):
        // pg_ctl status would call that running, and pg_ctl stop would signal it. Every
        // postgres process works in its own data directory.
        if let cwd = Self.workingDirectory(of: pid), let ours = Self.realPath(dataDirectory), cwd != ours {
            return .crashed(stalePid: pid, note: "that pid is now a postgres process of another data directory (\(cwd))")
        }
        guard try await tools.isRunning(dataDirectory) else {
            return .crashed(stalePid: pid, note: "pg_ctl status says no server is running")
        }
        let inRecovery = control.clusterState?.contains("recovery") ?? false
            || Files.exists(dataDirectory + "/standby.signal")
        return inRecovery ? .runningStandby(pid: pid) : .runningPrimary(pid: pid)
    }

    /// Where the process works, from /proc/PID/cwd (readable for our own user's processes).
    static func workingDirectory(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The state letter in /proc/PID/stat is the first field after the parenthesised name.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = Files.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
