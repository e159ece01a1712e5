import Foundation

/// What `pg_controldata` says about a data directory (run with LC_ALL=C).
public struct ControlData: Sendable, Equatable {
    public var fields: [String: String]

    public init(parsing output: String) {
        var fields: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields[key] = value
        }
        self.fields = fields
    }

    public var systemIdentifier: String? { fields["Database system identifier"] }
    public var clusterState: String? { fields["Database cluster state"] }
    public var timeline: Int? { fields["Latest checkpoint's TimeLineID"].flatMap { Int($0) } }
    public var checkpointLocation: String? { fields["Latest checkpoint location"] }
    public var dataChecksumsEnabled: Bool { (fields["Data page checksum version"].flatMap { Int($0) } ?? 0) != 0 }
    /// Part of a tablespace's version directory name (`PG_15_202209061`).
    public var catalogVersion: String? { fields["Catalog version number"] }
    public var walLogHints: Bool { fields["wal_log_hints setting"] == "on" }

    /// "shut down" for a primary stopped cleanly, "shut down in recovery" for a standby.
    public var isCleanShutdown: Bool {
        clusterState == "shut down" || clusterState == "shut down in recovery"
    }
}
