import Foundation
import RejoinSteps

/// Every setting pg-rejoin takes, each optional: one value of this type comes from the config
/// file, one from the command line, and `overriding` merges them (the command line wins).
/// Defaults are applied only after merging (`EffectiveSettings`), so an option the operator did
/// not give never hides the file's value.
struct Settings: Equatable {
    // The rejoin itself (each has a command-line option of the same name).
    var pgdata: String?
    var bindir: String?
    /// A Debian cluster, VERSION/NAME.
    var cluster: String?
    var user: String?
    var passfile: String?
    var dbname: String?
    var nodeName: String?
    var from: String?
    var peers: [String]?
    var method: String?
    var verifyTimeout: Int?
    var connectTimeout: Int?
    var diskReserve: String?
    var maxRate: String?
    var demote: Bool?
    var keepConfig: Bool?
    /// Where heal and keepalived-notify keep their log and debounce stamp (default PGDATA.rejoin).
    var workingDirectory: String?

    /// After a verified rejoin: keep, archive or discard the old data directory.
    var oldData: String?
    /// Old copies to keep beside PGDATA; older ones are pruned after a verified rejoin.
    var keepOld: Int?

    // [commands]: argument vectors, never shell strings.
    var startCommand: [String]?
    var stopCommand: [String]?
    var postRejoinCommand: [String]?

    // [heal]
    var demoteOnSplitBrain: Bool?
    var discoveryTimeout: Int?
    var waitForPrimary: Int?

    // [keepalived]
    var notifyLog: String?
    var notifyDebounce: Int?
    var notifyWaitForPrimary: Int?
    /// The replication slot: a name, auto or none.
    var slot: String?
    /// Read lost transactions as rows before a rewind: capture or skip.
    var lostRows: String?

    /// `self` (the command line) wins; `base` (the file) fills what `self` leaves out.
    func overriding(_ base: Settings) -> Settings {
        var merged = base
        for key in ConfigKeys.all { key.copyIfSet(from: self, to: &merged) }
        return merged
    }
}

/// The value `from` takes to ask every peer which one is the primary.
let automaticUpstream = "auto"

/// The merged settings with defaults applied: what a command actually uses.
struct EffectiveSettings {
    static let defaults = Settings(
        user: "repl", dbname: "postgres", method: "auto", verifyTimeout: 120, connectTimeout: 10,
        diskReserve: "128MB", demote: false, keepConfig: true, oldData: "keep", keepOld: 2,
        demoteOnSplitBrain: false, discoveryTimeout: 3, waitForPrimary: 0,
        notifyDebounce: 60, notifyWaitForPrimary: 30)

    /// Merged (command line over file), then over the defaults.
    let settings: Settings
    /// Where each value came from, for `config check`: "command line", "file line N", "default".
    let sources: [String: String]
    /// The file that was read, if any.
    let file: String?

    init(commandLine: Settings, file: LoadedConfig?) {
        let fromFile = file?.settings ?? Settings()
        let merged = commandLine.overriding(fromFile)
        settings = merged.overriding(Self.defaults)
        var sources: [String: String] = [:]
        for key in ConfigKeys.all {
            if key.isSet(in: commandLine) {
                sources[key.name] = "command line"
            } else if key.isSet(in: fromFile) {
                sources[key.name] = file?.lines[key.name].map { "\(file?.path ?? "file") line \($0)" } ?? (file?.path ?? "file")
            } else if key.isSet(in: Self.defaults) {
                sources[key.name] = "default"
            }
        }
        self.sources = sources
        self.file = file?.path
    }

    var user: String { settings.user ?? "repl" }
    var dbname: String { settings.dbname ?? "postgres" }
    var method: String { settings.method ?? "auto" }
    var verifyTimeout: Int { settings.verifyTimeout ?? 120 }
    var connectTimeout: Int { settings.connectTimeout ?? 10 }
    var diskReserveBytes: UInt64 { settings.diskReserve.flatMap(ByteCount.parse) ?? 128 << 20 }
    var demote: Bool { settings.demote ?? false }
    var keepConfig: Bool { settings.keepConfig ?? true }
    var nodeName: String { settings.nodeName ?? HostName.short() }
    var demoteOnSplitBrain: Bool { settings.demoteOnSplitBrain ?? false }
    var discoveryTimeout: Int { settings.discoveryTimeout ?? 3 }
    var waitForPrimary: Int { settings.waitForPrimary ?? 0 }
    var notifyDebounce: Int { settings.notifyDebounce ?? 60 }
    var notifyWaitForPrimary: Int { settings.notifyWaitForPrimary ?? 30 }

    /// PGDATA from the settings, else $PGDATA.
    /// The Debian cluster asked for (already validated by the option or the config check).
    var debianCluster: DebianCluster? { settings.cluster.flatMap { try? DebianCluster($0) } }

    var pgdataPath: String? {
        if let pgdata = settings.pgdata, !pgdata.isEmpty { return pgdata }
        if let cluster = debianCluster, let dataDirectory = try? cluster.dataDirectory() { return dataDirectory }
        let env = ProcessInfo.processInfo.environment["PGDATA"] ?? ""
        return env.isEmpty ? nil : env
    }

    func requirePGDATA() throws -> (path: String, ownerReference: String) {
        if let cluster = debianCluster, settings.pgdata == nil { _ = try cluster.dataDirectory() }
        guard let raw = pgdataPath else {
            throw ConfigError.missingSetting("no data directory: pass --pgdata DIR, set pgdata in the config file, or set PGDATA")
        }
        return DataDirectoryOption.resolve(raw)
    }

    /// --passfile (or the file's passfile), else an absolute PGPASSFILE.
    var effectivePassfile: String? {
        if let passfile = settings.passfile { return passfile }
        if let env = ProcessInfo.processInfo.environment["PGPASSFILE"], env.hasPrefix("/") { return env }
        return nil
    }

    var peers: [UpstreamAddress] {
        (settings.peers ?? []).compactMap { try? UpstreamAddress(parsing: $0) }
    }

    /// Where the upstream comes from: an explicit address, or `auto` (ask the peers). `auto` is
    /// the default when peers are configured.
    enum Upstream: Equatable {
        case address(UpstreamAddress)
        case discover([UpstreamAddress])
    }

    func upstream() throws -> Upstream {
        let from = settings.from ?? (peers.isEmpty ? nil : automaticUpstream)
        guard let from else {
            throw ConfigError.missingSetting("no upstream: pass --from HOST[:PORT], or configure peers (--peers or `peers` in the config file) and pass --from auto")
        }
        if from == automaticUpstream {
            guard !peers.isEmpty else {
                throw ConfigError.missingSetting("--from auto needs peers: pass --peers HOST:PORT,HOST:PORT or set `peers` in the config file")
            }
            return .discover(peers)
        }
        return .address(try UpstreamAddress(parsing: from))
    }

    /// A template endpoint for probing peers: the role, database and passfile of the rejoin,
    /// with the short discovery timeout.
    func probeEndpoint(_ address: UpstreamAddress = UpstreamAddress(host: "localhost")) -> UpstreamEndpoint {
        UpstreamEndpoint(address: address, user: user, database: dbname, passfile: effectivePassfile,
                         connectTimeout: discoveryTimeout)
    }

    func rejoinOptions(upstream: UpstreamAddress, pgdata: String, dryRun: Bool, demote: Bool? = nil) -> RejoinOptions {
        var options = RejoinOptions(
            upstream: upstream, pgdata: pgdata, user: user, passfile: effectivePassfile, database: dbname,
            bindir: settings.bindir, method: method, verifyTimeout: verifyTimeout, connectTimeout: connectTimeout,
            demote: demote ?? self.demote, dryRun: dryRun, keepConfig: keepConfig, nodeName: nodeName,
            diskReserveBytes: diskReserveBytes)
        options.maxRate = settings.maxRate
        options.nodeNameGiven = settings.nodeName != nil
        if let slot = settings.slot, let choice = try? SlotChoice(parsing: slot) { options.slot = choice }
        options.lostRows = settings.lostRows.flatMap(LostRowsMode.init(rawValue:)) ?? .capture
        if let cluster = debianCluster {
            options.cluster = cluster
            if options.bindir == nil { options.bindir = cluster.bindir }
        }
        options.oldData = settings.oldData.flatMap(OldDataMode.init(rawValue:)) ?? .keep
        options.keepOld = settings.keepOld ?? 2
        options.startCommand = settings.startCommand
        options.stopCommand = settings.stopCommand
        return options
    }

    /// Heal's and keepalived-notify's own files: the configured working directory, else PGDATA.rejoin.
    func workingDirectory(pgdata: String) -> String {
        settings.workingDirectory ?? WorkPaths(pgdata: pgdata).workDirectory
    }
}
