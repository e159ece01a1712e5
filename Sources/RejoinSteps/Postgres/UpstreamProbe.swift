import Foundation

/// What preflight needs to know about the upstream, asked over the same two doors the rejoin
/// will use: a replication connection (IDENTIFY_SYSTEM) and an SQL connection.
public struct UpstreamFacts: Sendable, Equatable {
    public var systemIdentifier: String
    public var timeline: Int
    public var inRecovery: Bool
    public var versionNumber: Int
    public var databaseBytes: UInt64
    public var tablespaces: [UpstreamTablespace]
    /// The probe's SQL connection was served by a child of the local postmaster: the "upstream"
    /// is this very node.
    public var servedByLocalPostmaster: Bool = false
    /// full_page_writes and the latest checkpoint's timeline, when the probe could read them.
    public var rewindSettings: RewindSettings? = nil

    public var majorVersion: Int { versionNumber / 10000 }
}

/// The upstream settings and role privileges pg_rewind depends on (see RewindChecks).
public struct RewindSettings: Sendable, Equatable {
    public var fullPageWrites: Bool
    /// The timeline of the upstream's latest checkpoint. Right after a promotion the control
    /// file may still show the old timeline until the first checkpoint, and pg_rewind would
    /// then see no divergence.
    public var checkpointTimeline: Int
    /// The functions pg_rewind calls on its source that the role may not execute
    /// (signatures as `RewindSettings.sourceFunctions` names them). Empty: all allowed.
    public var missingFunctions: [String]
    /// Whether the role may run CHECKPOINT: a superuser, or on 15+ a member of pg_checkpoint.
    public var mayCheckpoint: Bool
    /// The upstream's server_version_num, to name the right grant.
    public var versionNumber: Int

    public init(fullPageWrites: Bool, checkpointTimeline: Int, missingFunctions: [String] = [], mayCheckpoint: Bool = true,
                versionNumber: Int = 150000) {
        self.fullPageWrites = fullPageWrites
        self.checkpointTimeline = checkpointTimeline
        self.missingFunctions = missingFunctions
        self.mayCheckpoint = mayCheckpoint
        self.versionNumber = versionNumber
    }

    /// What pg_rewind executes on the source server (PostgreSQL's pg_rewind documentation:
    /// a non-superuser source role needs EXECUTE on each).
    public static let sourceFunctions = [
        "pg_catalog.pg_ls_dir(text, boolean, boolean)",
        "pg_catalog.pg_stat_file(text, boolean)",
        "pg_catalog.pg_read_binary_file(text)",
        "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
    ]

    /// The statements that give `user` what pg_rewind needs of it on the source.
    public func grants(for user: String, checkpoint: Bool) -> [String] {
        let role = Quoting.identifier(user)
        var statements = missingFunctions.map { "GRANT EXECUTE ON FUNCTION \($0) TO \(role)" }
        if checkpoint && !mayCheckpoint {
            statements.append(versionNumber >= 150000
                ? "GRANT pg_checkpoint TO \(role)"
                : "CHECKPOINT (run it on the upstream as a superuser: before PostgreSQL 15 only a superuser may)")
        }
        return statements
    }

    static func read(_ sql: PgConnection) throws -> RewindSettings {
        let functions = sourceFunctions.enumerated().map { "has_function_privilege($\($0.offset + 1), 'EXECUTE')" }
        guard let row = try sql.query("""
            SELECT current_setting('full_page_writes'),
                   (SELECT timeline_id FROM pg_control_checkpoint())::text,
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                     OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint' AND pg_has_role(oid, 'MEMBER')),
                   current_setting('server_version_num'),
                   \(functions.joined(separator: ", "))
            """, sourceFunctions).first, row.count == 4 + sourceFunctions.count else {
            throw PgError.unexpectedResult(target: sql.target, sql: "rewind settings")
        }
        let missing = zip(sourceFunctions, row.dropFirst(4)).filter { $0.1 != "t" }.map(\.0)
        return RewindSettings(fullPageWrites: row[0] == "on", checkpointTimeline: row[1].flatMap { Int($0) } ?? 0,
                              missingFunctions: missing, mayCheckpoint: row[2] == "t",
                              versionNumber: row[3].flatMap { Int($0) } ?? 0)
    }
}

public enum UpstreamProbe {
    /// `localPostmaster`: the pid of a local server that runs now, to tell whether the upstream's
    /// backend serving us is its child (the upstream is this node).
    public static func probe(_ endpoint: UpstreamEndpoint, localPostmaster: Int32? = nil) throws -> UpstreamFacts {
        // Both doors at once: each connection is a round of authentication on the upstream, and
        // neither answer depends on the other. A refusal of the replication door is reported
        // first, as when they were asked in turn.
        let identity = LockedBox<Result<(row: [String?], localAddress: String?), Error>?>(nil)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let result = Result { try identify(endpoint) }
            identity.update { _ in (result, ()) }
        }
        let sql = Result { try sqlFacts(endpoint, localPostmaster: localPostmaster) }
        group.wait()
        let row: [String?], clientAddress: String?, facts: SQLFacts
        do {
            guard let identified = identity.current else {
                throw PgError.unexpectedResult(target: endpoint.address.description, sql: "IDENTIFY_SYSTEM")
            }
            (row, clientAddress) = try identified.get()
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: true)
        }
        do {
            facts = try sql.get()
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: false, clientAddress: clientAddress)
        }
        return UpstreamFacts(
            systemIdentifier: row[0] ?? "",
            timeline: row[1].flatMap { Int($0) } ?? 0,
            inRecovery: facts.row[0] == "t",
            versionNumber: facts.row[1].flatMap { Int($0) } ?? 0,
            databaseBytes: facts.row[2].flatMap { UInt64($0) } ?? 0,
            tablespaces: UpstreamTablespace.parse(json: facts.row[3]),
            servedByLocalPostmaster: facts.servedLocally,
            rewindSettings: facts.rewindSettings
        )
    }

    /// IDENTIFY_SYSTEM's row, and this host's address on that connection: when the SQL door is
    /// refused, the pg_hba.conf line to add names it.
    private static func identify(_ endpoint: UpstreamEndpoint) throws -> (row: [String?], localAddress: String?) {
        let replication = try endpoint.connectReplication()
        guard let row = try replication.query("IDENTIFY_SYSTEM").first, row.count >= 2 else {
            throw PgError.unexpectedResult(target: endpoint.address.description, sql: "IDENTIFY_SYSTEM")
        }
        return (row, replication.localAddress)
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
                   (SELECT coalesce(json_agg(json_build_array(oid::text, spcname, pg_tablespace_location(oid))), '[]')::text
                      FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')),
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
    static func classify(_ error: PgError, endpoint: UpstreamEndpoint, replication: Bool, clientAddress: String? = nil) -> PreflightError {
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
        // The seed's setup: an hba line for replication only. The replication door answered, so
        // the exact line for the SQL door can be named.
        if case .connect = error, !replication, lower.contains("pg_hba.conf") {
            let host = clientAddress.map { $0.contains(":") ? "\($0)/128" : "\($0)/32" } ?? "THIS-HOST/32"
            return .sqlNotInHBA(address: address, user: endpoint.user, database: endpoint.database,
                                line: "host \(endpoint.database) \(endpoint.user) \(host) scram-sha-256", message: message)
        }
        if case .connect = error, !replication, lower.contains("does not exist") || lower.contains("permission denied") {
            return .sqlRefused(address: address, user: endpoint.user, database: endpoint.database, message: message)
        }
        if case .query = error {
            return .sqlRefused(address: address, user: endpoint.user, database: endpoint.database, message: message)
        }
        return .upstreamUnreachable(address: address, message: message)
    }
}
