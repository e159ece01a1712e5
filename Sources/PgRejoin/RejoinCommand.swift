import ArgumentParser
import Foundation
import Logging
import RejoinSteps

struct RejoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejoin",
        abstract: "Rejoin this node as a streaming standby of --from (the default command)."
    )

    @Option(name: .customLong("from"), help: ArgumentHelp("The new primary: HOST, HOST:PORT or [IPV6]:PORT.", valueName: "host[:port]"))
    var from: String

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("auto (pg_rewind when every rewind check passes, else a full copy), rewind, or basebackup.", valueName: "method"))
    var method: String = "auto"

    @Option(help: ArgumentHelp("Seconds to wait for the standby to stream and catch up.", valueName: "seconds"))
    var verifyTimeout: Int = 120

    @Option(help: ArgumentHelp("Seconds libpq waits for a connection to the upstream.", valueName: "seconds"))
    var connectTimeout: Int = 10

    @Option(help: ArgumentHelp("Space to leave free beyond the copy and 10% of it: 512MB, 2GB ...", valueName: "size"))
    var diskReserve: String = "128MB"

    @Option(help: ArgumentHelp("This node's application_name on the upstream (default: the short host name).", valueName: "name"))
    var nodeName: String?

    @Option(help: ArgumentHelp("Limit the copy's transfer rate (pg_basebackup --max-rate: kB/s, or with k or M).", valueName: "rate"))
    var maxRate: String?

    @Flag(help: "Stop a local server that runs as a primary (it loses whatever it accepted after the failover).")
    var demote = false

    @Flag(help: "Run preflight and print the plan; change nothing.")
    var dryRun = false

    @Flag(inversion: .prefixedNo, help: "Keep this node's postgresql.conf, pg_hba.conf, pg_ident.conf and local auto.conf settings.")
    var keepConfig = true

    @Option(help: ArgumentHelp("After a verified rejoin: keep the old data directory, archive it (compressed tar with checksums, then remove it), or discard it.", valueName: "keep|archive|discard"))
    var oldData: String = "keep"

    @Option(help: ArgumentHelp("Old copies (directories and archives, this run's included) to keep beside PGDATA; older ones are pruned after a verified rejoin.", valueName: "n"))
    var keepOld: Int = 2

    @OptionGroup var output: OutputOptions

    func validate() throws {
        do { _ = try UpstreamAddress(parsing: from) } catch {
            throw ValidationError((error as? LocalizedError)?.errorDescription ?? "\(error)")
        }
        guard RejoinMethod(rawValue: method) != nil else {
            throw ValidationError("--method '\(method)' is not known; use one of: \(RejoinMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard verifyTimeout > 0 else { throw ValidationError("--verify-timeout must be a positive number of seconds, not \(verifyTimeout)") }
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout must be a positive number of seconds, not \(connectTimeout)") }
        if let maxRate, maxRate.range(of: "^[0-9]+[kM]?$", options: .regularExpression) == nil {
            throw ValidationError("--max-rate '\(maxRate)' is not a rate; use kB/s as a number, or a number with k or M (for example 50M)")
        }
        if let nodeName, let problem = NodeName.problem(nodeName) { throw ValidationError(problem) }
        guard OldDataMode(rawValue: oldData) != nil else {
            throw ValidationError("--old-data '\(oldData)' is not known; use one of: \(OldDataMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard keepOld >= 0 else { throw ValidationError("--keep-old must be 0 or more, not \(keepOld)") }
        guard ByteCount.parse(diskReserve) != nil else {
            throw ValidationError("--disk-reserve '\(diskReserve)' is not a size; give a number with a unit, for example 512MB or 2GB")
        }
        try target.validate()
    }

    func run() async throws {
        let out = output.makeOutput()
        let logger = output.makeLogger()
        let status = await CommandRunner.run(output: out) {
            let pgdata = target.resolvedPGDATA()
            try Privileges.becomeOwner(of: pgdata.ownerReference)
            var options = RejoinOptions(
                upstream: try UpstreamAddress(parsing: from), pgdata: pgdata.path, user: target.user,
                passfile: target.effectivePassfile, database: target.dbname, bindir: target.bindir,
                method: method, verifyTimeout: verifyTimeout, connectTimeout: connectTimeout,
                demote: demote, dryRun: dryRun, keepConfig: keepConfig,
                nodeName: nodeName ?? HostName.short(), diskReserveBytes: ByteCount.parse(diskReserve) ?? 128 << 20)
            options.maxRate = maxRate
            options.oldData = OldDataMode(rawValue: oldData) ?? .keep
            options.keepOld = keepOld
            let rejoin = Rejoin(options: options, logger: logger, delegate: out)
            let outcome = try await cancellableBySignals { try await rejoin.run() }
            out.finish(outcome)
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
