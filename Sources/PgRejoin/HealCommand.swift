import ArgumentParser
import Foundation
import Logging
import RejoinSteps

/// `pg-rejoin heal`: for cron and systemd timers (and the detached run keepalived-notify
/// starts). Looks at the local server and every peer, decides (`HealDecision`), and acts only
/// when something is wrong; silent and fast on a healthy node.
struct HealCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "heal",
        abstract: "Make this node what it should be, if it is not: silent and fast when healthy (for cron and keepalived).",
        discussion: """
            Decides from the local server and every peer: a streaming standby of the primary, or \
            the only primary: exit 0, nothing printed. A standby stopped cleanly that can follow \
            the primary: started as it is, never copied. Down: rejoin (an unfinished run is \
            resumed). A standby \
            streaming from a node that is no longer the primary: repoint it (primary_conninfo, \
            reload or restart) without a copy when its timeline allows, else a full rejoin. Two \
            primaries, a stale one (older timeline) included: alert on stderr and syslog, exit \
            13, change nothing (unless heal.demote_on_split_brain). No primary: exit 14. Another \
            pg-rejoin running: exit 11, silently. Paused (--pause): nothing, exit 0.
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ha: HAOptions

    @Option(help: ArgumentHelp("This node's application_name on the upstream (default: the short host name).", valueName: "name"))
    var nodeName: String?

    @Option(help: ArgumentHelp("Keep looking this many seconds while there is no single primary (a promotion under way) (default: 0).", valueName: "seconds"))
    var waitForPrimary: Int?

    @Option(help: ArgumentHelp("Seconds to wait for each peer's answer (default: 3).", valueName: "seconds"))
    var discoveryTimeout: Int?

    @Option(help: ArgumentHelp("Seconds to wait for the standby to stream after a rejoin or repoint (default: 120).", valueName: "seconds"))
    var verifyTimeout: Int?

    @Flag(help: "Say what heal would do; change nothing.")
    var dryRun = false

    @Flag(help: "Pause heal and keepalived-notify on this node (maintenance): they change nothing until --resume. Operator-run rejoins are not paused.")
    var pause = false

    @Flag(help: "Lift a pause set with --pause.")
    var resume = false

    @Option(help: ArgumentHelp("Why, with --pause (shown by status, heal and keepalived-notify).", valueName: "text"))
    var reason: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let nodeName, let problem = NodeName.problem(nodeName) { throw ValidationError(problem) }
        if let waitForPrimary, waitForPrimary < 0 { throw ValidationError("--wait-for-primary must be 0 or more, not \(waitForPrimary)") }
        if let discoveryTimeout, discoveryTimeout <= 0 { throw ValidationError("--discovery-timeout must be a positive number of seconds") }
        if let verifyTimeout, verifyTimeout <= 0 { throw ValidationError("--verify-timeout must be a positive number of seconds") }
        if pause && resume { throw ValidationError("--pause and --resume exclude each other") }
        if reason != nil && !pause { throw ValidationError("--reason goes with --pause") }
        if (pause || resume) && dryRun { throw ValidationError("--pause and --resume change only the switch; --dry-run has nothing to show") }
    }

    var commandLineSettings: Settings {
        var s = ha.adding(to: target.settings)
        s.nodeName = nodeName
        s.waitForPrimary = waitForPrimary
        s.discoveryTimeout = discoveryTimeout
        s.verifyTimeout = verifyTimeout
        return s
    }

    /// As root: become the data directory's owner before the async runtime starts.
    func earlyOwnerReference() -> String? {
        (try? EffectiveSettings(commandLine: commandLineSettings, file: try ha.load()).requirePGDATA())?.ownerReference
    }

    func run() async throws {
        let out = output.makeOutput()
        let logger = output.makeLogger()
        let status = await CommandRunner.run(output: out) {
            let settings = EffectiveSettings(commandLine: commandLineSettings, file: try ha.load())
            let pgdata = try settings.requirePGDATA()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            if pause {
                let set = try HealPause.set(pgdata: pgdata.path, reason: reason, user: Privileges.currentUserName())
                out.handle(.info("heal \(set.note); heal and keepalived-notify change nothing on \(pgdata.path) until `pg-rejoin heal --resume`"))
                return .ok
            }
            if resume {
                let lifted = try HealPause.clear(pgdata: pgdata.path)
                out.handle(.info(lifted ? "heal resumed on \(pgdata.path)" : "heal was not paused on \(pgdata.path)"))
                return .ok
            }
            guard !settings.peers.isEmpty else {
                throw ConfigError.missingSetting("heal needs the cluster's nodes: pass --peers HOST:PORT,HOST:PORT or set `peers` in the config file")
            }
            if let paused = HealPause.current(pgdata: pgdata.path) {
                // Silent like a healthy node (cron runs this every minute); the exit code is 0.
                if output.verbose { out.handle(.info("\(Healer.stamp()) heal: \(paused.note); nothing done (pg-rejoin heal --resume lifts it)")) }
                return .ok
            }
            return try await Healer(settings: settings, pgdata: pgdata.path, dryRun: dryRun, verbose: output.verbose,
                                    output: out, logger: logger).run()
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}

/// heal's body, shared with nothing else but kept apart from argument parsing.
struct Healer {
    let settings: EffectiveSettings
    let pgdata: String
    let dryRun: Bool
    let verbose: Bool
    let output: Output
    let logger: Logger

    var heal: HealRun {
        HealRun(options: HealOptions(
            pgdata: pgdata, peers: settings.peers, probe: settings.probeEndpoint(), bindir: settings.settings.bindir,
            nodeName: settings.nodeName, demoteOnSplitBrain: settings.demoteOnSplitBrain,
            waitForPrimary: settings.waitForPrimary, verifyTimeout: settings.verifyTimeout,
            startCommand: settings.settings.startCommand ?? settings.debianCluster?.startCommand,
            stopCommand: settings.settings.stopCommand ?? settings.debianCluster?.stopCommand(mode: "fast")), logger: logger)
    }

    static func stamp() -> String { ISO8601DateFormatter().string(from: Date()) }

    func run() async throws -> ExitStatus {
        let heal = self.heal
        let (_, decision) = try await heal.decide { waiting in
            if verbose { output.handle(.info("\(Self.stamp()) heal: waiting (\(waiting))")) }
        }
        return try await carryOut(decision, heal: heal, again: true)
    }

    func carryOut(_ decision: HealDecision, heal: HealRun, again: Bool) async throws -> ExitStatus {
        let line = "heal: \(decision)"
        switch decision {
        case .healthyStandby, .healthyPrimary:
            if verbose { output.handle(.info("\(Self.stamp()) \(line)")) }
            return .ok
        case .standbyConnecting, .standbyStarting:
            output.handle(.info("\(Self.stamp()) \(line)"))
            return .ok
        case .splitBrain:
            Syslog.critical(line)
            output.fail("\(decision). Nothing was changed; fence one of them, then rejoin it (or set heal.demote_on_split_brain)", status: decision.exitStatus)
            return decision.exitStatus
        case .noPrimary, .refuse:
            Syslog.warning(line)
            output.fail("\(decision). Nothing was changed", status: decision.exitStatus)
            return decision.exitStatus
        case .busy:
            // Silent like a healthy node: a cron heal every minute during a long rejoin must
            // not mail "already running" each time. The exit code still says it.
            if verbose { output.handle(.info("\(Self.stamp()) \(line) now; this heal leaves it to that one")) }
            return decision.exitStatus
        case let .repoint(primary, _):
            return try await act(decision, line: line, heal: heal, again: again,
                                 dryRunSays: "rewrite primary_conninfo to \(primary), reload (or restart) the standby and wait for it to stream") {
                try await heal.repoint(to: primary, delegate: output)
            }
        case let .startStandby(primary, _):
            return try await act(decision, line: line, heal: heal, again: again,
                                 dryRunSays: "start the standby as it is and wait for it to stream from \(primary)") {
                try await heal.startStandby(primary: primary)
            }
        case let .rejoin(from, demote, _):
            return try await rejoin(from: from, demote: demote, line: line)
        case let .resume(from):
            return try await rejoin(from: from, demote: false, line: line)
        }
    }

    /// A change heal makes itself (repoint, start): under the run lock, after deciding again
    /// there (it was decided without the lock); then the post-rejoin command.
    private func act(_ decision: HealDecision, line: String, heal: HealRun, again: Bool, dryRunSays: String,
                     _ body: @escaping @Sendable () async throws -> String) async throws -> ExitStatus {
        output.handle(.info("\(Self.stamp()) \(line)"))
        if dryRun {
            output.handle(.info("dry run: nothing was changed. A run would \(dryRunSays)"))
            return .ok
        }
        Syslog.notice(line)
        let lock = try heal.lock()
        let (_, now) = try await heal.decide(wait: false, holdingLock: true)
        guard now == decision else {
            withExtendedLifetime(lock) {}
            output.handle(.info("the state changed while taking the lock; deciding again"))
            return again ? try await carryOut(now, heal: heal, again: false) : .ok
        }
        let summary = try await cancellableBySignals(body)
        withExtendedLifetime(lock) {}
        output.handle(.info(summary))
        Syslog.notice("heal: " + summary)
        return try await PostRejoin.run(settings, output: output)
    }

    private func rejoin(from upstream: UpstreamAddress, demote: Bool, line: String) async throws -> ExitStatus {
        output.handle(.info("\(Self.stamp()) \(line)"))
        if !dryRun { Syslog.notice(line) }
        // Only the decision stops a local primary: a stale one (older timeline), or split brain
        // with heal.demote_on_split_brain.
        var options = settings.rejoinOptions(upstream: upstream, pgdata: pgdata, dryRun: dryRun, demote: demote)
        // heal found the primary among the peers: they are all asked again before the first change.
        options.peers = settings.peers
        options.discoveryTimeout = settings.discoveryTimeout
        let rejoin = Rejoin(options: options, logger: logger, delegate: output)
        let outcome = try await cancellableBySignals { try await rejoin.run() }
        output.finish(outcome)
        if case .rejoined = outcome { Syslog.notice("heal: rejoined as a streaming standby of \(upstream)") }
        return try await PostRejoin.run(settings, after: outcome, output: output)
    }
}
