import Foundation

/// A heap tuple's place: block and line pointer, as `ctid` prints it.
public struct TupleID: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    public var block: UInt32
    public var offset: UInt16

    public init(block: UInt32, offset: UInt16) {
        self.block = block
        self.offset = offset
    }

    /// "(12,3)", as PostgreSQL prints a tid (spaces allowed around the numbers). By hand over
    /// the bytes: tens of thousands are read per capture, and sorted by.
    public init?(_ text: String) {
        var numbers: [UInt64] = [0, 0]
        var index = 0, digits = [0, 0], opened = false, closed = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "): continue
            case UInt8(ascii: "("): guard !opened, digits[0] == 0 else { return nil }; opened = true
            case UInt8(ascii: ")"): guard opened, !closed, index == 1 else { return nil }; closed = true
            case UInt8(ascii: ","): guard index == 0, digits[0] > 0, !closed else { return nil }; index = 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard !closed, digits[index] < 10 else { return nil }
                numbers[index] = numbers[index] * 10 + UInt64(byte - UInt8(ascii: "0"))
                digits[index] += 1
            default: return nil
            }
        }
        guard index == 1, digits[1] > 0, opened == closed,
              let block = UInt32(exactly: numbers[0]), let offset = UInt16(exactly: numbers[1]) else { return nil }
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
        var builder = Builder()
        var text = output
        text.withUTF8 { builder.feed(UnsafeRawBufferPointer($0)) }
        self = builder.finished()
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

    /// Reads pg_waldump's stdout as it arrives, a line at a time, on the bytes: a divergence of
    /// 10 MB is some 100 000 lines, and Foundation's string search would cost seconds.
    public struct Builder: Sendable {
        var wal = LostWAL()
        private var splitter = LineSplitter()

        public init() {}

        public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
            var lines = LineSplitter()
            swap(&lines, &splitter)
            lines.feed(chunk) { wal.add(line: $0) }
            swap(&lines, &splitter)
        }

        public mutating func finished() -> LostWAL {
            var lines = LineSplitter()
            swap(&lines, &splitter)
            lines.finish { wal.add(line: $0) }
            return wal
        }
    }

    public mutating func add(line: Substring) {
        var text = String(line)
        text.withUTF8 { add(line: UnsafeRawBufferPointer($0)) }
    }

    mutating func add(line: UnsafeRawBufferPointer) {
        guard line.starts(with: Key.rmgr) else { return }
        let rmgrEnd = line.index(of: UInt8(ascii: " "), from: Key.rmgr.count) ?? line.count
        let rmgr = UnsafeRawBufferPointer(rebasing: line[Key.rmgr.count..<rmgrEnd])
        guard let descStart = line.end(of: Key.desc, from: rmgrEnd),
              let txStart = line.end(of: Key.tx, from: rmgrEnd),
              let xid = Self.number(in: line, from: txStart).flatMap({ UInt32(exactly: $0.value) }) else { return }
        if rmgr.elementsEqual(Key.heap) || rmgr.elementsEqual(Key.heap2) {
            guard xid != 0 else { return }
            let blocks = Self.blockReferences(in: line, from: descStart)
            guard let first = blocks.first else { return }
            if first.relation.isCatalog {
                if first.relation.isLargeObjects { largeObjectChanges.insert(xid) } else { catalogChanges.insert(xid) }
                return
            }
            addHeap(line: line, descStart: descStart, xid: xid, blocks: blocks)
        } else if rmgr.elementsEqual(Key.transaction) {
            let lsn = line.end(of: Key.lsn, from: rmgrEnd).map { start in
                line.string(start..<(line.index(of: UInt8(ascii: ","), from: start) ?? line.count))
            } ?? ""
            let description = line.string(descStart..<line.count)
            let operation = description.prefix { $0 != " " && $0 != "," }
            addTransaction(operation: operation, description: Substring(description), xid: xid, lsn: lsn)
        } else if rmgr.elementsEqual(Key.sequence) {
            if xid != 0 { sequenceChanges.insert(xid) }
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

    private mutating func addHeap(line: UnsafeRawBufferPointer, descStart: Int, xid: UInt32,
                                  blocks: [(relation: RelationFile, block: UInt32)]) {
        // The operation, without "+INIT": INSERT, MULTI_INSERT, UPDATE, HOT_UPDATE, DELETE ...
        var operationEnd = descStart
        while operationEnd < line.count, ![UInt8(ascii: " "), UInt8(ascii: ","), UInt8(ascii: "+")].contains(line[operationEnd]) {
            operationEnd += 1
        }
        let operation = UnsafeRawBufferPointer(rebasing: line[descStart..<operationEnd])
        let relation = blocks[0].relation, block = blocks[0].block
        let description = UnsafeRawBufferPointer(rebasing: line[descStart...])
        if operation.elementsEqual(Key.insert) {
            let offset = Self.offset(named: Key.off, in: description)
            changes.append(HeapChange(xid: xid, kind: .insert, relation: relation,
                                      tuple: offset.map { TupleID(block: block, offset: $0) }, old: nil, block: block))
        } else if operation.elementsEqual(Key.multiInsert) {
            let offsets = Self.list(after: Key.offsets, in: description)
            if offsets.isEmpty {
                changes.append(HeapChange(xid: xid, kind: .multiInsert, relation: relation, tuple: nil, old: nil, block: block))
            }
            for offset in offsets {
                changes.append(HeapChange(xid: xid, kind: .insert, relation: relation,
                                          tuple: TupleID(block: block, offset: offset), old: nil, block: block))
            }
        } else if operation.elementsEqual(Key.update) || operation.elementsEqual(Key.hotUpdate) {
            // #0 is the new version's block, #1 the old one's when it differs.
            let oldBlock = blocks.count > 1 ? blocks[1].block : block
            let oldOffset = Self.offset(named: Key.oldOff, in: description) ?? Self.offset(named: Key.off, in: description)
            let newOffset = Self.offset(named: Key.newOff16, in: description) ?? Self.offset(named: Key.newOff, in: description)
            changes.append(HeapChange(xid: xid, kind: .update, relation: relation,
                                      tuple: newOffset.map { TupleID(block: block, offset: $0) },
                                      old: oldOffset.map { TupleID(block: oldBlock, offset: $0) }, block: block))
        } else if operation.elementsEqual(Key.delete) {
            let offset = Self.offset(named: Key.off, in: description)
            changes.append(HeapChange(xid: xid, kind: .delete, relation: relation,
                                      tuple: offset.map { TupleID(block: block, offset: $0) }, old: nil, block: block))
        }
    }

    // MARK: reading pg_waldump's words, on bytes

    enum Key {
        static let rmgr = Array("rmgr: ".utf8), desc = Array("desc: ".utf8), tx = Array("tx:".utf8), lsn = Array("lsn: ".utf8)
        static let heap = Array("Heap".utf8), heap2 = Array("Heap2".utf8), transaction = Array("Transaction".utf8)
        static let sequence = Array("Sequence".utf8)
        static let insert = Array("INSERT".utf8), multiInsert = Array("MULTI_INSERT".utf8), update = Array("UPDATE".utf8)
        static let hotUpdate = Array("HOT_UPDATE".utf8), delete = Array("DELETE".utf8)
        static let off = Array("off".utf8), oldOff = Array("old_off".utf8), newOff16 = Array("new_off".utf8), newOff = Array("new off".utf8)
        static let offsets = Array("offsets: [".utf8), blkref = Array("blkref #".utf8), rel = Array("rel ".utf8)
        static let blk = Array("blk ".utf8), fork = Array(" fork ".utf8), forkMain = Array(" fork main".utf8)
    }

    /// The decimal number at `start` (spaces before it skipped), and where it ends.
    static func number(in line: UnsafeRawBufferPointer, from start: Int) -> (value: UInt64, end: Int)? {
        var index = start
        while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
        var value: UInt64 = 0, digits = 0
        while index < line.count, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9"), digits < 19 {
            value = value * 10 + UInt64(line[index] - UInt8(ascii: "0"))
            index += 1
            digits += 1
        }
        return digits == 0 ? nil : (value, index)
    }

    static func offset(named name: String, in text: Substring) -> UInt16? {
        var text = String(text)
        return text.withUTF8 { offset(named: Array(name.utf8), in: UnsafeRawBufferPointer($0)) }
    }

    /// `off 5` (13–15) or `off: 5` (16+), the name standing alone (not the tail of `old_off`).
    static func offset(named name: [UInt8], in text: UnsafeRawBufferPointer) -> UInt16? {
        var from = 0
        while let end = text.end(of: name, from: from) {
            let start = end - name.count
            from = start + 1
            if start > 0 {
                let before = text[start - 1]
                let isWord = (before >= UInt8(ascii: "a") && before <= UInt8(ascii: "z")) || (before >= UInt8(ascii: "A") && before <= UInt8(ascii: "Z"))
                    || (before >= UInt8(ascii: "0") && before <= UInt8(ascii: "9")) || before == UInt8(ascii: "_")
                if isWord { continue }
            }
            var index = end
            if index < text.count, text[index] == UInt8(ascii: ":") { index += 1 }
            guard index < text.count, text[index] == UInt8(ascii: " ") else { continue }
            if let (value, _) = number(in: text, from: index), let offset = UInt16(exactly: value) { return offset }
        }
        return nil
    }

    static func list(after key: [UInt8], in text: UnsafeRawBufferPointer) -> [UInt16] {
        guard var index = text.end(of: key, from: 0) else { return [] }
        var offsets: [UInt16] = []
        while let (value, end) = number(in: text, from: index), let offset = UInt16(exactly: value) {
            offsets.append(offset)
            index = end
            guard index < text.count, text[index] == UInt8(ascii: ",") else { break }
            index += 1
        }
        return offsets
    }

    /// "blkref #0: rel 1663/5/16384 blk 0" (a fork name may stand before `blk`; only the main
    /// fork holds tuples).
    static func blockReferences(in line: UnsafeRawBufferPointer, from start: Int) -> [(relation: RelationFile, block: UInt32)] {
        var references: [(RelationFile, UInt32)] = []
        var from = start
        while let afterKey = line.end(of: Key.blkref, from: from), let relStart = line.end(of: Key.rel, from: afterKey) {
            from = relStart
            guard let (tablespace, a) = number(in: line, from: relStart), a < line.count, line[a] == UInt8(ascii: "/"),
                  let (database, b) = number(in: line, from: a + 1), b < line.count, line[b] == UInt8(ascii: "/"),
                  let (relfilenode, c) = number(in: line, from: b + 1),
                  let blkStart = line.end(of: Key.blk, from: c), let (block, _) = number(in: line, from: blkStart) else { continue }
            let between = UnsafeRawBufferPointer(rebasing: line[c..<blkStart])
            if between.end(of: Key.fork, from: 0) != nil && between.end(of: Key.forkMain, from: 0) == nil { continue }
            guard let spc = UInt32(exactly: tablespace), let db = UInt32(exactly: database), let node = UInt32(exactly: relfilenode),
                  let blk = UInt32(exactly: block) else { continue }
            references.append((RelationFile(tablespace: spc, database: db, relfilenode: node), blk))
        }
        return references
    }
}
