import ArgumentParser
import Foundation
import Logging
import RejoinSteps

struct RejoinCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "rejoin",
        abstract: "Rejoin this node as a streaming standby of --from (the default command)."
    )

    @Option(name: .customLong("from"), help: ArgumentHelp("The new primary: HOST, HOST:PORT or [IPV6]:PORT, or auto to ask --peers (the default when peers are configured).", valueName: "host[:port]|auto"))
    var from: String?

    @OptionGroup var target: TargetOptions

    @OptionGroup var ha: HAOptions

    @Option(help: ArgumentHelp("auto (pg_rewind when every rewind check passes, else a full copy; the default), rewind, or basebackup.", valueName: "method"))
    var method: String?

    @Option(help: ArgumentHelp("Seconds to wait for the standby to stream and catch up (default: 120).", valueName: "seconds"))
    var verifyTimeout: Int?

    @Option(help: ArgumentHelp("Seconds libpq waits for a connection to the upstream (default: 10).", valueName: "seconds"))
    var connectTimeout: Int?

    @Option(help: ArgumentHelp("Space to leave free beyond the copy and 10% of it: 512MB, 2GB ... (default: 128MB).", valueName: "size"))
    var diskReserve: String?

    @Option(help: ArgumentHelp("This node's application_name on the upstream (default: the short host name).", valueName: "name"))
    var nodeName: String?

    @Option(help: ArgumentHelp("Limit the copy's transfer rate (pg_basebackup --max-rate: kB/s, or with k or M).", valueName: "rate"))
    var maxRate: String?

    @Flag(inversion: .prefixedNo, help: "Stop a local server that runs as a primary (it loses whatever it accepted after the failover). Default: no.")
    var demote: Bool?

    @Flag(help: "Run preflight and print the plan; change nothing.")
    var dryRun = false

    @Flag(inversion: .prefixedNo, help: "Keep this node's postgresql.conf, pg_hba.conf, pg_ident.conf and local auto.conf settings (default: yes).")
    var keepConfig: Bool?

    @Option(help: ArgumentHelp("After a verified rejoin: keep the old data directory (the default), archive it (compressed tar with checksums, then remove it), or discard it.", valueName: "keep|archive|discard"))
    var oldData: String?

    @Option(help: ArgumentHelp("Old copies (directories and archives, this run's included) to keep beside PGDATA; older ones are pruned after a verified rejoin (default: 2).", valueName: "n"))
    var keepOld: Int?

    @Option(help: ArgumentHelp("The physical replication slot to stream through: a name (made on the upstream if missing), auto (the node's own primary_slot_name, if any; the default) or none.", valueName: "name|auto|none"))
    var slot: String?

    @Option(help: ArgumentHelp("Read the transactions the old primary committed after the fork as rows (`pg-rejoin lost` prints them), before a rewind or, after a full copy, from the old data set aside: capture (the default) or skip (which also leaves a full copy's old data byte for byte).", valueName: "capture|skip"))
    var lostRows: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let slot { do { _ = try SlotChoice(parsing: slot) } catch { throw ValidationError((error as? LocalizedError)?.errorDescription ?? "\(error)") } }
        if let from, from != automaticUpstream {
            do { _ = try UpstreamAddress(parsing: from) } catch {
                throw ValidationError((error as? LocalizedError)?.errorDescription ?? "\(error)")
            }
        }
        if let method, RejoinMethod(rawValue: method) == nil {
            throw ValidationError("--method '\(method)' is not known; use one of: \(RejoinMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let verifyTimeout, verifyTimeout <= 0 { throw ValidationError("--verify-timeout must be a positive number of seconds, not \(verifyTimeout)") }
        if let connectTimeout, connectTimeout <= 0 { throw ValidationError("--connect-timeout must be a positive number of seconds, not \(connectTimeout)") }
        if let maxRate, maxRate.range(of: "^[0-9]+[kM]?$", options: .regularExpression) == nil {
            throw ValidationError("--max-rate '\(maxRate)' is not a rate; use kB/s as a number, or a number with k or M (for example 50M)")
        }
        if let nodeName, let problem = NodeName.problem(nodeName) { throw ValidationError(problem) }
        if let oldData, OldDataMode(rawValue: oldData) == nil {
            throw ValidationError("--old-data '\(oldData)' is not known; use one of: \(OldDataMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let lostRows, LostRowsMode(rawValue: lostRows) == nil {
            throw ValidationError("--lost-rows '\(lostRows)' is not known; use one of: \(LostRowsMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let keepOld, keepOld < 0 { throw ValidationError("--keep-old must be 0 or more, not \(keepOld)") }
        if let diskReserve, ByteCount.parse(diskReserve) == nil {
            throw ValidationError("--disk-reserve '\(diskReserve)' is not a size; give a number with a unit, for example 512MB or 2GB")
        }
        try target.validate()
    }

    /// As root: become the data directory's owner before the async runtime starts.
    func earlyOwnerReference() -> String? {
        (try? EffectiveSettings(commandLine: commandLineSettings, file: try ha.load()).requirePGDATA())?.ownerReference
    }

    func run() async throws {
        let out = output.makeOutput()
        let logger = output.makeLogger()
        let status = await CommandRunner.run(output: out) {
            // The config file is read (and checked) before anything else, as the caller.
            let settings = EffectiveSettings(commandLine: commandLineSettings, file: try ha.load())
            let pgdata = try settings.requirePGDATA()
            try Privileges.becomeOwner(of: pgdata.ownerReference)
            let upstream = try await UpstreamChoice.resolve(settings, pgdata: pgdata.path, output: out)
            var options = settings.rejoinOptions(upstream: upstream, pgdata: pgdata.path, dryRun: dryRun)
            if case let .discover(peers) = try settings.upstream() {
                // Found among the peers: they are all asked again before the first change.
                options.peers = peers
                options.discoveryTimeout = settings.discoveryTimeout
            }
            let rejoin = Rejoin(options: options, logger: logger, delegate: out)
            let outcome = try await cancellableBySignals { try await rejoin.run() }
            out.finish(outcome)
            return try await PostRejoin.run(settings, after: outcome, output: out)
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
