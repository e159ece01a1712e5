import Foundation

/// `lost.json` written by hand, in the shape `JSONDecoder` reads back as `LostReport`:
/// Foundation's encoder took half a second for the 35 000 rows of a 10 MB divergence, which a
/// rejoin pays before pg_rewind; this writes the same document some ten times faster.
enum LostReportJSON {
    static func encode(_ report: LostReport) -> Data {
        let out = Writer()
        emit(report, out)
        return Data(out.bytes)
    }

    /// Straight into `path` (atomically, fsync'd), a buffer of 256 kB at a time: the whole
    /// document in memory, in a buffer grown by doubling and then copied, was most of what
    /// reading the lost rows added to the process's peak.
    static func write(_ report: LostReport, to path: String) throws {
        try Files.writeAtomically(to: path, mode: 0o600) { fd, tmp in
            let out = Writer(flushingTo: fd, path: tmp)
            emit(report, out)
            try out.finish()
        }
    }

    private static func emit(_ report: LostReport, _ out: Writer) {
        out.object {
            out.field("format") { out.number(report.format) }
            out.field("run") { out.string(report.run) }
            out.field("systemIdentifier") { out.string(report.systemIdentifier) }
            out.field("timeline") { out.number(report.timeline) }
            out.field("fork") { out.string(report.fork) }
            out.field("capturedAt") { out.string(ISO8601DateFormatter().string(from: report.capturedAt)) }
            out.field("tables") {
                out.array(report.tables) { table in
                    out.object {
                        out.field("name") { out.string(table.name) }
                        out.field("database") { out.string(table.database) }
                        out.field("relation") {
                            out.object {
                                out.field("tablespace") { out.number(Int(table.relation.tablespace)) }
                                out.field("database") { out.number(Int(table.relation.database)) }
                                out.field("relfilenode") { out.number(Int(table.relation.relfilenode)) }
                            }
                        }
                        out.field("columns") {
                            out.array(table.columns) { column in
                                out.object {
                                    out.field("name") { out.string(column.name) }
                                    out.field("quoted") { out.string(column.quoted) }
                                    out.field("type") { out.string(column.type) }
                                }
                            }
                        }
                        out.field("key") { out.array(table.key) { out.string($0) } }
                        out.field("keyKind") { out.string(table.keyKind) }
                    }
                }
            }
            out.field("transactions") {
                out.array(report.transactions) { transaction in
                    out.object {
                        out.field("xid") { out.number(Int(transaction.xid)) }
                        out.field("committed") { out.string(transaction.committed) }
                        out.field("lsn") { out.string(transaction.lsn) }
                        out.field("notes") { out.array(transaction.notes) { out.string($0) } }
                        out.field("changes") { out.array(transaction.changes) { change($0, out) } }
                    }
                }
            }
            out.field("notes") { out.array(report.notes) { out.string($0) } }
            if let old = report.oldValues { out.field("oldValues") { out.string(old) } }
        }
    }

    private static func change(_ change: LostRowChange, _ out: Writer) {
        out.object {
            out.field("kind") { out.string(change.kind.rawValue) }
            out.field("table") { out.number(change.table) }
            if let tuple = change.tuple { out.field("tuple") { out.string(tuple) } }
            if let old = change.oldTuple { out.field("oldTuple") { out.string(old) } }
            if let new = change.new { out.field("new") { out.array(new) { out.optionalString($0) } } }
            if let old = change.old { out.field("old") { out.array(old) { out.optionalString($0) } } }
            if let conflict = change.conflict { out.field("conflict") { out.string(conflict) } }
            if let also = change.alsoBy { out.field("alsoBy") { out.array(also) { out.number(Int($0)) } } }
        }
    }

    /// Appends JSON to a byte buffer; commas are placed by the nesting it tracks. A class: the
    /// nested closures all write to the one buffer. With a descriptor, the buffer is written
    /// out whenever it passes `flushAt`; the first write error stops the writing and is thrown
    /// by `finish`.
    final class Writer {
        var bytes: [UInt8] = []
        private var first: [Bool] = []
        private let fd: Int32?
        private let path: String
        private let flushAt = 256 << 10
        private var failure: Error?

        init() {
            fd = nil
            path = ""
            bytes.reserveCapacity(1 << 20)
        }

        init(flushingTo fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            bytes.reserveCapacity(flushAt + (64 << 10))
        }

        /// Writes what is left in the buffer.
        func finish() throws {
            flush()
            if let failure { throw failure }
        }

        private func flush() {
            guard let fd, failure == nil, !bytes.isEmpty else { return }
            do {
                try bytes.withUnsafeBytes { try Files.writeAll(fd: fd, $0, path: path) }
            } catch {
                failure = error
            }
            bytes.removeAll(keepingCapacity: true)
        }

        private func separate() {
            if fd != nil && bytes.count >= flushAt { flush() }
            guard let isFirst = first.last else { return }
            if !isFirst { bytes.append(UInt8(ascii: ",")) }
            first[first.count - 1] = false
        }

        func object(_ body: () -> Void) {
            separate()
            bytes.append(UInt8(ascii: "{"))
            first.append(true)
            body()
            first.removeLast()
            bytes.append(UInt8(ascii: "}"))
        }

        func field(_ name: String, _ value: () -> Void) {
            separate()
            quoted(name)
            bytes.append(UInt8(ascii: ":"))
            // The value is not an element of this object's list: no comma before it.
            first.append(true)
            value()
            first.removeLast()
        }

        func array<T>(_ items: [T], _ item: (T) -> Void) {
            separate()
            bytes.append(UInt8(ascii: "["))
            first.append(true)
            for element in items { item(element) }
            first.removeLast()
            bytes.append(UInt8(ascii: "]"))
        }

        func string(_ value: String) {
            separate()
            quoted(value)
        }

        func optionalString(_ value: String?) {
            guard let value else {
                separate()
                bytes.append(contentsOf: "null".utf8)
                return
            }
            string(value)
        }

        func number(_ value: Int) {
            separate()
            bytes.append(contentsOf: String(value).utf8)
        }

        private static let hex = Array("0123456789abcdef".utf8)

        private func quoted(_ value: String) {
            bytes.append(UInt8(ascii: "\""))
            // Most values need no escape: copied whole.
            if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: value.utf8)
                bytes.append(UInt8(ascii: "\""))
                return
            }
            let hex = Self.hex
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    bytes.append(contentsOf: Array("\\u00".utf8))
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0xF)])
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }
}
