import ArgumentParser
import Foundation
import RejoinSteps
#if canImport(Glibc)
import Glibc
#endif

/// `pg-rejoin keepalived-notify`: keepalived's notify hook. Returns at once; on BACKUP or FAULT
/// it starts a detached `pg-rejoin heal` that decides from the real state. keepalived fires
/// BACKUP at its own start-up, even on a healthy node, and does not queue notify calls, so the
/// hook never acts on the state name alone: heal looks for itself, a healthy primary holding
/// the VIP is left alone, repeated calls are debounced, and the lock keeps runs apart.
struct KeepalivedNotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalived-notify",
        abstract: "keepalived notify hook: on BACKUP or FAULT start a detached heal; on MASTER do nothing. Returns at once.",
        discussion: """
            Use as `notify "/usr/local/bin/pg-rejoin keepalived-notify"` (keepalived appends \
            TYPE NAME STATE PRIORITY), or as `notify_backup "/usr/local/bin/pg-rejoin \
            keepalived-notify BACKUP"` and the same for notify_fault. Every call is logged \
            (the log file in the working directory, or keepalived.log, and syslog). The heal \
            it starts runs in its own session with its output in the same log; it is not started \
            while a pg-rejoin holds the lock or while the heal started by an earlier call (less \
            than keepalived.debounce seconds ago) still runs.
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ha: HAOptions

    @Option(help: ArgumentHelp("This node's application_name on the upstream (passed to heal).", valueName: "name"))
    var nodeName: String?

    @Argument(help: ArgumentHelp("TYPE NAME STATE [PRIORITY] as keepalived's notify passes them, or a lone STATE (MASTER, BACKUP, FAULT, STOP).", valueName: "args"))
    var words: [String] = []

    @OptionGroup var output: OutputOptions

    func validate() throws {
        _ = try KeepalivedEvent(words)
    }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            do {
                return try await notify(out)
            } catch {
                // keepalived discards our stderr: syslog is where this is seen.
                Syslog.warning("keepalived-notify \(words.joined(separator: " ")): \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
                throw error
            }
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    private func notify(_ out: Output) async throws -> ExitStatus {
        let event = try KeepalivedEvent(words)
        var commandLine = ha.adding(to: target.settings)
        commandLine.nodeName = nodeName
        let loaded = try ha.load()
        let settings = EffectiveSettings(commandLine: commandLine, file: loaded)
        let pgdata = try settings.requirePGDATA()
        let owner = Files.owner(of: pgdata.ownerReference)
        let workDirectory = settings.workingDirectory(pgdata: pgdata.path)
        let log = try NotifyLog(path: settings.settings.notifyLog ?? workDirectory + "/keepalived-notify.log",
                                directory: workDirectory, owner: owner)

        let heard = "keepalived-notify: \(event) (pid \(getpid()))"
        log.write(heard)
        Syslog.info(heard)

        guard event.startsHeal else {
            let note = event.state == "MASTER"
                ? "MASTER: nothing to do (promoting this node is the check script's business)"
                : "\(event.state): nothing to do"
            log.write(note)
            return .ok
        }

        if let paused = HealPause.current(pgdata: pgdata.path) {
            let note = "not starting heal: \(paused.note) (pg-rejoin heal --resume lifts it)"
            log.write(note)
            Syslog.info(note)
            return .ok
        }
        let lock = RunLock.holder(path: WorkPaths(pgdata: pgdata.path).lock)
        if lock.held {
            let note = "not starting heal: a pg-rejoin (pid \(lock.pid.map(String.init) ?? "?")) holds the lock and will settle this node"
            log.write(note)
            Syslog.info(note)
            return .ok
        }
        let stampPath = workDirectory + "/keepalived-notify.stamp"
        if let stamp = HealStamp.read(stampPath), stamp.isRunning, stamp.age < TimeInterval(settings.notifyDebounce) {
            let note = "not starting heal: the heal started \(Int(stamp.age)) s ago (pid \(stamp.pid)) still runs and decides from the real state (debounce \(settings.notifyDebounce) s)"
            log.write(note)
            Syslog.info(note)
            return .ok
        }

        var argv = [HealStamp.selfExecutable, "heal", "--pgdata", pgdata.path,
                    "--wait-for-primary", String(settings.notifyWaitForPrimary), "--verbose"]
        if let loaded { argv += ["--config", loaded.path] }
        if let peers = ha.peers { argv += ["--peers", peers] }
        if let user = target.user { argv += ["--user", user] }
        if let passfile = target.passfile { argv += ["--passfile", passfile] }
        if let dbname = target.dbname { argv += ["--dbname", dbname] }
        if let bindir = target.bindir { argv += ["--bindir", bindir] }
        if let nodeName { argv += ["--node-name", nodeName] }

        let pid = try DetachedSpawn.start(argv, output: log.fd)
        try HealStamp(pid: pid, started: Date()).write(stampPath, owner: owner)
        let note = "started heal (pid \(pid), own session): \(argv.dropFirst().joined(separator: " "))"
        log.write(note)
        Syslog.notice(note)
        return .ok
    }
}

/// keepalived's notify arguments: `TYPE NAME STATE [PRIORITY]` (notify) or `STATE` alone
/// (notify_backup "... BACKUP").
struct KeepalivedEvent: Equatable, CustomStringConvertible {
    static let states = ["MASTER", "BACKUP", "FAULT", "STOP", "DELETED"]

    var type: String?
    var name: String?
    var state: String
    var priority: Int?

    init(_ words: [String]) throws {
        switch words.count {
        case 1:
            state = words[0].uppercased()
        case 3, 4:
            type = words[0]
            name = words[1]
            state = words[2].uppercased()
            if words.count == 4 {
                guard let p = Int(words[3]) else { throw ValidationError("keepalived-notify: PRIORITY must be a number, not '\(words[3])'") }
                priority = p
            }
        default:
            throw ValidationError("keepalived-notify takes TYPE NAME STATE [PRIORITY] (keepalived's notify) or a lone STATE, not \(words.count) arguments")
        }
        guard Self.states.contains(state) else {
            throw ValidationError("keepalived-notify: unknown state '\(state)'; keepalived sends one of \(Self.states.joined(separator: ", "))")
        }
    }

    /// BACKUP and FAULT: this node does not (or no longer) hold the VIP, so it should be a
    /// standby; heal decides whether it is one.
    var startsHeal: Bool { state == "BACKUP" || state == "FAULT" }

    var description: String {
        [type, name, state, priority.map(String.init)].compactMap { $0 }.joined(separator: " ")
    }
}

/// The notify log: one timestamped line per event; the detached heal writes into the same file.
/// keepalived runs this as root in a directory the data directory's owner can write: the
/// directory and the log are made and opened without following links (`NoFollow`), and what is
/// created is given to that owner by descriptor, never by path.
final class NotifyLog {
    let fd: Int32

    init(path: String, directory: String, owner: (uid: uid_t, gid: gid_t)?) throws {
        try NoFollow.makeDirectory(directory, mode: 0o700, owner: owner)
        fd = try NoFollow.open(path, flags: O_WRONLY | O_APPEND | O_CREAT, mode: 0o600)
        var st = stat()
        if let owner, geteuid() == 0, fstat(fd, &st) == 0, st.st_uid == 0 { _ = fchown(fd, owner.uid, owner.gid) }
    }

    deinit { close(fd) }

    func write(_ line: String) {
        let text = "\(ISO8601DateFormatter().string(from: Date())) \(line)\n"
        try? Files.writeAll(fd: fd, Data(text.utf8), path: "keepalived-notify log")
    }
}

/// The last heal keepalived-notify started: its pid and start time, for the debounce.
struct HealStamp {
    var pid: Int32
    var started: Date

    var age: TimeInterval { Date().timeIntervalSince(started) }

    /// The pid still runs and is this same program (not a recycled pid, not a zombie).
    var isRunning: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        let state = Files.read("/proc/\(pid)/stat").flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
        guard state != "Z" else { return false }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") {
            return exe == Self.selfExecutable
        }
        return (Files.read("/proc/\(pid)/comm") ?? "").trimmingCharacters(in: .whitespacesAndNewlines) == "pg-rejoin"
    }

    static func read(_ path: String) -> HealStamp? {
        // Read as root from the owner's directory: not through a planted link either.
        guard let fd = try? NoFollow.open(path, flags: O_RDONLY) else { return nil }
        let text = String(decoding: FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile().prefix(200), as: UTF8.self)
        guard case let parts = text.split(whereSeparator: \.isWhitespace), parts.count >= 2,
              let pid = Int32(parts[0]), let epoch = Double(parts[1]) else { return nil }
        return HealStamp(pid: pid, started: Date(timeIntervalSince1970: epoch))
    }

    func write(_ path: String, owner: (uid: uid_t, gid: gid_t)?) throws {
        try Files.writeAtomically(Data("\(pid) \(started.timeIntervalSince1970)\n".utf8), to: path, mode: 0o600, owner: owner)
    }

    /// This very binary, for the heal it starts.
    static var selfExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// posix_spawn in a new session (POSIX_SPAWN_SETSID): keepalived's process group and its
/// timeouts do not reach the child, and nobody waits for it. argv only, never a shell;
/// stdin /dev/null, stdout and stderr to `output`.
enum DetachedSpawn {
    /// glibc's POSIX_SPAWN_SETSID (spawn.h, GNU extension; not imported into Swift).
    static let setsidFlag: Int16 = 0x80

    static func start(_ argv: [String], output: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default signal handling in the child, whatever keepalived set for its scripts.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, setsidFlag | Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else {
            throw ChildProcessError.launch(command: argv.joined(separator: " "), reason: String(cString: strerror(rc)))
        }
        return pid
    }
}
