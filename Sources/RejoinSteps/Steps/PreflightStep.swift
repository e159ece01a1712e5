import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum PreflightOutcome: Sendable {
    /// The node already streams from the upstream: nothing to do.
    case alreadyStandby(UpstreamAddress)
    /// `control` and `upstream` as preflight read them, so choosing the method need not ask
    /// again a moment later.
    /// `passwordInConninfo`: the node's own primary_conninfo held a password, which is not
    /// carried over (the caller warns).
    case plan(RejoinPlan, local: LocalServerState, control: ControlData, upstream: UpstreamFacts, passwordInConninfo: Bool)
}

/// Step 1: changes nothing. Proves everything the destructive steps rely on (safety invariant 3)
/// and fixes the plan.
public struct PreflightStep {
    public var options: RejoinOptions
    public var logger: Logger

    public init(options: RejoinOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// The oldest major pg-rejoin is tested on (13 to 18; README "PostgreSQL versions").
    public static let oldestMajor = 13

    /// Resolves `path` to the real data directory and checks it is one pg-rejoin may work on.
    public static func validateDataDirectory(_ path: String) throws -> String {
        guard !path.isEmpty else { throw PreflightError.dataDirectory(path: "(empty)", problem: "is not a path") }
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw PreflightError.dataDirectory(path: path, problem: "does not exist")
        }
        // A symlinked PGDATA is followed: the real directory is renamed aside and replaced, and
        // the link keeps pointing at the new one.
        guard let resolved = realpath(path, nil) else {
            let problem = errno == ELOOP ? "is a symlink loop" : "cannot be resolved (\(String(cString: strerror(errno))))"
            throw PreflightError.dataDirectory(path: path, problem: problem)
        }
        let real = String(cString: resolved)
        free(resolved)
        guard Files.isDirectory(real) else { throw PreflightError.dataDirectory(path: path, problem: "is not a directory") }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: real), entries.isEmpty {
            throw PreflightError.dataDirectory(path: path, problem: "is empty, so there is no cluster in it to check against the upstream (if its data is really gone, make a new standby with pg_basebackup)")
        }
        guard Files.exists(real + "/PG_VERSION"), Files.exists(real + "/global/pg_control") else {
            throw PreflightError.dataDirectory(path: path, problem: "is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)")
        }
        var parentStat = stat(), selfStat = stat()
        if stat(Files.parent(of: real), &parentStat) == 0, stat(real, &selfStat) == 0, parentStat.st_dev != selfStat.st_dev {
            throw PreflightError.mountPoint(path: real)
        }
        return real
    }

    public func run(children: ChildProcessRunner) async throws -> PreflightOutcome {
        let pgdata = try Self.validateDataDirectory(options.pgdata)
        let parent = Files.parent(of: pgdata)
        let user = Privileges.currentUserName()
        guard access(parent, W_OK) == 0 else { throw PreflightError.parentNotWritable(path: parent, user: user) }
        try Self.checkWorkDirectory(WorkPaths(pgdata: pgdata).workDirectory, user: user)

        let localMajor = Int((Files.read(pgdata + "/PG_VERSION") ?? "").trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").first ?? "") ?? 0
        guard localMajor == 0 || localMajor >= Self.oldestMajor else { throw PreflightError.unsupportedMajor(pgdata: pgdata, major: localMajor) }
        let bindir = try await PgBinaries.resolve(explicit: options.bindir, majorVersion: localMajor, children: children)
        let tools = PgTools(bindir: bindir, children: children)
        let control = try await tools.controlData(pgdata)
        let localState = try await LocalServerState.inspect(pgdata, tools: tools, control: control)
        logger.info("local server", metadata: ["pg.datadir": "\(pgdata)", "pg.state": "\(localState)"])

        let endpoint = options.endpoint
        let localPid: Int32?
        switch localState {
        case let .runningPrimary(pid), let .runningStandby(pid): localPid = pid
        case .stopped, .crashed: localPid = nil
        }
        let upstream = try UpstreamProbe.probe(endpoint, localPostmaster: localPid)
        let localID = control.systemIdentifier ?? "unknown"
        let local = LocalFacts(systemIdentifier: localID, majorVersion: localMajor, timeline: control.timeline ?? 0,
                               pgdata: pgdata, runningPort: localPid == nil ? nil : PostmasterPid.read(dataDirectory: pgdata)?.port)
        try Self.compare(upstream: upstream, at: options.upstream, with: local)

        switch localState {
        case .runningStandby:
            if let local = try? LocalEndpoint.connect(dataDirectory: pgdata, user: user),
               let status = try? StandbyStatus.read(local), status.isStreaming(from: options.upstream) {
                return .alreadyStandby(options.upstream)
            }
        case .runningPrimary:
            if !options.demote { throw PreflightError.localPrimaryRunning(pgdata: pgdata) }
        case .stopped, .crashed:
            break
        }

        let tablespaces = try Self.planTablespaces(pgdata: pgdata, major: localMajor, control: control,
                                                   upstream: upstream.tablespaces, user: user)

        // The node's own replication settings: what would keep the new standby from ever
        // verifying is refused now, what it keeps is recorded in the plan.
        let own = NodeReplicationSettings.read(dataDirectory: pgdata, configFile: options.cluster?.configFile)
        if options.keepConfig, !own.blockers.isEmpty {
            throw PreflightError.standbyWouldNotVerify(pgdata: pgdata, settings: own.blockers)
        }

        let paths = WorkPaths(pgdata: pgdata)
        let runID = Self.uniqueRunID(pgdata: pgdata, workDirectory: paths.workDirectory)
        let walDirectory = try newWalDirectory(pgdata: pgdata, runID: runID)
        // A tablespace on a disk of its own needs about what its old files take there; the
        // rest of the database lands beside PGDATA.
        var pgdataBytes = upstream.databaseBytes
        var spaces: [(path: String, bytes: UInt64)] = []
        for tablespace in tablespaces where tablespace.local && Files.deviceOf(tablespace.location) != Files.deviceOf(parent) {
            let bytes = OldDataCopies.treeSize(tablespace.current)
            pgdataBytes -= min(bytes, pgdataBytes)
            spaces.append((tablespace.location, bytes))
        }
        for (path, bytes) in [(parent, pgdataBytes)] + spaces {
            let (needed, overflow) = (bytes + bytes / 10).addingReportingOverflow(options.diskReserveBytes)
            let free = Files.freeBytes(at: path) ?? 0
            guard !overflow, free >= needed else {
                throw PreflightError.notEnoughSpace(path: path, needed: overflow ? .max : needed, free: free, reserve: options.diskReserveBytes)
            }
        }
        guard let oldIdentity = FileIdentity.of(pgdata) else {
            throw PreflightError.dataDirectory(path: pgdata, problem: "vanished during preflight")
        }

        let oldData = "\(pgdata).old-\(runID)"
        var steps: [StepKind] = [.preflight, .stopLocal, .setAside, .clone]
        if options.keepConfig { steps.append(.keepLocalConfig) }
        steps += [.writeStandbyConfig, .swapIn, .start, .verify]
        var plan = RejoinPlan(
            format: RejoinPlan.formatVersion, runID: runID, created: Date(), upstream: endpoint,
            nodeName: options.nodeNameGiven ? options.nodeName : (own.applicationName ?? options.nodeName), pgdata: pgdata, workDirectory: paths.workDirectory,
            stagingDirectory: paths.staging, oldDataDirectory: oldData, oldDataIdentity: oldIdentity,
            walDirectory: walDirectory, bindir: bindir, majorVersion: localMajor,
            systemIdentifier: localID, method: "basebackup", steps: steps, localUser: user,
            serverLog: paths.workDirectory + "/postgresql-\(runID).log", verifyTimeout: options.verifyTimeout,
            upstreamBytes: upstream.databaseBytes, maxRate: options.maxRate)
        if let cluster = options.cluster {
            plan.cluster = cluster
            plan.serverLog = cluster.logFile
        }
        var carried = own.carriedSettings
        switch options.slot {
        case .auto: plan.slotName = carried["primary_slot_name"]
        case .none: plan.slotName = nil
        case let .named(name): plan.slotName = name
        }
        carried["primary_slot_name"] = plan.slotName
        if let name = plan.slotName, SlotChoice.problem(name) != nil {
            throw SlotError.badName(name, problem: "the node's primary_slot_name is not a valid slot name")
        }
        if !tablespaces.isEmpty { plan.tablespaces = tablespaces }
        if options.lostRows == .skip { plan.captureLost = false }
        let slots = ReplicationSlots.onDisk(pgdata)
        if !slots.isEmpty { plan.carriedSlots = slots }
        let kept = own.keptConninfoOptions
        if !kept.isEmpty { plan.conninfoOptions = kept.map { [$0.0, $0.1] } }
        if !carried.isEmpty { plan.standbySettings = carried }
        return .plan(plan, local: localState, control: control, upstream: upstream,
                     passwordInConninfo: own.hasPassword)
    }

    /// What preflight knows about the local cluster, to hold against the upstream.
    public struct LocalFacts: Sendable, Equatable {
        public var systemIdentifier: String
        public var majorVersion: Int
        public var timeline: Int
        public var pgdata: String
        /// The port of the local server when it runs now (from postmaster.pid).
        public var runningPort: Int?

        public init(systemIdentifier: String, majorVersion: Int, timeline: Int, pgdata: String, runningPort: Int? = nil) {
            self.systemIdentifier = systemIdentifier
            self.majorVersion = majorVersion
            self.timeline = timeline
            self.pgdata = pgdata
            self.runningPort = runningPort
        }
    }

    /// The upstream must be another node, a primary, of the same cluster and major version, on
    /// a timeline no older than ours. Pure, so every refusal is unit-tested.
    public static func compare(upstream: UpstreamFacts, at address: UpstreamAddress, with local: LocalFacts,
                               resolvesToThisMachine: (UpstreamAddress) -> Bool = { $0.resolvesToThisMachine() }) throws {
        let shown = address.description
        if upstream.systemIdentifier == local.systemIdentifier {
            if upstream.servedByLocalPostmaster {
                throw PreflightError.upstreamIsThisNode(address: shown, pgdata: local.pgdata,
                                                        evidence: "the server that answered there is the local one (its backend is a child of the local postmaster)")
            }
            if let port = local.runningPort, port == address.port, upstream.timeline == local.timeline, resolvesToThisMachine(address) {
                throw PreflightError.upstreamIsThisNode(address: shown, pgdata: local.pgdata,
                                                        evidence: "that is this machine's address and the local server's port, with the same system identifier and timeline \(local.timeline)")
            }
        }
        guard !upstream.inRecovery else { throw PreflightError.upstreamIsStandby(address: shown) }
        guard upstream.systemIdentifier == local.systemIdentifier else {
            throw PreflightError.differentCluster(address: shown, upstream: upstream.systemIdentifier, local: local.systemIdentifier)
        }
        guard upstream.majorVersion == local.majorVersion else {
            throw PreflightError.versionMismatch(address: shown, upstream: upstream.majorVersion, local: local.majorVersion)
        }
        guard upstream.timeline >= local.timeline else {
            throw PreflightError.timelineBehind(address: shown, upstream: upstream.timeline, local: local.timeline)
        }
    }

    /// `PGDATA.rejoin` holds the lock and the journal: when it exists already (an earlier run),
    /// it must be a directory this user can write, or the run would fail half-started.
    static func checkWorkDirectory(_ path: String, user: String) throws {
        guard Files.exists(path) else { return }
        guard !Files.isSymlink(path), Files.isDirectory(path) else {
            throw PreflightError.workDirectoryUnusable(path: path, user: user, problem: "is not a directory")
        }
        guard access(path, R_OK | W_OK | X_OK) == 0 else {
            throw PreflightError.workDirectoryUnusable(path: path, user: user, problem: "is not writable")
        }
    }

    /// When pg_wal is a symlink, the operator put WAL on another disk: the new cluster gets its
    /// own WAL directory beside the old one there, and the old WAL stays untouched.
    func newWalDirectory(pgdata: String, runID: String) throws -> String? {
        let link = pgdata + "/pg_wal"
        guard Files.isSymlink(link) else { return nil }
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else {
            throw PreflightError.dataDirectory(path: link, problem: "is a symlink that cannot be read")
        }
        let absolute = target.hasPrefix("/") ? target : pgdata + "/" + target
        let base = (absolute as NSString).standardizingPath
        return base + ".rejoin-" + runID
    }

    /// The time in UTC, with `-2`, `-3` ... when a run of the same second left anything under
    /// that name (its old copy, or its files in the working directory): every file a run
    /// names after itself must be its own.
    static func uniqueRunID(pgdata: String, workDirectory: String, at date: Date = Date()) -> String {
        let base = runID(date)
        var candidate = base
        var suffix = 2
        func taken(_ id: String) -> Bool {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: workDirectory)) ?? []
            return Files.exists("\(pgdata).old-\(id)") || OldDataCopies.find(pgdata: pgdata).contains { $0.runID == id }
                || names.contains { $0.hasSuffix("-" + id) || $0 == "postgresql-\(id).log" }
        }
        while taken(candidate) {
            candidate = "\(base)-\(suffix)"
            suffix += 1
        }
        return candidate
    }

    static func runID(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }

    /// On resume (invariant 4, and before every destructive step): the upstream must still be a
    /// primary of the same cluster. When it was found among peers (`--from auto`, heal), every
    /// peer is asked again: exactly one primary, the same one, or the run stops here.
    public static func recheckUpstream(_ plan: RejoinPlan) async throws {
        let facts = try UpstreamProbe.probe(plan.upstream)
        let address = plan.upstream.address.description
        guard !facts.inRecovery else { throw PreflightError.upstreamIsStandby(address: address) }
        guard facts.systemIdentifier == plan.systemIdentifier else {
            throw PreflightError.differentCluster(address: address, upstream: facts.systemIdentifier, local: plan.systemIdentifier)
        }
        guard let peers = plan.peers, !peers.isEmpty else { return }
        var template = plan.upstream
        template.connectTimeout = plan.discoveryTimeout ?? 3
        let local = PostmasterPid.read(dataDirectory: plan.pgdata).map(\.pid).flatMap { kill($0, 0) == 0 ? $0 : nil }
        let observations = await PrimaryDiscovery.observe(peers, template: template, localPostmaster: local)
        let primaries = PrimaryDiscovery.remotePrimaries(observations, systemIdentifier: plan.systemIdentifier)
        guard primaries.count == 1, primaries.first?.address == plan.upstream.address else {
            throw PreflightError.primariesChanged(chosen: address, now: primaries.map(\.description),
                                                  peers: observations.map(\.description))
        }
    }
}

extension PreflightStep {
    /// The node's tablespaces and the upstream's, matched by OID (physical replication keeps
    /// OIDs): where each lives on this node, and what the copy path will move. Refuses, before
    /// anything changes, what the moves could not do.
    static func planTablespaces(pgdata: String, major: Int, control: ControlData, upstream: [UpstreamTablespace],
                                user: String) throws -> [TablespacePlan] {
        let (links, problems) = LocalTablespaces.read(pgdata)
        if let problem = problems.first {
            throw PreflightError.tablespace(problem: problem, advice: "PostgreSQL keeps only symlinks (and in-place tablespace directories) there; move it away")
        }
        // In-place tablespaces (relative locations) are part of PGDATA on both sides.
        let remote = upstream.filter { $0.location.hasPrefix("/") }
        guard !links.isEmpty || !remote.isEmpty else { return [] }
        guard let version = LocalTablespaces.versionDirectory(major: major, control: control) else {
            throw PreflightError.tablespace(problem: "pg_controldata of \(pgdata) shows no catalog version, so the tablespaces' directory name is unknown",
                                            advice: "Check the data directory with pg_controldata")
        }
        var plans: [TablespacePlan] = []
        for link in links {
            let theirs = remote.first { $0.oid == link.oid }
            let plan = TablespacePlan(oid: link.oid, name: theirs?.name, location: link.location, upstreamLocation: theirs?.location,
                                      versionDirectory: version, local: true)
            guard Files.isDirectory(plan.current) else {
                throw PreflightError.tablespace(problem: "tablespace \(plan.label): \(plan.current) is missing (pg_tblspc/\(link.oid) points to \(link.location))",
                                                advice: "Mount or restore the tablespace's disk, then rerun")
            }
            guard access(link.location, W_OK) == 0 else {
                throw PreflightError.tablespace(problem: "tablespace \(plan.label): \(user) may not write \(link.location), where its old files are set aside beside the new copy",
                                                advice: "Give \(link.location) to the data directory's owner, then rerun")
            }
            plans.append(plan)
        }
        for theirs in remote where !links.contains(where: { $0.oid == theirs.oid }) {
            // Created on the upstream after the fork: where streaming replication would put it.
            let plan = TablespacePlan(oid: theirs.oid, name: theirs.name, location: (theirs.location as NSString).standardizingPath,
                                      upstreamLocation: theirs.location, versionDirectory: version, local: false)
            if Files.exists(plan.current) {
                throw PreflightError.tablespace(problem: "the upstream's tablespace \(plan.label) is not in \(pgdata)/pg_tblspc, but \(plan.current) already exists on this node",
                                                advice: "A tablespace created after the fork goes where streaming replication would put it, the upstream's path; if nothing uses what is there (it is the upstream's own when both run on one host), move it aside, then rerun")
            }
            var existing = plan.location
            while !Files.exists(existing) && existing != "/" { existing = Files.parent(of: existing) }
            guard Files.isDirectory(existing), access(existing, W_OK) == 0 else {
                throw PreflightError.tablespace(problem: "the upstream's tablespace \(plan.label) is at \(plan.location), which \(user) cannot create on this node",
                                                advice: "Create \(plan.location) owned by the data directory's owner, then rerun")
            }
            plans.append(plan)
        }
        return plans
    }
}
