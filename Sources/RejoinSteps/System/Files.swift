import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file's identity on disk. A rename keeps it, so it tells "the old data directory" from
/// "the new one" even after both have moved, without trusting any name or the journal.
public struct FileIdentity: Codable, Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    public var description: String { "\(device):\(inode)" }

    /// The identity of the file or directory at `path` itself (symlinks are not followed),
    /// or nil when nothing is there.
    public static func of(_ path: String) -> FileIdentity? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}

public enum FileError: LocalizedError, Equatable {
    case open(path: String, errno: Int32)
    case read(path: String, errno: Int32)
    case write(path: String, errno: Int32)
    case sync(path: String, errno: Int32)
    case rename(from: String, to: String, errno: Int32)
    case remove(path: String, reason: String)
    case create(path: String, errno: Int32)
    case linkRefused(path: String)

    public var errorDescription: String? {
        switch self {
        case let .open(path, e): return "cannot open \(path): \(String(cString: strerror(e))); check that it exists and that the data directory's owner may read it"
        case let .read(path, e): return "cannot read \(path): \(String(cString: strerror(e))); the disk may be failing, check the kernel log"
        case let .write(path, e): return "cannot write \(path): \(String(cString: strerror(e))); check free space and permissions"
        case let .sync(path, e): return "cannot fsync \(path): \(String(cString: strerror(e))); the disk may be failing, check the kernel log"
        case let .rename(from, to, e): return "cannot rename \(from) to \(to): \(String(cString: strerror(e))); both must be on the same filesystem and the parent writable"
        case let .remove(path, reason): return "cannot remove \(path): \(reason)"
        case let .linkRefused(path): return "\(path) is a symbolic link (or a file with another name elsewhere) in a directory another user can write; pg-rejoin running as root never writes through one. Remove it (someone may have planted it), then rerun"
        case let .create(path, e): return "cannot create \(path): \(String(cString: strerror(e))); check that the parent directory is writable by the data directory's owner"
        }
    }
}

/// Small, durable file operations. Every function that creates or renames a file fsyncs the
/// directory that holds it, so a power loss cannot undo a step the journal already recorded.
public enum Files {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The device of the filesystem `path` is on (symlinks followed), or nil.
    public static func deviceOf(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_dev) : nil
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    public static func parent(of path: String) -> String {
        let p = (path as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }

    public static func fsync(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError.open(path: path, errno: errno) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw FileError.sync(path: path, errno: errno) }
    }

    public static func fsyncParent(of path: String) throws {
        try fsync(path: parent(of: path))
    }

    /// Writes `contents` to `path` through a temporary sibling and a rename, so readers see
    /// either the old file or the complete new one. `owner`: given to that user when root.
    public static func writeAtomically(_ contents: Data, to path: String, mode: mode_t = 0o600,
                                       owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        try writeAtomically(to: path, mode: mode, owner: owner) { fd, tmp in try writeAll(fd: fd, contents, path: tmp) }
    }

    /// The temporary sibling gets what `fill` writes to its descriptor, then its mode, an fsync
    /// and the rename (which fsyncs the directory); on any failure it is removed. The temporary
    /// name is created afresh (O_EXCL, never through a link: a stale one is removed first) in
    /// the directory opened as `NoFollow` does, so a link planted at either name is replaced,
    /// never written through.
    static func writeAtomically(to path: String, mode: mode_t, owner: (uid: uid_t, gid: gid_t)? = nil,
                                _ fill: (Int32, String) throws -> Void) throws {
        let (directory, name) = try NoFollow.parent(of: path)
        let tmpName = name + ".pg-rejoin-tmp"
        let tmp = path + ".pg-rejoin-tmp"
        directory.unlink(tmpName)
        let fd = try directory.open(tmpName, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        var ok = false
        defer {
            close(fd)
            if !ok { directory.unlink(tmpName) }
        }
        try fill(fd, tmp)
        if let owner, geteuid() == 0 { _ = fchown(fd, owner.uid, owner.gid) }
        guard fchmod(fd, mode) == 0, Glibc.fsync(fd) == 0 else { throw FileError.sync(path: tmp, errno: errno) }
        try directory.rename(tmpName, to: name)
        ok = true
    }

    public static func writeAll(fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
    }

    public static func writeAll(fd: Int32, _ buf: UnsafeRawBufferPointer, path: String) throws {
        guard var base = buf.baseAddress else { return }
        var left = buf.count
        while left > 0 {
            let n = Glibc.write(fd, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.write(path: path, errno: errno)
            }
            left -= n
            base += n
        }
    }

    /// rename(2), then fsync of both parent directories: after this returns the new name
    /// survives a crash.
    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw FileError.rename(from: from, to: to, errno: errno) }
        try fsyncParent(of: to)
        if parent(of: from) != parent(of: to) { try fsyncParent(of: from) }
    }

    /// Creates a directory with `mode` (umask ignored) if it is missing, and fsyncs its parent.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
        if isDirectory(path) {
            chmod(path, mode)
            return
        }
        guard mkdir(path, mode) == 0 else { throw FileError.create(path: path, errno: errno) }
        chmod(path, mode)
        try fsyncParent(of: path)
    }

    /// Creates `path` and any missing parents up to (not including) `root`, each 0700.
    public static func makeDirectories(_ path: String, below root: String) throws {
        guard path != root, path.hasPrefix(root + "/"), !isDirectory(path) else { return }
        try makeDirectories(parent(of: path), below: root)
        try makeDirectory(path)
    }

    /// Removes a file or a whole tree (symlinks are removed, never followed). The goal is
    /// absence: an entry that vanishes during the walk (another process removing the same
    /// tree) is not an error, so the walk is retried and only a tree still there fails.
    public static func removeTree(_ path: String) throws {
        guard exists(path) else { return }
        var lastError: Error?
        for _ in 0..<3 {
            do {
                try FileManager.default.removeItem(atPath: path)
                lastError = nil
                break
            } catch {
                lastError = error
                if !exists(path) { break }
            }
        }
        if let lastError, exists(path) {
            throw FileError.remove(path: path, reason: lastError.localizedDescription)
        }
        try fsyncParent(of: path)
    }

    public static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Copies a file durably, keeping its mode (temporary name, fsync, rename), without holding
    /// it in memory: WAL segments are 16 MB each, and memory must not grow with what is copied.
    public static func copyFile(_ from: String, to: String) throws {
        let source = open(from, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw FileError.open(path: from, errno: errno) }
        defer { close(source) }
        var st = stat()
        let mode: mode_t = fstat(source, &st) == 0 ? (st.st_mode & 0o7777) : 0o600
        try writeAtomically(to: to, mode: mode) { fd, tmp in try copyContents(from: source, path: from, to: fd, path: tmp) }
    }

    /// A read/write loop through a 1 MB buffer: memory stays flat whatever the file's size.
    static func copyContents(from source: Int32, path sourcePath: String, to destination: Int32, path destinationPath: String) throws {
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(source, buffer, size)
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.read(path: sourcePath, errno: errno)
            }
            try writeAll(fd: destination, UnsafeRawBufferPointer(start: buffer, count: n), path: destinationPath)
        }
    }

    public static func owner(of path: String) -> (uid: uid_t, gid: gid_t)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid)
    }

    /// Bytes free for an unprivileged user on the filesystem holding `path`.
    public static func freeBytes(at path: String) -> UInt64? {
        var vfs = statvfs()
        guard statvfs(path, &vfs) == 0 else { return nil }
        return UInt64(vfs.f_bavail) * UInt64(vfs.f_frsize)
    }
}
