import Foundation

/// What a rewind needs to know from the upstream, beyond preflight's facts.
public enum RewindSource {
    public static func fullPageWrites(_ sql: PgConnection) throws -> Bool {
        try sql.value("SHOW full_page_writes") == "on"
    }

    /// The timeline of the upstream's latest checkpoint. Right after a promotion the control
    /// file may still show the old timeline until the first checkpoint, and pg_rewind would
    /// then see no divergence.
    public static func checkpointTimeline(_ sql: PgConnection) throws -> Int? {
        try sql.value("SELECT timeline_id FROM pg_control_checkpoint()").flatMap { Int($0) }
    }

    /// TIMELINE_HISTORY over a replication connection: the history file of `timeline`.
    public static func history(_ replication: PgConnection, timeline: Int) throws -> TimelineHistory {
        guard timeline > 1 else { return TimelineHistory(parsing: "") }
        guard let row = try replication.query("TIMELINE_HISTORY \(timeline)").first, row.count >= 2, let content = row[1] else {
            throw PgError.unexpectedResult(target: replication.target, sql: "TIMELINE_HISTORY \(timeline)")
        }
        return TimelineHistory(parsing: decodeBytea(content))
    }

    /// The content column is bytea in PostgreSQL 15: text results arrive as "\x" + hex.
    static func decodeBytea(_ text: String) -> String {
        guard text.hasPrefix("\\x") else { return text }
        var bytes: [UInt8] = []
        var iterator = text.dropFirst(2).makeIterator()
        while let high = iterator.next(), let low = iterator.next(), let byte = UInt8(String([high, low]), radix: 16) {
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The relation names behind "database-oid/relfilenode" pairs, asked of the upstream
    /// (same catalogs up to the fork). Unknown ones keep their numbers.
    public static func relationNames(_ relations: [String], endpoint: UpstreamEndpoint) -> [String] {
        guard !relations.isEmpty, let sql = try? endpoint.connectSQL() else { return relations }
        var databases: [String: String] = [:]
        for row in (try? sql.query("SELECT oid::text, datname FROM pg_database WHERE datallowconn")) ?? [] {
            if let oid = row[0], let name = row[1] { databases[oid] = name }
        }
        // One connection per database, not per relation.
        var connections: [String: PgConnection?] = [:]
        return relations.map { pair in
            let parts = pair.split(separator: "/").map(String.init)
            guard parts.count == 2, let database = databases[parts[0]] else { return pair }
            if connections[database] == nil {
                var endpointInDatabase = endpoint
                endpointInDatabase.database = database
                connections[database] = .some(try? endpointInDatabase.connectSQL())
            }
            guard let connection = connections[database] ?? nil,
                  let name = try? connection.value("SELECT pg_filenode_relation(0, $1::oid)::regclass::text", [parts[1]]) else {
                return pair
            }
            return "\(database).\(name)"
        }
    }
}
