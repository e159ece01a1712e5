import Foundation

/// Rewind path, step 4: decide from the timeline history whether the node diverged; if it did,
/// save what will be thrown away (the local WAL from the fork point, and a pg_waldump report,
/// both usually made during crash recovery already), then rewind in place (after a
/// `pg_rewind --dry-run` when the operator asked for rewind and nothing else). pg_rewind cannot
/// be resumed: if it fails or is interrupted, the run falls back to a full copy (auto) with this
/// directory kept aside like any old data directory.
public struct RewindStep: Step {
    public let kind = StepKind.rewind
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "pg_rewind \(plan.pgdata) from \(plan.upstream.address) if it diverged (saving the divergent WAL first)"
    }

    /// pg_rewind leaves nothing on disk that proves it finished: only the journal knows.
    public func isDone(_ context: RunContext) async throws -> Bool { context.state.isDone(kind) }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        // The control file (a child process) and the upstream's position (a connection) at once.
        async let localControl = context.tools.controlData(plan.pgdata)
        let (upstreamTimeline, upstreamEnd, history) = try RewindSource.position(of: plan.upstream)
        let control = try await localControl
        let localTimeline = control.timeline ?? 0
        let localEnd = Self.localEnd(control)
        // Before pg_wal is rewritten, or recycled by the standby's restartpoints: what the old
        // primary never archived.
        let unarchived = try UnarchivedWAL.save(plan, from: plan.pgdata)
        if !unarchived.isEmpty { context.delegate.handle(.warning(UnarchivedWAL.summary(unarchived, plan: plan))) }
        let kept = unarchived.isEmpty ? "" : "; " + UnarchivedWAL.summary(unarchived, plan: plan)
        let divergence = Divergence.decide(localTimeline: localTimeline, local: Self.walEnd(control),
                                           upstreamTimeline: upstreamTimeline, upstreamEnd: upstreamEnd, history: history)
        switch divergence {
        case let .notDiverged(fork):
            // Crash recovery may have saved the fork's segment in case: nothing after the fork, nothing to keep.
            try? Files.removeTree(DivergentWAL(plan: plan, control: control).directory)
            let at = fork.map { " (fork at \($0), local WAL ends at \(localEnd))" } ?? ""
            return ["rewind.decision": "not-diverged", "summary": "not diverged\(at): no rewind needed, only standby config\(kept)"]
        case let .aheadOnSameTimeline(local, upstream):
            throw RewindError.notPossible(reasons: ["the local server is ahead of the upstream on the same timeline \(localTimeline) (local \(local), upstream \(upstream)); pg_rewind cannot see that"])
        case let .unrelatedTimelines(local, upstream):
            throw RewindError.notPossible(reasons: ["the local timeline \(local) is not in the upstream's timeline \(upstream) history"])
        case let .diverged(fork, end):
            // Usually saved already, while crash recovery ran; this adds what is missing.
            let saved = DivergentWAL(plan: plan, control: control)
            let segments = try saved.save(from: plan.pgdata, timeline: localTimeline, fork: fork, through: end)
            try saveLocalConfig(context)
            context.delegate.handle(.info("diverged at \(fork) (local WAL ends at \(end)); the WAL a rewind throws away is saved in \(saved.walCopy)"))
            // Written during crash recovery when the WAL was saved then and nothing was added
            // since; else now, while pg_rewind runs.
            let report = DivergenceReport(saved: saved, timeline: localTimeline, fork: fork)
            let early = context.state.facts[RecoverLocalStep.earlyReportFact].flatMap { headline in
                context.state.facts[RecoverLocalStep.earlySegmentsFact] == String(segments) && Files.exists(report.file) ? headline : nil
            }
            async let headline = Self.headline(early, else: report, context, segments: segments, end: end)
            // An explicit --method rewind must refuse without touching PGDATA, so pg_rewind first
            // checks in a dry run. Under auto any pg_rewind failure ends in the full copy anyway,
            // and pg_rewind makes the same checks before its first write: a dry run would only
            // double the time.
            let dryRunFirst = plan.requestedMethod == RejoinMethod.rewind.rawValue
            do {
                if dryRunFirst { try await rewind(context, dryRun: true) }
                // From pg_rewind's first write until its changes are durable, the directory is
                // neither old nor new: a marker in the working directory says so.
                try DamagedDirectory.beginRewind(plan)
                try await rewind(context, dryRun: false)
                try DamagedDirectory.endRewind(plan)
            } catch {
                _ = await headline
                throw error
            }
            context.delegate.handle(.info("divergence report \(report.file): \(await headline)"))
            return ["rewind.decision": "rewound", "rewind.fork": fork.description, "divergence.report": report.file,
                    "rewind.dry-run": dryRunFirst ? "passed" : "skipped under auto (a failed pg_rewind falls back to a full copy)",
                    "rewind.sync": Self.syncsItself ? "pg_rewind, an fsync of every file" : "syncfs of each file system of the data directory",
                    "summary": "rewound from the fork at \(fork); divergent WAL saved in \(saved.directory)\(kept)"]
        }
    }

    /// The early report's headline, or a new report's.
    private static func headline(_ early: String?, else report: DivergenceReport, _ context: RunContext, segments: Int, end: LSN) async -> String {
        if let early { return early }
        return await report.make(context, segments: segments, end: end)
    }

    /// Where the local WAL ends after a clean shutdown: the shutdown checkpoint, or for a
    /// standby the minimum recovery point when that is later.
    static func localEnd(_ control: ControlData) -> LSN {
        walEnd(control).atLeast
    }

    static func walEnd(_ control: ControlData) -> WALEnd {
        WALEnd(checkpoint: control.checkpointLocation.flatMap { LSN($0) } ?? LSN(0),
               minRecoveryPoint: control.fields["Minimum recovery ending location"].flatMap { LSN($0) } ?? LSN(0))
    }

    /// Whether pg_rewind makes its changes durable itself, fsyncing every file of the data
    /// directory, or is run with --no-sync and followed by `FileSystemSync` (the same
    /// durability, in one call per file system). The step is journaled finished only after
    /// either, so a crash before leaves a rewind that did not finish: the full copy follows.
    static var syncsItself: Bool { !FileSystemSync.reportsErrors }

    func rewind(_ context: RunContext, dryRun: Bool) async throws {
        let plan = context.plan
        var pairs: [(String, String)] = [
            ("host", plan.upstream.address.host), ("port", String(plan.upstream.address.port)),
            ("user", plan.upstream.user), ("dbname", plan.upstream.database),
            ("connect_timeout", String(plan.upstream.connectTimeout)), ("application_name", "pg-rejoin"),
        ]
        if let passfile = plan.upstream.passfile { pairs.append(("passfile", passfile)) }
        var arguments = ["--target-pgdata", plan.pgdata, "--source-server", Quoting.conninfo(pairs), "--progress"]
        if dryRun { arguments.append("--dry-run") }
        if !dryRun && !Self.syncsItself { arguments.append("--no-sync") }
        // Where the node's configuration really is (a Debian cluster's is in /etc): pg_rewind
        // runs the target's postgres to learn restore_command, and needs --config-file (15+).
        if let configFile = plan.configFile, plan.majorVersion >= 15 { arguments += ["--config-file", configFile] }
        let settings = NodeReplicationSettings.read(dataDirectory: plan.pgdata, configFile: plan.configFile)
        if settings.value("restore_command") != nil, plan.configFile == nil || plan.majorVersion >= 15 {
            arguments.append("--restore-target-wal")
        }
        let command = ChildCommand(context.tools.path("pg_rewind"), arguments, environment: plan.upstream.childEnvironment)
        let child = ChildPid()
        let result = try await context.children.run(command, onStart: { pid in
            child.set(pid)
        }, onStandardError: { line in
            // Fault injection, for the tests: pg_rewind says how much it will copy right before
            // its first write, whatever the machine's speed, so a kill there is part-way.
            guard !dryRun, line.contains("need to copy") else { return }
            if FaultInjection.isArmed(.rewind, .child) {
                // pg_rewind alone dies part-way, as when the OOM killer picks it: it fails.
                ProcessGroup.kill9(child.value)
            }
            if FaultInjection.isArmed(.rewind, .during) {
                // The whole session dies, as in an OOM kill: pg_rewind with it, part-way.
                ProcessGroup.kill9(child.value)
                FaultInjection.point(.rewind, .during)
            }
        })
        guard result.succeeded else {
            let detail = result.standardErrorTail.filter { !$0.contains("kB (") }.suffix(4).joined(separator: "; ")
            throw RewindError.rewindFailed(detail: (dryRun ? "dry run: " : "") + detail)
        }
        guard !dryRun && !Self.syncsItself else { return }
        do {
            try FileSystemSync.sync(plan.pgdata)
        } catch {
            throw RewindError.rewindFailed(detail: "its changes could not be made durable: \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
        }
    }

    /// pg_rewind copies the upstream's config files over the node's own; keep-local-config puts
    /// them back from this copy.
    func saveLocalConfig(_ context: RunContext) throws {
        guard let target = context.plan.localConfigDirectory else { return }
        try Files.makeDirectory(target)
        for file in KeepLocalConfigStep.files(in: context.plan.pgdata) + ["postgresql.auto.conf"]
            where Files.exists(context.plan.pgdata + "/" + file) {
            let destination = target + "/" + file
            try Files.makeDirectories(Files.parent(of: destination), below: target)
            try Files.copyFile(context.plan.pgdata + "/" + file, to: destination)
        }
    }
}
