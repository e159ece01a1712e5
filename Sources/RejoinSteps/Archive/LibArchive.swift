import CLibArchive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The only place that talks to libarchive. One small type owns each C handle (a tar writer, a
// tar reader, a disk writer, an entry); every call goes through `check`, which turns libarchive's
// return codes into `ArchiveError` with archive_error_string. Nothing here is public.

/// The compression of an old-data archive: zstd when this libarchive can write it, else gzip.
public enum ArchiveCompression: String, Codable, Sendable, CaseIterable {
    case zstd, gzip

    public var fileExtension: String {
        switch self {
        case .zstd: return ".tar.zst"
        case .gzip: return ".tar.gz"
        }
    }

    /// zstd when `archive_write_add_filter_zstd` returns ARCHIVE_OK on this system.
    public static let best: ArchiveCompression = {
        guard let handle = archive_write_new() else { return .gzip }
        defer { archive_write_free(handle) }
        return archive_write_add_filter_zstd(handle) == ARCHIVE_OK ? .zstd : .gzip
    }()
}

/// What an archive entry header says, in Swift terms.
struct ArchiveEntryInfo {
    var name: String
    var type: ArchiveManifest.EntryType?
    /// The raw file type bits, for messages about entries of other types.
    var rawType: UInt32
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var mtime: Int64
    var mtimeNanoseconds: Int
    var size: UInt64
    var symlinkTarget: String? = nil
    var hardlinkTarget: String? = nil
}

/// One `struct archive_entry`, built from an `ArchiveEntryInfo` for writing.
final class ArchiveEntryHandle {
    let pointer: OpaquePointer

    init(_ info: ArchiveEntryInfo) throws {
        guard let pointer = archive_entry_new() else { throw ArchiveError.io(operation: "allocate an archive entry for", path: info.name, errno: ENOMEM) }
        self.pointer = pointer
        // Not archive_entry_set_pathname_utf8: libarchive 3.6's pax writer then crashes
        // (strlen of NULL) on a non-ASCII name in the C locale. See `binaryNames`.
        archive_entry_copy_pathname(pointer, info.name)
        switch info.type {
        case .file?: archive_entry_set_filetype(pointer, UInt32(Glibc.S_IFREG))
        case .directory?: archive_entry_set_filetype(pointer, UInt32(Glibc.S_IFDIR))
        case .symlink?: archive_entry_set_filetype(pointer, UInt32(Glibc.S_IFLNK))
        case nil: archive_entry_set_filetype(pointer, info.rawType)
        }
        archive_entry_set_perm(pointer, mode_t(info.mode & 0o7777))
        archive_entry_set_uid(pointer, Int64(info.uid))
        archive_entry_set_gid(pointer, Int64(info.gid))
        archive_entry_set_mtime(pointer, time_t(info.mtime), Int(info.mtimeNanoseconds))
        archive_entry_set_size(pointer, info.type == .file ? Int64(info.size) : 0)
        if let target = info.symlinkTarget { archive_entry_copy_symlink(pointer, target) }
    }

    deinit { archive_entry_free(pointer) }
}

/// Reads the fields of an entry libarchive owns (valid until the next header is read).
private func entryInfo(_ entry: OpaquePointer) -> ArchiveEntryInfo {
    let raw = UInt32(archive_entry_filetype(entry))
    let type: ArchiveManifest.EntryType?
    switch raw {
    case UInt32(Glibc.S_IFREG): type = .file
    case UInt32(Glibc.S_IFDIR): type = .directory
    case UInt32(Glibc.S_IFLNK): type = .symlink
    default: type = nil
    }
    return ArchiveEntryInfo(
        name: archive_entry_pathname(entry).map { String(cString: $0) } ?? "",
        type: type, rawType: raw,
        mode: UInt32(archive_entry_perm(entry)) & 0o7777,
        uid: UInt32(truncatingIfNeeded: archive_entry_uid(entry)),
        gid: UInt32(truncatingIfNeeded: archive_entry_gid(entry)),
        mtime: Int64(archive_entry_mtime(entry)),
        mtimeNanoseconds: Int(archive_entry_mtime_nsec(entry)),
        size: UInt64(max(0, archive_entry_size(entry))),
        symlinkTarget: archive_entry_symlink(entry).map { String(cString: $0) },
        hardlinkTarget: archive_entry_hardlink(entry).map { String(cString: $0) })
}

/// A compressed pax tar written to a file descriptor the caller owns (so it can fsync it), or
/// to memory; or, `raw`, one compressed stream of bytes that are already tar blocks.
final class ArchiveWriter {
    enum Format { case pax, raw }
    enum Output {
        case fd(Int32)
        /// At most `capacity` bytes, kept by the writer: `memoryBytes` after `close`.
        case memory(capacity: Int)
    }

    private let handle: OpaquePointer
    let path: String
    private var closed = false
    private let memory: (buffer: UnsafeMutableRawBufferPointer, used: UnsafeMutablePointer<Int>)?

    /// - Parameters:
    ///   - level: the compressor's level (zstd 1 and gzip 1: the old data is written once and
    ///     rarely read, so speed matters more than the last few percent of size).
    ///   - threads: zstd worker threads; 0 compresses in the calling thread (ignored by gzip,
    ///     and when libarchive lacks the option).
    ///   - binaryNames: record names as the bytes they are (pax hdrcharset=BINARY) instead of
    ///     converting them from the process locale (C: ASCII only, anything else fails). Only
    ///     when a name needs it: GNU tar warns about the keyword on every entry.
    convenience init(fd: Int32, path: String, compression: ArchiveCompression, level: Int = 1, threads: Int = 1,
                     format: Format = .pax, binaryNames: Bool = false) throws {
        try self.init(output: .fd(fd), path: path, compression: compression, level: level, threads: threads, format: format,
                      binaryNames: binaryNames)
    }

    init(output: Output, path: String, compression: ArchiveCompression, level: Int = 1, threads: Int = 1, format: Format = .pax,
         binaryNames: Bool = false) throws {
        guard let handle = archive_write_new() else { throw ArchiveError.io(operation: "start writing", path: path, errno: ENOMEM) }
        self.handle = handle
        self.path = path
        if case let .memory(capacity) = output {
            let used = UnsafeMutablePointer<Int>.allocate(capacity: 1)
            used.pointee = 0
            memory = (UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, capacity), alignment: 16), used)
        } else {
            memory = nil
        }
        switch format {
        case .pax:
            // pax keeps long names, large files, nanosecond mtimes and large ids exactly.
            try check(archive_write_set_format_pax(handle), "set the tar format of")
            if binaryNames {
                try check(archive_write_set_format_option(handle, "pax", "hdrcharset", "BINARY"), "set the header charset of")
            }
        case .raw:
            try check(archive_write_set_format_raw(handle), "set the raw format of")
        }
        switch compression {
        case .zstd:
            try check(archive_write_add_filter_zstd(handle), "add zstd compression to")
            try check(archive_write_set_filter_option(handle, "zstd", "compression-level", String(level)), "set the zstd level of")
            if threads > 0 {
                // Older libarchive versions lack the option: one thread then, not an error.
                _ = archive_write_set_filter_option(handle, "zstd", "threads", String(threads))
            }
        case .gzip:
            try check(archive_write_add_filter_gzip(handle), "add gzip compression to")
            try check(archive_write_set_filter_option(handle, "gzip", "compression-level", String(level)), "set the gzip level of")
        }
        try check(archive_write_set_bytes_per_block(handle, 64 * 1024), "set the block size of")
        try check(archive_write_set_bytes_in_last_block(handle, 1), "set the last block size of")
        switch output {
        case let .fd(fd):
            try check(archive_write_open_fd(handle, fd), "open")
        case .memory:
            guard let memory else { return }
            try check(archive_write_open_memory(handle, memory.buffer.baseAddress, memory.buffer.count, memory.used), "open")
        }
    }

    deinit {
        // archive_write_free closes first when close was not called (an error path): the file
        // is incomplete then, and the caller removes it.
        archive_write_free(handle)
        if let memory {
            memory.buffer.deallocate()
            memory.used.deallocate()
        }
    }

    /// What a writer to memory wrote; empty for one to a file.
    var memoryBytes: Data {
        guard let memory else { return Data() }
        return Data(memory.buffer[0..<min(memory.used.pointee, memory.buffer.count)])
    }

    private func check(_ rc: Int32, _ operation: String) throws {
        // A warning here means something was written differently from what was asked (a name
        // or an id that did not fit): for an archive that must round-trip exactly, a failure.
        guard rc == ARCHIVE_OK else {
            throw ArchiveError.library(operation: operation, path: path, message: archive_error_string(handle).map { String(cString: $0) } ?? "code \(rc)")
        }
    }

    func writeHeader(_ info: ArchiveEntryInfo) throws {
        let entry = try ArchiveEntryHandle(info)
        try check(archive_write_header(handle, entry.pointer), "write the header of \(info.name) into")
    }

    func writeData(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let written = archive_write_data(handle, base, bytes.count)
        guard written == bytes.count else {
            throw ArchiveError.library(operation: "write data into", path: path,
                                       message: archive_error_string(handle).map { String(cString: $0) } ?? "short write (\(written) of \(bytes.count))")
        }
    }

    /// Flushes the compressor and the last block. The caller fsyncs and closes the fd.
    func close() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(handle), "finish")
    }

    /// One pax member (header and data, padded to 512-byte blocks) as uncompressed tar bytes,
    /// without the end-of-archive blocks: to be put in front of another tar stream.
    static func memberBytes(_ info: ArchiveEntryInfo, data: Data, path: String) throws -> Data {
        guard let handle = archive_write_new() else { throw ArchiveError.io(operation: "start writing", path: path, errno: ENOMEM) }
        defer { archive_write_free(handle) }
        let capacity = data.count + 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 512)
        defer { buffer.deallocate() }
        let used = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { used.deallocate() }
        used.pointee = 0
        func check(_ rc: Int32, _ operation: String) throws {
            guard rc == ARCHIVE_OK else {
                throw ArchiveError.library(operation: operation, path: path, message: archive_error_string(handle).map { String(cString: $0) } ?? "code \(rc)")
            }
        }
        try check(archive_write_set_format_pax(handle), "set the tar format of")
        try check(archive_write_set_bytes_per_block(handle, 512), "set the block size of")
        try check(archive_write_set_bytes_in_last_block(handle, 1), "set the last block size of")
        try check(archive_write_open_memory(handle, buffer.baseAddress, capacity, used), "open")
        let entry = try ArchiveEntryHandle(info)
        try check(archive_write_header(handle, entry.pointer), "write the header of \(info.name) into")
        let written = data.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, $0.count) }
        guard written == data.count else {
            throw ArchiveError.library(operation: "write data into", path: path, message: archive_error_string(handle).map { String(cString: $0) } ?? "short write")
        }
        try check(archive_write_close(handle), "finish")
        // What close added is the end of the archive: two zero blocks.
        let total = used.pointee
        let end = total - 1024
        guard end > 0, total % 512 == 0, !buffer[end..<total].contains(where: { $0 != 0 }) else {
            throw ArchiveError.library(operation: "build the manifest member of", path: path, message: "unexpected tar layout (\(total) bytes)")
        }
        return Data(buffer[0..<end])
    }
}

/// A tar reader (any compression libarchive knows) over a file this type opens and closes, or
/// over a `GrowingFile` that another thread is still writing.
final class ArchiveReader {
    private let handle: OpaquePointer
    private let fd: Int32?
    /// Kept alive here: libarchive holds it as an unretained pointer for its read callback.
    private let growing: GrowingFile?
    let path: String
    private var current: OpaquePointer?

    /// - Parameter dropCache: drop the file's cached pages first, so what is read comes from
    ///   the disk and not from the page cache that the writer just filled.
    init(path: String, dropCache: Bool = false, blockSize: Int = 256 << 10) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io(operation: "open", path: path, errno: errno) }
        if dropCache { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        guard let handle = archive_read_new() else {
            Glibc.close(fd)
            throw ArchiveError.io(operation: "start reading", path: path, errno: ENOMEM)
        }
        self.handle = handle
        self.fd = fd
        growing = nil
        // Every property is set: from here a throw runs deinit, which frees both.
        try supportWhatPgRejoinWrites()
        try check(archive_read_open_fd(handle, fd, blockSize), "open")
    }

    /// Reads `file` as its writer writes it; a read past what is written waits.
    init(following file: GrowingFile) throws {
        path = file.path
        guard let handle = archive_read_new() else { throw ArchiveError.io(operation: "start reading", path: path, errno: ENOMEM) }
        self.handle = handle
        fd = nil
        growing = file
        try supportWhatPgRejoinWrites()
        // The callback cannot capture: the file travels as the client pointer. A failed read is
        // -1 (ARCHIVE_FATAL); the reason stays in `file.failure` for the caller to report.
        let client = Unmanaged.passUnretained(file).toOpaque()
        try check(archive_read_open(handle, client, nil, { _, client, buffer in
            guard let client, let buffer else { return -1 }
            let file = Unmanaged<GrowingFile>.fromOpaque(client).takeUnretainedValue()
            guard let bytes = try? file.next() else { return -1 }
            buffer.pointee = bytes.baseAddress
            return la_ssize_t(bytes.count)
        }, nil), "open")
    }

    /// Only what pg-rejoin writes: no other filter (some run external programs).
    private func supportWhatPgRejoinWrites() throws {
        // ARCHIVE_WARN: no built-in zstd, the zstd program is used (a gzip system reads on).
        _ = archive_read_support_filter_zstd(handle)
        try check(archive_read_support_filter_gzip(handle), "enable gzip decompression for")
        try check(archive_read_support_format_tar(handle), "enable the tar format for")
    }

    deinit {
        archive_read_free(handle)
        if let fd { Glibc.close(fd) }
    }

    private func check(_ rc: Int32, _ operation: String) throws {
        guard rc == ARCHIVE_OK else {
            throw ArchiveError.library(operation: operation, path: path, message: archive_error_string(handle).map { String(cString: $0) } ?? "code \(rc)")
        }
    }

    /// The next entry's header, or nil at the end of the archive.
    func next() throws -> ArchiveEntryInfo? {
        var entry: OpaquePointer?
        let rc = archive_read_next_header(handle, &entry)
        if rc == ARCHIVE_EOF { current = nil; return nil }
        try check(rc, "read the next header of")
        guard let entry else { throw ArchiveError.library(operation: "read the next header of", path: path, message: "no entry") }
        current = entry
        return entryInfo(entry)
    }

    /// Reads the current entry's data into `buffer`; 0 at the entry's end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = archive_read_data(handle, buffer.baseAddress, buffer.count)
        guard n >= 0 else {
            throw ArchiveError.library(operation: "read data from", path: path, message: archive_error_string(handle).map { String(cString: $0) } ?? "code \(n)")
        }
        return n
    }

    /// The current entry's next bytes in libarchive's own buffer (valid until the next call),
    /// without copying them; nil at the entry's end. `offset` is how much was read before: an
    /// entry with holes (a sparse file, which pg-rejoin never writes) is refused.
    func nextBlock(at offset: UInt64) throws -> UnsafeRawBufferPointer? {
        var bytes: UnsafeRawPointer?
        var count = 0
        var at: la_int64_t = 0
        let rc = archive_read_data_block(handle, &bytes, &count, &at)
        if rc == ARCHIVE_EOF { return nil }
        try check(rc, "read data from")
        guard at == la_int64_t(offset) else {
            throw ArchiveError.library(operation: "read data from", path: path, message: "an entry with a hole at offset \(offset)")
        }
        return UnsafeRawBufferPointer(start: bytes, count: count)
    }

    /// Gives the current entry to a disk writer under another name.
    func writeCurrent(to disk: DiskWriter, as path: String, symlinkTarget: String?) throws {
        guard let current else { throw ArchiveError.library(operation: "extract", path: self.path, message: "no current entry") }
        // On disk a name is bytes: the UTF-8 of the Swift string, whatever the process locale.
        archive_entry_copy_pathname(current, path)
        if let symlinkTarget { archive_entry_copy_symlink(current, symlinkTarget) }
        try disk.writeHeader(current, name: path)
    }
}

/// Files, directories and symlinks created on disk from archive entries (archive_write_disk):
/// modes and mtimes restored, owners too when running as root; never through a symlink.
final class DiskWriter {
    private let handle: OpaquePointer
    let target: String
    private var closed = false

    init(target: String) throws {
        self.target = target
        guard let handle = archive_write_disk_new() else { throw ArchiveError.io(operation: "start extracting into", path: target, errno: ENOMEM) }
        self.handle = handle
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT
            | ARCHIVE_EXTRACT_NO_OVERWRITE
        if geteuid() == 0 { flags |= ARCHIVE_EXTRACT_OWNER }
        try check(archive_write_disk_set_options(handle, flags), "set extraction options for")
    }

    deinit { archive_write_free(handle) }

    private func check(_ rc: Int32, _ operation: String) throws {
        guard rc == ARCHIVE_OK else {
            throw ArchiveError.library(operation: operation, path: target, message: archive_error_string(handle).map { String(cString: $0) } ?? "code \(rc)")
        }
    }

    fileprivate func writeHeader(_ entry: OpaquePointer, name: String) throws {
        try check(archive_write_header(handle, entry), "create \(name) in")
    }

    func writeData(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let written = archive_write_data(handle, base, bytes.count)
        guard written == bytes.count else {
            throw ArchiveError.library(operation: "write data into", path: target,
                                       message: archive_error_string(handle).map { String(cString: $0) } ?? "short write")
        }
    }

    func finishEntry() throws {
        try check(archive_write_finish_entry(handle), "finish an entry in")
    }

    /// Applies the deferred directory modes and mtimes.
    func close() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(handle), "finish extracting into")
    }
}
