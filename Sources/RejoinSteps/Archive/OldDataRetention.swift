import Foundation
import Logging

/// What to do with this run's old data directory once the standby is verified.
public enum OldDataMode: String, CaseIterable, Sendable {
    /// Keep the renamed sibling directory as it is (the default).
    case keep
    /// Archive it as a compressed tar beside PGDATA, then remove the directory.
    case archive
    /// Remove it.
    case discard
}

/// Keep, archive or discard this run's old data directory, then prune older copies beyond
/// `--keep-old`. Runs only after verify passed and the journal recorded the run finished, under
/// the run's lock. Nothing here can fail the rejoin: the standby is fine whatever happens to
/// old copies, so every problem becomes a warning and the old data stays where it was.
public struct OldDataRetention {
    public var mode: OldDataMode
    public var keep: Int
    public var archiver: DirectoryArchive

    public init(mode: OldDataMode, keep: Int, archiver: DirectoryArchive = DirectoryArchive()) {
        self.mode = mode
        self.keep = max(0, keep)
        self.archiver = archiver
    }

    /// Returns where this run's old data is now: its directory, its archive, or nil (discarded,
    /// or a rewind, which keeps no old copy).
    public func apply(_ context: RunContext) async -> String? {
        let plan = context.plan
        let delegate = context.delegate
        removeLeftovers(pgdata: plan.pgdata, context: context)

        var current: String?
        if plan.isRewind {
            if mode != .keep {
                delegate.handle(.info("old data: pg_rewind worked in place, there is no old copy to \(mode.rawValue)"))
            }
        } else if let old = context.oldDataLocation(), old != plan.pgdata {
            // Judged before anything happens to it: a copy holding commits no other node has is
            // never discarded or pruned without an explicit `pg-rejoin old remove`.
            let verdict = await LostCommits.judge(context, old: old)
            do { try LostCommits.record(verdict, plan: plan) } catch {
                warn("could not record whether \(old) holds lost commits (\((error as? LocalizedError)?.errorDescription ?? "\(error)")); it is kept as if it did", context: context)
            }
            note("old data \(old): lost commits \(verdict)", context: context)
            if case .lost = verdict {
                delegate.handle(.warning("old data: \(old) holds \(verdict), which no other node has; it is kept whatever --keep-old says (pg-rejoin old remove \(old) removes it)"))
            }
            switch mode {
            case .keep:
                current = old
            case .archive:
                current = await archive(old, context: context)
            case .discard where !verdict.prunable:
                warn("not discarding \(old): lost commits \(verdict). Look at them first; `pg-rejoin old remove \(old)` removes it", context: context)
                current = old
            case .discard:
                current = discard(old, context: context)
            }
        } else if mode != .keep {
            delegate.handle(.warning("old data: \(plan.oldDataDirectory) is gone (moved by hand?); nothing to \(mode.rawValue)"))
        }
        prune(protecting: (plan.oldDataDirectory as NSString).lastPathComponent, context: context)
        return current
    }

    /// Archives the old directory, and removes it once the archive was re-read and verified.
    private func archive(_ old: String, context: RunContext) async -> String {
        let delegate = context.delegate
        let archivePath = old + archiver.compression.fileExtension
        let control = try? await context.tools.controlData(old)
        delegate.handle(.info("old data: archiving \(old) to \(archivePath) (\(archiver.compression.rawValue))"))
        if let damaged = DamagedDirectory.description(of: old) {
            delegate.handle(.warning("old data: \(archivePath) will hold the directory pg_rewind left half-written, not the old data (\(damaged)); its \(DamagedDirectory.markerName) goes into the archive with it"))
        }
        let result: DirectoryArchive.Result
        let started = Date()
        do {
            var archiver = self.archiver
            archiver.progressInterval = 10
            result = try archiver.archive(directory: old, to: archivePath, runID: context.plan.runID,
                                          control: control.map(OldDataControl.init)) { phase, done, total in
                let percent = total > 0 ? " (\(done * 100 / total)%)" : ""
                delegate.handle(.info("old data: \(phase.rawValue) \(ByteCount.format(done)) of \(ByteCount.format(total))\(percent)"))
            }
        } catch {
            let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
            warn("could not archive \(old): \(reason). The old data directory is kept as it was; the standby is fine", context: context)
            return old
        }
        let m = result.manifest
        let seconds = Date().timeIntervalSince(started)
        let rate = seconds > 0 ? " (\(ByteCount.format(UInt64(Double(m.totalBytes) / seconds)))/s)" : ""
        delegate.handle(.info("old data: archived \(ByteCount.format(m.totalBytes)) in \(m.entries.count) entries to \(ByteCount.format(result.archiveBytes)), re-read and verified \(m.fileCount) files against the directory in \(String(format: "%.1f", seconds)) s\(rate)"))
        note("old data archived to \(result.archive) (manifest \(result.manifestFile)), verified; written and re-read in "
             + String(format: "%.1f s, its head confirmed in %.2f s", result.writeSeconds, result.verifySeconds), context: context)
        if Files.isSymlink(old + "/pg_wal") {
            warn("the old pg_wal was a symlink to \((try? DirectoryArchive.readLink(old + "/pg_wal")) ?? "?"); the archive keeps the link, not that WAL, which is left in place", context: context)
        }
        do {
            let stem = (old as NSString).lastPathComponent
            let copy = OldDataCopy(kind: .directory, path: old, name: stem, runID: context.plan.runID, time: Date(), bytes: 0)
            try OldDataCopies.remove(copy)
            note("old data directory \(old) removed after its archive was verified", context: context)
        } catch {
            warn("the archive \(result.archive) is complete, but removing \(old) failed: \((error as? LocalizedError)?.errorDescription ?? "\(error)"); remove it by hand", context: context)
        }
        return result.archive
    }

    private func discard(_ old: String, context: RunContext) -> String? {
        do {
            let copy = OldDataCopy(kind: .directory, path: old, name: (old as NSString).lastPathComponent,
                                   runID: context.plan.runID, time: Date(), bytes: 0)
            try OldDataCopies.remove(copy)
            context.delegate.handle(.info("old data: removed \(old) (--old-data discard)"))
            note("old data directory \(old) discarded", context: context)
            return nil
        } catch {
            warn("could not remove \(old): \((error as? LocalizedError)?.errorDescription ?? "\(error)"); the standby is fine, remove it by hand", context: context)
            return Files.exists(old) ? old : nil
        }
    }

    private func prune(protecting protected: String, context: RunContext) {
        let copies = OldDataCopies.find(pgdata: context.plan.pgdata)
        for copy in OldDataCopies.toPrune(copies, keep: keep, protecting: protected) {
            if let reason = OldDataCopies.keptBeyondRetention(copy, pgdata: context.plan.pgdata) {
                context.delegate.handle(.info("old data: kept \(copy.path) beyond --keep-old \(keep): \(reason)"))
                note("kept \(copy.path) beyond --keep-old: \(reason)", context: context)
                continue
            }
            do {
                try OldDataCopies.remove(copy)
                context.delegate.handle(.info("old data: pruned \(copy.path) (--keep-old \(keep))"))
                note("pruned \(copy.path)", context: context)
            } catch {
                warn("could not prune \(copy.path): \((error as? LocalizedError)?.errorDescription ?? "\(error)")", context: context)
            }
        }
    }

    private func removeLeftovers(pgdata: String, context: RunContext) {
        for path in OldDataCopies.leftovers(pgdata: pgdata) {
            do {
                try Files.removeTree(path)
                context.delegate.handle(.info("old data: removed \(path), left by an interrupted archive or removal"))
            } catch {
                warn("could not remove the leftover \(path): \((error as? LocalizedError)?.errorDescription ?? "\(error)")", context: context)
            }
        }
    }

    private func warn(_ message: String, context: RunContext) {
        context.delegate.handle(.warning("old data: " + message))
        context.logger.warning("retention", metadata: ["retention.problem": "\(message)"])
        note("warning: " + message, context: context)
    }

    private func note(_ message: String, context: RunContext) {
        // The run is finished: a journal that cannot take a note changes nothing about it.
        try? context.record(JournalRecord(kind: .note, run: context.plan.runID, message: message))
    }
}
