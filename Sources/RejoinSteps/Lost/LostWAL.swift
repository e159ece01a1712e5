import Foundation

/// A heap tuple's place: block and line pointer, as `ctid` prints it.
public struct TupleID: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var block: UInt32
    public var offset: UInt16

    public init(block: UInt32, offset: UInt16) {
        self.block = block
        self.offset = offset
    }

    /// "(12,3)", as PostgreSQL prints a tid.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
        guard parts.count == 2, let block = UInt32(parts[0]), let offset = UInt16(parts[1]) else { return nil }
        self.init(block: block, offset: offset)
    }

    public var description: String { "(\(block),\(offset))" }
    public static func < (a: TupleID, b: TupleID) -> Bool { (a.block, a.offset) < (b.block, b.offset) }
}

/// A relation's files: tablespace, database and relfilenode OIDs, as WAL names them.
public struct RelationFile: Hashable, Codable, Sendable, CustomStringConvertible {
    public var tablespace: UInt32
    public var database: UInt32
    public var relfilenode: UInt32
    public var description: String { "\(tablespace)/\(database)/\(relfilenode)" }

    /// Below FirstNormalObjectId: a system catalog (its changes are DDL).
    public var isCatalog: Bool { relfilenode < 16384 }
    /// pg_largeobject.
    public var isLargeObjects: Bool { relfilenode == 2613 }
}

/// What pg_waldump says the old primary did after the fork, reduced to what finding the lost
/// transactions needs: which transactions committed (with their subtransactions), and where
/// each heap change landed. One line at a time, on every major's output (13–15 print
/// `UPDATE off 2 xmax 727 ... ; new off 4`, 16+ `UPDATE old_xmax: 755, old_off: 2, ...
/// new_off: 4`).
public struct LostWAL: Sendable, Equatable {
    public struct Commit: Sendable, Equatable, Codable {
        public var xid: UInt32
        public var lsn: String
        public var time: String
        public var subtransactions: [UInt32]
        /// Relation files the commit removed (TRUNCATE, DROP, a rewrite).
        public var droppedFiles: [String]
        public var prepared: Bool
    }

    public enum ChangeKind: String, Sendable, Equatable, Codable { case insert, multiInsert, update, delete }

    public struct HeapChange: Sendable, Equatable {
        public var xid: UInt32
        public var kind: ChangeKind
        public var relation: RelationFile
        /// Insert: where the new tuple is; update: the new version; delete: the deleted tuple.
        public var tuple: TupleID?
        /// An update's old version.
        public var old: TupleID?
        /// The block of an insert or multi-insert whose offsets pg_waldump does not print.
        public var block: UInt32
    }

    public var commits: [Commit] = []
    public var aborted: Set<UInt32> = []
    public var changes: [HeapChange] = []
    /// Per transaction (as WAL names it, maybe a subtransaction), what it did besides rows.
    public var catalogChanges: Set<UInt32> = []
    public var largeObjectChanges: Set<UInt32> = []
    public var sequenceChanges: Set<UInt32> = []
    public var preparedTransactions: Set<UInt32> = []

    public init() {}

    public init(parsing output: String) {
        self.init()
        for line in output.split(separator: "\n") { add(line: Substring(line)) }
    }

    /// Every committed transaction's xid and its subtransactions, mapped to the top-level xid.
    public var topLevel: [UInt32: UInt32] {
        var map: [UInt32: UInt32] = [:]
        for commit in commits {
            map[commit.xid] = commit.xid
            for sub in commit.subtransactions { map[sub] = commit.xid }
        }
        return map
    }

    public mutating func add(line: Substring) {
        guard line.hasPrefix("rmgr: "), let desc = line.range(of: "desc: ") else { return }
        let rmgr = line.dropFirst(6).prefix { $0 != " " }
        guard let xid = Self.number(after: "tx:", in: line).flatMap({ UInt32($0) }) else { return }
        let lsn = Self.word(after: "lsn: ", in: line) ?? ""
        let description = line[desc.upperBound...]
        let operation = description.prefix { $0 != " " && $0 != "," }
        let blocks = Self.blockReferences(in: description)
        switch rmgr {
        case "Transaction":
            addTransaction(operation: operation, description: description, xid: xid, lsn: lsn)
        case "Heap", "Heap2":
            guard xid != 0, let first = blocks.first else { return }
            if first.relation.isCatalog {
                if first.relation.isLargeObjects { largeObjectChanges.insert(xid) } else { catalogChanges.insert(xid) }
                return
            }
            addHeap(operation: operation, description: description, xid: xid, blocks: blocks)
        case "Sequence":
            if xid != 0 { sequenceChanges.insert(xid) }
        default:
            return
        }
    }

    private mutating func addTransaction(operation: Substring, description: Substring, xid: UInt32, lsn: String) {
        switch operation {
        case "COMMIT", "COMMIT_PREPARED":
            // "COMMIT 2026-12-06 07:07:03.402396 UTC; subxacts: 730; rels: base/5/16384; ..."
            // COMMIT_PREPARED names the prepared xid after the word: "COMMIT_PREPARED 745: 2026-...".
            var rest = description.dropFirst(operation.count).drop { $0 == " " }
            var committed = xid
            if operation == "COMMIT_PREPARED", let colon = rest.firstIndex(of: ":") {
                committed = UInt32(rest[..<colon]) ?? xid
                rest = rest[rest.index(after: colon)...].drop { $0 == " " }
            }
            let parts = rest.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let time = parts.first ?? ""
            var subtransactions: [UInt32] = [], dropped: [String] = []
            for part in parts.dropFirst() {
                if part.hasPrefix("subxacts:") {
                    subtransactions = part.dropFirst(9).split(separator: " ").compactMap { UInt32($0) }
                } else if part.hasPrefix("rels:") {
                    dropped = part.dropFirst(5).split(separator: " ").map(String.init)
                }
            }
            commits.append(Commit(xid: committed, lsn: lsn, time: time, subtransactions: subtransactions,
                                  droppedFiles: dropped, prepared: operation == "COMMIT_PREPARED"))
        case "ABORT", "ABORT_PREPARED":
            aborted.insert(xid)
        case "PREPARE":
            preparedTransactions.insert(xid)
        default:
            return
        }
    }

    private mutating func addHeap(operation: Substring, description: Substring, xid: UInt32, blocks: [(relation: RelationFile, block: UInt32)]) {
        let base = operation.split(separator: "+").first.map(String.init) ?? ""
        let relation = blocks[0].relation, block = blocks[0].block
        switch base {
        case "INSERT":
            let offset = Self.offset(named: "off", in: description)
            changes.append(HeapChange(xid: xid, kind: .insert, relation: relation,
                                      tuple: offset.map { TupleID(block: block, offset: $0) }, old: nil, block: block))
        case "MULTI_INSERT":
            let offsets = Self.list(after: "offsets: [", in: description)
            if offsets.isEmpty {
                changes.append(HeapChange(xid: xid, kind: .multiInsert, relation: relation, tuple: nil, old: nil, block: block))
            }
            for offset in offsets {
                changes.append(HeapChange(xid: xid, kind: .insert, relation: relation,
                                          tuple: TupleID(block: block, offset: offset), old: nil, block: block))
            }
        case "UPDATE", "HOT_UPDATE":
            // #0 is the new version's block, #1 the old one's when it differs.
            let oldBlock = blocks.count > 1 ? blocks[1].block : block
            let oldOffset = Self.offset(named: "old_off", in: description) ?? Self.offset(named: "off", in: description)
            let newOffset = Self.offset(named: "new_off", in: description) ?? Self.offset(named: "new off", in: description)
            changes.append(HeapChange(xid: xid, kind: .update, relation: relation,
                                      tuple: newOffset.map { TupleID(block: block, offset: $0) },
                                      old: oldOffset.map { TupleID(block: oldBlock, offset: $0) }, block: block))
        case "DELETE":
            let offset = Self.offset(named: "off", in: description)
            changes.append(HeapChange(xid: xid, kind: .delete, relation: relation,
                                      tuple: offset.map { TupleID(block: block, offset: $0) }, old: nil, block: block))
        default:
            return
        }
    }

    // MARK: reading pg_waldump's words

    static func number(after key: String, in line: Substring) -> Substring? {
        guard let range = line.range(of: key) else { return nil }
        let digits = line[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
        return digits.isEmpty ? nil : digits
    }

    static func word(after key: String, in line: Substring) -> String? {
        guard let range = line.range(of: key) else { return nil }
        let word = line[range.upperBound...].prefix { $0 != "," && $0 != " " }
        return word.isEmpty ? nil : String(word)
    }

    /// `off 5` (13–15) or `off: 5` (16+), the name standing alone (not the tail of `old_off`).
    static func offset(named name: String, in text: Substring) -> UInt16? {
        var searchFrom = text.startIndex
        while let range = text.range(of: name, range: searchFrom..<text.endIndex) {
            searchFrom = range.upperBound
            if range.lowerBound > text.startIndex {
                let before = text[text.index(before: range.lowerBound)]
                if before.isLetter || before.isNumber || before == "_" { continue }
            }
            var rest = text[range.upperBound...]
            if rest.first == ":" { rest = rest.dropFirst() }
            guard rest.first == " " else { continue }
            let digits = rest.drop { $0 == " " }.prefix { $0.isNumber }
            if let value = UInt16(digits) { return value }
        }
        return nil
    }

    static func list(after key: String, in text: Substring) -> [UInt16] {
        guard let range = text.range(of: key), let close = text[range.upperBound...].firstIndex(of: "]") else { return [] }
        return text[range.upperBound..<close].split(separator: ",").compactMap { UInt16($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// "blkref #0: rel 1663/5/16384 blk 0" (a fork name may stand before `blk`).
    static func blockReferences(in text: Substring) -> [(relation: RelationFile, block: UInt32)] {
        var references: [(RelationFile, UInt32)] = []
        var searchFrom = text.startIndex
        while let range = text.range(of: "blkref #", range: searchFrom..<text.endIndex) {
            searchFrom = range.upperBound
            guard let rel = text.range(of: "rel ", range: range.upperBound..<text.endIndex) else { break }
            let oids = text[rel.upperBound...].prefix { $0 != " " }.split(separator: "/").compactMap { UInt32($0) }
            guard oids.count == 3, let blk = text.range(of: "blk ", range: rel.upperBound..<text.endIndex),
                  let block = UInt32(text[blk.upperBound...].prefix { $0.isNumber }) else { continue }
            // Only the main fork holds tuples.
            let between = text[rel.upperBound..<blk.lowerBound]
            if between.contains(" fork ") && !between.contains(" fork main") { continue }
            references.append((RelationFile(tablespace: oids[0], database: oids[1], relfilenode: oids[2]), block))
        }
        return references
    }
}
