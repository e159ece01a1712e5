import Foundation
import Logging

/// What `heal` was asked to do, already merged from the command line and the config file.
public struct HealOptions: Sendable {
    public var pgdata: String
    public var peers: [UpstreamAddress]
    /// Role, database, passfile and the (short) discovery timeout for asking the peers; the
    /// address is replaced per peer.
    public var probe: UpstreamEndpoint
    public var bindir: String?
    public var nodeName: String
    public var demoteOnSplitBrain: Bool
    /// Seconds to keep looking while the decision may still change (no primary yet, two
    /// primaries during a switchover, a standby reconnecting).
    public var waitForPrimary: Int
    public var verifyTimeout: Int
    /// argv that replace `pg_ctl start` / `pg_ctl stop` when a repoint restarts the standby.
    public var startCommand: [String]?
    public var stopCommand: [String]?

    public init(pgdata: String, peers: [UpstreamAddress], probe: UpstreamEndpoint, bindir: String? = nil, nodeName: String,
                demoteOnSplitBrain: Bool = false, waitForPrimary: Int = 0, verifyTimeout: Int = 120,
                startCommand: [String]? = nil, stopCommand: [String]? = nil) {
        self.pgdata = pgdata
        self.peers = peers
        self.probe = probe
        self.bindir = bindir
        self.nodeName = nodeName
        self.demoteOnSplitBrain = demoteOnSplitBrain
        self.waitForPrimary = waitForPrimary
        self.verifyTimeout = verifyTimeout
        self.startCommand = startCommand
        self.stopCommand = stopCommand
    }
}

public enum HealError: LocalizedError, RejoinFailure {
    /// `action`: what heal did before waiting ("repointed to X", "started").
    case notStreaming(action: String, primary: String, seconds: Int, waitingFor: String)
    case commandFailed(what: String, command: String, detail: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .notStreaming: return .verifyFailed
        case .commandFailed: return .stepFailed
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .notStreaming(action, primary, seconds, waitingFor):
            return "the standby was \(action) but did not stream from \(primary) within \(seconds) s (waiting for \(waitingFor)); check its server log, then run heal again (a later run rejoins it fully if it still cannot follow)"
        case let .commandFailed(what, command, detail):
            return "\(what) failed: \(command): \(detail)"
        }
    }
}

/// `heal`: look at the local server and every peer, decide (`HealDecision`), and carry out a
/// repoint itself. A rejoin or resume is `Rejoin`'s job; the CLI runs it with the decided
/// upstream. Looking changes nothing and takes no lock, so a healthy node answers in
/// milliseconds; acting takes the run lock (`lock()`) and decides again under it.
public struct HealRun {
    public var options: HealOptions
    public var logger: Logger
    public var children: ChildProcessRunner

    public init(options: HealOptions, logger: Logger, children: ChildProcessRunner = ChildProcessRunner()) {
        self.options = options
        self.logger = logger
        self.children = children
    }

    var paths: WorkPaths { WorkPaths(pgdata: options.pgdata) }

    /// Observes and decides; while the decision is transient, looks again every second until
    /// `waitForPrimary` runs out. `onWait` hears each transient decision. `holdingLock`: this
    /// process holds the run lock (deciding again before acting), so it is not "busy".
    public func decide(wait: Bool = true, holdingLock: Bool = false,
                       onWait: (HealDecision) -> Void = { _ in }) async throws -> (HealFacts, HealDecision) {
        let deadline = Date().addingTimeInterval(TimeInterval(wait ? options.waitForPrimary : 0))
        var announced: HealDecision?
        while true {
            let facts = try await observe(holdingLock: holdingLock)
            let decision = HealDecision.decide(facts)
            logger.info("heal decision", metadata: ["heal.decision": "\(decision)"])
            if !decision.isTransient || Date() >= deadline { return (facts, decision) }
            if announced != decision { onWait(decision); announced = decision }
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }

    /// The run lock, held while acting (a repoint). Creates PGDATA.rejoin when needed.
    public func lock() throws -> RunLock {
        try Files.makeDirectory(paths.workDirectory)
        return try RunLock(path: paths.lock)
    }

    public func observe(holdingLock: Bool = false) async throws -> HealFacts {
        let pgdata = options.pgdata
        let holder = RunLock.holder(path: paths.lock)
        if holder.held && !holdingLock {
            return HealFacts(local: .busy(pid: holder.pid), systemIdentifier: nil, peers: [], demoteOnSplitBrain: options.demoteOnSplitBrain)
        }
        let journal = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        if journal.isUnfinished, let plan = journal.plan {
            let running = PostmasterPid.read(dataDirectory: pgdata).map(\.pid).flatMap { kill($0, 0) == 0 ? $0 : nil }
            let peers = await PrimaryDiscovery.observe(options.peers, template: options.probe, localPostmaster: running)
            return HealFacts(local: .unfinishedRun(upstream: plan.upstream.address), systemIdentifier: plan.systemIdentifier,
                             peers: peers, demoteOnSplitBrain: options.demoteOnSplitBrain)
        }

        let real = try PreflightStep.validateDataDirectory(pgdata)
        let major = Int((Files.read(real + "/PG_VERSION") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let bindir = try await PgBinaries.resolve(explicit: options.bindir, majorVersion: major, children: children)
        let tools = PgTools(bindir: bindir, children: children)
        let control = try await tools.controlData(real)
        let state = try await LocalServerState.inspect(real, tools: tools)

        var local: HealFacts.Local
        var postmaster: Int32?
        switch state {
        case .stopped(clean: true) where control.clusterState == "shut down in recovery" && Files.exists(real + "/standby.signal"):
            // Stopped for maintenance: judged like a running standby, from its control file.
            let timelines = [control.timeline, control.fields["Min recovery ending loc's timeline"].flatMap { Int($0) }].compactMap { $0 }
            local = .stoppedStandby(HealFacts.StandbyFacts(
                timeline: timelines.max() ?? 0, position: RewindStep.walEnd(control).atLeast, streamingFrom: nil,
                configuredUpstream: Self.configuredUpstream(real, connection: nil), receiverStatus: "stopped"))
        case let .stopped(clean):
            local = .down(timeline: control.timeline, wasStandby: Files.exists(real + "/standby.signal"),
                          note: clean ? "stopped cleanly" : "stopped, not shut down cleanly")
        case let .crashed(pid, note):
            local = .down(timeline: control.timeline, wasStandby: Files.exists(real + "/standby.signal"),
                          note: "crashed: stale postmaster.pid with pid \(pid), \(note)")
        case let .runningPrimary(pid):
            postmaster = pid
            local = try localRunning(real, control: control)
        case let .runningStandby(pid):
            postmaster = pid
            do {
                local = try localRunning(real, control: control)
            } catch let error as PgError {
                // Still starting up (replaying before it accepts connections): judge it by its
                // control file and configuration instead of failing.
                logger.info("local standby not accepting connections", metadata: ["pg.error": "\(error.serverMessage)"])
                let timelines = [control.timeline, control.fields["Min recovery ending loc's timeline"].flatMap { Int($0) }].compactMap { $0 }
                local = .runningStandby(HealFacts.StandbyFacts(
                    timeline: timelines.max() ?? 0, position: nil, streamingFrom: nil,
                    configuredUpstream: Self.configuredUpstream(real, connection: nil),
                    receiverStatus: "not accepting connections yet", acceptingConnections: false))
            }
        }

        let peers = await PrimaryDiscovery.observe(options.peers, template: options.probe, localPostmaster: postmaster)
        var facts = HealFacts(local: local, systemIdentifier: control.systemIdentifier, peers: peers,
                              demoteOnSplitBrain: options.demoteOnSplitBrain)
        var standbyFacts: HealFacts.StandbyFacts?
        switch local {
        case let .runningStandby(standby), let .stoppedStandby(standby): standbyFacts = standby
        default: standbyFacts = nil
        }
        if let standby = standbyFacts, facts.remotePrimaries.count == 1, let primary = facts.remotePrimaries.first,
           let theirs = primary.timeline, theirs > standby.timeline {
            var endpoint = options.probe
            endpoint.address = primary.address
            facts.primaryHistory = try? RewindSource.history(endpoint.connectReplication(), timeline: theirs)
        }
        return facts
    }

    /// A running local server, asked over its socket: a primary's current timeline, or where a
    /// standby streams from, how far it got, and where primary_conninfo points.
    func localRunning(_ pgdata: String, control: ControlData) throws -> HealFacts.Local {
        let connection = try LocalEndpoint.connect(dataDirectory: pgdata, user: Privileges.currentUserName())
        guard let row = try connection.query("""
            SELECT pg_is_in_recovery(),
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,
                   (SELECT status FROM pg_stat_wal_receiver),
                   (SELECT sender_host FROM pg_stat_wal_receiver),
                   (SELECT sender_port::text FROM pg_stat_wal_receiver),
                   (SELECT received_tli::text FROM pg_stat_wal_receiver),
                   pg_last_wal_receive_lsn()::text,
                   pg_last_wal_replay_lsn()::text
            """).first, row.count == 8 else {
            throw PgError.unexpectedResult(target: connection.target, sql: "heal: local server state")
        }
        if row[0] != "t" {
            let timeline = row[1].flatMap { Int($0, radix: 16) } ?? control.timeline ?? 0
            return .runningPrimary(timeline: timeline)
        }
        let timelines = [control.timeline, control.fields["Min recovery ending loc's timeline"].flatMap { Int($0) },
                         row[5].flatMap { Int($0) }].compactMap { $0 }
        let positions = [row[6], row[7], control.fields["Minimum recovery ending location"]].compactMap { $0.flatMap { LSN($0) } }
        var streamingFrom: UpstreamAddress?
        if row[2] == "streaming", let host = row[3], let port = row[4].flatMap({ Int($0) }) {
            streamingFrom = UpstreamAddress(host: host, port: port)
        }
        return .runningStandby(HealFacts.StandbyFacts(
            timeline: timelines.max() ?? 0, position: positions.max(), streamingFrom: streamingFrom,
            configuredUpstream: Self.configuredUpstream(pgdata, connection: connection), receiverStatus: row[2]))
    }

    /// Where primary_conninfo points: SHOW when the role may read it, else the files
    /// (postgresql.auto.conf overrides postgresql.conf).
    static func configuredUpstream(_ pgdata: String, connection: PgConnection?) -> UpstreamAddress? {
        if let value = try? connection?.value("SELECT current_setting('primary_conninfo')"), !value.isEmpty {
            return ConninfoParser.upstream(value)
        }
        return configuredConninfo(pgdata).flatMap(ConninfoParser.upstream)
    }

    static func configuredConninfo(_ pgdata: String) -> String? {
        for file in ["postgresql.auto.conf", "postgresql.conf"] {
            if let raw = ConfigFile(text: Files.read(pgdata + "/" + file) ?? "").value(of: "primary_conninfo") {
                return Quoting.configValue(raw)
            }
        }
        return nil
    }

    // MARK: repoint

    /// Points the running standby at `primary` without a copy: primary_conninfo rewritten
    /// (quoted like the rejoin writes it; primary_slot_name dropped, since the slot belongs to
    /// the old upstream), a reload, and a restart if the WAL receiver does not move over on its
    /// own; then waits until it streams from `primary` and replayed to its position.
    /// Returns a one-line summary.
    public func repoint(to primary: UpstreamAddress, delegate: RunDelegate) async throws -> String {
        let pgdata = try PreflightStep.validateDataDirectory(options.pgdata)
        let major = Int((Files.read(pgdata + "/PG_VERSION") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let tools = PgTools(bindir: try await PgBinaries.resolve(explicit: options.bindir, majorVersion: major, children: children),
                            children: children)
        let autoConf = pgdata + "/postgresql.auto.conf"
        let existing = ConninfoParser.parse(Self.configuredConninfo(pgdata) ?? "")
        var pairs: [(String, String)] = [
            ("host", primary.host),
            ("port", String(primary.port)),
            ("user", options.probe.user),
            ("application_name", existing["application_name"] ?? options.nodeName),
        ]
        if let passfile = options.probe.passfile ?? existing["passfile"] { pairs.append(("passfile", passfile)) }
        let conninfo = Quoting.conninfo(pairs)
        let rewritten = ConfigFile(text: Files.read(autoConf) ?? "")
            .removing(["primary_slot_name"])
            .setting("primary_conninfo", to: conninfo)
        try Files.writeAtomically(Data(rewritten.text.utf8), to: autoConf, mode: 0o600)
        if !Files.exists(pgdata + "/standby.signal") {
            try Files.writeAtomically(Data(), to: pgdata + "/standby.signal", mode: 0o600)
        }
        delegate.handle(.info("primary_conninfo = \(conninfo)"))

        let reload = try await children.run(ChildCommand(tools.path("pg_ctl"), ["reload", "-D", pgdata]))
        if !reload.succeeded { delegate.handle(.warning("pg_ctl reload: \(reload.standardErrorTail.last ?? reload.statusDescription)")) }
        let quick = min(20, options.verifyTimeout)
        var how = "reloaded"
        if (try? await waitUntilStreaming(from: primary, pgdata: pgdata, seconds: quick, action: "repointed to \(primary)")) == nil {
            delegate.handle(.info("the WAL receiver did not move to \(primary) within \(quick) s of the reload; restarting the standby"))
            try await restart(pgdata, tools: tools)
            how = "restarted"
        }
        let lsn = try await waitUntilStreaming(from: primary, pgdata: pgdata, seconds: options.verifyTimeout, action: "repointed to \(primary)")
        return "repointed (\(how)): streaming from \(primary), replayed to \(lsn)"
    }

    // MARK: start a stopped standby

    /// Starts the cleanly stopped standby as it is (no config change, no copy) and waits until
    /// it streams from `primary` and replayed to its position. Returns a one-line summary.
    public func startStandby(primary: UpstreamAddress) async throws -> String {
        let pgdata = try PreflightStep.validateDataDirectory(options.pgdata)
        let major = Int((Files.read(pgdata + "/PG_VERSION") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let tools = PgTools(bindir: try await PgBinaries.resolve(explicit: options.bindir, majorVersion: major, children: children),
                            children: children)
        try await start(pgdata, tools: tools, log: paths.workDirectory + "/postgresql-heal-start.log")
        let lsn = try await waitUntilStreaming(from: primary, pgdata: pgdata, seconds: options.verifyTimeout, action: "started")
        return "started the stopped standby: streaming from \(primary), replayed to \(lsn)"
    }

    private func restart(_ pgdata: String, tools: PgTools) async throws {
        let stop = options.stopCommand.map { ChildCommand($0[0], Array($0.dropFirst())) }
            ?? ChildCommand(tools.path("pg_ctl"), ["stop", "-D", pgdata, "-m", "fast", "-w", "-t", "60"])
        let stopped = try await children.run(stop)
        if !stopped.succeeded, try await tools.isRunning(pgdata) {
            throw HealError.commandFailed(what: "stopping the standby", command: stop.description,
                                          detail: stopped.standardErrorTail.last ?? stopped.statusDescription)
        }
        try await start(pgdata, tools: tools, log: paths.workDirectory + "/postgresql-repoint.log")
    }

    private func start(_ pgdata: String, tools: PgTools, log: String) async throws {
        try Files.makeDirectory(paths.workDirectory)
        let start = options.startCommand.map { ChildCommand($0[0], Array($0.dropFirst())) }
            ?? ChildCommand(tools.path("pg_ctl"), ["start", "-D", pgdata, "-l", log, "-w", "-t", String(max(60, options.verifyTimeout))])
        let started = try await children.run(start)
        guard started.succeeded else {
            throw HealError.commandFailed(what: "starting the standby", command: start.description,
                                          detail: started.standardErrorTail.last ?? started.statusDescription)
        }
    }

    /// Until the local standby streams from `primary` and replayed up to the primary's WAL
    /// position taken at the start; returns that position.
    func waitUntilStreaming(from primary: UpstreamAddress, pgdata: String, seconds: Int, action: String) async throws -> String {
        var endpoint = options.probe
        endpoint.address = primary
        endpoint.connectTimeout = max(endpoint.connectTimeout, 5)
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var target: String?
        var waitingFor = "the local server to accept connections"
        while true {
            do {
                if target == nil { target = try endpoint.connectSQL().value("SELECT pg_current_wal_lsn()::text") }
                let local = try LocalEndpoint.connect(dataDirectory: pgdata, user: Privileges.currentUserName())
                let status = try StandbyStatus.read(local)
                if !status.isStreaming(from: primary) {
                    waitingFor = "the WAL receiver to stream from \(primary) (now: \(status.receiverStatus ?? "not running"))"
                } else if let target, try local.value("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", [target]) != "t" {
                    waitingFor = "replay to reach \(target) (now \(status.replayLSN ?? "?"))"
                } else {
                    return target ?? "?"
                }
            } catch let error as PgError {
                waitingFor = error.errorDescription ?? waitingFor
            }
            if Date() >= deadline {
                throw HealError.notStreaming(action: action, primary: primary.description, seconds: seconds, waitingFor: waitingFor)
            }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
    }
}
