import Foundation

/// Rewind path, step 3: pg_rewind needs a cleanly shut-down target. A crashed former primary is
/// brought there by crash recovery in single-user mode: no connections, then a clean exit with
/// a shutdown checkpoint. Archiving stays on with a command that always fails (as Patroni
/// does): with archive_mode off, the end-of-recovery checkpoint would recycle segments still
/// waiting to be archived (`.ready`), a permanent hole in the archive. Single-user mode runs no
/// archiver, so nothing is archived here either; the rewind step keeps those segments.
public struct RecoverLocalStep: Step {
    public let kind = StepKind.recoverLocal
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "crash recovery of \(plan.pgdata) in single-user mode if it was not shut down cleanly"
    }

    public func isDone(_ context: RunContext) async throws -> Bool {
        // Once pg_rewind ran, the control file says "in archive recovery" (and once the standby
        // started, too): crash recovery of a rewound directory would end its recovery, write a
        // checkpoint past the upstream's WAL and leave a standby that can never stream.
        if context.state.status[.start] != nil || context.state.isDone(.rewind) { return true }
        return try await context.tools.controlData(context.plan.pgdata).isCleanShutdown
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        let before = try await context.tools.controlData(plan.pgdata)
        try await StalePidFile.moveAside(from: plan.pgdata, context: context, control: before)
        let command = Self.crashRecovery(of: plan.pgdata, plan: plan, tools: context.tools)
        // While recovery runs, the WAL after the fork is saved and pg_waldump reads it: the
        // rewind step needs it saved before pg_rewind starts, and recovery only reads it (and
        // appends its checkpoint).
        async let early = Self.saveDivergentWAL(context, control: before)
        // stdin is /dev/null: the single-user backend recovers, reads EOF and shuts down cleanly.
        let result = try await context.children.run(command)
        let saved = await early
        let control = try await context.tools.controlData(plan.pgdata)
        guard control.isCleanShutdown else {
            throw RewindError.recoveryFailed(pgdata: plan.pgdata,
                                             detail: result.standardErrorTail.suffix(3).joined(separator: "; "))
        }
        var facts = ["summary": "crash recovery done; \(control.clusterState ?? "shut down") at \(control.checkpointLocation ?? "?")"]
        if let saved {
            facts["summary", default: ""] += "; meanwhile \(saved.segments) WAL segment(s) from the fork at \(saved.report.fork) saved in \(saved.report.saved.walCopy)"
            // Now that recovery found where the WAL ends, the report can say so.
            if let scan = saved.scan, let headline = try? saved.report.write(scan, runID: plan.runID, pgdata: plan.pgdata,
                                                                            segments: saved.segments, end: RewindStep.localEnd(control)) {
                facts[Self.earlyReportFact] = headline
                facts[Self.earlySegmentsFact] = String(saved.segments)
            }
        }
        return facts
    }

    /// Crash recovery of an old primary's data that is to be read for its lost rows (the copy
    /// path's set-aside data, a kept copy): its stale pid file moved to `stalePidFile` first.
    /// Returns pg_controldata's answer after, a clean shutdown.
    static func recoverToRead(_ dataDirectory: String, control: ControlData, majorVersion: Int, configFile: String?,
                              stalePidFile: String, tools: PgTools, children: ChildProcessRunner) async throws -> ControlData {
        try await StalePidFile.moveAside(from: dataDirectory, to: stalePidFile, tools: tools, control: control)
        let result = try await children.run(crashRecovery(of: dataDirectory, majorVersion: majorVersion, configFile: configFile, tools: tools))
        let after = try await tools.controlData(dataDirectory)
        guard after.isCleanShutdown else {
            throw RewindError.recoveryFailed(pgdata: dataDirectory, detail: result.standardErrorTail.suffix(3).joined(separator: "; "))
        }
        return after
    }

    /// Single-user crash recovery of `dataDirectory` (PGDATA, or on the copy path the old data
    /// set aside beside it).
    static func crashRecovery(of dataDirectory: String, plan: RejoinPlan, tools: PgTools) -> ChildCommand {
        crashRecovery(of: dataDirectory, majorVersion: plan.majorVersion, configFile: plan.configFile, tools: tools)
    }

    static func crashRecovery(of dataDirectory: String, majorVersion: Int, configFile: String?, tools: PgTools) -> ChildCommand {
        // Before replaying, PostgreSQL makes sure everything written before the crash is on disk:
        // by default an fsync of every file of the cluster; with syncfs, one call per file
        // system (the same durability; PostgreSQL's own option since 14, used where the kernel
        // reports write-back errors from it).
        // The setting exists from 14 on: 13's single-user server refuses it.
        let initSync = FileSystemSync.reportsErrors && majorVersion >= 14 ? ["-c", "recovery_init_sync_method=syncfs"] : []
        // archive_library exists from 15 on, and 16 refuses it beside archive_command.
        let archiveLibrary = majorVersion >= 15 ? ["-c", "archive_library="] : []
        // A Debian cluster's postgresql.conf is in /etc, and names the data directory PGDATA:
        // both are said, so the set-aside copy is the one recovered.
        let configFile = configFile.map { ["-c", "config_file=\($0)", "-c", "data_directory=\(dataDirectory)"] } ?? []
        return ChildCommand(tools.path("postgres"), [
            "--single", "-D", dataDirectory,
            "-c", "archive_mode=on", "-c", "archive_command=/bin/false", "-c", "listen_addresses=", "-c", "hot_standby=off",
            "-c", "restore_command=",
        ] + configFile + archiveLibrary + initSync + ["template1"]).withoutPassword()
    }

    /// The divergence report's headline when this step wrote it, and how many saved segments it
    /// covers: the rewind step reuses it when it saves no more.
    static let earlyReportFact = "divergence.early-report"
    static let earlySegmentsFact = "divergence.early-segments"

    /// The WAL saved while recovery ran, and pg_waldump's reading of it.
    struct EarlyDivergence {
        var report: DivergenceReport
        var segments: Int
        var scan: DivergenceReport.Scan?
    }

    /// Copies the local WAL from the fork the upstream's history names for our timeline, then
    /// has pg_waldump read it. Never fails the step: whatever is not saved here, the rewind step
    /// saves after recovery, and writes the report then.
    static func saveDivergentWAL(_ context: RunContext, control: ControlData) async -> EarlyDivergence? {
        let plan = context.plan
        guard let timeline = control.timeline,
              let (upstreamTimeline, _, history) = try? RewindSource.position(of: plan.upstream),
              upstreamTimeline > timeline, let fork = history.forkPoint(of: timeline) else { return nil }
        let wal = DivergentWAL(plan: plan, control: control)
        guard let count = try? wal.save(from: plan.pgdata, timeline: timeline, fork: fork, through: nil), count > 0 else { return nil }
        let report = DivergenceReport(saved: wal, timeline: timeline, fork: fork)
        return EarlyDivergence(report: report, segments: count, scan: try? await report.scan(context, end: nil))
    }
}

public enum RewindError: LocalizedError, RejoinFailure {
    case recoveryFailed(pgdata: String, detail: String)
    case notPossible(reasons: [String])
    case rewindFailed(detail: String)

    public var exitStatus: ExitStatus {
        if case .notPossible = self { return .refused }
        return .stepFailed
    }

    public var errorDescription: String? {
        switch self {
        case let .recoveryFailed(pgdata, detail):
            return "crash recovery of \(pgdata) did not end in a clean shutdown: \(detail)"
        case let .notPossible(reasons):
            return "pg_rewind is not possible here: \(reasons.joined(separator: "; ")). Use --method auto or basebackup"
        case let .rewindFailed(detail):
            return "pg_rewind failed: \(detail)"
        }
    }
}
