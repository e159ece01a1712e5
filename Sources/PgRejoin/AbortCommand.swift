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
            case let .aborted(runID, back, nil):
                out.handle(.info("aborted run \(runID): the old data directory is back at \(back) (not started); staging removed"))
            case let .aborted(runID, back, damaged?):
                // Never "the old data": pg_rewind had rewritten part of it.
                out.handle(.warning("aborted run \(runID): \(back) is not the old data. It is \(damaged.replacingOccurrences(of: "damaged: ", with: "damaged, "))."
                                    + " It is marked so it will not start (\(back)/\(DamagedDirectory.markerName) says what is still intact: the WAL from the fork and its report)."
                                    + " Rerun pg-rejoin to make this node a standby with a full copy"))
            }
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
