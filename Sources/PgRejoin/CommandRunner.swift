import Foundation
import RejoinSteps

/// Runs a command body and turns every error into a message and a documented exit status.
enum CommandRunner {
    static func run(output: Output, _ body: () async throws -> ExitStatus) async -> ExitStatus {
        do {
            return try await body()
        } catch {
            let status = exitStatus(for: error)
            output.fail((error as? LocalizedError)?.errorDescription ?? "\(error)", status: status)
            return status
        }
    }

    static func exitStatus(for error: Error) -> ExitStatus {
        switch error {
        case let failure as RejoinFailure: return failure.exitStatus
        case is LockError: return .locked
        case is PrivilegeError, is BinaryError, is JournalError, is AddressError: return .refused
        default: return .failed
        }
    }
}
