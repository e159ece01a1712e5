import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A data directory pg_rewind left half-written (safety invariant 10). pg_rewind writes in
/// place and cannot be resumed: once it started writing, the directory is neither the old
/// primary nor a copy of the new one, and starting it would be silent corruption. Such a
/// directory is never offered back as "the old data":
/// - before pg_rewind writes, `PGDATA.rejoin/rewinding-RUN` says so (the journal's own
///   directory: pg_rewind deletes files in PGDATA the source does not have), and it goes only
///   once pg_rewind's changes are durable;
/// - a run, a resume or an abort that finds it marks the directory itself: a file
///   `PG_REJOIN_DAMAGED` saying what happened, and a line in `postgresql.auto.conf` that
///   PostgreSQL refuses at start-up ("configuration file contains errors"), so neither `pg_ctl
///   start` nor a single-user server runs it by mistake. The WAL from the fork and its report,
///   saved before pg_rewind started, stay intact in the working directory.
public enum DamagedDirectory {
    public static let markerName = "PG_REJOIN_DAMAGED"
    /// Not a real parameter (no dot, so not a custom one either): the server refuses to start.
    static let guardSetting = "pg_rejoin_damaged_by_interrupted_pg_rewind"

    static func rewindingMarker(_ plan: RejoinPlan) -> String {
        plan.workDirectory + "/rewinding-" + plan.runID
    }

    /// Just before pg_rewind's first write.
    static func beginRewind(_ plan: RejoinPlan) throws {
        try Files.writeAtomically(Data("pg_rewind writing into \(plan.pgdata) (identity \(plan.oldDataIdentity))\n".utf8),
                                  to: rewindingMarker(plan))
    }

    /// After pg_rewind finished and its changes are durable.
    static func endRewind(_ plan: RejoinPlan) throws {
        try Files.removeTree(rewindingMarker(plan))
    }

    /// pg_rewind started writing for this run and was not seen to finish.
    public static func wasRewinding(_ plan: RejoinPlan) -> Bool {
        Files.exists(rewindingMarker(plan))
    }

    static let localConfigKey = "The node's own config files, saved before pg_rewind ran: "

    /// Where the node's own config files were saved before pg_rewind overwrote them, when the
    /// marker names such a copy and it is still there (pg_rewind may have replaced this
    /// directory's postgresql.conf with the upstream's).
    public static func savedLocalConfig(of directory: String) -> String? {
        guard isMarked(directory), let text = Files.read(directory + "/" + markerName) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(localConfigKey) {
            let path = String(line.dropFirst(localConfigKey.count))
            return Files.isDirectory(path) ? path : nil
        }
        return nil
    }

    public static func isMarked(_ directory: String) -> Bool {
        Files.isRegularFile(directory + "/" + markerName)
    }

    /// What the marker says (its first line), for `old list`, abort and the summary.
    public static func description(of directory: String) -> String? {
        guard isMarked(directory) else { return nil }
        return Files.read(directory + "/" + markerName)?.split(separator: "\n").first.map(String.init)
    }

    /// Marks the directory pg_rewind worked on, if pg_rewind was writing into it; journals it.
    /// Returns the directory marked, or nil when there was nothing to mark.
    @discardableResult
    public static func markIfRewound(_ context: RunContext, reason: String) throws -> String? {
        let plan = context.plan
        guard wasRewinding(plan) else { return nil }
        // A pg_rewind orphaned by a kill of the run must not go on writing.
        OrphanChildren.terminate(program: "pg_rewind", flag: "--target-pgdata", value: plan.pgdata)
        guard let directory = context.oldDataLocation() else { return nil }
        let saved = plan.workDirectory + "/divergence-\(plan.runID)"
        try mark(directory, runID: plan.runID, reason: reason, walKept: Files.isDirectory(saved) ? saved : nil,
                 localConfig: plan.localConfigDirectory.flatMap { Files.isDirectory($0) ? $0 : nil })
        try context.record(JournalRecord(kind: .note, run: plan.runID,
                                         message: "damaged: \(directory) was partly rewritten by pg_rewind (\(reason)); marked \(markerName), it will not start"))
        try endRewind(plan)
        return directory
    }

    static func mark(_ directory: String, runID: String, reason: String, walKept: String?, localConfig: String?) throws {
        let text = """
            damaged: partly rewritten by pg_rewind, which did not finish (pg-rejoin run \(runID)): \(reason)
            This directory is neither the old primary nor a copy of the new one. Do not start it:
            postgresql.auto.conf carries `\(guardSetting)`, which PostgreSQL refuses at start-up.
            Intact: \(walKept.map { "the WAL from the fork and its report, in \($0)" } ?? "the WAL from the fork, in the working directory").
            \(localConfig.map { "\(localConfigKey)\($0)\n" } ?? "")
            """
        try Files.writeAtomically(Data(text.utf8), to: directory + "/" + markerName, mode: 0o600)
        let autoConf = directory + "/postgresql.auto.conf"
        let existing = Files.read(autoConf) ?? ""
        guard !existing.contains(guardSetting) else { return }
        let line = "\n# pg-rejoin: partly rewritten by an interrupted pg_rewind; see \(markerName)\n\(guardSetting) = on\n"
        try Files.writeAtomically(Data((existing + line).utf8), to: autoConf, mode: 0o600)
    }
}
