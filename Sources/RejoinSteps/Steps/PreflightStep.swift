import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum PreflightOutcome: Sendable {
    /// The node already streams from the upstream: nothing to do.
    case alreadyStandby(UpstreamAddress)
    case plan(RejoinPlan, local: LocalServerState)
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

        let localMajor = Int((Files.read(pgdata + "/PG_VERSION") ?? "").trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").first ?? "") ?? 0
        let bindir = try await PgBinaries.resolve(explicit: options.bindir, majorVersion: localMajor, children: children)
        let tools = PgTools(bindir: bindir, children: children)
        let control = try await tools.controlData(pgdata)
        let localState = try await LocalServerState.inspect(pgdata, tools: tools)
        logger.info("local server", metadata: ["pg.datadir": "\(pgdata)", "pg.state": "\(localState)"])

        let endpoint = options.endpoint
        let upstream = try UpstreamProbe.probe(endpoint)
        let address = options.upstream.description
        guard !upstream.inRecovery else { throw PreflightError.upstreamIsStandby(address: address) }
        let localID = control.systemIdentifier ?? "unknown"
        guard upstream.systemIdentifier == localID else {
            throw PreflightError.differentCluster(address: address, upstream: upstream.systemIdentifier, local: localID)
        }
        guard upstream.majorVersion == localMajor else {
            throw PreflightError.versionMismatch(address: address, upstream: upstream.majorVersion, local: localMajor)
        }
        let localTimeline = control.timeline ?? 0
        guard upstream.timeline >= localTimeline else {
            throw PreflightError.timelineBehind(address: address, upstream: upstream.timeline, local: localTimeline)
        }

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

        if !upstream.tablespaces.isEmpty {
            throw PreflightError.tablespaces(detail: "the upstream has tablespaces (\(upstream.tablespaces.joined(separator: ", ")))")
        }
        let localTablespaces = (try? FileManager.default.contentsOfDirectory(atPath: pgdata + "/pg_tblspc")) ?? []
        if !localTablespaces.isEmpty {
            throw PreflightError.tablespaces(detail: "the local data directory has tablespaces (pg_tblspc is not empty)")
        }

        let paths = WorkPaths(pgdata: pgdata)
        let runID = Self.runID()
        let walDirectory = try newWalDirectory(pgdata: pgdata, runID: runID)
        let needed = upstream.databaseBytes + upstream.databaseBytes / 10 + options.diskReserveBytes
        let free = Files.freeBytes(at: parent) ?? 0
        guard free >= needed else { throw PreflightError.notEnoughSpace(path: parent, needed: needed, free: free) }
        guard let oldIdentity = FileIdentity.of(pgdata) else {
            throw PreflightError.dataDirectory(path: pgdata, problem: "vanished during preflight")
        }

        var oldData = "\(pgdata).old-\(runID)"
        var suffix = 2
        while Files.exists(oldData) {
            oldData = "\(pgdata).old-\(runID)-\(suffix)"
            suffix += 1
        }
        var steps: [StepKind] = [.preflight, .stopLocal, .setAside, .clone]
        if options.keepConfig { steps.append(.keepLocalConfig) }
        steps += [.writeStandbyConfig, .swapIn, .start, .verify]
        let plan = RejoinPlan(
            format: RejoinPlan.formatVersion, runID: runID, created: Date(), upstream: endpoint,
            nodeName: options.nodeName, pgdata: pgdata, workDirectory: paths.workDirectory,
            stagingDirectory: paths.staging, oldDataDirectory: oldData, oldDataIdentity: oldIdentity,
            walDirectory: walDirectory, bindir: bindir, majorVersion: localMajor,
            systemIdentifier: localID, method: "basebackup", steps: steps, localUser: user,
            serverLog: paths.workDirectory + "/postgresql-\(runID).log", verifyTimeout: options.verifyTimeout,
            upstreamBytes: upstream.databaseBytes)
        return .plan(plan, local: localState)
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

    static func runID(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }

    /// On resume (invariant 4, and before every destructive step): the upstream must still be a
    /// primary of the same cluster.
    public static func recheckUpstream(_ plan: RejoinPlan) throws {
        let facts = try UpstreamProbe.probe(plan.upstream)
        let address = plan.upstream.address.description
        guard !facts.inRecovery else { throw PreflightError.upstreamIsStandby(address: address) }
        guard facts.systemIdentifier == plan.systemIdentifier else {
            throw PreflightError.differentCluster(address: address, upstream: facts.systemIdentifier, local: plan.systemIdentifier)
        }
    }
}
