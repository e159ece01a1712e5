import CLibPQ
import Foundation

public enum PgError: LocalizedError, Equatable {
    case connect(target: String, message: String)
    case query(target: String, sql: String, message: String)
    case unexpectedResult(target: String, sql: String)

    public var errorDescription: String? {
        switch self {
        case let .connect(target, message):
            return "cannot connect to \(target): \(message)"
        case let .query(target, sql, message):
            return "query on \(target) failed (\(sql)): \(message)"
        case let .unexpectedResult(target, sql):
            return "unexpected answer from \(target) to \(sql)"
        }
    }

    /// libpq's own message, for callers that classify failures (auth, hba, refused).
    public var serverMessage: String {
        switch self {
        case let .connect(_, m), let .query(_, _, m): return m
        case .unexpectedResult: return ""
        }
    }
}

/// One libpq connection, owned by this type alone: opened in init, PQfinish'd in deinit.
/// Parameters go to PQconnectdbParams as key/value arrays, so no value is ever parsed as
/// conninfo syntax, and passwords stay with libpq (passfile, PGPASSWORD, service file).
public final class PgConnection {
    private let conn: OpaquePointer
    /// For messages: "host:port" (or the socket directory), never a password.
    public let target: String

    public init(parameters: [(String, String)], target: String) throws {
        self.target = target
        // expand_dbname=0: a dbname is a database name, never a conninfo string.
        let keys = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let k: [UnsafePointer<CChar>?] = keys.map { $0.map { UnsafePointer($0) } }
        let v: [UnsafePointer<CChar>?] = values.map { $0.map { UnsafePointer($0) } }
        let handle = PQconnectdbParams(k, v, 0)
        guard let handle else { throw PgError.connect(target: target, message: "out of memory") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(handle))
            PQfinish(handle)
            throw PgError.connect(target: target, message: message)
        }
        self.conn = handle
    }

    deinit { PQfinish(conn) }

    /// Runs one statement (SQL, or a replication command on a replication connection) and
    /// returns its rows as text; NULL becomes nil.
    public func query(_ sql: String, _ parameters: [String] = []) throws -> [[String?]] {
        // Values travel out of band (PQexecParams), never spliced into the SQL text.
        let copies = parameters.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let values: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        let result = parameters.isEmpty
            ? PQexec(conn, sql)
            : PQexecParams(conn, sql, Int32(values.count), nil, values, nil, nil, 0)
        guard let res = result else {
            throw PgError.query(target: target, sql: sql, message: Self.trimmed(PQerrorMessage(conn)))
        }
        defer { PQclear(res) }
        let status = PQresultStatus(res)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            throw PgError.query(target: target, sql: sql, message: Self.trimmed(PQresultErrorMessage(res)))
        }
        let rows = Int(PQntuples(res)), cols = Int(PQnfields(res))
        return (0..<rows).map { r in
            (0..<cols).map { c in
                PQgetisnull(res, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(res, Int32(r), Int32(c)))
            }
        }
    }

    /// The single value of a one-row, one-column query.
    public func value(_ sql: String, _ parameters: [String] = []) throws -> String? {
        let rows = try query(sql, parameters)
        guard let row = rows.first, let first = row.first else {
            throw PgError.unexpectedResult(target: target, sql: sql)
        }
        return first
    }

    public var serverVersionNumber: Int { Int(PQserverVersion(conn)) }

    /// This side's IP address of the connection, as the server sees it when nothing translates
    /// addresses in between (what a pg_hba.conf line for this host names); nil over a Unix socket.
    public var localAddress: String? {
        let fd = PQsocket(conn)
        guard fd >= 0 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard got == 0, storage.ss_family == sa_family_t(AF_INET) || storage.ss_family == sa_family_t(AF_INET6) else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        return rc == 0 ? String(cString: host) : nil
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\n", with: " ")
    }
}
