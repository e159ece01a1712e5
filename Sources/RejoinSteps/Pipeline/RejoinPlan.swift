import Foundation

/// Everything a run decided up front, computed once by preflight and written as the journal's
/// first record. A resumed run reads it back instead of deciding again, so the old data
/// directory's name, the staging path and the upstream never change half way.
public struct RejoinPlan: Codable, Sendable, Equatable {
    /// Bumped when the journal format changes; a reader refuses versions it does not know.
    public static let formatVersion = 1

    public var format: Int
    public var runID: String
    public var created: Date
    public var upstream: UpstreamEndpoint
    public var nodeName: String
    public var pgdata: String
    public var workDirectory: String
    public var stagingDirectory: String
    public var oldDataDirectory: String
    /// The old data directory's identity: wherever it is renamed to, this finds it.
    public var oldDataIdentity: FileIdentity
    /// A new WAL directory outside PGDATA, when the old pg_wal was a symlink.
    public var walDirectory: String?
    public var bindir: String
    public var majorVersion: Int
    public var systemIdentifier: String
    public var method: String
    public var steps: [StepKind]
    public var localUser: String
    public var serverLog: String
    public var verifyTimeout: Int
    public var upstreamBytes: UInt64
    public var maxRate: String?
    /// What the operator asked for (auto, rewind, basebackup); `method` is what runs.
    public var requestedMethod: String?
    /// Why this method: each rewind check and decision, for the journal and the output.
    public var decisions: [String]?
    /// The node's own config files, saved before pg_rewind overwrites them with the upstream's.
    public var localConfigDirectory: String?
    /// Argument vectors replacing `pg_ctl start` / `pg_ctl stop` (config `[commands]`).
    public var startCommand: [String]?
    public var stopCommand: [String]?
    /// The old data directory is one pg_rewind left half-written (`DamagedDirectory`): kept,
    /// never offered back as the old data.
    public var oldDataDamaged: Bool?
    /// The cluster's nodes when the upstream was found among them: asked again, every one,
    /// right before the first destructive step. Exactly one primary, the same, or a stop.
    public var peers: [UpstreamAddress]?
    public var discoveryTimeout: Int?
    /// The options of the node's own primary_conninfo kept in the new one (sslmode,
    /// keepalives ...), as [key, value] pairs in their order.
    public var conninfoOptions: [[String]]?
    /// The node's own standby settings kept across the rejoin (restore_command,
    /// archive_cleanup_command, recovery_min_apply_delay, primary_slot_name), unquoted.
    public var standbySettings: [String: String]?
    /// A Debian cluster (configuration outside PGDATA, pg_ctlcluster).
    public var cluster: DebianCluster?
    /// The physical slot on the upstream the standby streams through (made if missing).
    public var slotName: String?
    /// The old data directory's own slots (pg_replslot), dropped after verify where they
    /// came along (a rewind keeps them).
    public var carriedSlots: [String]?
    /// The tablespaces the copy path sets aside, copies and swaps in beside PGDATA (a rewind
    /// keeps the node's own links and works through them).
    public var tablespaces: [TablespacePlan]?
    /// Whether the lost transactions are read as rows, before pg_rewind or after a full copy
    /// (`--lost-rows`; nil: yes, as plans written before it behave).
    public var captureLost: Bool?

    /// postgresql.conf when it lives outside PGDATA: crash recovery and pg_rewind need it.
    public var configFile: String? { cluster?.configFile }

    /// The PostgreSQL programs for this plan, with its start and stop commands.
    public func tools(children: ChildProcessRunner) -> PgTools {
        var tools = PgTools(bindir: bindir, children: children)
        tools.startCommand = startCommand
        tools.stopCommand = stopCommand
        tools.cluster = cluster
        return tools
    }

    public var isRewind: Bool { method == RejoinMethod.rewind.rawValue }

    public static func steps(for method: RejoinMethod, keepConfig: Bool) -> [StepKind] {
        let config: [StepKind] = keepConfig ? [.keepLocalConfig] : []
        switch method {
        case .rewind:
            return [.preflight, .stopLocal, .recoverLocal, .captureLost, .rewind] + config + [.writeStandbyConfig, .start, .verify]
        case .basebackup, .auto:
            // The old data is read for lost rows once the standby runs: the copy path keeps it, and
            // nothing removes it before the run has finished.
            return [.preflight, .stopLocal, .setAside, .clone] + config + [.writeStandbyConfig, .swapIn, .start, .verify, .captureLost]
        }
    }

    public var journalPath: String { workDirectory + "/journal.jsonl" }
}

public enum RejoinMethod: String, Codable, Sendable, CaseIterable {
    case auto, rewind, basebackup
}

/// Where a run's files live, derived from PGDATA alone so every command (rejoin, status, abort)
/// finds them without the journal.
public struct WorkPaths: Sendable {
    public var pgdata: String
    public init(pgdata: String) { self.pgdata = pgdata }
    public var workDirectory: String { pgdata + ".rejoin" }
    public var journal: String { workDirectory + "/journal.jsonl" }
    public var lock: String { workDirectory + "/lock" }
    public var staging: String { workDirectory + "/staging" }
}
