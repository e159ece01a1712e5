import Foundation
import Logging

public enum RejoinOutcome: Sendable {
    case alreadyStandby(UpstreamAddress)
    case dryRun(RejoinPlan, resumingAt: StepKind?)
    case rejoined(RunSummary)
}

/// The whole rejoin: preflight (or the journal's plan when resuming), the lock, the steps, the
/// summary. The CLI calls this; tests call the CLI.
public struct Rejoin {
    public var options: RejoinOptions
    public var logger: Logger
    public var delegate: RunDelegate
    public var children: ChildProcessRunner

    public init(options: RejoinOptions, logger: Logger, delegate: RunDelegate, children: ChildProcessRunner = ChildProcessRunner()) {
        self.options = options
        self.logger = logger
        self.delegate = delegate
        self.children = children
    }

    public func run() async throws -> RejoinOutcome {
        let started = Date()
        // PGDATA itself may be set aside by an unfinished run, so the journal is looked up by
        // the path the operator gave (resolved when it still exists).
        let pgdata = (try? PreflightStep.validateDataDirectory(options.pgdata)) ?? DataDirectoryPath.resolve(options.pgdata)
        let paths = WorkPaths(pgdata: pgdata)
        let existing = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        existing.warnings.forEach { delegate.handle(.warning($0)) }

        if existing.isUnfinished, let plan = existing.plan {
            return try await resume(plan: plan, paths: paths, started: started)
        }

        let outcome = try await PreflightStep(options: options, logger: logger).run(children: children)
        var plan: RejoinPlan
        let control: ControlData, upstream: UpstreamFacts
        switch outcome {
        case let .alreadyStandby(address):
            addPassfile(to: (try? PreflightStep.validateDataDirectory(options.pgdata)) ?? options.pgdata)
            return .alreadyStandby(address)
        case let .plan(p, local, c, facts, password):
            plan = p
            control = c
            upstream = facts
            delegate.handle(.info("local server: \(local)"))
            if password {
                delegate.handle(.warning("this node's primary_conninfo holds a password; it is not copied into the new one (pg-rejoin never writes passwords there). Put it in a passfile and pass --passfile, so the standby finds it after a restart"))
            }
            if let options = plan.conninfoOptions, !options.isEmpty {
                delegate.handle(.info("kept from this node's primary_conninfo: \(options.compactMap { $0.first }.joined(separator: ", ")), application_name \(plan.nodeName)"))
            }
            if let kept = plan.standbySettings, !kept.isEmpty {
                delegate.handle(.info("kept this node's standby settings: \(kept.keys.sorted().joined(separator: ", "))"))
            }
        }
        let requested = RejoinMethod(rawValue: options.method) ?? .auto
        plan.startCommand = options.startCommand
        plan.stopCommand = options.stopCommand
        if !options.peers.isEmpty {
            plan.peers = options.peers
            plan.discoveryTimeout = options.discoveryTimeout
        }
        plan = try await MethodChoice.choose(plan, requested: requested, tools: plan.tools(children: children),
                                             control: control, upstreamTimeline: upstream.timeline,
                                             upstreamSettings: upstream.rewindSettings)
        if plan.upstream.passfile == nil, ProcessInfo.processInfo.environment["PGPASSWORD"] != nil {
            delegate.handle(.warning("PGPASSWORD serves this run only: the standby's WAL receiver will not have it after a restart, and pg-rejoin does not write passwords into primary_conninfo. Put the password in a passfile and pass --passfile"))
        }
        if options.dryRun {
            delegate.handle(.planned(plan, resumingAt: nil))
            return .dryRun(plan, resumingAt: nil)
        }
        try Files.makeDirectory(paths.workDirectory)
        let lock = try RunLock(path: paths.lock)
        // Another run may have started and stopped between our look and the lock.
        let state = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        if state.isUnfinished, let recorded = state.plan {
            return try await resume(plan: recorded, paths: paths, started: started, lock: lock)
        }
        let journal = try Journal(path: paths.journal)
        let context = RunContext(plan: plan, journal: journal, state: .empty, tools: plan.tools(children: children),
                                 logger: logger, delegate: delegate)
        try context.record(JournalRecord(kind: .plan, run: plan.runID, plan: plan))
        try context.record(JournalRecord(kind: .step, run: plan.runID, step: .preflight, event: .done,
                                         facts: ["upstream": plan.upstream.address.description, "system.identifier": plan.systemIdentifier]))
        FaultInjection.point(.preflight, .after)
        delegate.handle(.planned(plan, resumingAt: nil))
        return try await execute(context, started: started, lock: lock, resuming: false)
    }

    private func resume(plan recorded: RejoinPlan, paths: WorkPaths, started: Date, lock existingLock: RunLock? = nil) async throws -> RejoinOutcome {
        // "rerun to verify again, or raise --verify-timeout": this invocation's timeout counts.
        var plan = recorded
        plan.verifyTimeout = options.verifyTimeout
        guard plan.upstream.address == options.upstream else {
            throw PreflightError.unfinishedRunFromOtherUpstream(recorded: plan.upstream.address.description,
                                                                 given: options.upstream.description, workDirectory: paths.workDirectory)
        }
        let lock = try existingLock ?? RunLock(path: paths.lock)
        let state = try Journal.read(path: paths.journal, expectedPGDATA: plan.pgdata)
        let next = plan.steps.first { !state.isDone($0) }
        if options.dryRun {
            delegate.handle(.planned(plan, resumingAt: next))
            return .dryRun(plan, resumingAt: next)
        }
        let journal = try Journal(path: paths.journal)
        let context = RunContext(plan: plan, journal: journal, state: state, tools: plan.tools(children: children),
                                 logger: logger, delegate: delegate)
        // Safety invariant 9: the world may have changed since the run stopped. The same rules
        // as a first run, before anything is touched.
        try await reobserveLocal(context)
        try await PreflightStep.recheckUpstream(plan)
        try context.record(JournalRecord(kind: .note, run: plan.runID, message: "resumed by pid \(getpid()) at \(next?.rawValue ?? "end")"))
        delegate.handle(.planned(plan, resumingAt: next))
        return try await execute(context, started: started, lock: lock, resuming: true)
    }

    /// "Put the password in a passfile and pass --passfile": rerun so on a standby that a
    /// PGPASSWORD-only run made, the passfile goes into its primary_conninfo (and the server
    /// reloads it), or it would not find the password after its next restart.
    private func addPassfile(to pgdata: String) {
        guard let passfile = options.passfile, let current = HealRun.configuredConninfo(pgdata) else { return }
        var pairs = ConninfoParser.pairs(current)
        guard !pairs.contains(where: { $0.0 == "passfile" && $0.1 == passfile }) else { return }
        pairs.removeAll { $0.0 == "passfile" }
        pairs.append(("passfile", passfile))
        let autoConf = pgdata + "/postgresql.auto.conf"
        let rewritten = ConfigFile(text: Files.read(autoConf) ?? "").setting("primary_conninfo", to: Quoting.conninfo(pairs))
        do {
            try Files.writeAtomically(Data(rewritten.text.utf8), to: autoConf, mode: 0o600)
            if let pid = PostmasterPid.read(dataDirectory: pgdata)?.pid { kill(pid, SIGHUP) }
            delegate.handle(.info("primary_conninfo now names passfile \(passfile) (the server reloaded it), so the standby finds the password after a restart"))
        } catch {
            delegate.handle(.warning("could not add passfile \(passfile) to primary_conninfo: \((error as? LocalizedError)?.errorDescription ?? "\(error)")"))
        }
    }

    /// A resumed run looks at the local server again: an operator may have started the old
    /// data directory by hand as a primary since the run stopped (and written to it). Stopping
    /// that needs --demote on this invocation, as on a first run; the journal's run stays.
    private func reobserveLocal(_ context: RunContext) async throws {
        let plan = context.plan, state = context.state
        // Past these, the server that may run is this run's new standby, not the old data.
        if state.status[.start] != nil || state.isDone(.swapIn) { return }
        guard let old = context.oldDataLocation(),
              let local = try? await LocalServerState.inspect(old, tools: context.tools) else { return }
        context.delegate.handle(.info("local server: \(local)"))
        if case .runningPrimary = local, !options.demote {
            throw PreflightError.localPrimaryRunningOnResume(pgdata: old, runID: plan.runID)
        }
    }

    private func execute(_ context: RunContext, started: Date, lock: RunLock, resuming: Bool) async throws -> RejoinOutcome {
        var context = context
        guard context.oldDataLocation() != nil else { throw PreflightError.oldDataMissing(expected: context.plan.oldDataDirectory) }
        if context.plan.isRewind, let event = context.state.status[.rewind], event != .done {
            // pg_rewind started and never finished: the directory cannot be trusted any more.
            context = try fallback(context, reason: "pg_rewind did not finish (journal: \(event.rawValue))", resuming: resuming)
        }
        var seconds: [StepKind: Double]
        do {
            seconds = try await Runner().run(context.plan.steps.compactMap { $0.step }, context: context)
        } catch let failure as StepFailedError where context.plan.isRewind && [.recoverLocal, .rewind].contains(failure.step) {
            context = try fallback(context, reason: failure.errorDescription ?? "pg_rewind failed", resuming: resuming)
            seconds = try await Runner().run(context.plan.steps.compactMap { $0.step }, context: context)
        }
        let plan = context.plan
        try context.record(JournalRecord(kind: .finished, run: plan.runID, message: "verified streaming standby of \(plan.upstream.address)"))
        LostOldValues.complete(context)
        // Verified and journaled: only now may old data be archived, discarded or pruned (never fails the run).
        let oldData = await OldDataRetention(mode: options.oldData, keep: options.keepOld).apply(context)
        withExtendedLifetime(lock) {}
        let summary = RunSummary(
            outcome: "rejoined", method: plan.method, upstream: plan.upstream.address.description,
            bytesCopied: context.state.facts["clone.bytes"].flatMap(UInt64.init) ?? 0,
            totalSeconds: Date().timeIntervalSince(started),
            stepSeconds: Dictionary(uniqueKeysWithValues: seconds.map { ($0.key.rawValue, $0.value) }),
            oldDataDirectory: oldData,
            divergenceReport: context.state.facts["divergence.report"], serverLog: plan.serverLog,
            lagBytes: context.state.facts["verify.lag.bytes"].flatMap(UInt64.init))
        delegate.handle(.summary(summary))
        return .rejoined(summary)
    }

    /// Rewind did not work out. With --method rewind that is the end (the journal says so and a
    /// rerun falls back); with auto the run goes on as a full copy, journaled as a new plan.
    /// A resumed run goes by what this invocation asks: the message below advises a rerun with
    /// --method basebackup or auto, and that rerun must copy, whatever the journal's plan asked.
    private func fallback(_ context: RunContext, reason: String, resuming: Bool) throws -> RunContext {
        let requested = resuming ? options.method : (context.plan.requestedMethod ?? options.method)
        OrphanChildren.terminate(program: "pg_rewind", flag: "--target-pgdata", value: context.plan.pgdata)
        let damaged = try DamagedDirectory.markIfRewound(context, reason: reason)
        if let damaged { context.delegate.handle(.warning("\(damaged) was partly rewritten by pg_rewind: marked damaged (\(DamagedDirectory.markerName)), it will not start")) }
        guard requested != RejoinMethod.rewind.rawValue else {
            let state = damaged.map { "\($0) was partly rewound and is marked damaged (it will not start); the WAL from the fork is kept in \(context.plan.workDirectory). " }
                ?? "\(context.plan.pgdata) was not changed by pg_rewind. "
            throw RewindError.rewindFailed(detail: reason + ". " + state
                                           + "Rerun with --method basebackup (or auto) to copy afresh (the directory is then set aside"
                                           + (damaged == nil ? ")" : ", marked damaged, never offered back as the old data)")
                                           + ", or run pg-rejoin abort")
        }
        var plan = MethodChoice.fallback(from: context.plan, reason: reason)
        if damaged != nil || DamagedDirectory.isMarked(context.oldDataLocation() ?? plan.pgdata) {
            plan.oldDataDamaged = true
        }
        context.delegate.handle(.warning("falling back to a full copy: \(reason)"))
        let next = RunContext(plan: plan, journal: context.journal, state: .empty, tools: context.tools,
                              logger: context.logger, delegate: context.delegate)
        try next.record(JournalRecord(kind: .plan, run: plan.runID, plan: plan, message: "fallback: \(reason)"))
        try next.record(JournalRecord(kind: .step, run: plan.runID, step: .preflight, event: .done))
        context.delegate.handle(.planned(plan, resumingAt: nil))
        return next
    }
}
