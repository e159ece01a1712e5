import Foundation

/// Which physical replication slot the new standby streams through (`--slot`, config `slot`).
public enum SlotChoice: Sendable, Equatable {
    /// The node's own primary_slot_name, if it has one; else no slot.
    case auto
    case none
    case named(String)

    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        default:
            if let problem = Self.problem(text) { throw SlotError.badName(text, problem: problem) }
            self = .named(text)
        }
    }

    /// PostgreSQL's rule for slot names: lower-case letters, digits and underscores, at most 63.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.utf8.count > 63 { return "it is longer than 63 characters" }
        if !name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }) {
            return "a slot name holds only lower-case letters, digits and underscores"
        }
        return nil
    }
}

public enum SlotError: LocalizedError, RejoinFailure, Equatable {
    case badName(String, problem: String)
    case logical(name: String, address: String)
    case create(name: String, address: String, message: String)
    case notActive(name: String, address: String, detail: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .badName, .logical: return .refused
        case .create: return .stepFailed
        case .notActive: return .verifyFailed
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .badName(name, problem):
            return "--slot \(name) is not a replication slot name: \(problem). Pass a name such as pg1_slot, auto (the node's own primary_slot_name) or none. Nothing was changed"
        case let .logical(name, address):
            return "the slot \(name) on \(address) is a logical slot; a standby streams through a physical one. Pass --slot another name (or none). Nothing was changed"
        case let .create(name, address, message):
            return "cannot create the physical slot \(name) on \(address): \(message). Check that the role has REPLICATION and max_replication_slots leaves room, then rerun"
        case let .notActive(name, address, detail):
            return "the slot \(name) on \(address) is not used by this standby (\(detail)); rerun to verify again"
        }
    }
}

/// The upstream's side of a slot, and the slots a rewound old primary brought along.
public enum ReplicationSlots {
    /// Makes sure the physical slot exists on the upstream, over the replication connection
    /// (REPLICATION is enough). Returns whether it was created now.
    static func ensure(_ name: String, on endpoint: UpstreamEndpoint) throws -> Bool {
        let sql = try endpoint.connectSQL()
        if let row = try sql.query("SELECT slot_type FROM pg_replication_slots WHERE slot_name = $1", [name]).first {
            if row.first ?? nil != "physical" { throw SlotError.logical(name: name, address: endpoint.address.description) }
            return false
        }
        do {
            // RESERVE_WAL: the slot holds WAL from now on, before the standby first connects.
            _ = try endpoint.connectReplication().query("CREATE_REPLICATION_SLOT \(name) PHYSICAL RESERVE_WAL")
            return true
        } catch let error as PgError {
            // Made by someone else meanwhile: fine.
            if error.serverMessage.contains("already exists") { return false }
            throw SlotError.create(name: name, address: endpoint.address.description, message: error.serverMessage)
        }
    }

    /// Whether the slot is active for this node's walsender (by application_name).
    static func usedBy(_ name: String, applicationName: String, on sql: PgConnection) throws -> (active: Bool, ours: Bool) {
        guard let row = try sql.query("""
            SELECT s.active, coalesce(s.active_pid = ANY (SELECT pid FROM pg_stat_replication WHERE application_name = $2), false)
              FROM pg_replication_slots s WHERE s.slot_name = $1
            """, [name, applicationName]).first else { return (false, false) }
        return (row[0] == "t", row[1] == "t")
    }

    /// Inactive physical slots on the upstream named after this node that the standby does
    /// not use: each retains WAL on the upstream until dropped.
    static func forgotten(nodeName: String, using slot: String?, on sql: PgConnection) -> [String] {
        let candidates = Set([nodeName, nodeName.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()])
        let rows = (try? sql.query("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT active")) ?? []
        return rows.compactMap { $0.first ?? nil }.filter { candidates.contains($0) && $0 != slot }
    }

    /// The slots in a data directory (pg_replslot), before anything changed.
    static func onDisk(_ pgdata: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: pgdata + "/pg_replslot")) ?? [])
            .filter { SlotChoice.problem($0) == nil }.sorted()
    }

    /// Drops those of `names` (the old primary's own slots, which a rewind keeps in
    /// pg_replslot) that the standby has and nobody uses: on a standby they would hold WAL back
    /// forever. Returns the names dropped.
    static func dropCarriedOver(_ names: [String], local: PgConnection) -> [String] {
        guard !names.isEmpty else { return [] }
        let rows = (try? local.query("SELECT slot_name FROM pg_replication_slots WHERE NOT active")) ?? []
        let present = Set(rows.compactMap { $0.first ?? nil })
        var dropped: [String] = []
        for name in names where present.contains(name) {
            if (try? local.query("SELECT pg_drop_replication_slot($1)", [name])) != nil { dropped.append(name) }
        }
        return dropped
    }
}
