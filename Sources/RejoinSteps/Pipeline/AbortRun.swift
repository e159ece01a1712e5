import Foundation
import Logging

public enum AbortError: LocalizedError, RejoinFailure {
    case verified(runID: String)
    case oldDataMissing(pgdata: String, expected: String)
    case pgdataUnknown(pgdata: String)
    case stillRunning(pgdata: String)

    public var exitStatus: ExitStatus { .refused }

    public var errorDescription: String? {
        switch self {
        case let .verified(runID):
            return "run \(runID) already verified its standby; there is nothing to undo. Nothing was changed"
        case let .oldDataMissing(pgdata, expected):
            return "the old data directory is at neither \(pgdata) nor \(expected); abort will not guess. Nothing was changed"
        case let .pgdataUnknown(pgdata):
            return "\(pgdata) holds neither the old data nor this run's new copy; move it aside by hand, then abort again. Nothing was changed"
        case let .stillRunning(pgdata):
            return "the unverified new server in \(pgdata) did not stop; stop it by hand, then abort again"
        }
    }
}

/// `pg-rejoin abort`: abandons an unfinished run. Puts the old data directory back under PGDATA
/// (stopping the unverified new server first if it runs), removes staging and the unverified
/// copy, and journals `aborted`. Never deletes the old data directory.
public struct AbortRun {
    public var pgdata: String
    public var children: ChildProcessRunner

    public init(pgdata: String, children: ChildProcessRunner = ChildProcessRunner()) {
        self.pgdata = pgdata
        self.children = children
    }

    public enum Outcome: Sendable {
        case nothingToAbort
        /// `damaged`: what the marker of a directory pg_rewind left half-written says, when the
        /// directory back at PGDATA is one (never "the old data").
        case aborted(runID: String, oldDataBackAt: String, damaged: String?)
    }

    public func run() async throws -> Outcome {
        let paths = WorkPaths(pgdata: pgdata)
        guard Files.exists(paths.workDirectory) else { return .nothingToAbort }
        let lock = try RunLock(path: paths.lock)
        defer { withExtendedLifetime(lock) {} }
        let state = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        guard state.isUnfinished, let plan = state.plan else { return .nothingToAbort }
        guard !state.isDone(.verify) else { throw AbortError.verified(runID: plan.runID) }

        let journal = try Journal(path: paths.journal)
        let tools = plan.tools(children: children)
        let context = RunContext(plan: plan, journal: journal, state: state, tools: tools,
                                 logger: Logger(label: "pg-rejoin.abort"), delegate: SilentDelegate())
        // A pg_basebackup orphaned by a kill -9 of the run may still be writing staging.
        OrphanChildren.terminate(program: "pg_basebackup", flag: "-D", value: plan.stagingDirectory)
        guard let old = context.oldDataLocation() else {
            throw AbortError.oldDataMissing(pgdata: plan.pgdata, expected: plan.oldDataDirectory)
        }
        // A look at the lost transactions the kill interrupted: its private server still runs on
        // the old data, with pg-rejoin's standby.signal.
        try await PrivateServer(plan: plan, tools: tools, children: children, dataDirectory: old).abandon()
        // pg_rewind may have written into it before the run stopped: then it is marked, and
        // said to be what it is.
        try DamagedDirectory.markIfRewound(context, reason: "the run stopped while pg_rewind was writing; aborted")
        if old != plan.pgdata {
            if Files.exists(plan.pgdata) {
                // Only this run's own, unverified copy may be moved out of PGDATA.
                guard let id = context.stagingIdentity, FileIdentity.of(plan.pgdata) == id else {
                    throw AbortError.pgdataUnknown(pgdata: plan.pgdata)
                }
                if try await tools.isRunning(plan.pgdata) {
                    _ = try await tools.stop(plan.pgdata, mode: "fast", timeoutSeconds: 60)
                    if try await tools.isRunning(plan.pgdata) {
                        _ = try await tools.stop(plan.pgdata, mode: "immediate", timeoutSeconds: 60)
                    }
                    if try await tools.isRunning(plan.pgdata) { throw AbortError.stillRunning(pgdata: plan.pgdata) }
                }
                try Files.removeTree(plan.stagingDirectory)
                try Files.rename(plan.pgdata, to: plan.stagingDirectory)
            }
            // The tablespaces before PGDATA, so the old data is whole when it is back.
            for tablespace in plan.tablespaces ?? [] {
                try TablespaceMoves.restore(tablespace, run: plan.runID, cloned: context.tablespaceIdentity(tablespace), oldData: old)
            }
            try Files.rename(old, to: plan.pgdata)
        }
        try Files.removeTree(plan.stagingDirectory)
        for tablespace in context.clonedTablespaces { try Files.removeTree(tablespace.newLocation(run: plan.runID)) }
        if let wal = plan.walDirectory { try Files.removeTree(wal) }
        let damaged = DamagedDirectory.description(of: plan.pgdata)
        try journal.append(JournalRecord(kind: .aborted, run: plan.runID,
                                         message: "aborted by pid \(getpid()); " + (damaged.map { "PGDATA holds a \($0)" } ?? "old data directory back at \(plan.pgdata)")))
        return .aborted(runID: plan.runID, oldDataBackAt: plan.pgdata, damaged: damaged)
    }
}

final class SilentDelegate: RunDelegate {
    func handle(_ event: RunEvent) {}
}
