import Foundation

/// `report.txt` beside the saved divergent WAL: what a rewind throws away, from pg_waldump's
/// records after the fork (read as they stream) and the upstream's names for the relations.
///
/// It reads only the saved copy and the upstream's catalogs, so it is made while something
/// slower runs: during crash recovery when the WAL was saved then (recovery keeps one core
/// busy, pg_rewind keeps both), else beside pg_rewind.
struct DivergenceReport {
    var saved: DivergentWAL
    var timeline: Int
    var fork: LSN

    /// pg_waldump's account of the saved WAL after the fork.
    struct Scan: Sendable {
        var summary: DivergenceSummary
        /// Set when pg_waldump read nothing, with why.
        var note: String
    }

    /// Runs pg_waldump over the saved copy from the fork, to `end` when it is known, else to
    /// the end of valid WAL (crash recovery has not found the end yet).
    func scan(_ context: RunContext, end: LSN?) async throws -> Scan {
        var arguments = ["--path", saved.walCopy, "--timeline", String(timeline), "--start", fork.description]
        if let end { arguments += ["--end", end.description] }
        let (dump, builder) = try await context.children.run(ChildCommand(context.tools.path("pg_waldump"), arguments),
                                                             reducingOutputInto: DivergenceSummary.Builder()) { builder, chunk in
            builder.feed(chunk)
        }
        var summary = builder.summary
        summary.relations = RewindSource.relationNames(summary.relations, endpoint: context.plan.upstream)
        // pg_waldump ends with an error at the end of valid WAL; only say so when it read nothing.
        let note = summary.records == 0 && !dump.succeeded
            ? "pg_waldump read no records: \(dump.standardErrorTail.suffix(2).joined(separator: "; "))\n" : ""
        return Scan(summary: summary, note: note)
    }

    var file: String { saved.directory + "/report.txt" }

    /// Writes the report; returns its one-line headline.
    func write(_ scan: Scan, runID: String, pgdata: String, segments: Int, end: LSN) throws -> String {
        let summary = scan.summary
        let rmgrs = summary.recordsByResourceManager.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }
        let report = """
            pg-rejoin divergence report, run \(runID)
            data directory:   \(pgdata)
            timeline:         \(timeline), forked by the upstream at \(fork); local WAL ends at \(end)
            records after the fork: \(summary.records) (first \(summary.firstLSN ?? "-"), last \(summary.lastLSN ?? "-"))
            commits after the fork: \(summary.commits), last commit at \(summary.lastCommitTime ?? "-")
            relations written after the fork:
            \(summary.relations.map { "  " + Self.described($0) }.joined(separator: "\n"))
            records by resource manager:
            \(rmgrs.joined(separator: "\n"))
            \(scan.note)saved WAL segments (\(segments)): \(saved.walCopy)
            inspect with: pg_waldump --path \(saved.walCopy) --timeline \(timeline) --start \(fork)

            """
        try Files.writeAtomically(Data(report.utf8), to: file, mode: 0o600)
        return "\(summary.commits) commits, \(summary.records) records"
            + (summary.relations.isEmpty ? "" : " touching \(summary.relations.prefix(5).joined(separator: ", "))")
    }

    /// Scan and write in one go. A report that cannot be made is a warning, not a failure: the
    /// WAL it describes is saved either way.
    func make(_ context: RunContext, segments: Int, end: LSN) async -> String {
        do {
            return try write(try await scan(context, end: end), runID: context.plan.runID, pgdata: context.plan.pgdata,
                             segments: segments, end: end)
        } catch {
            let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            context.delegate.handle(.warning("the divergence report was not written (\(reason)); the WAL itself is saved in \(saved.walCopy)"))
            return "no report (\(reason))"
        }
    }

    /// A relation the upstream could not name keeps its "database-oid/relfilenode" numbers:
    /// most often a table created after the fork, which only the old data directory knows.
    static func described(_ relation: String) -> String {
        relation.contains(".") ? relation : relation + " (unknown to the upstream: created after the fork, or dropped since)"
    }
}
