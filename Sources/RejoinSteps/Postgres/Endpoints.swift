import Foundation

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
    public static func connect(dataDirectory: String, user: String) throws -> PgConnection {
        guard let pid = PostmasterPid.read(dataDirectory: dataDirectory) else {
            throw PgError.connect(target: dataDirectory, message: "no postmaster.pid: the local server is not running")
        }
        let host = pid.socketDirectory ?? pid.listenAddress.map { $0 == "*" ? "127.0.0.1" : String($0.split(separator: ",").first ?? "") } ?? "localhost"
        var parameters: [(String, String)] = [
            ("host", host),
            ("dbname", "postgres"),
            ("user", user),
            ("connect_timeout", "5"),
            ("application_name", "pg-rejoin"),
        ]
        if let port = pid.port { parameters.append(("port", String(port))) }
        return try PgConnection(parameters: parameters, target: "local server (\(host))")
    }
}
