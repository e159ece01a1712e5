import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// One child process to run: an absolute executable and an argument vector. Never a shell string.
public struct ChildCommand: Sendable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    /// Variables added to (or overriding) the base environment of the runner.
    public var environment: [String: String]
    /// Variables of the base environment this child must not get.
    public var withoutEnvironment: Set<String>

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                withoutEnvironment: Set<String> = []) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.withoutEnvironment = withoutEnvironment
    }

    /// For programs that start or are the server (pg_ctl, postgres): a PGPASSWORD would live on
    /// in the postmaster's environment, readable for as long as the server runs.
    public func withoutPassword() -> ChildCommand {
        var copy = self
        copy.withoutEnvironment.insert("PGPASSWORD")
        return copy
    }

    /// For logs: the program's name and its arguments. Arguments never hold secrets (passwords
    /// travel through passfiles or the environment), so this is safe to print.
    public var description: String {
        ([(executable as NSString).lastPathComponent] + arguments).joined(separator: " ")
    }
}

public struct ChildResult: Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var standardOutput: String
    /// The last lines the child wrote to stderr: enough to explain a failure.
    public var standardErrorTail: [String]

    public var succeeded: Bool { exitCode == 0 }

    public var statusDescription: String {
        if let code = exitCode { return "exit status \(code)" }
        if let sig = signal { return "killed by signal \(sig)" }
        return "unknown status"
    }
}

public enum ChildProcessError: LocalizedError {
    case launch(command: String, reason: String)
    case failed(command: String, result: ChildResult)

    public var errorDescription: String? {
        switch self {
        case let .launch(command, reason):
            return "cannot start \(command): \(reason); check --bindir and that the PostgreSQL binaries are installed"
        case let .failed(command, result):
            let tail = result.standardErrorTail.suffix(8).joined(separator: "\n  ")
            return "\(command) failed (\(result.statusDescription))" + (tail.isEmpty ? "" : ":\n  \(tail)")
        }
    }
}

/// Runs children with an explicit environment (LC_ALL=C so their output parses the same
/// everywhere), drains stdout and stderr concurrently, and hands each stderr line to a callback
/// as it arrives (progress, logs).
public struct ChildProcessRunner: Sendable {
    public var baseEnvironment: [String: String]

    public init(baseEnvironment: [String: String] = ChildProcessRunner.defaultEnvironment()) {
        self.baseEnvironment = baseEnvironment
    }

    /// The parent's PATH, HOME and libpq variables (PGPASSWORD and friends reach children only
    /// through the environment, never argv), with the connection-target variables removed so a
    /// stray PGHOST cannot redirect a child.
    public static func defaultEnvironment() -> [String: String] {
        let parent = ProcessInfo.processInfo.environment
        var env: [String: String] = ["LC_ALL": "C", "LANG": "C"]
        // LD_LIBRARY_PATH: a PostgreSQL installed outside the system's library path (a
        // relocatable build) needs it for its programs, and for the servers they start: a WAL
        // receiver loading another major's libpq cannot read what its own pg_basebackup wrote.
        for key in ["PATH", "HOME", "USER", "LOGNAME", "TZ", "LD_LIBRARY_PATH"] {
            if let value = parent[key] { env[key] = value }
        }
        let targetVariables: Set<String> = ["PGDATA", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGOPTIONS"]
        for (key, value) in parent where key.hasPrefix("PG") && !targetVariables.contains(key) {
            env[key] = value
        }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        return env
    }

    /// Runs `command` to its end. `onStart` gets the child's pid (its process group id too).
    /// If the calling task is cancelled (SIGINT/SIGTERM reached pg-rejoin), the child's whole
    /// process group gets SIGTERM, then SIGKILL after a grace period, and this throws
    /// CancellationError once the child is gone.
    public func run(_ command: ChildCommand, stopper: ChildStopper? = nil,
                    onStart: @escaping @Sendable (pid_t) -> Void = { _ in },
                    onStandardError: @escaping @Sendable (String) -> Void = { _ in }) async throws -> ChildResult {
        let (result, bytes) = try await run(command, reducingOutputInto: [UInt8](), stopper: stopper, onStart: onStart,
                                            onStandardError: onStandardError) { collected, chunk in
            collected.append(contentsOf: chunk)
        }
        var withOutput = result
        withOutput.standardOutput = String(decoding: bytes, as: UTF8.self)
        return withOutput
    }

    /// Like `run`, but stdout is not kept: each chunk read from the pipe goes to `reduce`, so a
    /// child that writes a lot (pg_waldump) costs neither memory nor per-line overhead. The
    /// result's `standardOutput` is empty.
    public func run<State: Sendable>(_ command: ChildCommand, reducingOutputInto initial: State,
                                     stopper: ChildStopper? = nil,
                                     onStart: @escaping @Sendable (pid_t) -> Void = { _ in },
                                     onStandardError: @escaping @Sendable (String) -> Void = { _ in },
                                     _ reduce: @escaping @Sendable (inout State, UnsafeRawBufferPointer) -> Void) async throws -> (ChildResult, State) {
        var environment: [Environment.Key: String] = [:]
        for (key, value) in baseEnvironment.merging(command.environment, uniquingKeysWith: { $1 })
            where !command.withoutEnvironment.contains(key) {
            if let k = Environment.Key(rawValue: key) { environment[k] = value }
        }
        var options = PlatformOptions()
        // Own process group: a Ctrl-C on the terminal reaches pg-rejoin, which decides what to
        // tell the child, instead of killing the child behind its back.
        options.processGroupID = 0
        let pendingKill = PendingKill()
        do {
            let result = try await Subprocess.run(
                .path(FilePath(command.executable)),
                arguments: Arguments(command.arguments),
                environment: .custom(environment),
                platformOptions: options,
                input: .none,
                output: .sequence,
                error: .sequence
            ) { execution -> (State, [String]) in
                let pid = execution.processIdentifier.value
                onStart(pid)
                stopper?.attach { try? execution.send(signal: .terminate) }
                defer { stopper?.detach() }
                return try await withTaskCancellationHandler {
                    try await Self.drain(execution: execution, into: initial, reduce: reduce, onStandardError: onStandardError)
                } onCancel: {
                    pendingKill.set(ProcessGroup.terminate(pid), group: pid)
                }
            }
            // The child is reaped; once its whole group is gone too, its id may be reused and
            // the delayed SIGKILL must not fire.
            pendingKill.cancelIfGroupGone()
            if Task.isCancelled { throw CancellationError() }
            let (state, stderrTail) = result.closureResult
            switch result.terminationStatus {
            case let .exited(code):
                return (ChildResult(exitCode: code, signal: nil, standardOutput: "", standardErrorTail: stderrTail), state)
            case let .signaled(sig):
                return (ChildResult(exitCode: nil, signal: sig, standardOutput: "", standardErrorTail: stderrTail), state)
            }
        } catch let error as ChildProcessError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw ChildProcessError.launch(command: command.description, reason: "\(error)")
        }
    }

    /// stdout and stderr concurrently: a child blocked on a full stderr pipe would never finish
    /// its stdout. stdout is read in the pipe's chunks; stderr by line, for progress and errors.
    private static func drain<State: Sendable>(
        execution: Execution<NoInput, SequenceOutput, SequenceOutput>, into initial: State,
        reduce: @escaping @Sendable (inout State, UnsafeRawBufferPointer) -> Void,
        onStandardError: @escaping @Sendable (String) -> Void
    ) async throws -> (State, [String]) {
        async let out: State = {
            var state = initial
            for try await chunk in execution.standardOutput {
                chunk.withUnsafeBytes { reduce(&state, $0) }
            }
            return state
        }()
        async let err: [String] = {
            var tail: [String] = []
            for try await line in execution.standardError.strings() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                onStandardError(trimmed)
                tail.append(trimmed)
                if tail.count > 200 { tail.removeFirst(tail.count - 100) }
            }
            return tail
        }()
        return try await (out, err)
    }

    /// Runs and throws unless the child exited 0.
    @discardableResult
    public func check(_ command: ChildCommand) async throws -> ChildResult {
        let result = try await run(command)
        guard result.succeeded else { throw ChildProcessError.failed(command: command.description, result: result) }
        return result
    }
}

/// Signals for a child's whole process group: pg_basebackup -X stream forks a WAL streamer that
/// must stop with it.
public enum ProcessGroup {
    /// SIGTERM now, SIGKILL after `grace` seconds unless the returned item is cancelled first.
    @discardableResult
    public static func terminate(_ pid: pid_t, grace: Double = 10) -> DispatchWorkItem? {
        guard pid > 0 else { return nil }
        kill(-pid, SIGTERM)
        let escalate = DispatchWorkItem { kill(-pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + grace, execute: escalate)
        return escalate
    }

    public static func kill9(_ pid: pid_t) {
        guard pid > 0 else { return }
        kill(-pid, SIGKILL)
    }
}

/// The SIGKILL a cancelled child's process group is due, until the group is known to be gone.
final class PendingKill: @unchecked Sendable {
    private let lock = NSLock()
    private var item: DispatchWorkItem?
    private var group: pid_t = 0

    func set(_ item: DispatchWorkItem?, group: pid_t) { lock.withLock { (self.item, self.group) = (item, group) } }

    func cancelIfGroupGone() {
        lock.withLock {
            guard let item, group > 0, kill(-group, 0) != 0, errno == ESRCH else { return }
            item.cancel()
        }
    }
}

/// The pid of a running child, set from its start callback, read from its output callback.
final class ChildPid: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t = 0
    func set(_ value: pid_t) { lock.withLock { pid = value } }
    var value: pid_t { lock.withLock { pid } }
}

/// Lets another task end a running child with SIGTERM, through the child's pidfd where the
/// kernel has one, so the signal cannot reach a process that took over a recycled pid. Only
/// while the runner still holds the child; afterwards `stop()` does nothing.
public final class ChildStopper: @unchecked Sendable {
    private let lock = NSLock()
    private var terminate: (@Sendable () -> Void)?

    public init() {}

    func attach(_ terminate: @escaping @Sendable () -> Void) { lock.withLock { self.terminate = terminate } }
    func detach() { lock.withLock { terminate = nil } }

    public func stop() { lock.withLock { terminate?() } }
}
