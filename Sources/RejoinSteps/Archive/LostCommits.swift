import Foundation

/// Whether a kept old data directory holds transactions no other node has: commits the failed
/// primary made after the upstream forked off. Such a copy may be the only place the last orders
/// of a shop still exist, so retention never prunes it (only `pg-rejoin old remove` does).
///
/// Judged once, at the end of the run that set the copy aside (the upstream's timeline history
/// is at hand then), by pg_waldump over the copy's own pg_wal from the fork; the verdict is kept
/// in the working directory (`lost-RUN/verdict.txt`, RUN as in the copy's name), never inside the copy. A copy without a verdict (an older version's, or one
/// that could not be judged) counts as holding lost commits: unknown is kept.
public enum LostCommits {
    public enum Verdict: Equatable, Sendable, CustomStringConvertible {
        /// Nothing after the fork (or no fork: the copy was on the upstream's timeline).
        case none(reason: String)
        case lost(commits: Int, fork: String, lastCommit: String?)
        case unknown(reason: String)

        /// Whether retention may prune the copy.
        public var prunable: Bool {
            if case .none = self { return true }
            return false
        }

        public var description: String {
            switch self {
            case let .none(reason): return "none (\(reason))"
            case let .lost(commits, fork, last): return "\(commits) commit(s) after the fork at \(fork)" + (last.map { ", the last at \($0)" } ?? "")
            case let .unknown(reason): return "unknown (\(reason)); kept as if it held some"
            }
        }

        /// For `old list`'s column.
        public var short: String {
            switch self {
            case .none: return "none"
            case let .lost(commits, _, _): return "\(commits) commits"
            case .unknown: return "unknown"
            }
        }
    }

    static func verdictFile(workDirectory: String, runID: String) -> String {
        workDirectory + "/lost-" + runID + "/verdict.txt"
    }

    /// The verdict recorded for the copy of `runID`: the copy's own run id, as in its name
    /// (two runs in one second share a run id; their copies do not: `-2`).
    public static func verdict(pgdata: String, runID: String) -> Verdict {
        let file = verdictFile(workDirectory: WorkPaths(pgdata: pgdata).workDirectory, runID: runID)
        guard let text = Files.read(file), let first = text.split(separator: "\n").first else {
            return .unknown(reason: "not judged: set aside by an earlier version, or the judgement failed")
        }
        let fields = first.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        switch fields.first {
        case "none": return .none(reason: fields.count > 1 ? fields[1] : "no commits after the fork")
        case "lost" where fields.count >= 3:
            return .lost(commits: Int(fields[1]) ?? 0, fork: fields[2], lastCommit: fields.count > 3 && !fields[3].isEmpty ? fields[3] : nil)
        default: return .unknown(reason: fields.count > 1 ? fields[1] : "unreadable verdict \(file)")
        }
    }

    static func record(_ verdict: Verdict, plan: RejoinPlan) throws {
        let line: String
        switch verdict {
        case let .none(reason): line = "none\t\(reason)"
        case let .lost(commits, fork, last): line = "lost\t\(commits)\t\(fork)\t\(last ?? "")"
        case let .unknown(reason): line = "unknown\t\(reason)"
        }
        let name = (plan.oldDataDirectory as NSString).lastPathComponent
        let copyRun = name.range(of: ".old-").map { String(name[$0.upperBound...]) } ?? plan.runID
        let file = verdictFile(workDirectory: plan.workDirectory, runID: copyRun)
        try Files.makeDirectory(Files.parent(of: file))
        try Files.writeAtomically(Data((line + "\n").utf8), to: file, mode: 0o600)
    }

    /// Judges this run's old copy at `old` (nothing runs in it) against the upstream's history.
    public static func judge(_ context: RunContext, old: String) async -> Verdict {
        let plan = context.plan
        if plan.oldDataDamaged == true || DamagedDirectory.isMarked(old) {
            return .unknown(reason: "the directory was partly rewritten by pg_rewind; the WAL from the fork is in \(plan.workDirectory)/divergence-\(plan.runID)")
        }
        do {
            let control = try await context.tools.controlData(old)
            guard let timeline = control.timeline else { return .unknown(reason: "pg_controldata shows no timeline") }
            let (upstreamTimeline, _, history) = try RewindSource.position(of: plan.upstream)
            if timeline == upstreamTimeline { return .none(reason: "the copy is on the upstream's timeline \(timeline)") }
            guard timeline < upstreamTimeline, let fork = history.forkPoint(of: timeline) else {
                return .unknown(reason: "timeline \(timeline) is not in the upstream's history")
            }
            let arguments = ["--path", old + "/pg_wal", "--timeline", String(timeline), "--start", fork.description]
            let (dump, builder) = try await context.children.run(ChildCommand(context.tools.path("pg_waldump"), arguments),
                                                                 reducingOutputInto: DivergenceSummary.Builder()) { builder, chunk in
                builder.feed(chunk)
            }
            let summary = builder.summary
            if summary.commits > 0 { return .lost(commits: summary.commits, fork: fork.description, lastCommit: summary.lastCommitTime) }
            if summary.records > 0 { return .none(reason: "\(summary.records) record(s) after the fork at \(fork), no commit among them") }
            // pg_waldump ends with an error at the end of valid WAL; one that read nothing may
            // not have found the fork's segment at all.
            let said = dump.standardErrorTail.joined(separator: " ")
            if said.contains("invalid record length") || said.contains("invalid magic number") || said.contains("contrecord") {
                return .none(reason: "no WAL after the fork at \(fork)")
            }
            return .unknown(reason: "pg_waldump read nothing after the fork at \(fork): \(dump.standardErrorTail.suffix(2).joined(separator: "; "))")
        } catch {
            return .unknown(reason: (error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
    }
}
