import Foundation

/// The transactions the old primary committed after the fork, read as rows into
/// `PGDATA.rejoin/lost-RUN/lost.json` (`pg-rejoin lost` prints them). The old primary is
/// started privately as a hot standby of nobody to be read (`PrivateServer`), and stopped
/// "shut down in recovery".
///
/// Rewind path: after recover-local, before pg_rewind throws those transactions away; stopped
/// in recovery, the directory is a valid pg_rewind target. Copy path: the last step, after
/// verify, on the old data set aside beside PGDATA (crash-recovered first when the node had
/// crashed): the standby runs as early as without it, and retention (archive, discard, prune)
/// comes only after. The kept copy is then as PostgreSQL's own recovery leaves it, the same
/// rows and WAL; `--lost-rows skip` leaves it byte for byte.
///
/// Never fails the rejoin: what cannot be read is written into the report with why, and the
/// divergence WAL is saved by the rewind step as before.
public struct CaptureLostStep: Step {
    public let kind = StepKind.captureLost
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "read the transactions the old primary committed after the fork, as rows, into \(LostFiles.directory(plan))"
    }

    public func isDone(_ context: RunContext) async throws -> Bool {
        let plan = context.plan
        if plan.captureLost == false { return true }
        // Rewind path: once pg_rewind or the start began, the old primary is gone.
        if plan.isRewind && (context.state.status[.rewind] != nil || context.state.status[.start] != nil) { return true }
        // A directory pg_rewind partly rewrote is not the old primary any more (its rows were
        // read before the rewind, when they were whole).
        if plan.oldDataDamaged == true { return true }
        return Files.exists(LostFiles.report(plan))
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        guard let old = context.oldDataLocation() else {
            // Only after verify can it be gone (someone removed the kept copy): said, never a failure.
            let gone = "the old data is neither at \(plan.pgdata) nor at \(plan.oldDataDirectory)"
            context.delegate.handle(.warning("lost transactions: not read as rows: \(gone)"))
            try LostFiles.write(Self.unread(plan, reason: gone), plan: plan)
            return ["summary": "not read: \(gone)"]
        }
        let server = PrivateServer(plan: plan, tools: context.tools, children: context.children, dataDirectory: old)
        // A look interrupted by a kill leaves its standby.signal, never the node's to keep, and
        // maybe its server still running. Before pg_rewind that must be settled (a failure
        // fails the step); after a verified copy, it is one more reason the rows were not read.
        if plan.isRewind { try await server.abandon() }
        let report: LostReport
        let clock = PhaseClock()
        do {
            if !plan.isRewind { try await server.abandon() }
            report = try await capture(context, server: server, clock: clock)
        } catch {
            let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            let kept = plan.isRewind ? "their WAL is saved with the divergence report"
                : "they are in the old data at \(old); pg-rejoin lost --from-old \(old) tries again"
            context.delegate.handle(.warning("lost transactions: could not read them as rows (\(reason)); \(kept)"))
            report = Self.unread(plan, reason: reason)
        }
        try? Files.removeTree(server.directory)
        try LostFiles.write(report, plan: plan)
        clock.mark("write")
        return ["summary": "\(report.transactions.count) lost transaction(s), \(report.changeCount) row change(s) in \(LostFiles.report(plan))",
                "lost.seconds": clock.description,
                "lost.report": LostFiles.report(plan)]
    }

    private func capture(_ context: RunContext, server: PrivateServer, clock: PhaseClock) async throws -> LostReport {
        let plan = context.plan
        let data = server.dataDirectory
        var control = try await context.tools.controlData(data)
        let empty = LostReport(format: LostReport.formatVersion, run: plan.runID, systemIdentifier: plan.systemIdentifier,
                               timeline: control.timeline ?? 0, fork: "", capturedAt: Date(), tables: [], transactions: [], notes: [],
                               oldValues: nil)
        guard let timeline = control.timeline else { return empty }
        let (upstreamTimeline, _, history) = try RewindSource.position(of: plan.upstream)
        guard upstreamTimeline > timeline, let fork = history.forkPoint(of: timeline) else { return empty }
        if !control.isCleanShutdown {
            // Copy path, a node that crashed (the rewind path recovered it already): recovered
            // as recover-local would, so that its rows can be read as they were committed.
            control = try await RecoverLocalStep.recoverToRead(data, control: control, majorVersion: plan.majorVersion, configFile: plan.configFile,
                                                               stalePidFile: StalePidFile.destination(plan),
                                                               tools: context.tools, children: context.children)
            clock.mark("recovery")
        }
        let (report, wal) = try await LostReading(server: server, run: plan.runID, systemIdentifier: plan.systemIdentifier)
            .read(timeline: timeline, fork: fork, clock: clock)
        return Self.namingRemovedFiles(report, wal: wal, upstream: plan.upstream)
    }

    /// A report that says why nothing was read.
    static func unread(_ plan: RejoinPlan, reason: String) -> LostReport {
        LostReport(format: LostReport.formatVersion, run: plan.runID, systemIdentifier: plan.systemIdentifier, timeline: 0,
                   fork: "", capturedAt: Date(), tables: [], transactions: [], notes: [LostFromOld.unreadNote + reason], oldValues: nil)
    }

    /// A TRUNCATE or DROP removed a relation's files, so the old primary's catalog no longer
    /// names them; the upstream's still does (its catalog is the pre-fork one for them).
    static func namingRemovedFiles(_ report: LostReport, wal: LostWAL, upstream: UpstreamEndpoint) -> LostReport {
        let paths = Array(Set(wal.commits.flatMap(\.droppedFiles).filter { $0.hasPrefix("base/") })).sorted()
        guard !paths.isEmpty else { return report }
        let names = RewindSource.relationNames(paths.map { String($0.dropFirst(5)) }, endpoint: upstream)
        var report = report
        for (path, name) in zip(paths, names) where !name.hasPrefix(String(path.dropFirst(5))) {
            for t in report.transactions.indices {
                report.transactions[t].notes = report.transactions[t].notes.map { $0.replacingOccurrences(of: path, with: "\(name) (\(path))") }
            }
        }
        return report
    }
}

/// Where a run's lost transactions are kept: beside its divergence WAL in the working
/// directory, never inside a data directory.
public enum LostFiles {
    public static func directory(_ plan: RejoinPlan) -> String { directory(workDirectory: plan.workDirectory, run: plan.runID) }
    public static func directory(workDirectory: String, run: String) -> String { workDirectory + "/lost-" + run }
    public static func report(_ plan: RejoinPlan) -> String { directory(plan) + "/lost.json" }

    static func write(_ lost: LostReport, plan: RejoinPlan) throws {
        try write(lost, directory: directory(plan))
    }

    static func write(_ lost: LostReport, directory: String) throws {
        let path = directory + "/lost.json"
        try Files.makeDirectory(directory)
        try LostReportJSON.write(lost, to: path)
        written.set(path, lost)
    }

    /// The report this process wrote last, so completing it after verify need not decode the
    /// file it just wrote (tens of thousands of rows cost a noticeable part of a second).
    private static let written = LastWritten()

    static func readWritten(_ path: String) throws -> LostReport {
        if let report = written.get(path) { return report }
        return try read(path)
    }

    private final class LastWritten: @unchecked Sendable {
        private let lock = NSLock()
        private var path: String?
        private var report: LostReport?
        func set(_ path: String, _ report: LostReport) { lock.withLock { (self.path, self.report) = (path, report) } }
        func get(_ path: String) -> LostReport? { lock.withLock { self.path == path ? report : nil } }
    }

    /// The report as captured, completed with what was read after verify when that was.
    public static func read(_ path: String) throws -> LostReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var report = try decoder.decode(LostReport.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
        let completion = Files.parent(of: path) + "/" + completionName
        if let data = FileManager.default.contents(atPath: completion) {
            try decoder.decode(LostCompletion.self, from: data).apply(to: &report)
        }
        return report
    }

    /// What verify's look at the pre-fork rows added, kept beside lost.json rather than
    /// rewriting it: small, where lost.json holds every lost row.
    static let completionName = "pre-fork.json"

    static func writeCompletion(_ completed: LostReport, over captured: LostReport, directory: String) throws {
        let completion = LostCompletion(completed, over: captured)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Files.writeAtomically(try encoder.encode(completion), to: directory + "/" + completionName, mode: 0o600)
    }
}

/// Seconds per phase, and the process's peak memory after it, for the journal (where a
/// capture's time and memory go: "waldump 0.12 s 31 MB, start 0.20 s 31 MB, ...").
final class PhaseClock: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date()
    private var phases: [(String, Double, Int?)] = []

    func mark(_ phase: String) {
        let peak = Self.peakMegabytes()
        lock.withLock {
            let now = Date()
            phases.append((phase, now.timeIntervalSince(last), peak))
            last = now
        }
    }

    var description: String {
        lock.withLock {
            phases.map { "\($0.0) \(String(format: "%.2f", $0.1)) s" + ($0.2.map { " \($0) MB" } ?? "") }.joined(separator: ", ")
        }
    }

    /// VmHWM: the most memory this process has held so far.
    static func peakMegabytes() -> Int? {
        guard let status = Files.read("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kilobytes / 1024
    }
}

/// The pre-fork values and conflicts found after verify, by transaction and change.
struct LostCompletion: Codable {
    struct Entry: Codable {
        var transaction: Int
        var change: Int
        var old: [String?]?
        var conflict: String?
    }

    var oldValues: String?
    var notes: [String]
    var entries: [Entry]

    init(_ completed: LostReport, over captured: LostReport) {
        oldValues = completed.oldValues
        notes = Array(completed.notes.dropFirst(captured.notes.count))
        entries = []
        for (t, transaction) in completed.transactions.enumerated() {
            for (c, change) in transaction.changes.enumerated() where change.old != nil || change.conflict != nil {
                entries.append(Entry(transaction: t, change: c, old: change.old, conflict: change.conflict))
            }
        }
    }

    func apply(to report: inout LostReport) {
        report.oldValues = oldValues
        report.notes += notes
        for entry in entries where report.transactions.indices.contains(entry.transaction)
            && report.transactions[entry.transaction].changes.indices.contains(entry.change) {
            report.transactions[entry.transaction].changes[entry.change].old = entry.old
            report.transactions[entry.transaction].changes[entry.change].conflict = entry.conflict
        }
    }
}
