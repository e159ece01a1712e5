import Foundation
import RejoinSteps

/// Each command's command-line values as `Settings` (nil where an option was not given), to be
/// merged over the config file.
extension TargetOptions {
    var settings: Settings {
        var s = Settings()
        s.pgdata = pgdata
        s.user = user
        s.passfile = passfile
        s.dbname = dbname
        s.bindir = bindir
        s.cluster = cluster
        return s
    }
}

extension HAOptions {
    func adding(to settings: Settings) -> Settings {
        var s = settings
        s.peers = peerList
        return s
    }
}

extension RejoinCommand {
    var commandLineSettings: Settings {
        var s = ha.adding(to: target.settings)
        s.from = from
        s.method = method
        s.verifyTimeout = verifyTimeout
        s.connectTimeout = connectTimeout
        s.diskReserve = diskReserve
        s.nodeName = nodeName
        s.maxRate = maxRate
        s.demote = demote
        s.keepConfig = keepConfig
        s.oldData = oldData
        s.keepOld = keepOld
        s.slot = slot
        s.lostRows = lostRows
        return s
    }
}

/// `--from` as given, or the one primary among the peers (`auto`).
enum UpstreamChoice {
    static func resolve(_ settings: EffectiveSettings, pgdata: String, output: Output) async throws -> UpstreamAddress {
        switch try settings.upstream() {
        case let .address(address):
            return address
        case let .discover(peers):
            let (primary, observations) = try await PrimaryDiscovery.discover(
                peers, template: settings.probeEndpoint(), localPostmaster: LocalIdentity.runningPostmaster(pgdata),
                systemIdentifier: LocalIdentity.systemIdentifier(pgdata))
            output.handle(.info("primary among the peers: \(primary.address) (\(observations.map(\.description).joined(separator: "; ")))"))
            return primary.address
        }
    }
}

/// What can be known about the local cluster without running anything.
enum LocalIdentity {
    /// The first field of global/pg_control is the system identifier (uint64, host order).
    static func systemIdentifier(_ pgdata: String) -> String? {
        guard let data = FileManager.default.contents(atPath: pgdata + "/global/pg_control"), data.count >= 8 else { return nil }
        let value = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        return String(value)
    }

    /// The local postmaster's pid when one runs (to recognise this node in the peer list).
    static func runningPostmaster(_ pgdata: String) -> Int32? {
        guard let pid = PostmasterPid.read(dataDirectory: pgdata)?.pid, kill(pid, 0) == 0 else { return nil }
        return pid
    }
}

/// `[commands] post_rejoin`: run (argv, no shell) after a verified rejoin or repoint, e.g. to
/// start keepalived again. Not after "already a standby" or a dry run.
enum PostRejoin {
    static func run(_ settings: EffectiveSettings, after outcome: RejoinOutcome, output: Output) async throws -> ExitStatus {
        guard case .rejoined = outcome else { return .ok }
        return try await run(settings, output: output)
    }

    static func run(_ settings: EffectiveSettings, output: Output) async throws -> ExitStatus {
        guard let argv = settings.settings.postRejoinCommand, let program = argv.first else { return .ok }
        let command = ChildCommand(program, Array(argv.dropFirst()))
        let result = try await ChildProcessRunner().run(command)
        if result.succeeded {
            output.handle(.info("post_rejoin: \(command) done"))
            return .ok
        }
        output.fail("the standby is verified, but the post_rejoin command failed: \(command) (\(result.statusDescription))"
                    + (result.standardErrorTail.last.map { ": \($0)" } ?? "") + "; run it by hand", status: .failed)
        return .failed
    }
}
