import Foundation

/// The per-file checksum of an old-data archive's manifest.
///
/// Archives are written with XXH3-128: the checksum guards against damage at rest (a bad disk,
/// a truncated copy), not against someone who can rewrite the archive, who could rewrite its
/// manifest as well. Taken while the files are archived, SHA-256 cost a quarter of the
/// archive's CPU (1.2–1.4 GB/s here, against 10–16 GB/s for XXH3-128). PostgreSQL's own
/// backup manifest makes the same choice, CRC-32C unless asked otherwise; XXH3-128 is four
/// times as wide, and `xxh128sum` (Debian's xxhash) prints the same hex. Archives of
/// manifest format 1 carry SHA-256 and are still verified and extracted with it.
public enum ChecksumAlgorithm: String, Codable, Sendable, CaseIterable {
    case xxh128, sha256

    /// What new archives are written with.
    public static let written = ChecksumAlgorithm.xxh128

    public var displayName: String {
        switch self {
        case .xxh128: return "XXH3-128"
        case .sha256: return "SHA-256"
        }
    }

    /// Hex digits of a checksum.
    var hexLength: Int {
        switch self {
        case .xxh128: return 32
        case .sha256: return 64
        }
    }

    /// The library behind it and the Debian package that holds that library, for errors.
    var library: (name: String, package: String) {
        switch self {
        case .xxh128: return ("libxxhash", "libxxhash0")
        case .sha256: return ("OpenSSL libcrypto", "libssl3")
        }
    }

    func makeDigest() throws -> FileDigest {
        switch self {
        case .xxh128: return try XXH128Digest()
        case .sha256: return try SHA256Digest()
        }
    }
}

/// A checksum taken in pieces, one file after another: `finish` gives the file's checksum and
/// starts the next.
protocol FileDigest: AnyObject {
    func update(_ bytes: UnsafeRawBufferPointer) throws
    /// The checksum as lowercase hex; the digest is reset for the next file.
    func finish() throws -> String
}

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex by table: String(format:) per byte costs more than hashing a small file,
    /// and a data directory is mostly small files.
    static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
