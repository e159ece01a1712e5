import Foundation

public enum PreflightError: LocalizedError, RejoinFailure, Equatable {
    case dataDirectory(path: String, problem: String)
    case mountPoint(path: String)
    case parentNotWritable(path: String, user: String)
    case upstreamUnreachable(address: String, message: String)
    case authenticationFailed(address: String, user: String, message: String)
    case replicationRefused(address: String, user: String, message: String)
    case sqlRefused(address: String, user: String, database: String, message: String)
    case upstreamIsStandby(address: String)
    case differentCluster(address: String, upstream: String, local: String)
    case versionMismatch(address: String, upstream: Int, local: Int)
    case timelineBehind(address: String, upstream: Int, local: Int)
    case tablespaces(detail: String)
    case notEnoughSpace(path: String, needed: UInt64, free: UInt64)
    case localPrimaryRunning(pgdata: String)
    case localServerUnclear(pgdata: String, state: String)
    case unfinishedRunFromOtherUpstream(recorded: String, given: String, workDirectory: String)
    case oldDataMissing(expected: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .localPrimaryRunning: return .splitBrainRisk
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
        case let .upstreamUnreachable(address, message):
            return "cannot reach the upstream \(address): \(message). Check --from, that PostgreSQL runs there and that the network allows it (connect timeout --connect-timeout). Nothing was changed"
        case let .authenticationFailed(address, user, message):
            return "the upstream \(address) refused the password for role \(user): \(message). Put the replication password in a passfile (--passfile, PGPASSFILE or ~/.pgpass of the data directory's owner). Nothing was changed"
        case let .replicationRefused(address, user, message):
            return "the upstream \(address) refuses replication for role \(user): \(message). Give the role REPLICATION (ALTER ROLE \(user) REPLICATION) and allow `host replication \(user) THIS-HOST scram-sha-256` in its pg_hba.conf, or pass --user. Nothing was changed"
        case let .sqlRefused(address, user, database, message):
            return "the upstream \(address) refuses an SQL connection for role \(user) to database \(database): \(message). pg-rejoin needs one to check the server (allow it in pg_hba.conf, or pass --dbname). Nothing was changed"
        case let .upstreamIsStandby(address):
            return "upstream \(address) is in recovery (a standby), not the new primary; pass --from the current primary. Nothing was changed"
        case let .differentCluster(address, upstream, local):
            return "upstream \(address) belongs to another cluster (system identifier \(upstream), local \(local)); a standby can only follow its own cluster. Check --from and --pgdata. Nothing was changed"
        case let .versionMismatch(address, upstream, local):
            return "upstream \(address) runs PostgreSQL \(upstream), the local data directory is \(local); streaming replication needs the same major version. Nothing was changed"
        case let .timelineBehind(address, upstream, local):
            return "upstream \(address) is on timeline \(upstream), older than the local timeline \(local): the local node is the newer primary. Do not rejoin it; check which node is really primary. Nothing was changed"
        case let .tablespaces(detail):
            return "\(detail); pg-rejoin does not yet relocate tablespaces, so it stops before changing anything. Rejoin this node by hand. Nothing was changed"
        case let .notEnoughSpace(path, needed, free):
            return "not enough free space for the copy on the filesystem of \(path): need \(ByteCount.format(needed)), \(ByteCount.format(free)) free. Free space (old data directories from earlier rejoins are candidates) and rerun. Nothing was changed"
        case let .localPrimaryRunning(pgdata):
            return "the local server in \(pgdata) is running as a primary. Stopping it and turning it into a standby throws away whatever it accepted since the failover, and if it is still serving clients there are two primaries (split brain). Make sure clients use the new primary, then rerun with --demote. Nothing was changed"
        case let .localServerUnclear(pgdata, state):
            return "the local server in \(pgdata) is \(state); wait until it is up or stopped, then rerun. Nothing was changed"
        case let .unfinishedRunFromOtherUpstream(recorded, given, workDirectory):
            return "an unfinished rejoin from \(recorded) is recorded in \(workDirectory), but --from says \(given). Rerun with --from \(recorded) to finish it, or move \(workDirectory) aside to start afresh after checking where the old data is"
        case let .oldDataMissing(expected):
            return "the old data directory is neither in PGDATA nor at \(expected), where the journal says it was put; pg-rejoin stops rather than guess. Find it before going on"
        }
    }
}

public enum ByteCount {
    public static func format(_ bytes: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
