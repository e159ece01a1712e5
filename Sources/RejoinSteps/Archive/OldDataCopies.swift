import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One kept copy of an old data directory beside PGDATA: the renamed directory
/// (`main.old-20261124T190102Z`) or its archive (`main.old-20261124T190102Z.tar.zst`, with
/// `main.old-20261124T190102Z.manifest.json` beside it).
public struct OldDataCopy: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case directory, archive }

    public var kind: Kind
    public var path: String
    /// The directory's name, also the archive's name without its extension: one per run.
    public var name: String
    public var runID: String
    /// When the run set the old data aside (from the run id, which is UTC time).
    public var time: Date
    /// On disk: the directory's files, or the archive file.
    public var bytes: UInt64
    /// An archive: the size of the data it holds.
    public var dataBytes: UInt64?
    public var manifestFile: String?
    public var control: OldDataControl?
    /// Why the timeline/LSN is unknown, when it is.
    public var problem: String?
    /// Whether it holds commits no other node has (`LostCommits`), for `old list`; in JSON
    /// as its description (`lost_commits`).
    public var lostCommits: String?
    /// The same verdict as a value, for deciding (not encoded).
    public var lostVerdict: LostCommits.Verdict? = nil

    /// Set when this is a directory pg_rewind left half-written (`DamagedDirectory`), with
    /// what its marker says: never the old data.
    public var damaged: String?
    /// A directory copy's tablespaces, set aside beside their own files
    /// (`…/pg-rejoin-old-RUN`); counted in `bytes`, removed with the copy.
    public var tablespaces: [String]?

    enum CodingKeys: String, CodingKey {
        case kind, path, name, time, bytes, control, problem, damaged, tablespaces
        case lostCommits = "lost_commits"
        case runID = "run"
        case dataBytes = "data_bytes"
        case manifestFile = "manifest"
    }
}

/// Finds the copies pg-rejoin left beside a data directory. Only names pg-rejoin makes are
/// considered (`<PGDATA>.old-YYYYMMDDTHHMMSSZ`, optionally `-N`), so a hand-made
/// `main.old-before-upgrade` is never listed nor pruned.
public enum OldDataCopies {
    static let archiveExtensions = ArchiveCompression.allCases.map(\.fileExtension)
    /// Suffixes of work in progress: an archive being written, a copy being removed.
    static let partialSuffix = ".partial"
    static let removingSuffix = ".pg-rejoin-removing"
    static let manifestSuffix = ".manifest.json"

    /// The copies beside `pgdata`, oldest first; cheap (no pg_controldata, no manifest).
    public static func find(pgdata: String) -> [OldDataCopy] {
        let parent = Files.parent(of: pgdata)
        let prefix = (pgdata as NSString).lastPathComponent + ".old-"
        var copies: [OldDataCopy] = []
        for name in (try? DirectoryArchive.list(parent)) ?? [] where name.hasPrefix(prefix) {
            let path = parent + "/" + name
            if let ext = archiveExtensions.first(where: { name.hasSuffix($0) }) {
                let stem = String(name.dropLast(ext.count))
                guard let (run, time) = runID(of: stem, prefix: prefix), Files.isRegularFile(path), !Files.isSymlink(path) else { continue }
                let manifest = DirectoryArchive.manifestFile(forArchive: path)
                copies.append(OldDataCopy(kind: .archive, path: path, name: stem, runID: run, time: time,
                                          bytes: fileSize(path), manifestFile: Files.exists(manifest) ? manifest : nil))
            } else if let (run, time) = runID(of: name, prefix: prefix), Files.isDirectory(path), !Files.isSymlink(path) {
                copies.append(OldDataCopy(kind: .directory, path: path, name: name, runID: run, time: time, bytes: 0))
            }
        }
        return copies.sorted { ($0.time, $0.name, $0.kind.rawValue) < ($1.time, $1.name, $1.kind.rawValue) }
    }

    /// Leftovers of a retention that was killed part-way: half-written archives, copies
    /// half-removed, a manifest whose archive never got its name. Safe to delete under the
    /// run's lock: the directory an archive was made from is removed only after its archive
    /// was complete.
    public static func leftovers(pgdata: String) -> [String] {
        let parent = Files.parent(of: pgdata)
        let prefix = (pgdata as NSString).lastPathComponent + ".old-"
        let names = (try? DirectoryArchive.list(parent)) ?? []
        return names.filter { name in
            guard name.hasPrefix(prefix) else { return false }
            if name.hasSuffix(partialSuffix) || name.hasSuffix(removingSuffix) { return true }
            guard name.hasSuffix(manifestSuffix), runID(of: String(name.dropLast(manifestSuffix.count)), prefix: prefix) != nil else { return false }
            let stem = String(name.dropLast(manifestSuffix.count))
            return !archiveExtensions.contains { names.contains(stem + $0) }
        }.map { parent + "/" + $0 }
    }

    /// `find`, plus sizes, and where each copy ended: pg_controldata on a directory, the
    /// manifest of an archive.
    public static func describe(pgdata: String, tools: (_ majorVersion: Int?) async -> PgTools?) async -> [OldDataCopy] {
        var copies = find(pgdata: pgdata)
        for i in copies.indices {
            let verdict = LostCommits.verdict(pgdata: pgdata, runID: copies[i].runID)
            copies[i].lostVerdict = verdict
            copies[i].lostCommits = verdict.description
            switch copies[i].kind {
            case .directory:
                let tablespaces = tablespaceDirectories(of: copies[i].path, runID: copies[i].runID)
                copies[i].bytes = ([copies[i].path] + tablespaces).reduce(0) { $0 + treeSize($1) }
                if !tablespaces.isEmpty { copies[i].tablespaces = tablespaces }
                copies[i].damaged = DamagedDirectory.description(of: copies[i].path)
                let major = Files.read(copies[i].path + "/PG_VERSION").flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                guard let pg = await tools(major) else {
                    copies[i].problem = "pg_controldata not found (pass --bindir)"
                    continue
                }
                do {
                    copies[i].control = OldDataControl(try await pg.controlData(copies[i].path))
                } catch {
                    copies[i].problem = "pg_controldata failed: " + ((error as? LocalizedError)?.errorDescription ?? "\(error)")
                }
            case .archive:
                do {
                    let manifest: ArchiveManifest
                    if let file = copies[i].manifestFile, let data = FileManager.default.contents(atPath: file) {
                        manifest = try ArchiveManifest.decode(data, archive: file)
                    } else {
                        manifest = try DirectoryArchive.readManifest(archive: copies[i].path)
                    }
                    copies[i].control = manifest.control
                    copies[i].dataBytes = manifest.totalBytes
                    if manifest.entries.contains(where: { $0.path == DamagedDirectory.markerName }) {
                        copies[i].damaged = "damaged: partly rewritten by an interrupted pg_rewind (see \(DamagedDirectory.markerName) inside)"
                    }
                    if manifest.control == nil { copies[i].problem = "the manifest records no pg_controldata" }
                } catch {
                    copies[i].problem = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                }
            }
        }
        return copies
    }

    /// Which copies `--keep-old N` removes: all but the newest N runs, counting the protected
    /// run (this run's, never removed) when it still has a copy; oldest first. A run's
    /// directory and archive go together.
    public static func toPrune(_ copies: [OldDataCopy], keep: Int, protecting protected: String?) -> [OldDataCopy] {
        var newestFirst: [String] = []
        for copy in copies.sorted(by: { ($0.time, $0.name) > ($1.time, $1.name) }) where !newestFirst.contains(copy.name) {
            newestFirst.append(copy.name)
        }
        var kept = newestFirst.contains { $0 == protected } ? 1 : 0
        var doomed: Set<String> = []
        for name in newestFirst where name != protected {
            if kept < keep { kept += 1 } else { doomed.insert(name) }
        }
        return copies.filter { doomed.contains($0.name) }
    }

    /// Why retention must keep `copy` whatever --keep-old says, or nil: it may hold commits no
    /// other node has (`LostCommits`), or a postmaster runs in it (someone is looking at it).
    public static func keptBeyondRetention(_ copy: OldDataCopy, pgdata: String) -> String? {
        if let pid = runningPostmaster(in: copy) { return "a postmaster (pid \(pid)) runs in it" }
        let verdict = LostCommits.verdict(pgdata: pgdata, runID: copy.runID)
        return verdict.prunable ? nil : "lost commits \(verdict) (pg-rejoin old remove removes it)"
    }

    /// A live postmaster whose working directory is this copy (a directory only).
    public static func runningPostmaster(in copy: OldDataCopy) -> Int32? {
        guard copy.kind == .directory, let pid = PostmasterPid.read(dataDirectory: copy.path)?.pid,
              kill(pid, 0) == 0 || errno == EPERM, !LocalServerState.isZombie(pid) else { return nil }
        guard let cwd = LocalServerState.workingDirectory(of: pid), let real = LocalServerState.realPath(copy.path) else { return pid }
        return cwd == real ? pid : nil
    }

    /// `pg-rejoin old remove`: the operator's explicit removal of one copy `find` lists, by path
    /// or name. Refuses PGDATA, the old data of an unfinished run and a copy a postmaster runs in.
    public static func removeExplicitly(_ given: String, pgdata: String) throws -> (paths: [String], lostCommits: String) {
        let copies = find(pgdata: pgdata)
        let name = (given as NSString).lastPathComponent
        let matching = copies.filter { $0.path == given || $0.name == name || ($0.path as NSString).lastPathComponent == name }
        guard let first = matching.first else {
            throw OldDataError.notACopy(given: given, pgdata: pgdata, known: copies.map { ($0.path as NSString).lastPathComponent })
        }
        let journal = try Journal.read(path: WorkPaths(pgdata: pgdata).journal, expectedPGDATA: pgdata)
        if journal.isUnfinished, let plan = journal.plan, matching.contains(where: { $0.path == plan.oldDataDirectory }) {
            throw OldDataError.unfinishedRun(path: first.path, runID: plan.runID)
        }
        for copy in matching {
            if let pid = runningPostmaster(in: copy) { throw OldDataError.running(path: copy.path, pid: pid) }
        }
        let verdict = LostCommits.verdict(pgdata: pgdata, runID: first.runID)
        for copy in matching { try remove(copy) }
        return (matching.map(\.path), verdict.description)
    }

    /// Removes a copy: a directory is first renamed to `…pg-rejoin-removing` (so a crash
    /// part-way never leaves something that looks like a whole copy), an archive goes with the
    /// manifest beside it.
    public static func remove(_ copy: OldDataCopy) throws {
        switch copy.kind {
        case .directory:
            // Its tablespaces first: the copy's links are what finds them.
            for tablespace in tablespaceDirectories(of: copy.path, runID: copy.runID) {
                let doomed = tablespace + removingSuffix
                try Files.rename(tablespace, to: doomed)
                try Files.removeTree(doomed)
            }
            let doomed = copy.path + removingSuffix
            try Files.rename(copy.path, to: doomed)
            try Files.removeTree(doomed)
        case .archive:
            try Files.removeTree(copy.path)
            try Files.removeTree(copy.manifestFile ?? DirectoryArchive.manifestFile(forArchive: copy.path))
        }
    }

    /// The tablespace directories a copy's links lead to, when they are the ones its run set
    /// aside (`pg-rejoin-old-RUN`): a link anywhere else is the operator's, never removed.
    public static func tablespaceDirectories(of copy: String, runID: String) -> [String] {
        LocalTablespaces.read(copy).links.map(\.location).filter {
            ($0 as NSString).lastPathComponent == TablespacePlan.oldPrefix + runID && Files.isDirectory($0) && !Files.isSymlink($0)
        }
    }

    /// "20261124T190102Z" or "20261124T190102Z-2" after the prefix, and the time it names.
    static func runID(of name: String, prefix: String) -> (String, Date)? {
        guard name.hasPrefix(prefix) else { return nil }
        let run = String(name.dropFirst(prefix.count))
        guard run.range(of: "^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$", options: .regularExpression) != nil else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        guard let time = formatter.date(from: String(run.prefix(16))) else { return nil }
        return (run, time)
    }

    static func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        return lstat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    /// The bytes of the regular files under a directory (symlinks not followed).
    static func treeSize(_ path: String) -> UInt64 {
        var total: UInt64 = 0
        for name in (try? DirectoryArchive.list(path)) ?? [] {
            let child = path + "/" + name
            var st = stat()
            guard lstat(child, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG: total += UInt64(st.st_size)
            case S_IFDIR: total += treeSize(child)
            default: break
            }
        }
        return total
    }
}

public enum OldDataError: LocalizedError, RejoinFailure {
    case notACopy(given: String, pgdata: String, known: [String])
    case unfinishedRun(path: String, runID: String)
    case running(path: String, pid: Int32)

    public var exitStatus: ExitStatus { .refused }

    public var errorDescription: String? {
        switch self {
        case let .notACopy(given, pgdata, known):
            return "\(given) is not an old data copy pg-rejoin kept beside \(pgdata) (those are: \(known.isEmpty ? "none" : known.joined(separator: ", "))); `pg-rejoin old list` shows them. Nothing was changed"
        case let .unfinishedRun(path, runID):
            return "\(path) is the old data of the unfinished run \(runID); finish it (rerun) or give it up (pg-rejoin abort) first. Nothing was changed"
        case let .running(path, pid):
            return "a postmaster (pid \(pid)) runs in \(path); stop it first. Nothing was changed"
        }
    }
}
