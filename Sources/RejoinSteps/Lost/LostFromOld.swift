import Foundation

/// `pg-rejoin lost --from-old PATH`: the lost transactions of an old data copy a full copy kept
/// beside PGDATA, its directory or its archive, read after the fact: a run with
/// `--lost-rows skip`, one made before pg-rejoin read them, or one whose reading failed.
///
/// The copy is read as a rejoin reads it: crash-recovered when it had crashed, then started as
/// a private hot standby of nobody (`PrivateServer`); its rows and the WAL it holds stay (recovery
/// appends its checkpoint, as PostgreSQL's own start would). An
/// archive is extracted into the working directory first, and that extract removed after. The
/// fork comes from the rejoined node's own timeline history (`PGDATA/pg_wal/N.history`), and the
/// pre-fork rows from the rejoined node, which must be running. The result is the run's
/// `lost-RUN/lost.json`, as if the run had read it.
///
/// Refused, with nothing changed: a copy of another cluster, PGDATA itself, a copy in use, an
/// unfinished rejoin, a run whose lost transactions were read already.
public struct LostFromOld {
    public var pgdata: String
    public var old: String
    /// --bindir, else the programs of the copy's major version (found as rejoin finds them).
    public var bindir: String?
    public var children: ChildProcessRunner
    public var progress: @Sendable (String) -> Void

    public init(pgdata: String, old: String, bindir: String? = nil, children: ChildProcessRunner = ChildProcessRunner(),
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.pgdata = pgdata
        self.old = old
        self.bindir = bindir
        self.children = children
        self.progress = progress
    }

    /// Reads the copy; returns the run id whose `lost.json` now holds what it lost.
    public func run() async throws -> String {
        let paths = WorkPaths(pgdata: pgdata)
        guard Files.isDirectory(pgdata) else { throw LostFromOldError.noPGDATA(pgdata) }
        let copy = try Self.identify(old, pgdata: pgdata)
        if !Files.exists(paths.workDirectory) { try Files.makeDirectory(paths.workDirectory) }
        let lock = try RunLock(path: paths.lock)
        defer { withExtendedLifetime(lock) {} }
        let state = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        if state.isUnfinished, let plan = state.plan { throw LostFromOldError.unfinishedRun(run: plan.runID, pgdata: pgdata) }
        let run = copy.runID ?? "from-old-" + PreflightStep.runID()
        let directory = LostFiles.directory(workDirectory: paths.workDirectory, run: run)
        // A run that tried and could not read them says so in its report: read again then.
        if Files.exists(directory + "/lost.json"),
           !((try? LostFiles.read(directory + "/lost.json"))?.notes.contains { $0.hasPrefix(Self.unreadNote) } ?? false) {
            throw LostFromOldError.alreadyRead(run: run, pgdata: pgdata)
        }

        var data = copy.path
        let extracted = directory + "/old-data"
        defer { if copy.isArchive { try? Files.removeTree(extracted) } }
        if copy.isArchive {
            try Files.makeDirectory(directory)
            if Files.exists(extracted) { try Files.removeTree(extracted) }
            progress("extracting \(copy.path) into \(extracted)")
            _ = try DirectoryArchive().extract(archive: copy.path, to: extracted)
            // postgres starts only on a directory its owner alone may enter.
            guard chmod(extracted, 0o700) == 0 else { throw FileError.write(path: extracted, errno: errno) }
            data = extracted
        }

        let report = try await read(data, run: run, directory: directory, plan: state.plan)
        try? Files.removeTree(directory + "/server")
        try LostFiles.write(report, directory: directory)
        progress("reading the pre-fork rows on \(pgdata)")
        let completed = LostOldValues.completing(report, onTheNodeAt: pgdata)
        try LostFiles.writeCompletion(completed, over: report, directory: directory)
        return run
    }

    /// Reads a copy's lost transactions: its cluster, its fork in the node's history, crash
    /// recovery when needed, then the rows.
    private func read(_ data: String, run: String, directory: String, plan: RejoinPlan?) async throws -> LostReport {
        guard let major = Files.read(data + "/PG_VERSION").flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw LostFromOldError.notACopy(path: old, why: "it has no PG_VERSION")
        }
        // The journal's programs when they are of this major (the run's --bindir), else found.
        let explicit = bindir ?? (plan?.majorVersion == major ? plan?.bindir : nil)
        let tools = PgTools(bindir: try await PgBinaries.resolve(explicit: explicit, majorVersion: major, children: children), children: children)
        var control = try await tools.controlData(data)
        let node = try await tools.controlData(pgdata)
        guard let system = control.systemIdentifier, system == node.systemIdentifier else {
            throw LostFromOldError.otherCluster(path: old, its: control.systemIdentifier ?? "?", pgdata: pgdata, node: node.systemIdentifier ?? "?")
        }
        guard let timeline = control.timeline else { throw LostFromOldError.notACopy(path: old, why: "pg_controldata names no timeline") }
        let history = try Self.history(pgdata: pgdata)
        guard history.timeline > timeline, let fork = history.history.forkPoint(of: timeline) else {
            throw LostFromOldError.notBehind(path: old, timeline: timeline, pgdata: pgdata, nodeTimeline: history.timeline)
        }

        // A copy's postgresql.conf is inside it, except a Debian cluster's (the run's, in /etc).
        let configFile = Files.exists(data + "/postgresql.conf") ? nil : plan?.configFile
        guard configFile != nil || Files.exists(data + "/postgresql.conf") else { throw LostFromOldError.noConfiguration(path: old) }
        let server = PrivateServer(majorVersion: major, configFile: configFile, tools: tools, children: children,
                                   dataDirectory: data, directory: directory + "/server")
        // A reading killed before: its private server stopped and its standby.signal removed.
        try await server.abandon()
        // By the process table, not pg_ctl status alone: a crashed copy's stale pid may now be
        // another program's.
        guard try await !LocalServerState.inspect(data, tools: tools, control: control).isRunning else {
            throw LostFromOldError.inUse(path: data)
        }
        let clock = PhaseClock()
        if !control.isCleanShutdown {
            progress("crash recovery of \(data)")
            try Files.makeDirectory(directory)
            control = try await RecoverLocalStep.recoverToRead(data, control: control, majorVersion: major, configFile: configFile,
                                                               stalePidFile: directory + "/postmaster.pid.stale", tools: tools, children: children)
        }
        progress("reading what timeline \(timeline) committed after the fork at \(fork)")
        return try await LostReading(server: server, run: run, systemIdentifier: system).read(timeline: timeline, fork: fork, clock: clock).report
    }

    /// How a report that read nothing begins its note (`CaptureLostStep.unread`).
    static let unreadNote = "not read as rows: "

    struct Copy {
        var path: String
        var isArchive: Bool
        /// The run that kept it, when it is one of the copies beside PGDATA.
        var runID: String?
    }

    /// What `path` is: a data directory or an archive of one, never PGDATA itself.
    static func identify(_ path: String, pgdata: String) throws -> Copy {
        let absolute = DataDirectoryPath.resolve(path)
        guard Files.exists(absolute) else { throw LostFromOldError.notACopy(path: path, why: "it does not exist") }
        if let here = FileIdentity.of(pgdata), FileIdentity.of(absolute) == here || absolute.hasPrefix(pgdata + "/") {
            throw LostFromOldError.isPGDATA(path: path, pgdata: pgdata)
        }
        let known = OldDataCopies.find(pgdata: pgdata).first { FileIdentity.of($0.path) == FileIdentity.of(absolute) }
        if Files.isDirectory(absolute) {
            guard Files.exists(absolute + "/PG_VERSION") else { throw LostFromOldError.notACopy(path: path, why: "it is a directory without PG_VERSION") }
            return Copy(path: absolute, isArchive: false, runID: known?.runID)
        }
        guard OldDataCopies.archiveExtensions.contains(where: { absolute.hasSuffix($0) }) else {
            throw LostFromOldError.notACopy(path: path, why: "it is neither a data directory nor an archive pg-rejoin made (\(OldDataCopies.archiveExtensions.joined(separator: ", ")))")
        }
        return Copy(path: absolute, isArchive: true, runID: known?.runID)
    }

    /// The newest timeline history among the node's WAL: a standby fetches its primary's, and
    /// a copy or a rewind brings it along.
    static func history(pgdata: String) throws -> (timeline: Int, history: TimelineHistory) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: pgdata + "/pg_wal")) ?? []
        let timelines = names.compactMap { name -> Int? in
            guard name.hasSuffix(".history"), name.count == 16 else { return nil }
            return Int(name.prefix(8), radix: 16)
        }
        guard let newest = timelines.max(), let text = Files.read(pgdata + "/pg_wal/" + String(format: "%08X.history", newest)) else {
            throw LostFromOldError.noHistory(pgdata: pgdata)
        }
        return (newest, TimelineHistory(parsing: text))
    }
}

public enum LostFromOldError: LocalizedError, RejoinFailure {
    case noPGDATA(String)
    case notACopy(path: String, why: String)
    case isPGDATA(path: String, pgdata: String)
    case otherCluster(path: String, its: String, pgdata: String, node: String)
    case notBehind(path: String, timeline: Int, pgdata: String, nodeTimeline: Int)
    case noHistory(pgdata: String)
    case noConfiguration(path: String)
    case inUse(path: String)
    case unfinishedRun(run: String, pgdata: String)
    case alreadyRead(run: String, pgdata: String)

    public var exitStatus: ExitStatus { .refused }

    public var errorDescription: String? {
        let nothing = " Nothing was changed"
        switch self {
        case let .noPGDATA(pgdata):
            return "\(pgdata) is not a directory: --pgdata names the rejoined node whose old copy is read." + nothing
        case let .notACopy(path, why):
            return "\(path) is not an old data copy: \(why). Name a directory pg-rejoin set aside or its archive (pg-rejoin old list shows them)." + nothing
        case let .isPGDATA(path, pgdata):
            return "\(path) is the node's own data directory \(pgdata), not an old copy of it (pg-rejoin old list shows those)." + nothing
        case let .otherCluster(path, its, pgdata, node):
            return "\(path) belongs to cluster \(its), \(pgdata) to cluster \(node): an old copy of this node shares its system identifier." + nothing
        case let .notBehind(path, timeline, pgdata, nodeTimeline):
            return "\(path) is on timeline \(timeline), which the history of \(pgdata) (timeline \(nodeTimeline)) does not show forked from: it lost nothing to this node's primary." + nothing
        case let .noHistory(pgdata):
            return "\(pgdata)/pg_wal holds no timeline history file, so the fork is unknown; start the node as a standby of the new primary (it fetches the history) and run this again." + nothing
        case let .noConfiguration(path):
            return "\(path) has no postgresql.conf, and no run of pg-rejoin here names the cluster's configuration (a Debian cluster's is in /etc/postgresql): rejoin with --cluster once, or copy the configuration into the copy." + nothing
        case let .inUse(path):
            return "a server runs on \(path); stop it first." + nothing
        case let .unfinishedRun(run, pgdata):
            return "run \(run) of \(pgdata) is unfinished: finish it (rerun pg-rejoin) or pg-rejoin abort it first." + nothing
        case let .alreadyRead(run, pgdata):
            return "run \(run) has its lost transactions read already: pg-rejoin lost --pgdata \(pgdata) --run \(run) shows them." + nothing
        }
    }
}
