import Foundation

/// `pg-rejoin lost --format sql`: a script that re-applies the lost transactions on the new
/// primary, in commit order, one statement per row change, for review first. Every value is a
/// literal of its column's type (`'…'::numeric(10,2)`, NULL), so each type goes in through its
/// own input function. An update or delete applies only while the row still has its pre-fork
/// value (every column compared as text); a change the new primary has overtaken is listed as
/// a conflict, guarded or left as a comment.
public enum LostSQL {
    /// `'text'::type` with `'` doubled (standard_conforming_strings), or NULL.
    public static func literal(_ value: String?, type: String) -> String {
        guard let value else { return "NULL" }
        return "'" + value.replacingOccurrences(of: "'", with: "''") + "'::" + type
    }

    public static func render(_ report: LostReport, pgdata: String) -> String {
        let conflicts = report.transactions.flatMap(\.changes).filter { $0.conflict != nil }.count
        var lines = [
            "-- pg-rejoin: what the old primary committed after the failover, as SQL to re-apply on the new primary.",
            "-- Cluster \(report.systemIdentifier); the old primary's timeline \(report.timeline), forked at \(report.fork); run \(report.run) of \(pgdata).",
            "-- Meant for review. Read it, then run it on the new primary in one transaction:",
            "--   psql -v ON_ERROR_STOP=1 --single-transaction -f lost.sql",
            "-- \(report.transactions.count) lost transaction(s), \(report.changeCount) row change(s), \(conflicts) conflict(s).",
            "-- Updates and deletes change nothing unless the row still has its pre-fork value (compared as text).",
        ]
        if let old = report.oldValues { lines.append("-- Pre-fork values: \(old).") }
        // The literals are UTF-8 with backslashes as themselves.
        lines += ["SET client_encoding = 'UTF8';", "SET standard_conforming_strings = on;"]
        lines += report.notes.map { "-- Note: \($0)" }
        for table in report.tables where table.key.isEmpty {
            lines.append("-- \(table.name) has no primary key or replica identity: its rows are matched by all their columns.")
        }
        for transaction in report.transactions {
            lines.append("")
            lines.append("-- transaction \(transaction.xid), committed \(transaction.committed) (\(transaction.lsn) on the old primary)")
            lines += transaction.notes.map { "--   \($0)" }
            for change in transaction.changes {
                let table = report.tables[change.table]
                if let also = change.alsoBy { lines.append("-- (also changed by transaction(s) \(also.map(String.init).joined(separator: ", ")))") }
                if let conflict = change.conflict { lines.append("-- CONFLICT: \(conflict)") }
                lines += statement(change, table: table)
            }
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    static func statement(_ change: LostRowChange, table: LostTable) -> [String] {
        let columns = table.columns
        func assignments(_ values: [String?], only changed: [Int]) -> String {
            changed.map { "\(columns[$0].quoted) = \(literal(values[$0], type: columns[$0].type))" }.joined(separator: ", ")
        }
        /// Every column as it was before the fork: the guard.
        func unchanged(_ old: [String?]) -> String {
            "ROW(\(columns.map { "t.\($0.quoted)::text" }.joined(separator: ", "))) IS NOT DISTINCT FROM ROW(\(old.map { literal($0, type: "text") }.joined(separator: ", ")))"
        }
        func keyMatch(_ values: [String?]) -> String? {
            guard !table.key.isEmpty else { return nil }
            return table.key.compactMap { name in
                columns.firstIndex { $0.name == name }.map { "t.\(columns[$0].quoted) = \(literal(values[$0], type: columns[$0].type))" }
            }.joined(separator: " AND ")
        }
        /// By key when there is one, else the first row with all those values.
        func target(_ old: [String?]) -> String {
            if let key = keyMatch(old) { return "\(key) AND \(unchanged(old))" }
            return "t.ctid = (SELECT t.ctid FROM ONLY \(table.name) t WHERE \(unchanged(old)) LIMIT 1)"
        }
        switch change.kind {
        case .insert:
            guard let new = change.new else { return [] }
            let guarded = change.conflict != nil && !table.key.isEmpty ? " ON CONFLICT DO NOTHING" : ""
            return ["INSERT INTO \(table.name) (\(columns.map(\.quoted).joined(separator: ", "))) VALUES (\(zip(new, columns).map { literal($0, type: $1.type) }.joined(separator: ", ")))\(guarded);"]
        case .update:
            guard let new = change.new else { return [] }
            guard let old = change.old else {
                let key = keyMatch(new) ?? "(no key)"
                return ["-- not applied, its pre-fork values being unknown:",
                        "-- UPDATE ONLY \(table.name) AS t SET \(assignments(new, only: Array(columns.indices))) WHERE \(key);"]
            }
            let changed = columns.indices.filter { old[$0] != new[$0] }
            guard !changed.isEmpty else { return ["-- (the update left every column as it was)"] }
            return ["UPDATE ONLY \(table.name) AS t SET \(assignments(new, only: changed)) WHERE \(target(old));"]
        case .delete:
            guard let old = change.old else {
                return ["-- not applied: a row of \(table.name) at \(change.oldTuple ?? "?") whose pre-fork values are unknown"]
            }
            return ["DELETE FROM ONLY \(table.name) AS t WHERE \(target(old));"]
        }
    }
}
