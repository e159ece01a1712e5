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

    /// The upstream's timeline, its WAL position and its timeline history, over one replication
    /// connection (IDENTIFY_SYSTEM, then TIMELINE_HISTORY).
    public static func position(of endpoint: UpstreamEndpoint) throws -> (timeline: Int, end: LSN, history: TimelineHistory) {
        let replication = try endpoint.connectReplication()
        guard let identity = try replication.query("IDENTIFY_SYSTEM").first, identity.count >= 3,
              let timeline = identity[1].flatMap({ Int($0) }), let end = identity[2].flatMap({ LSN($0) }) else {
            throw PgError.unexpectedResult(target: replication.target, sql: "IDENTIFY_SYSTEM")
        }
        return (timeline, end, try history(replication, timeline: timeline))
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
    /// (same catalogs up to the fork): one connection and one query per database. Unknown ones
    /// keep their numbers.
    public static func relationNames(_ relations: [String], endpoint: UpstreamEndpoint) -> [String] {
        guard !relations.isEmpty, let sql = try? endpoint.connectSQL() else { return relations }
        var databases: [String: String] = [:]
        for row in (try? sql.query("SELECT oid::text, datname FROM pg_database WHERE datallowconn")) ?? [] {
            if let oid = row[0], let name = row[1] { databases[oid] = name }
        }
        var names: [String: String] = [:]
        let byDatabase = Dictionary(grouping: relations) { $0.split(separator: "/").first.map(String.init) ?? "" }
        for (oid, pairs) in byDatabase {
            guard let database = databases[oid] else { continue }
            var endpointInDatabase = endpoint
            endpointInDatabase.database = database
            guard let connection = database == endpoint.database ? sql : try? endpointInDatabase.connectSQL() else { continue }
            let filenodes = pairs.compactMap { $0.split(separator: "/").last.flatMap { UInt32($0) } }
            let array = "{" + filenodes.map(String.init).joined(separator: ",") + "}"
            let rows = (try? connection.query("""
                SELECT f::text, pg_filenode_relation(0, f)::regclass::text FROM unnest($1::oid[]) AS f
                """, [array])) ?? []
            for row in rows {
                if let filenode = row[0], let name = row[1] { names["\(oid)/\(filenode)"] = "\(database).\(name)" }
            }
        }
        return relations.map { names[$0] ?? $0 }
    }
}
