import ArgumentParser
import Foundation
import RejoinSteps

struct AbortCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "abort",
        abstract: "Abandon an unfinished rejoin: put the old data directory back under PGDATA.",
        discussion: """
            The unverified new copy and the staging directory are removed; the old data \
            directory is never deleted and is not started. The journal is kept as history. \
            Refuses while a pg-rejoin holds the lock (exit 11).
            """
    )

    @OptionGroup var target: DataDirectoryOption
    @OptionGroup var output: OutputOptions

    func earlyOwnerReference() -> String? { (try? target.resolved())?.ownerReference }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let pgdata = try target.resolved()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            switch try await AbortRun(pgdata: pgdata.path).run() {
            case .nothingToAbort:
                out.handle(.info("nothing to abort: no unfinished run for \(pgdata.path)"))
            case let .aborted(runID, back):
                out.handle(.info("aborted run \(runID): the old data directory is back at \(back) (not started); staging removed"))
            }
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
