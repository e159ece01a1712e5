import Foundation

/// What an old-data archive holds, written as the archive's first entry and beside it: every
/// entry with its type, mode, owner, mtime, size and checksum, plus where the old cluster
/// ended (from pg_controldata at archive time), so `old list` need not unpack anything.
///
/// Format 2 names its checksum (`"checksum": "xxh128"`, each file's in `xxh128`); format 1,
/// written before, has none named and each file's SHA-256 in `sha256`. Both are read.
public struct ArchiveManifest: Codable, Sendable, Equatable {
    public static let entryName = "pg-rejoin-manifest.json"
    /// What this pg-rejoin writes.
    public static let formatVersion = 2
    public static let readableFormats = 1...2

    public enum EntryType: String, Codable, Sendable {
        case file, directory, symlink
    }

    public struct Entry: Codable, Sendable, Equatable {
        /// Relative to the archived directory; "." is the directory itself.
        public var path: String
        public var type: EntryType
        /// Permission bits (0o7777).
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var mtime: Int64
        public var mtimeNanoseconds: Int
        public var size: UInt64?
        /// Format 1's checksum.
        public var sha256: String?
        /// Format 2's checksum.
        public var xxh128: String?
        public var target: String?

        enum CodingKeys: String, CodingKey {
            case path, type, mode, uid, gid, mtime, size, sha256, xxh128, target
            case mtimeNanoseconds = "mtime_ns"
        }

        public func checksum(_ algorithm: ChecksumAlgorithm) -> String? {
            switch algorithm {
            case .xxh128: return xxh128
            case .sha256: return sha256
            }
        }

        public mutating func setChecksum(_ value: String?, _ algorithm: ChecksumAlgorithm) {
            switch algorithm {
            case .xxh128: xxh128 = value
            case .sha256: sha256 = value
            }
        }
    }

    public var format: Int
    public var created: Date
    /// The directory that was archived, as it was named then.
    public var source: String
    /// The top-level directory inside the archive that holds the entries.
    public var root: String
    public var compression: String
    /// Nil in format 1, whose checksum is SHA-256: use `checksumAlgorithm`.
    public var checksum: ChecksumAlgorithm?
    public var runID: String?
    public var control: OldDataControl?
    public var totalBytes: UInt64
    public var entries: [Entry]
    /// Sockets, FIFOs and devices: not archived, named here.
    public var skipped: [String]

    enum CodingKeys: String, CodingKey {
        case format, created, source, root, compression, checksum, control, entries, skipped
        case runID = "run"
        case totalBytes = "total_bytes"
    }

    public var fileCount: Int { entries.filter { $0.type == .file }.count }

    /// The checksum each file's entry carries.
    public var checksumAlgorithm: ChecksumAlgorithm { checksum ?? .sha256 }

    /// The archive member name of an entry.
    func memberName(_ entry: Entry) -> String {
        entry.path == "." ? root : root + "/" + entry.path
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    static func decode(_ data: Data, archive: String) throws -> ArchiveManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest: ArchiveManifest
        do {
            manifest = try decoder.decode(ArchiveManifest.self, from: data)
        } catch {
            throw ArchiveError.badManifest(archive: archive, reason: "\(error)")
        }
        guard readableFormats.contains(manifest.format) else {
            throw ArchiveError.badManifest(archive: archive, reason: "format \(manifest.format), this pg-rejoin reads formats \(readableFormats.lowerBound) to \(readableFormats.upperBound)")
        }
        guard manifest.format > 1 ? manifest.checksum != nil : manifest.checksum == nil else {
            throw ArchiveError.badManifest(archive: archive, reason: "format \(manifest.format) with checksum \(manifest.checksum?.rawValue ?? "none")")
        }
        guard ArchivePath.isSafe(manifest.root), !manifest.root.contains("/") else {
            throw ArchiveError.unsafeEntry(archive: archive, entry: manifest.root)
        }
        return manifest
    }
}

/// Where an old cluster ended, from pg_controldata: enough to tell copies apart.
public struct OldDataControl: Codable, Sendable, Equatable {
    public var timeline: Int?
    public var checkpointLSN: String?
    public var clusterState: String?
    public var systemIdentifier: String?

    enum CodingKeys: String, CodingKey {
        case timeline
        case checkpointLSN = "checkpoint_lsn"
        case clusterState = "cluster_state"
        case systemIdentifier = "system_identifier"
    }

    public init(timeline: Int?, checkpointLSN: String?, clusterState: String?, systemIdentifier: String?) {
        self.timeline = timeline
        self.checkpointLSN = checkpointLSN
        self.clusterState = clusterState
        self.systemIdentifier = systemIdentifier
    }

    public init(_ control: ControlData) {
        self.init(timeline: control.timeline, checkpointLSN: control.checkpointLocation,
                  clusterState: control.clusterState, systemIdentifier: control.systemIdentifier)
    }
}

/// Member names that stay inside the target when extracted.
enum ArchivePath {
    /// Relative, no empty, "." or ".." components except a lone ".", no NUL.
    static func isSafe(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\0") else { return false }
        var trimmed = Substring(name)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.contains { $0 == ".." || $0.isEmpty } && !(parts.count > 1 && parts.contains("."))
    }

    /// The path relative to `root` for a member name under it ("." for the root itself), or nil.
    static func relative(_ name: String, root: String) -> String? {
        var name = Substring(name)
        while name.hasSuffix("/") { name = name.dropLast() }
        if name == root { return "." }
        guard name.hasPrefix(root + "/") else { return nil }
        return String(name.dropFirst(root.count + 1))
    }
}
