import Foundation

/// What pg_waldump says about the WAL a rewind throws away: which relations were written,
/// how many records of each kind, the first and last position, the last commit time.
public struct DivergenceSummary: Codable, Sendable, Equatable {
    public var firstLSN: String?
    public var lastLSN: String?
    public var records: Int
    public var recordsByResourceManager: [String: Int]
    /// "database-oid/relfilenode" of every relation a record touched.
    public var relations: [String]
    public var commits: Int
    public var lastCommitTime: String?

    public init(parsing output: String) {
        var builder = Builder()
        LineSplitter.lines(of: output) { builder.add(line: $0) }
        self = builder.summary
    }

    init(builder: Builder) {
        firstLSN = builder.firstLSN.map { String(decoding: $0, as: UTF8.self) }
        lastLSN = builder.lastLSN.isEmpty ? nil : String(decoding: builder.lastLSN, as: UTF8.self)
        records = builder.records
        var byRmgr: [String: Int] = [:]
        for (name, count) in builder.rmgrCounts { byRmgr[String(decoding: name, as: UTF8.self), default: 0] += count }
        recordsByResourceManager = byRmgr
        relations = builder.relations.map { "\($0 >> 32)/\($0 & 0xFFFF_FFFF)" }.sorted()
        commits = builder.commits
        lastCommitTime = builder.lastCommitTime
    }

    /// Reads pg_waldump's stdout as it arrives, in chunks, one line at a time, on the bytes:
    /// a divergence of a few MB is tens of thousands of lines, and this runs beside pg_rewind,
    /// so a line costs no allocation. Memory holds only the counts and the relation set,
    /// never the dump.
    public struct Builder: Sendable {
        var firstLSN: [UInt8]?
        var lastLSN: [UInt8] = []
        var records = 0
        /// A handful of resource managers: a list beats hashing a new String per line.
        var rmgrCounts: [([UInt8], Int)] = []
        /// database oid << 32 | relfilenode
        var relations = Set<UInt64>()
        var commits = 0
        var lastCommitTime: String?
        private var splitter = LineSplitter()

        public init() {}

        public var summary: DivergenceSummary {
            var copy = self
            copy.finish()
            return DivergenceSummary(builder: copy)
        }

        /// One chunk of pg_waldump's stdout, cut anywhere.
        public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
            var lines = LineSplitter()
            swap(&lines, &splitter)
            lines.feed(chunk) { add(line: $0) }
            swap(&lines, &splitter)
        }

        mutating func finish() {
            var lines = LineSplitter()
            swap(&lines, &splitter)
            lines.finish { add(line: $0) }
        }

        /// One line of `pg_waldump` output, e.g.
        /// `rmgr: Heap len (rec/tot): 59/59, tx: 740, lsn: 0/030020F8, prev 0/03000028, desc: INSERT off 51 flags 0x00, blkref #0: rel 1663/5/16384 blk 6`
        mutating func add(line: UnsafeRawBufferPointer) {
            guard line.starts(with: Self.rmgrKey) else { return }
            records += 1
            let rmgrEnd = line.index(of: UInt8(ascii: " "), from: Self.rmgrKey.count) ?? line.count
            let rmgr = UnsafeRawBufferPointer(rebasing: line[Self.rmgrKey.count..<rmgrEnd])
            if let known = rmgrCounts.firstIndex(where: { $0.0.elementsEqual(rmgr) }) {
                rmgrCounts[known].1 += 1
            } else {
                rmgrCounts.append((Array(rmgr), 1))
            }
            if let at = line.end(of: Self.lsnKey, from: rmgrEnd) {
                let lsn = line[at..<(line.index(of: UInt8(ascii: ","), from: at) ?? line.count)]
                if firstLSN == nil { firstLSN = Array(lsn) }
                lastLSN.removeAll(keepingCapacity: true)
                lastLSN.append(contentsOf: lsn)
            }
            var from = rmgrEnd
            while let at = line.end(of: Self.relKey, from: from) {
                // "spcoid/dboid/relfilenode": the tablespace is not needed to name the relation.
                var database: UInt64 = 0, filenode: UInt64 = 0
                var part = 0, end = at
                while end < line.count, part < 3 {
                    let byte = line[end]
                    if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                        let digit = UInt64(byte - UInt8(ascii: "0"))
                        if part == 1 { database = database &* 10 &+ digit }
                        if part == 2 { filenode = filenode &* 10 &+ digit }
                    } else if byte == UInt8(ascii: "/") {
                        part += 1
                    } else {
                        break
                    }
                    end += 1
                }
                if part == 2 { relations.insert(database << 32 | (filenode & 0xFFFF_FFFF)) }
                from = end
            }
            if rmgr.elementsEqual(Self.transaction), let at = line.end(of: Self.commitKey, from: rmgrEnd) {
                commits += 1
                let end = line.index(of: UInt8(ascii: ";"), from: at) ?? line.count
                lastCommitTime = line.string(at..<end).trimmingCharacters(in: .whitespaces)
            }
        }

        static let rmgrKey = Array("rmgr: ".utf8)
        static let lsnKey = Array("lsn: ".utf8)
        static let relKey = Array(" rel ".utf8)
        static let commitKey = Array("desc: COMMIT ".utf8)
        static let transaction = Array("Transaction".utf8)
    }
}

extension UnsafeRawBufferPointer {
    func index(of byte: UInt8, from start: Int) -> Int? {
        var index = start
        while index < count {
            if self[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// The index just past the first occurrence of `needle` at or after `start`.
    func end(of needle: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, needle.count <= count else { return nil }
        var index = start
        while index + needle.count <= count {
            if self[index] == first, self[index..<(index + needle.count)].elementsEqual(needle) { return index + needle.count }
            index += 1
        }
        return nil
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: self[range], as: UTF8.self)
    }
}
