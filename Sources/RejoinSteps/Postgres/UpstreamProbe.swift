import Foundation

/// What preflight needs to know about the upstream, asked over the same two doors the rejoin
/// will use: a replication connection (IDENTIFY_SYSTEM) and an SQL connection.
public struct UpstreamFacts: Sendable, Equatable {
    public var systemIdentifier: String
    public var timeline: Int
    public var inRecovery: Bool
    public var versionNumber: Int
    public var databaseBytes: UInt64
    public var tablespaces: [String]
    /// The probe's SQL connection was served by a child of the local postmaster: the "upstream"
    /// is this very node.
    public var servedByLocalPostmaster: Bool = false
    /// full_page_writes and the latest checkpoint's timeline, when the probe could read them.
    public var rewindSettings: RewindSettings? = nil

    public var majorVersion: Int { versionNumber / 10000 }
}

/// The upstream settings pg_rewind depends on (see RewindChecks).
public struct RewindSettings: Sendable, Equatable {
    public var fullPageWrites: Bool
    /// The timeline of the upstream's latest checkpoint. Right after a promotion the control
    /// file may still show the old timeline until the first checkpoint, and pg_rewind would
    /// then see no divergence.
    public var checkpointTimeline: Int

    public init(fullPageWrites: Bool, checkpointTimeline: Int) {
        self.fullPageWrites = fullPageWrites
        self.checkpointTimeline = checkpointTimeline
    }

    static func read(_ sql: PgConnection) throws -> RewindSettings {
        RewindSettings(fullPageWrites: try RewindSource.fullPageWrites(sql), checkpointTimeline: try RewindSource.checkpointTimeline(sql) ?? 0)
    }
}

public enum UpstreamProbe {
    /// `localPostmaster`: the pid of a local server that runs now, to tell whether the upstream's
    /// backend serving us is its child (the upstream is this node).
    public static func probe(_ endpoint: UpstreamEndpoint, localPostmaster: Int32? = nil) throws -> UpstreamFacts {
        // Both doors at once: each connection is a round of authentication on the upstream, and
        // neither answer depends on the other. A refusal of the replication door is reported
        // first, as when they were asked in turn.
        let identity = LockedBox<Result<[String?], Error>?>(nil)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let result = Result { try identify(endpoint) }
            identity.update { _ in (result, ()) }
        }
        let sql = Result { try sqlFacts(endpoint, localPostmaster: localPostmaster) }
        group.wait()
        let row: [String?], facts: SQLFacts
        do {
            guard let identified = identity.current else {
                throw PgError.unexpectedResult(target: endpoint.address.description, sql: "IDENTIFY_SYSTEM")
            }
            row = try identified.get()
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: true)
        }
        do {
            facts = try sql.get()
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: false)
        }
        return UpstreamFacts(
            systemIdentifier: row[0] ?? "",
            timeline: row[1].flatMap { Int($0) } ?? 0,
            inRecovery: facts.row[0] == "t",
            versionNumber: facts.row[1].flatMap { Int($0) } ?? 0,
            databaseBytes: facts.row[2].flatMap { UInt64($0) } ?? 0,
            tablespaces: (facts.row[3] ?? "").split(separator: ",").map(String.init),
            servedByLocalPostmaster: facts.servedLocally,
            rewindSettings: facts.rewindSettings
        )
    }

    private static func identify(_ endpoint: UpstreamEndpoint) throws -> [String?] {
        let replication = try endpoint.connectReplication()
        guard let row = try replication.query("IDENTIFY_SYSTEM").first, row.count >= 2 else {
            throw PgError.unexpectedResult(target: endpoint.address.description, sql: "IDENTIFY_SYSTEM")
        }
        return row
    }

    private struct SQLFacts {
        var row: [String?]
        var servedLocally: Bool
        var rewindSettings: RewindSettings?
    }

    private static func sqlFacts(_ endpoint: UpstreamEndpoint, localPostmaster: Int32?) throws -> SQLFacts {
        let sql = try endpoint.connectSQL()
        guard let first = try sql.query("""
            SELECT pg_is_in_recovery(),
                   current_setting('server_version_num'),
                   (SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database
                     WHERE datallowconn AND has_database_privilege(oid, 'CONNECT'))::text,
                   (SELECT coalesce(string_agg(spcname, ','), '') FROM pg_tablespace
                     WHERE spcname NOT IN ('pg_default', 'pg_global')),
                   pg_backend_pid()
            """).first, first.count == 5 else {
            throw PgError.unexpectedResult(target: endpoint.address.description, sql: "preflight query")
        }
        // Checked while the connection (and so its backend) is still alive.
        var servedLocally = false
        if let localPostmaster, let backend = first[4].flatMap({ Int32($0) }) {
            servedLocally = parentPid(of: backend) == localPostmaster
        }
        // What the rewind checks need, on the same connection; when the role may not read it,
        // the checks ask again on their own and report why.
        return SQLFacts(row: first, servedLocally: servedLocally, rewindSettings: try? RewindSettings.read(sql))
    }

    /// The parent pid from /proc/PID/stat (the field after the state letter), or nil.
    static func parentPid(of pid: Int32) -> Int32? {
        guard let stat = Files.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// Turns libpq's message into the operator's problem: which door was refused and why.
    static func classify(_ error: PgError, endpoint: UpstreamEndpoint, replication: Bool) -> PreflightError {
        let message = error.serverMessage
        let address = endpoint.address.description
        let lower = message.lowercased()
        if lower.contains("could not translate host name") {
            return .hostNotFound(host: endpoint.address.host, message: message)
        }
        if lower.contains("timeout expired") {
            return .upstreamSilent(address: address, seconds: endpoint.connectTimeout)
        }
        if lower.contains("password authentication failed") || lower.contains("no password supplied")
            || lower.contains("fe_sendauth") {
            return .authenticationFailed(address: address, user: endpoint.user, message: message)
        }
        // PostgreSQL <= 15: "must be superuser or replication role to start walsender";
        // 16+: "permission denied to start WAL sender" (detail: the REPLICATION attribute).
        if replication && (lower.contains("replication role to start walsender") || lower.contains("permission denied to start wal sender")) {
            return .roleCannotReplicate(address: address, user: endpoint.user, message: message)
        }
        // "no pg_hba.conf entry for replication connection ..." or "pg_hba.conf rejects
        // replication connection ...".
        if replication && lower.contains("pg_hba.conf") && lower.contains("replication connection") {
            return .replicationNotInHBA(address: address, user: endpoint.user, message: message)
        }
        if replication && (lower.contains("replication") || lower.contains("walsender")) && !lower.contains("could not connect")
            && !lower.contains("connection refused") && !lower.contains("timeout") {
            return .replicationRefused(address: address, user: endpoint.user, message: message)
        }
        if case .connect = error, !replication, lower.contains("pg_hba.conf") || lower.contains("does not exist") || lower.contains("permission denied") {
            return .sqlRefused(address: address, user: endpoint.user, database: endpoint.database, message: message)
        }
        if case .query = error {
            return .sqlRefused(address: address, user: endpoint.user, database: endpoint.database, message: message)
        }
        return .upstreamUnreachable(address: address, message: message)
    }
}
