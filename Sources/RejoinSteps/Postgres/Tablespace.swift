import Foundation

/// A tablespace as the upstream's catalog names it.
public struct UpstreamTablespace: Sendable, Equatable {
    public var oid: String
    public var name: String
    /// `pg_tablespace_location`: absolute, or relative (`pg_tblspc/OID`) for an in-place one.
    public var location: String

    public init(oid: String, name: String, location: String) {
        self.oid = oid
        self.name = name
        self.location = location
    }

    /// The probe's `json_agg` of `[oid, spcname, location]` triples.
    static func parse(json: String?) -> [UpstreamTablespace] {
        guard let json, let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]] else { return [] }
        return rows.compactMap { row in
            guard row.count == 3, let name = row[1] as? String, let location = row[2] as? String else { return nil }
            let oid = (row[0] as? String) ?? (row[0] as? NSNumber).map { "\($0)" }
            return oid.map { UpstreamTablespace(oid: $0, name: name, location: location) }
        }
    }
}

/// One tablespace of a copy-path rejoin, decided by preflight and kept in the plan.
///
/// PostgreSQL keeps a tablespace's files in a version directory inside its location
/// (`/srv/ts1/PG_15_202209061`), reached from PGDATA through `pg_tblspc/OID`. The copy path
/// works beside that version directory, inside the location, so every rename stays on the
/// tablespace's own filesystem (often a mount of its own, where a sibling of the location
/// would be on another disk):
///
/// - set-aside moves it into `pg-rejoin-old-RUN/` and points the old copy's link there, so
///   the old copy stays whole and startable;
/// - the clone maps the upstream's location to `pg-rejoin-new-RUN/`
///   (`pg_basebackup --tablespace-mapping`);
/// - swap-in moves the new version directory into the location and points the new copy's
///   link at the location, as it was.
public struct TablespacePlan: Codable, Sendable, Equatable {
    public var oid: String
    /// The upstream's name for it; nil for one the upstream no longer has.
    public var name: String?
    /// Where this node keeps it: its own link's target, or the upstream's location for a
    /// tablespace this node does not have yet (as streaming replication would create it).
    public var location: String
    /// The upstream's location, which `--tablespace-mapping` maps; nil when the upstream has
    /// no such tablespace (dropped since the fork): then there is nothing to copy.
    public var upstreamLocation: String?
    /// `PG_<major>_<catalog version>`: the directory PostgreSQL reads inside the location.
    public var versionDirectory: String
    /// The node has it: its version directory is set aside like PGDATA.
    public var local: Bool

    public init(oid: String, name: String?, location: String, upstreamLocation: String?, versionDirectory: String, local: Bool) {
        self.oid = oid
        self.name = name
        self.location = location
        self.upstreamLocation = upstreamLocation
        self.versionDirectory = versionDirectory
        self.local = local
    }

    public var label: String { name.map { "\($0) (\(oid))" } ?? "oid \(oid)" }
    public var current: String { location + "/" + versionDirectory }
    public func oldLocation(run: String) -> String { location + "/" + Self.oldPrefix + run }
    public func newLocation(run: String) -> String { location + "/" + Self.newPrefix + run }

    static let oldPrefix = "pg-rejoin-old-"
    static let newPrefix = "pg-rejoin-new-"
}

/// The tablespace links of a data directory (`pg_tblspc/OID`).
public enum LocalTablespaces {
    public struct Link: Sendable, Equatable {
        public var oid: String
        /// The link's target, absolute and standardized.
        public var location: String
    }

    /// Every link in `pgdata/pg_tblspc`. A directory there (an in-place tablespace) lives inside
    /// PGDATA and moves with it, so it is not listed; anything else is a problem, returned as
    /// such.
    public static func read(_ pgdata: String) -> (links: [Link], problems: [String]) {
        let directory = pgdata + "/pg_tblspc"
        var links: [Link] = [], problems: [String] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
            let path = directory + "/" + name
            if Files.isDirectory(path) && !Files.isSymlink(path) { continue }
            guard Files.isSymlink(path), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
                problems.append("\(path) is neither a symlink nor an in-place tablespace directory")
                continue
            }
            let absolute = target.hasPrefix("/") ? target : directory + "/" + target
            links.append(Link(oid: name, location: (absolute as NSString).standardizingPath))
        }
        return (links, problems)
    }

    /// `PG_15_202209061` from the major and pg_controldata's catalog version.
    public static func versionDirectory(major: Int, control: ControlData) -> String? {
        control.catalogVersion.map { "PG_\(major)_\($0)" }
    }
}
