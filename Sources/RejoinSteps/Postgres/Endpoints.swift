import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How pg-rejoin reaches the two servers. Only libpq parameters, never a password: libpq finds
/// it itself (passfile, PGPASSFILE, ~/.pgpass, PGPASSWORD, service file), exactly as psql would.
public struct UpstreamEndpoint: Codable, Sendable, Equatable {
    public var address: UpstreamAddress
    public var user: String
    public var database: String
    public var passfile: String?
    public var connectTimeout: Int

    public init(address: UpstreamAddress, user: String, database: String, passfile: String?, connectTimeout: Int) {
        self.address = address
        self.user = user
        self.database = database
        self.passfile = passfile
        self.connectTimeout = connectTimeout
    }

    func parameters(replication: Bool) -> [(String, String)] {
        var p: [(String, String)] = [
            ("host", address.host),
            ("port", String(address.port)),
            ("user", user),
            ("dbname", replication ? "replication" : database),
            ("connect_timeout", String(connectTimeout)),
            ("application_name", "pg-rejoin"),
        ]
        if replication { p.append(("replication", "true")) }
        if let passfile { p.append(("passfile", passfile)) }
        return p
    }

    /// A SQL connection to the upstream's `database`.
    public func connectSQL() throws -> PgConnection {
        try PgConnection(parameters: parameters(replication: false), target: address.description)
    }

    /// A physical replication connection: the same door pg_basebackup and the walreceiver use,
    /// so success proves the role may replicate and pg_hba.conf lets this host in.
    public func connectReplication() throws -> PgConnection {
        try PgConnection(parameters: parameters(replication: true), target: "\(address) (replication)")
    }

    /// Environment for children (pg_basebackup) that connect to the upstream.
    public var childEnvironment: [String: String] {
        var env = ["PGCONNECT_TIMEOUT": String(connectTimeout), "PGAPPNAME": "pg-rejoin"]
        if let passfile { env["PGPASSFILE"] = passfile }
        return env
    }
}

/// The local server, through the socket directory and port its postmaster.pid announces.
public enum LocalEndpoint {
    /// `database` and `clientEncoding` for reading rows (`LostOldValues`): UTF-8 whatever the
    /// database's encoding.
    public static func connect(dataDirectory: String, user: String, database: String = "postgres",
                               clientEncoding: String? = nil) throws -> PgConnection {
        guard let pid = PostmasterPid.read(dataDirectory: dataDirectory) else {
            throw PgError.connect(target: dataDirectory, message: "no postmaster.pid: the local server is not running")
        }
        let host = pid.socketDirectory ?? pid.listenAddress.map { $0 == "*" ? "127.0.0.1" : String($0.split(separator: ",").first ?? "") } ?? "localhost"
        var parameters: [(String, String)] = [
            ("host", host),
            ("dbname", database),
            ("user", user),
            ("connect_timeout", "5"),
            ("application_name", "pg-rejoin"),
        ]
        if let port = pid.port { parameters.append(("port", String(port))) }
        if let clientEncoding { parameters.append(("client_encoding", clientEncoding)) }
        return try PgConnection(parameters: parameters, target: "local server (\(host))")
    }
}

extension UpstreamAddress {
    /// Whether the host resolves to an address of this machine (loopback or one of its
    /// interfaces): with the local server's port, `--from` then names this very node.
    public func resolvesToThisMachine() -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(first) }
        let local = Self.localAddresses()
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let address = Self.numeric(current.pointee.ai_addr), address.hasPrefix("127.") || address == "::1" || local.contains(address) {
                return true
            }
            node = current.pointee.ai_next
        }
        return false
    }

    static func localAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var result: Set<String> = []
        var node: UnsafeMutablePointer<ifaddrs>? = first
        while let current = node {
            if let address = numeric(current.pointee.ifa_addr) { result.insert(address) }
            node = current.pointee.ifa_next
        }
        return result
    }

    static func numeric(_ address: UnsafeMutablePointer<sockaddr>?) -> String? {
        guard let address else { return nil }
        let family = Int32(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        // A link-local IPv6 address carries its interface ("fe80::1%eth0"): compare without it.
        return String(String(cString: buffer).split(separator: "%").first ?? "")
    }
}

/// `--node-name` becomes `application_name` on the upstream. PostgreSQL keeps only printable
/// ASCII there (anything else turns into '?') and cuts it at 63 bytes, so such a name could
/// never be found in pg_stat_replication by verify. Quotes, spaces and backslashes are fine:
/// primary_conninfo quotes every value.
public enum NodeName {
    public static let maximumLength = 63

    /// Why `name` cannot be an application_name, or nil when it can.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "--node-name must not be empty" }
        if let bad = name.unicodeScalars.first(where: { $0.value < 0x20 || $0.value > 0x7E }) {
            let shown = bad.value < 0x20 || bad.value == 0x7F ? String(format: "U+%04X (a control character such as a newline)", bad.value) : "'\(bad)'"
            return "--node-name may hold only printable ASCII characters (PostgreSQL shows anything else in application_name as '?'), but it contains \(shown)"
        }
        if name.utf8.count > maximumLength {
            return "--node-name is \(name.utf8.count) characters long; PostgreSQL cuts application_name at \(maximumLength)"
        }
        return nil
    }
}
