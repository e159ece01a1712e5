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

    public var majorVersion: Int { versionNumber / 10000 }
}

public enum UpstreamProbe {
    public static func probe(_ endpoint: UpstreamEndpoint) throws -> UpstreamFacts {
        let address = endpoint.address.description
        let identity: [String?]
        do {
            let replication = try endpoint.connectReplication()
            guard let row = try replication.query("IDENTIFY_SYSTEM").first, row.count >= 2 else {
                throw PgError.unexpectedResult(target: address, sql: "IDENTIFY_SYSTEM")
            }
            identity = row
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: true)
        }
        let row: [String?]
        do {
            let sql = try endpoint.connectSQL()
            guard let first = try sql.query("""
                SELECT pg_is_in_recovery(),
                       current_setting('server_version_num'),
                       (SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database
                         WHERE datallowconn AND has_database_privilege(oid, 'CONNECT'))::text,
                       (SELECT coalesce(string_agg(spcname, ','), '') FROM pg_tablespace
                         WHERE spcname NOT IN ('pg_default', 'pg_global'))
                """).first, first.count == 4 else {
                throw PgError.unexpectedResult(target: address, sql: "preflight query")
            }
            row = first
        } catch let error as PgError {
            throw classify(error, endpoint: endpoint, replication: false)
        }
        return UpstreamFacts(
            systemIdentifier: identity[0] ?? "",
            timeline: identity[1].flatMap { Int($0) } ?? 0,
            inRecovery: row[0] == "t",
            versionNumber: row[1].flatMap { Int($0) } ?? 0,
            databaseBytes: row[2].flatMap { UInt64($0) } ?? 0,
            tablespaces: (row[3] ?? "").split(separator: ",").map(String.init)
        )
    }

    /// Turns libpq's message into the operator's problem: which door was refused and why.
    static func classify(_ error: PgError, endpoint: UpstreamEndpoint, replication: Bool) -> PreflightError {
        let message = error.serverMessage
        let address = endpoint.address.description
        let lower = message.lowercased()
        if lower.contains("password authentication failed") || lower.contains("no password supplied")
            || lower.contains("fe_sendauth") {
            return .authenticationFailed(address: address, user: endpoint.user, message: message)
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
