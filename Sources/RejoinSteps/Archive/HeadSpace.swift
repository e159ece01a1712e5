import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The space at the start of an archive kept for its manifest member, which can only be
/// written after the body: the checksums in it are taken while the body is compressed.
///
/// The manifest's size is known before its checksums are: each has a fixed number of hex
/// digits, so the manifest with placeholders in their place encodes to exactly as many bytes.
/// Compressed, a member grows by at most what the compressor's stored blocks add; the space
/// allows for that, and whatever the compressed member leaves of it is padding that
/// decompressors skip and that adds nothing to the tar stream: a zstd skippable frame, or an
/// empty gzip member whose header carries a comment. So the body is written once, straight
/// into the archive, and never copied behind its head.
struct HeadSpace {
    let compression: ArchiveCompression
    /// Bytes, a whole number of pages, so the body starts on a page boundary.
    let size: Int

    /// Room for a zstd skippable frame's 8-byte header or the 21 bytes of an empty gzip member.
    static let minimumPadding = 32

    init(for manifest: ArchiveManifest, compression: ArchiveCompression) throws {
        var sized = manifest
        for index in sized.entries.indices where sized.entries[index].type == .file {
            let algorithm = manifest.checksumAlgorithm
            sized.entries[index].setChecksum(String(repeating: "0", count: algorithm.hexLength), algorithm)
        }
        let member = try Self.member(json: try sized.encoded(), created: manifest.created, path: manifest.source).count
        self.compression = compression
        size = (Self.bound(member) + Self.minimumPadding + 4095) / 4096 * 4096
    }

    /// More than `count` bytes can ever compress to: zstd never exceeds n + n/256 + 64 bytes,
    /// deflate n + 5 bytes per 16 kB block + 18.
    static func bound(_ count: Int) -> Int { count + count / 64 + 4096 }

    /// The manifest (`json`, as `ArchiveManifest.encoded` gives it) as an uncompressed tar
    /// member: header, JSON, padding to 512 bytes.
    static func member(json: Data, created: Date, path: String) throws -> Data {
        try ArchiveWriter.memberBytes(
            ArchiveEntryInfo(name: ArchiveManifest.entryName, type: .file, rawType: UInt32(S_IFREG), mode: 0o600,
                             uid: getuid(), gid: getgid(), mtime: Int64(created.timeIntervalSince1970), mtimeNanoseconds: 0,
                             size: UInt64(json.count)),
            data: json, path: path)
    }

    /// The whole head, exactly `size` bytes: the compressed manifest member, then padding.
    /// Takes the manifest encoded, as it is also written beside the archive and compared
    /// with what is read back: encoding it costs more than compressing it.
    func bytes(json: Data, created: Date, level: Int, path: String) throws -> Data {
        let member = try Self.member(json: json, created: created, path: path)
        let writer = try ArchiveWriter(output: .memory(capacity: Self.bound(member.count)), path: path, compression: compression,
                                       level: level, threads: 0, format: .raw)
        try writer.writeHeader(ArchiveEntryInfo(name: ArchiveManifest.entryName, type: .file, rawType: 0, mode: 0o600, uid: 0, gid: 0,
                                                mtime: 0, mtimeNanoseconds: 0, size: UInt64(member.count)))
        try member.withUnsafeBytes { try writer.writeData($0) }
        try writer.close()
        let compressed = writer.memoryBytes
        guard compressed.count + Self.minimumPadding <= size else {
            throw ArchiveError.library(operation: "write the manifest into", path: path,
                                       message: "the compressed manifest (\(compressed.count) bytes) does not fit the \(size) bytes kept for it")
        }
        return compressed + padding(count: size - compressed.count)
    }

    /// `count` bytes (at least `minimumPadding`) that decompress to nothing.
    func padding(count: Int) -> Data {
        switch compression {
        case .zstd:
            // Skippable frame: magic 0x184D2A50, the length of what follows (little-endian), zeros.
            let length = UInt32(count - 8)
            var frame = Data([0x50, 0x2A, 0x4D, 0x18])
            frame.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
            frame.append(Data(count: count - 8))
            return frame
        case .gzip:
            // Header (deflate, FCOMMENT, no time, Unix), the comment (spaces, then NUL), an empty
            // final fixed-Huffman block, CRC-32 and size of nothing.
            var member = Data([0x1F, 0x8B, 0x08, 0x10, 0, 0, 0, 0, 0, 0x03])
            member.append(Data(repeating: 0x20, count: count - 21))
            member.append(0)
            member.append(contentsOf: [0x03, 0x00])
            member.append(Data(count: 8))
            return member
        }
    }
}
