import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong writing, re-reading or extracting an old-data archive. Each
/// case says what happened, names the file, and says what to do.
public enum ArchiveError: LocalizedError, Equatable {
    /// libarchive refused an operation; `message` is its archive_error_string.
    case library(operation: String, path: String, message: String)
    case io(operation: String, path: String, errno: Int32)
    case digest(algorithm: ChecksumAlgorithm, operation: String)
    case noManifest(archive: String)
    case badManifest(archive: String, reason: String)
    case checksumMismatch(archive: String, entry: String, algorithm: ChecksumAlgorithm, expected: String, actual: String)
    case entryMismatch(archive: String, entry: String, problem: String)
    case missingEntries(archive: String, entries: [String])
    case unexpectedEntry(archive: String, entry: String)
    case unsafeEntry(archive: String, entry: String)
    case targetNotEmpty(path: String)
    case alreadyExists(path: String)
    case notADirectory(path: String)

    public var errorDescription: String? {
        switch self {
        case let .library(operation, path, message):
            return "\(operation) \(path) failed: \(message); check free space and permissions, and that the file is a pg-rejoin archive"
        case let .io(operation, path, e):
            return "cannot \(operation) \(path): \(String(cString: strerror(e))); check free space and permissions"
        case let .digest(algorithm, operation):
            let library = algorithm.library
            return "\(algorithm.displayName) (\(library.name)) failed in \(operation); check the installation of \(library.package) and free memory"
        case let .noManifest(archive):
            return "\(archive) does not start with a pg-rejoin manifest (pg-rejoin-manifest.json); it was not written by pg-rejoin, or it is damaged. Inspect it with `tar -tvf`"
        case let .badManifest(archive, reason):
            return "the manifest of \(archive) cannot be read (\(reason)); the archive is damaged or from a newer pg-rejoin"
        case let .checksumMismatch(archive, entry, algorithm, expected, actual):
            return "\(archive): \(entry) does not match its manifest checksum (expected \(algorithm.displayName) \(expected), got \(actual)); the archive is damaged. Keep the data directory it came from, if it still exists"
        case let .entryMismatch(archive, entry, problem):
            return "\(archive): \(entry) does not match its manifest (\(problem)); the archive is damaged"
        case let .missingEntries(archive, entries):
            let shown = entries.prefix(5).joined(separator: ", ") + (entries.count > 5 ? " and \(entries.count - 5) more" : "")
            return "\(archive) lacks \(entries.count) entr\(entries.count == 1 ? "y" : "ies") its manifest lists (\(shown)); the archive is truncated or damaged"
        case let .unexpectedEntry(archive, entry):
            return "\(archive) holds \(entry), which its manifest does not list (or a second time); the archive was altered"
        case let .unsafeEntry(archive, entry):
            return "\(archive) holds the entry '\(entry)', an absolute path or one with '..', which would land outside the target; refused, nothing was extracted"
        case let .targetNotEmpty(path):
            return "\(path) exists and is not an empty directory; extract into a new or empty directory"
        case let .alreadyExists(path):
            return "\(path) already exists; move it away or choose another name"
        case let .notADirectory(path):
            return "\(path) is not a directory"
        }
    }
}

extension ArchiveError: RejoinFailure {
    /// Refusals of bad input exit 10 (nothing was changed); a damaged archive or an I/O error 1.
    public var exitStatus: ExitStatus {
        switch self {
        case .unsafeEntry, .targetNotEmpty, .alreadyExists, .notADirectory, .noManifest: return .refused
        default: return .failed
        }
    }
}
