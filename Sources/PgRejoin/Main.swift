import ArgumentParser
import Dispatch
import Foundation
import RejoinSteps

/// A command that, started as root, should become the data directory's owner before anything
/// else. `nil` when it cannot tell yet; the command's own run() then switches (or refuses).
protocol DropsPrivilegesEarly {
    func earlyOwnerReference() -> String?
}

/// The entry point is synchronous on purpose. An async `main` hands the main thread to the
/// dispatch runtime, which parks it in pthread_exit; glibc's setuid skips a thread in that
/// state, so it would keep root's credentials for the life of the process. Switching users here,
/// while the main thread is the only thread, switches them all.
@main
enum Main {
    static func main() {
        let command: ParsableCommand
        do {
            command = try PgRejoinCommand.parseAsRoot()
        } catch {
            PgRejoinCommand.exit(withError: error)
        }
        LogSetup.prepare(for: command)  // --log-file is opened while still root
        if geteuid() == 0, let early = command as? DropsPrivilegesEarly, let reference = early.earlyOwnerReference(),
           Files.exists(reference) {
            // A failure here is reported properly by the command's own switch in run().
            _ = try? Privileges.becomeOwner(of: reference)
        }
        guard let asyncCommand = command as? AsyncParsableCommand else {
            var command = command
            do { try command.run() } catch { PgRejoinCommand.exit(withError: error) }
            PgRejoinCommand.exit()
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            var command = asyncCommand
            do { try await command.run() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { PgRejoinCommand.exit(withError: error) }
        PgRejoinCommand.exit()
    }

    final class Outcome: @unchecked Sendable {
        var error: Error?
    }
}
