import Dispatch
import Foundation

/// SIGINT and SIGTERM cancel the running task instead of killing the process: the runner then
/// stops the child's process group, journals `interrupted` and exits 30, so a rerun resumes.
final class SignalTrap {
    private var sources: [DispatchSourceSignal] = []

    init(_ signals: [Int32] = [SIGINT, SIGTERM], onSignal: @escaping @Sendable (Int32) -> Void) {
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { onSignal(sig) }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }
}

/// Runs `body` in a task that a signal cancels.
func cancellableBySignals<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    let trap = SignalTrap { _ in task.cancel() }
    defer { withExtendedLifetime(trap) {} }
    return try await task.value
}
