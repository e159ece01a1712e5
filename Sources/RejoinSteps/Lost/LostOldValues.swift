import Foundation

/// The pre-fork rows the lost updates and deletes changed, read where they still are: physical
/// replication gave both nodes the same pre-fork tuples at the same places, and once verified
/// the rejoined node holds the new primary's data. Read there, as the node's own superuser on
/// its local socket (the replication role may not read user tables).
///
/// A pre-fork row the new primary has changed since is a conflict: nothing visible at its place
/// any more, or a row written after the fork (its xmin not older than every lost transaction).
/// A lost insert whose key the new primary has since used is one too.
struct LostOldValues {
    /// A connection to a database of the rejoined node, by name.
    var connect: (_ database: String) throws -> PgConnection

    func complete(_ report: LostReport) -> LostReport {
        var report = report
        guard report.changeCount > 0 else { return report }
        let oldest = report.transactions.map(\.xid).min() ?? 0
        var problems: [String] = []
        for (index, table) in report.tables.enumerated() {
            let places = report.transactions.indices.flatMap { t in
                report.transactions[t].changes.indices.filter { report.transactions[t].changes[$0].table == index }.map { (t, $0) }
            }
            guard !places.isEmpty else { continue }
            do {
                let sql = try connect(table.database)
                guard try sql.value("SELECT (to_regclass($1) IS NOT NULL)::text", [table.name]) == "true" else {
                    report.notes.append("\(table.name) does not exist on the new primary (created after the fork, or dropped since): create it before its rows are re-applied")
                    continue
                }
                let rewritten = try sql.value("SELECT pg_relation_filenode($1::regclass)::text", [table.name]) != String(table.relation.relfilenode)
                let olds = places.compactMap { report.transactions[$0.0].changes[$0.1].oldTuple }
                let found = rewritten ? [:] : try rows(at: olds, of: table, in: sql)
                let taken = try keysInUse(places.compactMap { p -> [String?]? in
                    let change = report.transactions[p.0].changes[p.1]
                    return change.kind == .insert ? change.new : nil
                }, of: table, in: sql)
                for (t, c) in places {
                    var change = report.transactions[t].changes[c]
                    switch change.kind {
                    case .insert:
                        if let new = change.new, taken.contains(keyValues(new, of: table)) {
                            change.conflict = "the new primary has a row with this key since the fork"
                        }
                    case .update, .delete:
                        guard let place = change.oldTuple else { break }
                        if rewritten {
                            change.conflict = "the new primary rewrote \(table.name) since the fork (VACUUM FULL, CLUSTER or ALTER TABLE): the pre-fork row cannot be found by its place"
                        } else if let row = found[place] {
                            if row.xmin >= oldest {
                                change.conflict = "the row at \(place) on the new primary was written after the fork; the pre-fork row is gone"
                            } else {
                                change.old = row.values
                            }
                        } else {
                            change.conflict = "the new primary updated or deleted this row since the fork; its pre-fork values are unknown"
                        }
                    }
                    report.transactions[t].changes[c] = change
                }
            } catch {
                problems.append("\(table.name): \((error as? LocalizedError)?.errorDescription ?? "\(error)")")
            }
        }
        report.oldValues = problems.isEmpty
            ? "read from the rejoined standby (the new primary's data) at \(ISO8601DateFormatter().string(from: Date()))"
            : "not read for \(problems.joined(separator: "; ")); those updates and deletes are left as comments"
        return report
    }

    private func rows(at places: [String], of table: LostTable, in sql: PgConnection) throws -> [String: (xmin: UInt32, values: [String?])] {
        var found: [String: (xmin: UInt32, values: [String?])] = [:]
        for chunk in Array(Set(places.compactMap(TupleID.init))).sorted().chunked(into: 5000) {
            for (tid, row) in try LostCapture.tuples(of: table, at: chunk, in: sql) { found[tid.description] = row }
        }
        return found
    }

    /// Which of the inserted rows' keys the table holds now.
    private func keysInUse(_ rows: [[String?]], of table: LostTable, in sql: PgConnection) throws -> Set<[String?]> {
        guard !table.key.isEmpty, !rows.isEmpty else { return [] }
        let keyColumns = table.key.compactMap { name in table.columns.first { $0.name == name } }
        var taken: Set<[String?]> = []
        for chunk in rows.chunked(into: 500) {
            let values = chunk.map { row in
                "(" + keyColumns.map { column in
                    LostSQL.literal(row[table.columns.firstIndex(of: column) ?? 0], type: column.type)
                }.joined(separator: ", ") + ")"
            }.joined(separator: ", ")
            let names = keyColumns.map(\.quoted).joined(separator: ", ")
            let statement = "SELECT \(keyColumns.map { "t.\($0.quoted)::text" }.joined(separator: ", ")) FROM ONLY \(table.name) t WHERE (\(names)) IN (\(values))"
            for row in try sql.query(statement) { taken.insert(row) }
        }
        return taken
    }

    private func keyValues(_ row: [String?], of table: LostTable) -> [String?] {
        table.key.map { name in table.columns.firstIndex { $0.name == name }.flatMap { row[$0] } }
    }
}

extension LostOldValues {
    /// `report` with the pre-fork rows read on the node at `pgdata` (running, a standby of the
    /// new primary), as its owner over its local socket.
    static func completing(_ report: LostReport, onTheNodeAt pgdata: String) -> LostReport {
        let user = Privileges.currentUserName()
        var completed = LostOldValues(connect: { database in
            try LocalEndpoint.connect(dataDirectory: pgdata, user: user, database: database, clientEncoding: "UTF8")
        }).complete(report)
        if report.changeCount == 0 { completed.oldValues = "none needed" }
        return completed
    }

    /// After verify: completes this run's lost transactions with the pre-fork rows, read on the
    /// rejoined node as its owner over its local socket, and says where they are. Never fails
    /// the run.
    static func complete(_ context: RunContext) {
        let plan = context.plan
        guard let report = try? LostFiles.readWritten(LostFiles.report(plan)), report.oldValues == nil else { return }
        let completed = completing(report, onTheNodeAt: plan.pgdata)
        do { try LostFiles.writeCompletion(completed, over: report, directory: LostFiles.directory(plan)) } catch {
            context.delegate.handle(.warning("lost transactions: could not update \(LostFiles.report(plan)): \((error as? LocalizedError)?.errorDescription ?? "\(error)")"))
        }
        guard !completed.transactions.isEmpty else { return }
        let conflicts = completed.transactions.flatMap(\.changes).filter { $0.conflict != nil }.count
        context.delegate.handle(.warning("lost transactions: \(completed.transactions.count) committed after the fork (\(completed.changeCount) row change(s), \(conflicts) conflict(s)) are not on the new primary; `pg-rejoin lost --pgdata \(plan.pgdata)` shows them, `--format sql` gives the script to review and re-apply"))
    }
}
