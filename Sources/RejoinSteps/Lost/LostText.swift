import Foundation

/// `pg-rejoin lost` as text (per transaction: its xid, commit time and, per table, the rows it
/// inserted, updated and deleted; then "N lost transactions"), as JSON (one object per
/// transaction) and as CSV (a file per table and kind).
public enum LostText {
    public static func render(_ report: LostReport) -> String {
        var lines: [String] = []
        if !report.fork.isEmpty {
            lines.append("run \(report.run): the old primary's timeline \(report.timeline) forked at \(report.fork)")
        }
        if let old = report.oldValues { lines.append("pre-fork values: \(old)") }
        lines += report.notes.map { "note: \($0)" }
        for transaction in report.transactions {
            lines.append("")
            lines.append("transaction \(transaction.xid), committed \(transaction.committed)")
            for (index, table) in report.tables.enumerated() {
                let changes = transaction.changes.filter { $0.table == index }
                guard !changes.isEmpty else { continue }
                let counts = [LostRowChange.Kind.insert: "inserted", .update: "updated", .delete: "deleted"].sorted { $0.key.rawValue < $1.key.rawValue }
                    .compactMap { kind, word -> String? in
                        let n = changes.filter { $0.kind == kind }.count
                        return n == 0 ? nil : "\(n) \(word)"
                    }
                lines.append("  \(table.name): \(counts.joined(separator: ", "))")
                for change in changes { lines += describe(change, table: table).map { "    " + $0 } }
            }
            lines += transaction.notes.map { "  note: \($0)" }
        }
        lines.append("")
        lines.append("\(report.transactions.count) lost transaction\(report.transactions.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n") + "\n"
    }

    static func value(_ text: String?) -> String {
        guard let text else { return "NULL" }
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._-:+".unicodeScalars.contains($0) }
        return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    static func describe(_ change: LostRowChange, table: LostTable) -> [String] {
        let names = table.columns.map(\.name)
        func all(_ values: [String?]) -> String { zip(names, values).map { "\($0)=\(value($1))" }.joined(separator: " ") }
        func key(_ values: [String?]) -> String {
            let keyed = table.key.isEmpty ? names : table.key
            return keyed.compactMap { name in names.firstIndex(of: name).map { "\(name)=\(value(values[$0]))" } }.joined(separator: " ")
        }
        var lines: [String]
        switch change.kind {
        case .insert:
            lines = ["+ " + all(change.new ?? [])]
        case .update:
            let new = change.new ?? []
            if let old = change.old {
                let changed = names.indices.filter { old[$0] != new[$0] }.map { "\(names[$0]): \(value(old[$0])) -> \(value(new[$0]))" }
                lines = ["~ \(key(old)): " + changed.joined(separator: ", ")]
            } else {
                lines = ["~ now " + all(new) + " (pre-fork values unknown)"]
            }
        case .delete:
            lines = ["- " + (change.old.map(all) ?? "the row at \(change.oldTuple ?? "?") (pre-fork values unknown)")]
        }
        if let conflict = change.conflict { lines.append("  ! conflict: \(conflict)") }
        return lines
    }

    // MARK: JSON

    public static func json(_ report: LostReport) throws -> String {
        let transactions: [[String: Any]] = report.transactions.map { transaction in
            [
                "xid": transaction.xid, "committed": transaction.committed, "lsn": transaction.lsn, "notes": transaction.notes,
                "changes": transaction.changes.map { change -> [String: Any] in
                    let table = report.tables[change.table]
                    var object: [String: Any] = ["table": table.name, "database": table.database, "kind": change.kind.rawValue]
                    if let new = change.new { object["new"] = row(new, table) }
                    if let old = change.old { object["old"] = row(old, table) }
                    if let conflict = change.conflict { object["conflict"] = conflict }
                    if let also = change.alsoBy { object["also_by"] = also }
                    return object
                },
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: transactions, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func row(_ values: [String?], _ table: LostTable) -> [String: Any] {
        var object: [String: Any] = [:]
        for (column, value) in zip(table.columns, values) { object[column.name] = value ?? NSNull() }
        return object
    }

    // MARK: CSV

    /// One file per table and kind: `<table>.inserted.csv` (xid, then the columns),
    /// `<table>.updated.csv` (xid, then old_ and new_ columns), `<table>.deleted.csv`. NULL is
    /// an empty field, an empty string a quoted one ("").
    public static func csv(_ report: LostReport) -> [String: String] {
        var files: [String: [String]] = [:]
        for (index, table) in report.tables.enumerated() {
            let names = table.columns.map(\.name)
            let stem = table.name.replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: "/", with: "_")
            for transaction in report.transactions {
                for change in transaction.changes where change.table == index {
                    let file: String, header: [String], fields: [String?]
                    switch change.kind {
                    case .insert:
                        file = stem + ".inserted.csv"; header = ["xid"] + names
                        fields = [String(transaction.xid)] + (change.new ?? [])
                    case .update:
                        file = stem + ".updated.csv"; header = ["xid"] + names.map { "old_" + $0 } + names.map { "new_" + $0 }
                        fields = [String(transaction.xid)] + (change.old ?? Array(repeating: nil, count: names.count)) + (change.new ?? [])
                    case .delete:
                        file = stem + ".deleted.csv"; header = ["xid"] + names
                        fields = [String(transaction.xid)] + (change.old ?? Array(repeating: nil, count: names.count))
                    }
                    if files[file] == nil { files[file] = [header.map(csvField).joined(separator: ",")] }
                    files[file, default: []].append(fields.map(csvField).joined(separator: ","))
                }
            }
        }
        return files.mapValues { $0.joined(separator: "\n") + "\n" }
    }

    static func csvField(_ value: String?) -> String {
        guard let value else { return "" }
        if value.isEmpty || value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return value
    }
}
