import Foundation

/// The segments the old primary wrote but never got into its WAL archive (`.ready` in
/// pg_wal/archive_status: archive_command failed or fell behind). pg_rewind replaces pg_wal
/// with the upstream's, so before it runs they are copied to `PGDATA.rejoin/unarchived-RUN/`,
/// beside the divergence WAL: the archive's hole can be filled from there by hand.
enum UnarchivedWAL {
    static func directory(_ plan: RejoinPlan) -> String {
        plan.workDirectory + "/unarchived-" + plan.runID
    }

    /// The names of the files waiting to be archived in `pgdata` (segments, history files,
    /// backup labels), oldest first.
    static func waiting(in pgdata: String) -> [String] {
        let status = pgdata + "/pg_wal/archive_status"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: status)) ?? []
        return names.filter { $0.hasSuffix(".ready") }.map { String($0.dropLast(".ready".count)) }
            .filter { Files.isRegularFile(pgdata + "/pg_wal/" + $0) }.sorted()
    }

    /// Copies what is waiting (each file complete: temporary name, fsync, rename; one already
    /// there is kept). Returns the names copied or already kept.
    @discardableResult
    static func save(_ plan: RejoinPlan, from pgdata: String) throws -> [String] {
        let names = waiting(in: pgdata)
        guard !names.isEmpty else { return [] }
        let target = directory(plan)
        try Files.makeDirectory(target)
        for name in names where !Files.exists(target + "/" + name) {
            try Files.copyFile(pgdata + "/pg_wal/" + name, to: target + "/" + name)
        }
        return names
    }

    /// "3 WAL file(s) never archived, kept in DIR: first … last".
    static func summary(_ names: [String], plan: RejoinPlan) -> String {
        let shown = names.count <= 3 ? names.joined(separator: ", ") : "\(names[0]) … \(names[names.count - 1])"
        return "\(names.count) WAL file(s) the old primary never archived, kept in \(directory(plan)): \(shown)"
    }
}
