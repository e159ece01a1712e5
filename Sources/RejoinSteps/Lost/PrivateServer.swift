import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The old primary, started for pg-rejoin alone to read its rows before pg_rewind replaces
/// them: a hot standby of nobody. A hot standby writes no WAL and prunes nothing, so looking
/// loses no row version; stopped, it is "shut down in recovery", a valid pg_rewind target.
///
/// No TCP (`listen_addresses=''`), a socket directory of its own (mode 0700, in the working
/// directory), an hba that trusts local connections there only; no WAL source (no
/// primary_conninfo, no restore_command), no recovery target; nothing archived, and no segment
/// waiting for the archive recycled; no
/// external pid file and no log collector, so nothing of the node's own is touched. Started as
/// `postgres` itself (an argument vector, never pg_ctl's `-o` string), stopped with SIGINT.
struct PrivateServer {
    var majorVersion: Int
    /// postgresql.conf when it is not in the data directory (a Debian cluster's, in /etc).
    var configFile: String?
    var tools: PgTools
    var children: ChildProcessRunner
    /// The old primary's data: PGDATA on the rewind path, the set-aside copy on the copy path.
    var dataDirectory: String
    var directory: String

    /// The old primary of `plan`'s run, found at `dataDirectory`.
    init(plan: RejoinPlan, tools: PgTools, children: ChildProcessRunner, dataDirectory: String) {
        self.init(majorVersion: plan.majorVersion, configFile: plan.configFile, tools: tools, children: children,
                  dataDirectory: dataDirectory, directory: LostFiles.directory(plan) + "/server")
    }

    init(majorVersion: Int, configFile: String?, tools: PgTools, children: ChildProcessRunner, dataDirectory: String, directory: String) {
        self.majorVersion = majorVersion
        self.configFile = configFile
        self.tools = tools
        self.children = children
        self.dataDirectory = dataDirectory
        self.directory = directory
    }

    var socketDirectory: String { directory + "/socket" }
    var hbaFile: String { directory + "/pg_hba.conf" }
    /// Says standby.signal in PGDATA is pg-rejoin's, to be removed after (or by a rerun).
    var signalMarker: String { directory + "/standby.signal.ours" }
    var signalFile: String { dataDirectory + "/standby.signal" }
    /// Any port will do: the socket is in a directory no one else uses, and no TCP.
    let port = 5432

    enum Failure: LocalizedError {
        case didNotStart(detail: String)
        var errorDescription: String? {
            switch self {
            case let .didNotStart(detail): return "the old primary did not start privately to be read: \(detail)"
            }
        }
    }

    func arguments(port: Int) -> [String] {
        var settings: [(String, String)] = [
            ("listen_addresses", ""), ("unix_socket_directories", socketDirectory), ("port", String(port)),
            ("hba_file", hbaFile), ("hot_standby", "on"), ("primary_conninfo", ""), ("primary_slot_name", ""),
            ("restore_command", ""), ("recovery_target_timeline", "latest"), ("recovery_min_apply_delay", "0"),
            ("recovery_target", ""), ("recovery_target_lsn", ""), ("recovery_target_name", ""),
            ("recovery_target_time", ""), ("recovery_target_xid", ""),
            // "on", not "always": a standby then runs no archiver (one whose command fails makes
            // the shutdown wait three retries of a second each), and nothing is archived. No
            // segment waiting for the archive is removed either: a restartpoint is what removes
            // WAL, and this server replays nothing past the checkpoint it starts from.
            ("archive_mode", "on"), ("archive_command", "/bin/false"),
            ("external_pid_file", ""), ("logging_collector", "off"), ("log_destination", "stderr"),
            ("shared_buffers", "128MB"), ("huge_pages", "off"), ("hot_standby_feedback", "off"),
        ]
        if majorVersion >= 15 { settings.append(("archive_library", "")) }
        // A Debian cluster's postgresql.conf names PGDATA as its data directory: said too, so
        // the set-aside copy is the one started.
        if let configFile { settings += [("config_file", configFile), ("data_directory", dataDirectory)] }
        return ["-D", dataDirectory] + settings.flatMap { ["-c", "\($0.0)=\($0.1)"] }
    }

    /// Runs `body` against the started server; stops it (fast) whatever happens.
    func with<T>(_ body: (_ port: Int) throws -> T) async throws -> T {
        try removeLeftoverSignal()
        try Files.makeDirectory(Files.parent(of: directory))
        try Files.makeDirectory(directory)
        try Files.makeDirectory(socketDirectory)
        try Files.writeAtomically(Data("local all all trust\n".utf8), to: hbaFile, mode: 0o600)
        try Files.writeAtomically(Data(), to: signalMarker, mode: 0o600)
        try Files.writeAtomically(Data(), to: signalFile, mode: 0o600)
        let pid = ChildPid()
        let command = ChildCommand(tools.path("postgres"), arguments(port: port)).withoutPassword()
        let server = Task { try await children.run(command, onStart: { pid.set($0) }) }
        defer { try? removeLeftoverSignal() }
        do {
            try await waitUntilReady(pid: pid)
        } catch {
            if pid.value > 0 { kill(pid.value, SIGINT) }
            _ = try? await server.value
            throw error
        }
        let result = Result { try body(port) }
        if pid.value > 0 { kill(pid.value, SIGINT) }
        _ = try await server.value
        return try result.get()
    }

    /// postmaster.pid says "ready" once hot standby accepts connections.
    private func waitUntilReady(pid: ChildPid) async throws {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let status = PostmasterPid.read(dataDirectory: dataDirectory)?.status?.trimmingCharacters(in: .whitespaces),
               status == "ready" {
                return
            }
            try await Task.sleep(nanoseconds: 10_000_000)
            if pid.value > 0, kill(pid.value, 0) != 0 && errno == ESRCH {
                throw Failure.didNotStart(detail: "it exited")
            }
        }
        throw Failure.didNotStart(detail: "not ready for read-only connections within 120 s")
    }

    /// After a kill during the look (abort, or a rerun of `lost --from-old`): the private server
    /// stopped if it still runs, and its standby.signal removed, so the old data is as it was.
    func abandon() async throws {
        guard Files.exists(signalMarker) else { return }
        if try await LocalServerState.inspect(dataDirectory, tools: tools).isRunning {
            // pg_ctl itself, never the node's stop command (pg_ctlcluster, a service manager):
            // the private server is no service's, and on the copy path not at PGDATA.
            _ = try await children.run(ChildCommand(tools.path("pg_ctl"), ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60"]).withoutPassword())
            if try await LocalServerState.inspect(dataDirectory, tools: tools).isRunning { throw AbortError.stillRunning(pgdata: dataDirectory) }
        }
        try removeLeftoverSignal()
    }

    /// standby.signal left by an interrupted look (only when pg-rejoin's marker says it put it
    /// there): the node must not start as a standby of nobody.
    func removeLeftoverSignal() throws {
        guard Files.exists(signalMarker) else { return }
        if Files.exists(signalFile) { try Files.removeTree(signalFile) }
        try Files.removeTree(signalMarker)
    }
}
