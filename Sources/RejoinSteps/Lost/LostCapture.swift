import Foundation

/// Turns what the WAL says the lost transactions touched into rows: reads the touched blocks
/// of the old primary (started privately, `PrivateServer`), keeps the tuples a lost transaction
/// wrote, names their tables with the old primary's own catalog, and pairs each new version
/// with the pre-fork tuple it replaced. The pre-fork values themselves are read later, where
/// those rows still are (`LostOldValues`).
struct LostCapture {
    var wal: LostWAL
    /// A superuser connection to a database of the server being read, by name.
    var connect: (_ database: String) throws -> PgConnection

    struct Table {
        var table: LostTable
        var oid: String
    }

    func capture(run: String, systemIdentifier: String, timeline: Int, fork: String) throws -> LostReport {
        var report = LostReport(format: LostReport.formatVersion, run: run, systemIdentifier: systemIdentifier, timeline: timeline,
                                fork: fork, capturedAt: Date(), tables: [], transactions: [], notes: [], oldValues: nil)
        let top = wal.topLevel
        var changesByTransaction: [UInt32: [LostRowChange]] = [:]
        var extraNotes: [UInt32: [String]] = [:]
        // The lost changes' places in the WAL's list, by relation: each relation's own list is
        // made when it is read, never a second copy of them all.
        var relations: [RelationFile: [Int]] = [:]
        for (index, change) in wal.changes.enumerated() where top[change.xid] != nil {
            relations[change.relation, default: []].append(index)
        }
        if !relations.isEmpty {
            let first = try connectAny()
            let blockSize = Int(try first.value("SHOW block_size") ?? "8192") ?? 8192
            let rangeScans = (Int(try first.value("SHOW server_version_num") ?? "0") ?? 0) >= 140000
            // (BLCKSZ - page header) / (tuple header + line pointer): 291 for 8 kB pages.
            let maxOffset = UInt16((blockSize - 24) / 28)
            var databases: [UInt32: (name: String, tablespace: UInt32)] = [:]
            for row in try first.query("SELECT oid::text, datname, dattablespace::text FROM pg_database WHERE datallowconn") {
                if let oid = row[0].flatMap({ UInt32($0) }), let name = row[1], let tablespace = row[2].flatMap({ UInt32($0) }) {
                    databases[oid] = (name, tablespace)
                }
            }
            for (database, files) in Dictionary(grouping: relations.keys, by: \.database).sorted(by: { $0.key < $1.key }) {
                guard let info = databases[database] else {
                    report.notes.append("rows in database \(database) were not read: it no longer exists or allows no connections")
                    continue
                }
                let sql = try connect(info.name)
                for file in files.sorted(by: { $0.relfilenode < $1.relfilenode }) {
                    // Each relation's changes are let go once read.
                    let changes = (relations.removeValue(forKey: file) ?? []).map { wal.changes[$0] }
                    guard let table = try describe(file, in: sql, database: info.name, defaultTablespace: info.tablespace) else {
                        if try isOtherThanTable(file, in: sql, defaultTablespace: info.tablespace) { continue }
                        let xids = Set(changes.compactMap { top[$0.xid] }).sorted()
                        report.notes.append("rows written to relation file \(file) by transaction(s) \(xids.map(String.init).joined(separator: ", ")) cannot be read: its files were removed later (TRUNCATE, DROP or a table rewrite)")
                        continue
                    }
                    report.tables.append(table.table)
                    let index = report.tables.count - 1
                    let rows = try read(table, blocks: Set(changes.filter { $0.kind != .delete }.map(\.block)), maxOffset: maxOffset,
                                        rangeScans: rangeScans, in: sql, keep: top)
                    let notes = classify(changes, rows: rows, table: index, top: top) { xid, change in
                        changesByTransaction[xid, default: []].append(change)
                    }
                    for (xid, note) in notes { extraNotes[xid, default: []].append(note) }
                }
            }
        }
        for commit in wal.commits {
            // Taken out as each transaction is built: the changes are not held twice.
            let changes = Self.inApplyOrder(changesByTransaction.removeValue(forKey: commit.xid) ?? [])
            let notes = transactionNotes(commit, tables: report.tables) + (extraNotes[commit.xid] ?? [])
            report.transactions.append(LostTransaction(xid: commit.xid, committed: commit.time, lsn: commit.lsn, changes: changes, notes: notes))
        }
        for xid in wal.preparedTransactions.subtracting(wal.commits.map(\.xid)).sorted() {
            report.notes.append("transaction \(xid) was prepared (two-phase) and never committed: not counted as lost")
        }
        return report
    }

    private func connectAny() throws -> PgConnection {
        do { return try connect("postgres") } catch { return try connect("template1") }
    }

    /// The table behind a relation file, by the old primary's own catalog; nil when no
    /// relation has that file now.
    private func describe(_ file: RelationFile, in sql: PgConnection, database: String, defaultTablespace: UInt32) throws -> Table? {
        let tablespace = file.tablespace == defaultTablespace ? "0" : String(file.tablespace)
        guard let row = try sql.query("""
            SELECT c.oid::text, format('%I.%I', n.nspname, c.relname), c.relkind::text
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = pg_filenode_relation($1::oid, $2::oid) AND c.relkind IN ('r', 'p')
            """, [tablespace, String(file.relfilenode)]).first, let oid = row[0], let name = row[1] else { return nil }
        let columns = try sql.query("""
            SELECT attname::text, quote_ident(attname), format_type(atttypid, atttypmod)
              FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """, [oid]).compactMap { row -> LostColumn? in
            guard let name = row[0], let quoted = row[1], let type = row[2] else { return nil }
            return LostColumn(name: name, quoted: quoted, type: type)
        }
        // The primary key, else the replica identity index: what a change is applied by.
        let keyRows = try sql.query("""
            SELECT i.indisprimary::text, a.attname::text
              FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = $1::oid AND (i.indisprimary OR i.indisreplident)
             ORDER BY i.indisprimary DESC, i.indexrelid, k.position
            """, [oid])
        let primary = keyRows.first?[0] == "t"
        let key = keyRows.filter { ($0[0] == "t") == primary }.compactMap { $0[1] }
        let kind = keyRows.isEmpty ? "none" : (primary ? "primary key" : "replica identity")
        return Table(table: LostTable(name: name, database: database, relation: file, columns: columns, key: key, keyKind: kind), oid: oid)
    }

    /// An index, a TOAST table, a sequence or a materialized view: not rows an operator
    /// re-applies (a TOAST table's values come whole with their rows).
    private func isOtherThanTable(_ file: RelationFile, in sql: PgConnection, defaultTablespace: UInt32) throws -> Bool {
        let tablespace = file.tablespace == defaultTablespace ? "0" : String(file.tablespace)
        return try sql.value("SELECT relkind::text FROM pg_class WHERE oid = pg_filenode_relation($1::oid, $2::oid)",
                             [tablespace, String(file.relfilenode)]) != nil
    }

    /// The tuples of `blocks` a lost transaction wrote: `ctid`, `xmin` and every column as text.
    private func read(_ table: Table, blocks: Set<UInt32>, maxOffset: UInt16, rangeScans: Bool, in sql: PgConnection,
                      keep top: [UInt32: UInt32]) throws -> [TupleID: (xmin: UInt32, values: [String?])] {
        var rows: [TupleID: (UInt32, [String?])] = [:]
        // The server keeps only the lost transactions' tuples: a block an update touched holds
        // dozens of pre-fork rows that would cross the socket, be parsed and dropped.
        let xids = "{" + top.keys.sorted().map(String.init).joined(separator: ",") + "}"
        if rangeScans {
            // 14+: a TID range scan per run of adjacent blocks reads them as a sequential scan would.
            for run in Self.runs(of: blocks) {
                for (tid, row) in try Self.tuples(of: table.table, from: run.lowerBound, through: run.upperBound, xids: xids, in: sql)
                where top[row.xmin] != nil {
                    rows[tid] = row
                }
            }
            return rows
        }
        for chunk in blocks.sorted().chunked(into: 64) {
            let places = chunk.flatMap { block in (1...maxOffset).map { TupleID(block: block, offset: $0) } }
            for (tid, row) in try Self.tuples(of: table.table, at: places, xids: xids, in: sql) where top[row.xmin] != nil {
                rows[tid] = row
            }
        }
        return rows
    }

    /// Within a transaction: deletes, then updates, then inserts (a key deleted and inserted
    /// again in one transaction must go in that order), each table's rows by their place.
    static func applyOrder(_ a: LostRowChange, _ b: LostRowChange) -> Bool {
        orderKey(a) < orderKey(b)
    }

    /// `changes` sorted by `applyOrder`, each key computed once (a place is parsed from text).
    static func inApplyOrder(_ changes: [LostRowChange]) -> [LostRowChange] {
        changes.map { (orderKey($0), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    private static func orderKey(_ change: LostRowChange) -> OrderKey {
        let rank = change.kind == .delete ? 0 : change.kind == .update ? 1 : 2
        let place = (change.tuple ?? change.oldTuple).flatMap(TupleID.init) ?? TupleID(block: 0, offset: 0)
        return OrderKey(rank: rank, table: change.table, place: place)
    }

    private struct OrderKey: Comparable {
        var rank: Int
        var table: Int
        var place: TupleID
        static func < (a: OrderKey, b: OrderKey) -> Bool { (a.rank, a.table, a.place) < (b.rank, b.table, b.place) }
    }

    /// Adjacent blocks as closed ranges of at most 64 blocks (so one answer stays small):
    /// 3, 4, 5, 9 → 3...5, 9...9.
    static func runs(of blocks: Set<UInt32>) -> [ClosedRange<UInt32>] {
        var runs: [ClosedRange<UInt32>] = []
        for block in blocks.sorted() {
            if let last = runs.last, last.upperBound &+ 1 == block, last.count < 64 {
                runs[runs.count - 1] = last.lowerBound...block
            } else {
                runs.append(block...block)
            }
        }
        return runs
    }

    /// The visible tuples of blocks `first` through `last` (a TID range scan, 14+) written by
    /// one of `xids` (an array literal).
    static func tuples(of table: LostTable, from first: UInt32, through last: UInt32, xids: String,
                       in sql: PgConnection) throws -> [TupleID: (xmin: UInt32, values: [String?])] {
        try tuples(of: table, where: "t.ctid >= $1::tid AND t.ctid < $2::tid AND t.xmin = ANY($3::xid[])",
                   ["(\(first),0)", "(\(UInt64(last) + 1),0)", xids], in: sql)
    }

    /// The visible tuples of `table` at `places` (a TID scan), when `xids` is given only those
    /// one of them wrote: `xmin` and every column as text.
    static func tuples(of table: LostTable, at places: [TupleID], xids: String? = nil, in sql: PgConnection) throws -> [TupleID: (xmin: UInt32, values: [String?])] {
        let tids = "{" + places.map { "\"\($0)\"" }.joined(separator: ",") + "}"
        guard let xids else { return try tuples(of: table, where: "t.ctid = ANY($1::tid[])", [tids], in: sql) }
        return try tuples(of: table, where: "t.ctid = ANY($1::tid[]) AND t.xmin = ANY($2::xid[])", [tids, xids], in: sql)
    }

    private static func tuples(of table: LostTable, where condition: String, _ parameters: [String],
                               in sql: PgConnection) throws -> [TupleID: (xmin: UInt32, values: [String?])] {
        // ctid and xmin last: taken off the end, the row array is the values, no copy.
        let columns = table.columns.map { "t.\($0.quoted)::text, " }.joined()
        let statement = "SELECT \(columns)t.ctid::text, t.xmin::text FROM ONLY \(table.name) t WHERE \(condition)"
        var rows = try sql.query(statement, parameters)
        var found: [TupleID: (UInt32, [String?])] = Dictionary(minimumCapacity: rows.count)
        for index in rows.indices {
            // Taken out of the result, so that the row's array is not shared and shrinks in place.
            var row = rows[index]
            rows[index] = []
            guard row.count >= 2, let xmin = row.removeLast().flatMap({ UInt32($0) }),
                  let tid = row.removeLast().flatMap(TupleID.init) else { continue }
            found[tid] = (xmin, row)
        }
        return found
    }

    /// Each visible lost tuple is an insert, or the new version of a pre-fork row (followed
    /// back through lost updates to the tuple that was there at the fork); each lost delete of
    /// a pre-fork row is a delete. Returns the changes by their top-level transaction.
    func classify(_ changes: [LostWAL.HeapChange], rows: [TupleID: (xmin: UInt32, values: [String?])], table: Int,
                  top: [UInt32: UInt32]) -> (changes: [(UInt32, LostRowChange)], notes: [(UInt32, String)]) {
        var result: [(UInt32, LostRowChange)] = []
        let notes = classify(changes, rows: rows, table: table, top: top) { result.append(($0, $1)) }
        return (result, notes)
    }

    /// The same, each change handed to `emit` with its top-level transaction as it is made:
    /// a capture files them by transaction straight away rather than holding them twice.
    func classify(_ changes: [LostWAL.HeapChange], rows: [TupleID: (xmin: UInt32, values: [String?])], table: Int,
                  top: [UInt32: UInt32], emit: (UInt32, LostRowChange) -> Void) -> [(UInt32, String)] {
        var updatedFrom: [TupleID: (old: TupleID, xid: UInt32)] = [:]
        var inserted: [TupleID: UInt32] = [:]
        for change in changes {
            switch change.kind {
            case .update: if let new = change.tuple, let old = change.old { updatedFrom[new] = (old, change.xid) }
            case .insert: if let tuple = change.tuple { inserted[tuple] = change.xid }
            case .multiInsert, .delete: break
            }
        }
        func root(_ tuple: TupleID) -> (root: TupleID, by: [UInt32]) {
            var current = tuple, by: [UInt32] = [], seen: Set<TupleID> = []
            while let step = updatedFrom[current], !seen.contains(current) {
                seen.insert(current)
                by.append(step.xid)
                current = step.old
            }
            return (current, by)
        }
        func others(_ xids: [UInt32], than owner: UInt32) -> [UInt32]? {
            let tops = Array(Set(xids.compactMap { top[$0] }).subtracting([owner])).sorted()
            return tops.isEmpty ? nil : tops
        }
        var notes: [(UInt32, String)] = []
        for (tuple, row) in rows.sorted(by: { $0.key < $1.key }) {
            guard let owner = top[row.xmin] else { continue }
            let (origin, by) = root(tuple)
            if origin == tuple || inserted[origin] != nil {
                emit(owner, LostRowChange(kind: .insert, table: table, tuple: tuple.description, oldTuple: nil, new: row.values,
                                          old: nil, conflict: nil, alsoBy: others(by + (inserted[origin].map { [$0] } ?? []), than: owner)))
            } else {
                emit(owner, LostRowChange(kind: .update, table: table, tuple: tuple.description, oldTuple: origin.description,
                                          new: row.values, old: nil, conflict: nil, alsoBy: others(by, than: owner)))
            }
        }
        for change in changes where change.kind == .delete {
            guard let tuple = change.tuple, let owner = top[change.xid] else { continue }
            let (origin, by) = root(tuple)
            if let inserter = inserted[origin] {
                notes.append((owner, "deleted a row that transaction \(top[inserter] ?? inserter) inserted after the fork: nothing to re-apply"))
                continue
            }
            emit(owner, LostRowChange(kind: .delete, table: table, tuple: nil, oldTuple: origin.description, new: nil, old: nil,
                                      conflict: nil, alsoBy: others(by, than: owner)))
        }
        return notes
    }

    /// What a transaction did besides rows, said plainly: never silently skipped.
    func transactionNotes(_ commit: LostWAL.Commit, tables: [LostTable]) -> [String] {
        let xids = Set([commit.xid] + commit.subtransactions)
        var notes: [String] = []
        if !xids.isDisjoint(with: wal.catalogChanges) {
            notes.append("changed the system catalogs (DDL such as CREATE, ALTER, DROP or TRUNCATE): not re-applied, review by hand")
        }
        if !commit.droppedFiles.isEmpty {
            let names = commit.droppedFiles.map { path -> String in
                let node = UInt32(path.split(separator: "/").last ?? "")
                return tables.first { $0.relation.relfilenode == node }?.name ?? path
            }
            notes.append("removed the files of \(names.joined(separator: ", ")) (TRUNCATE, DROP or a table rewrite)")
        }
        if !xids.isDisjoint(with: wal.largeObjectChanges) { notes.append("changed large objects (pg_largeobject): not re-applied") }
        if !xids.isDisjoint(with: wal.sequenceChanges) { notes.append("advanced sequences: not re-applied (the new primary's sequences went their own way)") }
        if commit.prepared { notes.append("a two-phase transaction, committed with COMMIT PREPARED") }
        return notes
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
