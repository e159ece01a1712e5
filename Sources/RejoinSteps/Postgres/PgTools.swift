import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum BinaryError: LocalizedError, Equatable {
    case notFound(tool: String, searched: [String])
    case wrongMajor(bindir: String, found: String, needed: Int)

    public var errorDescription: String? {
        switch self {
        case let .notFound(tool, searched):
            return "cannot find \(tool) (looked in \(searched.joined(separator: ", "))); install the PostgreSQL server package for this major version or pass --bindir"
        case let .wrongMajor(bindir, found, needed):
            return "--bindir \(bindir) holds PostgreSQL \(found), but the data directory is PostgreSQL \(needed): another major's pg_rewind, pg_basebackup or server would refuse it or worse. Pass --bindir the directory of PostgreSQL \(needed)'s programs. Nothing was changed"
        }
    }
}

/// Where the PostgreSQL programs are: --bindir, else Debian's /usr/lib/postgresql/MAJOR/bin for
/// the data directory's PG_VERSION, else `pg_config --bindir`, else PATH. Each candidate must be
/// of the data directory's major version (`postgres -V`): Debian's /usr/bin/pg_config and PATH
/// answer for whatever version is newest, never necessarily this cluster's.
public enum PgBinaries {
    public static func resolve(explicit: String?, majorVersion: Int?, children: ChildProcessRunner) async throws -> String {
        var searched: [String] = []
        var candidates: [String] = []
        func usable(_ dir: String) -> Bool {
            access(dir + "/pg_ctl", X_OK) == 0 && access(dir + "/pg_basebackup", X_OK) == 0
        }
        if let explicit {
            candidates = [explicit]
        } else {
            if let major = majorVersion {
                candidates.append("/usr/lib/postgresql/\(major)/bin")
            }
            if let pgConfig = findInPath("pg_config", path: children.baseEnvironment["PATH"]),
               let result = try? await children.run(ChildCommand(pgConfig, ["--bindir"])), result.succeeded {
                candidates.append(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if let pgCtl = findInPath("pg_ctl", path: children.baseEnvironment["PATH"]) {
                candidates.append(Files.parent(of: pgCtl))
            }
        }
        for dir in candidates where !dir.isEmpty && !searched.contains(dir) {
            searched.append(dir)
            guard usable(dir) else { continue }
            guard let major = majorVersion, major > 0 else { return dir }
            let found = await serverVersion(dir, children: children)
            if let found, Self.major(of: found) == major { return dir }
            if explicit != nil { throw BinaryError.wrongMajor(bindir: dir, found: found ?? "of an unknown version", needed: major) }
            searched[searched.count - 1] += " (PostgreSQL \(found ?? "?"))"
        }
        throw BinaryError.notFound(tool: "pg_ctl and pg_basebackup" + (majorVersion.map { " of PostgreSQL \($0)" } ?? ""),
                                   searched: searched.isEmpty ? ["PATH"] : searched)
    }

    /// "17.11" from `postgres -V` ("postgres (PostgreSQL) 17.11 (Debian 17.11-1)").
    static func serverVersion(_ bindir: String, children: ChildProcessRunner) async -> String? {
        guard let result = try? await children.run(ChildCommand(bindir + "/postgres", ["-V"])), result.succeeded else { return nil }
        let words = result.standardOutput.split(whereSeparator: \.isWhitespace)
        guard let at = words.firstIndex(where: { $0 == "(PostgreSQL)" }), at + 1 < words.count else { return nil }
        return String(words[at + 1])
    }

    /// 17 of "17.11", "18beta1" or "18devel".
    static func major(of version: String) -> Int? {
        Int(version.prefix { $0.isNumber })
    }

    static func findInPath(_ name: String, path: String?) -> String? {
        for dir in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// The PostgreSQL programs pg-rejoin drives, each by absolute path with an argument vector.
public struct PgTools: Sendable {
    public var bindir: String
    public var children: ChildProcessRunner
    /// Argument vectors that replace `pg_ctl start` / `pg_ctl stop` (the config file's
    /// `[commands]`, e.g. pg_ctlcluster or systemctl for a packaged cluster), run without a shell.
    public var startCommand: [String]? = nil
    public var stopCommand: [String]? = nil
    /// A Debian cluster: pg_ctlcluster starts and stops it (unless commands above are given).
    public var cluster: DebianCluster? = nil

    public init(bindir: String, children: ChildProcessRunner) {
        self.bindir = bindir
        self.children = children
    }

    public func path(_ tool: String) -> String { bindir + "/" + tool }

    /// pg_controldata's answer, or the one it gave for these very bytes of `global/pg_control`
    /// (see ControlDataCache).
    public func controlData(_ dataDirectory: String) async throws -> ControlData {
        let program = path("pg_controldata")
        let before = ControlDataCache.contents(of: dataDirectory)
        if let before, let known = ControlDataCache.shared.answer(program: program, dataDirectory: dataDirectory, contents: before) {
            return known
        }
        let result = try await children.check(ChildCommand(program, ["-D", dataDirectory]).withoutPassword())
        let control = ControlData(parsing: result.standardOutput)
        // Remembered only when the file did not change while pg_controldata read it: the answer
        // then belongs to exactly these bytes.
        if let before, ControlDataCache.contents(of: dataDirectory) == before {
            ControlDataCache.shared.remember(control, program: program, dataDirectory: dataDirectory, contents: before)
        }
        return control
    }

    /// `pg_ctl status`: 0 running, 3 not running, 4 no usable data directory.
    public func isRunning(_ dataDirectory: String) async throws -> Bool {
        let result = try await children.run(ChildCommand(path("pg_ctl"), ["status", "-D", dataDirectory]).withoutPassword())
        return result.exitCode == 0
    }

    public func stop(_ dataDirectory: String, mode: String, timeoutSeconds: Int) async throws -> ChildResult {
        if let argv = stopCommand ?? cluster?.stopCommand(mode: mode), let program = argv.first {
            return try await children.run(ChildCommand(program, Array(argv.dropFirst())).withoutPassword())
        }
        return try await children.run(ChildCommand(path("pg_ctl"), ["stop", "-D", dataDirectory, "-m", mode, "-w", "-t", String(timeoutSeconds)]).withoutPassword())
    }

    public func start(_ dataDirectory: String, logFile: String, timeoutSeconds: Int,
                      onStart: @escaping @Sendable (pid_t) -> Void = { _ in }) async throws -> ChildResult {
        if let argv = startCommand ?? cluster?.startCommand, let program = argv.first {
            return try await children.run(ChildCommand(program, Array(argv.dropFirst())).withoutPassword(), onStart: onStart)
        }
        let command = ChildCommand(path("pg_ctl"), ["start", "-D", dataDirectory, "-l", logFile, "-w", "-t", String(timeoutSeconds)]).withoutPassword()
        let children = self.children
        // A pid file already there is not this start's server (pg_ctl will refuse to start then).
        let earlier = PostmasterPid.read(dataDirectory: dataDirectory)?.pid
        // pg_ctl -w looks at postmaster.pid ten times a second. pg-rejoin looks a hundred times a
        // second and stops waiting as soon as the server says it is ready: pg_ctl has nothing
        // left to do then but print "server started", and the server runs in a session of its
        // own (pg_ctl calls setsid), which pg_ctl's SIGTERM does not reach. Failures are still
        // pg_ctl's to find and report.
        let pgCtl = ChildStopper()
        return try await withThrowingTaskGroup(of: ChildResult?.self) { group in
            group.addTask { try await children.run(command, stopper: pgCtl, onStart: onStart) }
            group.addTask {
                // Cancelled (sleep throws) once pg_ctl's own result is in.
                while !Self.reportsReady(dataDirectory, notPid: earlier) {
                    try await Task.sleep(nanoseconds: 10_000_000)
                }
                return nil
            }
            var ready = false
            while let next = try await group.next() {
                guard let result = next else {
                    ready = true
                    pgCtl.stop()
                    continue
                }
                group.cancelAll()
                // Ended by our SIGTERM after the server was ready: started.
                if ready && !result.succeeded {
                    return ChildResult(exitCode: 0, signal: nil, standardOutput: "", standardErrorTail: ["server ready (postmaster.pid)"])
                }
                return result
            }
            throw CancellationError()
        }
    }

    /// The server of `dataDirectory` runs and reports "ready" (or "standby": a hot standby that
    /// accepts connections), which is what pg_ctl -w waits for.
    static func reportsReady(_ dataDirectory: String, notPid earlier: Int32?) -> Bool {
        guard let pidFile = PostmasterPid.read(dataDirectory: dataDirectory), pidFile.pid != earlier,
              pidFile.status == "ready" || pidFile.status == "standby" else { return false }
        return kill(pidFile.pid, 0) == 0 && !LocalServerState.isZombie(pidFile.pid)
    }
}
