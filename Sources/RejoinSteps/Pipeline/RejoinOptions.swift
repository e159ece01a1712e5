import Foundation

/// What the operator asked for, already parsed and validated for form by the CLI.
public struct RejoinOptions: Sendable {
    public var upstream: UpstreamAddress
    public var pgdata: String
    public var user: String
    public var passfile: String?
    public var database: String
    public var bindir: String?
    public var method: String
    public var verifyTimeout: Int
    public var connectTimeout: Int
    public var demote: Bool
    public var dryRun: Bool
    public var keepConfig: Bool
    public var nodeName: String
    /// Space left free after the copy, beyond the copy itself.
    public var diskReserveBytes: UInt64
    /// pg_basebackup's --max-rate (e.g. "50M"), so a rejoin does not saturate the upstream's link.
    public var maxRate: String? = nil
    /// After a verified rejoin: keep, archive or discard this run's old data directory.
    public var oldData: OldDataMode = .keep
    /// How many old copies (directories and archives, this run's included) to keep beside PGDATA.
    public var keepOld: Int = 2
    /// Argument vectors replacing `pg_ctl start` / `pg_ctl stop` (config `[commands]`).
    public var startCommand: [String]? = nil
    public var stopCommand: [String]? = nil
    /// The cluster's nodes when the upstream was found among them (`--from auto`, heal): right
    /// before the first destructive step every one is asked again (`PreflightStep.recheckUpstream`).
    public var peers: [UpstreamAddress] = []
    /// Seconds to wait for each peer's answer then.
    public var discoveryTimeout: Int = 3
    /// Whether `nodeName` was asked for (--node-name, node_name): it then wins over the
    /// application_name of the node's own primary_conninfo; else that one wins over the
    /// short host name `nodeName` defaults to.
    public var nodeNameGiven: Bool = false
    /// A Debian cluster: its configuration file for servers started outside pg_ctlcluster,
    /// pg_ctlcluster to start and stop it.
    public var cluster: DebianCluster? = nil
    /// The slot the standby streams through (--slot).
    public var slot: SlotChoice = .auto
    /// Read the old primary's lost transactions as rows (`--lost-rows`): before a rewind, or
    /// after a full copy from the old data set aside.
    public var lostRows: LostRowsMode = .capture

    public init(upstream: UpstreamAddress, pgdata: String, user: String = "repl", passfile: String? = nil,
                database: String = "postgres", bindir: String? = nil, method: String = "basebackup",
                verifyTimeout: Int = 120, connectTimeout: Int = 10, demote: Bool = false, dryRun: Bool = false,
                keepConfig: Bool = true, nodeName: String, diskReserveBytes: UInt64 = 128 << 20) {
        self.upstream = upstream
        self.pgdata = pgdata
        self.user = user
        self.passfile = passfile
        self.database = database
        self.bindir = bindir
        self.method = method
        self.verifyTimeout = verifyTimeout
        self.connectTimeout = connectTimeout
        self.demote = demote
        self.dryRun = dryRun
        self.keepConfig = keepConfig
        self.nodeName = nodeName
        self.diskReserveBytes = diskReserveBytes
    }

    public var endpoint: UpstreamEndpoint {
        UpstreamEndpoint(address: upstream, user: user, database: database, passfile: passfile, connectTimeout: connectTimeout)
    }
}

/// `--lost-rows`: whether a rejoin reads what the failover lost as rows.
public enum LostRowsMode: String, CaseIterable, Sendable {
    case capture, skip
}
