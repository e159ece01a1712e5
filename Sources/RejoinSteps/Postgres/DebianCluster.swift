import Foundation

public enum DebianClusterError: LocalizedError, Equatable {
    case badName(String)
    case notFound(cluster: String, configFile: String)

    public var errorDescription: String? {
        switch self {
        case let .badName(name):
            return "--cluster takes VERSION/NAME as pg_lsclusters shows them (15/main), not '\(name)'"
        case let .notFound(cluster, configFile):
            return "there is no Debian cluster \(cluster): \(configFile) does not exist (pg_lsclusters lists the clusters). Nothing was changed"
        }
    }
}

/// A cluster of Debian's and Ubuntu's postgresql-common (`pg_createcluster`): its configuration
/// lives in /etc/postgresql/VERSION/NAME, its data where `data_directory` says, and it is
/// started and stopped with pg_ctlcluster. pg-rejoin reads all of it from there, so a rejoin
/// works on it as on any other, with the server's own configuration file wherever a server
/// runs outside pg_ctl (crash recovery, pg_rewind).
public struct DebianCluster: Sendable, Equatable, Codable {
    public var version: String
    public var name: String
    /// /etc/postgresql by default; PG_CLUSTER_CONF_ROOT, as postgresql-common honours it.
    public var configRoot: String

    public init(_ spec: String, configRoot: String? = nil) throws {
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, let major = Int(parts[0]), major > 0, !parts[1].isEmpty,
              parts[1].allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw DebianClusterError.badName(spec)
        }
        version = parts[0]
        name = parts[1]
        self.configRoot = configRoot ?? ProcessInfo.processInfo.environment["PG_CLUSTER_CONF_ROOT"] ?? "/etc/postgresql"
    }

    public var description: String { "\(version)/\(name)" }
    public var configDirectory: String { "\(configRoot)/\(version)/\(name)" }
    public var configFile: String { configDirectory + "/postgresql.conf" }
    public var bindir: String { "/usr/lib/postgresql/\(version)/bin" }
    public var logFile: String { "/var/log/postgresql/postgresql-\(version)-\(name).log" }

    /// The data directory the cluster's configuration names (postgresql-common's default when
    /// it names none).
    public func dataDirectory() throws -> String {
        guard Files.isRegularFile(configFile) else { throw DebianClusterError.notFound(cluster: description, configFile: configFile) }
        let settings = NodeReplicationSettings.read(dataDirectory: "/nonexistent", configFile: configFile)
        return settings.value("data_directory") ?? "/var/lib/postgresql/\(version)/\(name)"
    }

    /// pg_ctlcluster's argument vectors (argv, no shell).
    public var startCommand: [String] { ["/usr/bin/pg_ctlcluster", version, name, "start"] }
    public func stopCommand(mode: String) -> [String] { ["/usr/bin/pg_ctlcluster", "-m", mode, version, name, "stop"] }
}
