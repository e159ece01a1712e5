import Foundation

/// The old primary's lost transactions as data: what `lost-RUN/lost.json` holds and
/// `pg-rejoin lost` prints. Every value is PostgreSQL's own text form of it (NULL as nil), so
/// each type goes back into SQL exactly through its input function.
public struct LostReport: Codable, Sendable, Equatable {
    public static let formatVersion = 1

    public var format: Int
    public var run: String
    public var systemIdentifier: String
    /// The old primary's timeline and where the upstream forked from it.
    public var timeline: Int
    public var fork: String
    public var capturedAt: Date
    public var tables: [LostTable]
    /// In commit order.
    public var transactions: [LostTransaction]
    /// What could not be captured, and why (a table rewritten later, a database refusing).
    public var notes: [String]
    /// Where the pre-fork values of updated and deleted rows came from, or why they are unknown.
    public var oldValues: String?

    public var changeCount: Int { transactions.reduce(0) { $0 + $1.changes.count } }
}

public struct LostTable: Codable, Sendable, Equatable {
    /// Schema-qualified, each part quoted as needed: `public.orders`.
    public var name: String
    public var database: String
    public var relation: RelationFile
    public var columns: [LostColumn]
    /// The columns a change is applied by: the primary key, else the replica identity index;
    /// empty: none (matched by every column).
    public var key: [String]
    public var keyKind: String
}

public struct LostColumn: Codable, Sendable, Equatable {
    public var name: String
    /// The name as SQL needs it (`quote_ident`, asked of the server).
    public var quoted: String
    /// `format_type`: `numeric(10,2)`, `jsonb`, `text[]`.
    public var type: String
}

public struct LostTransaction: Codable, Sendable, Equatable {
    public var xid: UInt32
    public var committed: String
    public var lsn: String
    public var changes: [LostRowChange]
    /// What it did besides rows: DDL, TRUNCATE, sequences, large objects, two-phase commit.
    public var notes: [String]
}

public struct LostRowChange: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case insert, update, delete }

    public var kind: Kind
    /// Index into the report's tables.
    public var table: Int
    /// Where the new version is on the old primary (insert, update).
    public var tuple: String?
    /// Where the pre-fork row is, on both nodes (update, delete).
    public var oldTuple: String?
    public var new: [String?]?
    /// The pre-fork row, read where it still is (the new primary's data on the rejoined node).
    public var old: [String?]?
    /// Why this change must not be applied blindly: the new primary changed the row since.
    public var conflict: String?
    /// Other lost transactions folded into this change (a row updated twice).
    public var alsoBy: [UInt32]?
}
