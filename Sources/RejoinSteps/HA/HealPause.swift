import Foundation

/// The operator's "hands off" switch for the automatic callers: while
/// `PGDATA.rejoin/heal.paused` exists, `heal` (cron, systemd) and `keepalived-notify` change
/// nothing on this node, whatever they see: a node stopped for maintenance, an upgrade, a
/// restore by hand. Operator-run `pg-rejoin` is not paused: it is the operator acting.
public struct HealPause: Sendable, Equatable {
    /// Who set it and when, and why, as `heal --pause` wrote it.
    public var note: String

    public static func path(pgdata: String) -> String {
        WorkPaths(pgdata: pgdata).workDirectory + "/heal.paused"
    }

    /// The pause in effect, or nil.
    public static func current(pgdata: String) -> HealPause? {
        let file = path(pgdata: pgdata)
        guard Files.isRegularFile(file) else { return nil }
        let text = (Files.read(file) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return HealPause(note: text.isEmpty ? "paused (\(file))" : text)
    }

    /// Sets the pause (replacing an earlier one); returns it.
    @discardableResult
    public static func set(pgdata: String, reason: String?, user: String, at date: Date = Date()) throws -> HealPause {
        let note = "paused by \(user) at \(ISO8601DateFormatter().string(from: date))" + (reason.map { ": \($0)" } ?? "")
        try Files.makeDirectory(WorkPaths(pgdata: pgdata).workDirectory)
        try Files.writeAtomically(Data((note + "\n").utf8), to: path(pgdata: pgdata), mode: 0o600)
        return HealPause(note: note)
    }

    /// Lifts the pause; returns whether there was one.
    @discardableResult
    public static func clear(pgdata: String) throws -> Bool {
        let file = path(pgdata: pgdata)
        guard Files.exists(file) else { return false }
        try Files.removeTree(file)
        return true
    }
}
