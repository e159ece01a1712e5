import Foundation

public enum PreflightError: LocalizedError, RejoinFailure, Equatable {
    case dataDirectory(path: String, problem: String)
    case mountPoint(path: String)
    case parentNotWritable(path: String, user: String)
    case workDirectoryUnusable(path: String, user: String, problem: String)
    case upstreamUnreachable(address: String, message: String)
    case hostNotFound(host: String, message: String)
    case upstreamSilent(address: String, seconds: Int)
    case authenticationFailed(address: String, user: String, message: String)
    case roleCannotReplicate(address: String, user: String, message: String)
    case replicationNotInHBA(address: String, user: String, message: String)
    case replicationRefused(address: String, user: String, message: String)
    case sqlRefused(address: String, user: String, database: String, message: String)
    case sqlNotInHBA(address: String, user: String, database: String, line: String, message: String)
    case upstreamIsStandby(address: String)
    case upstreamIsThisNode(address: String, pgdata: String, evidence: String)
    case differentCluster(address: String, upstream: String, local: String)
    case versionMismatch(address: String, upstream: Int, local: Int)
    case timelineBehind(address: String, upstream: Int, local: Int)
    case tablespace(problem: String, advice: String)
    case notEnoughSpace(path: String, needed: UInt64, free: UInt64, reserve: UInt64)
    case localPrimaryRunning(pgdata: String)
    case localPrimaryRunningOnResume(pgdata: String, runID: String)
    case localServerUnclear(pgdata: String, state: String)
    case unfinishedRunFromOtherUpstream(recorded: String, given: String, workDirectory: String)
    case oldDataMissing(expected: String)
    case rewindNotPossible(reasons: [String])
    case unsupportedMajor(pgdata: String, major: Int)
    case standbyWouldNotVerify(pgdata: String, settings: [String])
    case primariesChanged(chosen: String, now: [String], peers: [String])

    public var exitStatus: ExitStatus {
        switch self {
        case .localPrimaryRunning, .localPrimaryRunningOnResume: return .splitBrainRisk
        case .primariesChanged: return .splitBrain
        default: return .refused
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .dataDirectory(path, problem):
            return "\(path) \(problem); pass --pgdata the failed primary's data directory (or set PGDATA). Nothing was changed"
        case let .mountPoint(path):
            return "\(path) is a mount point, so it cannot be renamed aside; point --pgdata at a directory inside the mount (PostgreSQL recommends that anyway). Nothing was changed"
        case let .parentNotWritable(path, user):
            return "\(path) is not writable by \(user), but pg-rejoin keeps the old data and its working directory there; make it writable by the data directory's owner. Nothing was changed"
        case let .workDirectoryUnusable(path, user, problem):
            return "the working directory \(path) \(problem), but pg-rejoin keeps its lock and journal there as \(user); make it a directory owned by \(user) (mode 0700), or move it aside if no run is unfinished. Nothing was changed"
        case let .upstreamUnreachable(address, message):
            return "cannot reach the upstream \(address): \(message). Check --from, that PostgreSQL runs there and that the network allows it (connect timeout --connect-timeout). Nothing was changed"
        case let .hostNotFound(host, message):
            return "the upstream host '\(host)' does not resolve to an address (\(message)). Check the spelling of --from, or this node's DNS and /etc/hosts; an IP address works too. Nothing was changed"
        case let .upstreamSilent(address, seconds):
            return "the upstream \(address) did not answer within \(seconds) s: the host may be down, or a firewall drops the packets. Check --from and the network, or raise --connect-timeout on a slow link. Nothing was changed"
        case let .authenticationFailed(address, user, message):
            return "the upstream \(address) refused the password for role \(user): \(message). Put the replication password in a passfile (--passfile, PGPASSFILE or ~/.pgpass of the data directory's owner). Nothing was changed"
        case let .roleCannotReplicate(address, user, message):
            return "role \(user) may log in to the upstream \(address) but may not replicate (\(message)). On the upstream run ALTER ROLE \(user) REPLICATION, or pass --user a role that has it. Nothing was changed"
        case let .replicationNotInHBA(address, user, message):
            return "the upstream \(address) does not allow replication connections for role \(user) from this host (\(message)). Add `host replication \(user) THIS-HOST/32 scram-sha-256` to its pg_hba.conf (a line for `all` databases does not cover replication) and reload it (SELECT pg_reload_conf()). Nothing was changed"
        case let .replicationRefused(address, user, message):
            return "the upstream \(address) refuses replication for role \(user): \(message). Give the role REPLICATION (ALTER ROLE \(user) REPLICATION) and allow `host replication \(user) THIS-HOST scram-sha-256` in its pg_hba.conf, or pass --user. Nothing was changed"
        case let .sqlRefused(address, user, database, message):
            return "the upstream \(address) refuses an SQL connection for role \(user) to database \(database): \(message). pg-rejoin needs one to check the server (allow it in pg_hba.conf, or pass --dbname). Nothing was changed"
        case let .sqlNotInHBA(address, user, _, line, message):
            return "the upstream \(address) lets role \(user) replicate but refuses it an SQL connection (\(message)). pg-rejoin asks the upstream over SQL whether it is the primary, its size and its replication state before it changes anything; a line for `replication` does not cover that. Add `\(line)` to the upstream's pg_hba.conf (above any line that rejects it), reload it (SELECT pg_reload_conf()), and rerun. Nothing was changed"
        case let .upstreamIsStandby(address):
            return "upstream \(address) is in recovery (a standby), not the new primary; pass --from the current primary. Nothing was changed"
        case let .upstreamIsThisNode(address, pgdata, evidence):
            return "--from \(address) is this node itself: \(evidence). A node cannot be a standby of itself; pass --from the new primary (the node that was promoted), not the server running from \(pgdata). Nothing was changed"
        case let .differentCluster(address, upstream, local):
            return "upstream \(address) belongs to another cluster (system identifier \(upstream), local \(local)); a standby can only follow its own cluster. Check --from and --pgdata. Nothing was changed"
        case let .versionMismatch(address, upstream, local):
            return "upstream \(address) runs PostgreSQL \(upstream), the local data directory is \(local); streaming replication needs the same major version. Nothing was changed"
        case let .timelineBehind(address, upstream, local):
            return "upstream \(address) is on timeline \(upstream), older than the local timeline \(local): the local node is the newer primary. Do not rejoin it; check which node is really primary. Nothing was changed"
        case let .tablespace(problem, advice):
            return "\(problem). \(advice). Nothing was changed"
        case let .notEnoughSpace(path, needed, free, reserve):
            return "not enough free space for the copy on the filesystem of \(path): need \(ByteCount.format(needed)) (the upstream's size, 10% more, and --disk-reserve \(ByteCount.format(reserve)) left free), \(ByteCount.format(free)) free. Free space (old data directories from earlier rejoins are candidates) and rerun. Nothing was changed"
        case let .localPrimaryRunning(pgdata):
            return "the local server in \(pgdata) is running as a primary. Stopping it and turning it into a standby throws away whatever it accepted since the failover, and if it is still serving clients there are two primaries (split brain). Make sure clients use the new primary, then rerun with --demote. Nothing was changed"
        case let .localPrimaryRunningOnResume(pgdata, runID):
            return "the local server in \(pgdata) is running as a primary: it was started after run \(runID) stopped, and may have taken writes since. Stopping it and going on throws those away, and if it serves clients there are two primaries (split brain). Make sure clients use the new primary, then rerun with --demote to resume (or run pg-rejoin abort to give the run up). This rerun changed nothing; the journal keeps the unfinished run"
        case let .localServerUnclear(pgdata, state):
            return "the local server in \(pgdata) is \(state); wait until it is up or stopped, then rerun. Nothing was changed"
        case let .unfinishedRunFromOtherUpstream(recorded, given, workDirectory):
            return "an unfinished rejoin from \(recorded) is recorded in \(workDirectory), but --from says \(given). Rerun with --from \(recorded) to finish it, or move \(workDirectory) aside to start afresh after checking where the old data is"
        case let .primariesChanged(chosen, now, peers):
            let found = now.isEmpty ? "no primary" : now.count == 1 ? "one primary, but another: \(now[0])" : "\(now.count) primaries: \(now.joined(separator: "; "))"
            return "asked again right before the first change, the peers no longer show \(chosen) as the only primary: \(found) (peers: \(peers.joined(separator: "; "))). Two primaries, or a failover under way: pg-rejoin stops rather than follow the wrong one. Settle which node is the primary, then rerun. Nothing was changed"
        case let .standbyWouldNotVerify(pgdata, settings):
            return "the configuration of \(pgdata) would keep the new standby from ever streaming and verifying: \(settings.joined(separator: "; ")). Change or remove those lines (a recovery target is usually left from a point-in-time recovery), then rerun; or pass --no-keep-config to use the upstream's configuration. Nothing was changed"
        case let .unsupportedMajor(pgdata, major):
            return "\(pgdata) is PostgreSQL \(major); pg-rejoin works with 13 to 18 (12 and older are out of support and lack what it relies on: wal_keep_size, pg_rewind's --restore-target-wal and its own crash recovery). Rejoin this node by hand, or upgrade the cluster first. Nothing was changed"
        case let .rewindNotPossible(reasons):
            return "--method rewind: pg_rewind is not possible here: \(reasons.joined(separator: "; ")). Fix that and rerun, or rerun with --method auto (which copies when a rewind is not possible). Nothing was changed"
        case let .oldDataMissing(expected):
            return "the old data directory is neither in PGDATA nor at \(expected), where the journal says it was put; pg-rejoin stops rather than guess. Find it before going on"
        }
    }
}

public enum ByteCount {
    static let units = ["B", "kB", "MB", "GB", "TB", "PB"]

    /// Parses a size with a unit, 1024-based as `format` prints them: `512MB`, `2GB`, `1.5 TB`,
    /// `64kB` (K/M/G/T/P alone work too). A bare number other than 0 has no obvious unit and is
    /// refused, so `--disk-reserve 512` cannot silently mean 512 bytes.
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        guard !digits.isEmpty, let number = Double(digits), number >= 0 else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        if unit.isEmpty { return number == 0 ? 0 : nil }
        let index = units.firstIndex { $0.uppercased() == unit || ($0.count == 2 && String($0.uppercased().prefix(1)) == unit) }
        guard let index else { return nil }
        let bytes = number * pow(1024, Double(index))
        guard bytes < Double(UInt64.max / 2) else { return nil }
        return UInt64(bytes)
    }

    public static func format(_ bytes: UInt64) -> String {
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
