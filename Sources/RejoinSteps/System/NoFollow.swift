import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

private let O_PATH = clinux_o_path

/// Opening files as root where another user can plant links (safety invariant 8).
///
/// keepalived runs its notify hook as root, and the hook writes into `PGDATA.rejoin`, a
/// directory the postgres OS user owns; any database superuser can act as that user
/// (`COPY … TO PROGRAM`). A link planted there (`keepalived-notify.log -> /etc/shadow`) must
/// never make root write through it. So, as root, a path is walked one component at a time from
/// `/` with `O_NOFOLLOW`; a symbolic link is followed only when the directory holding it is
/// root's and nobody else may write it, and every file is opened relative to its directory's
/// descriptor. Files in a directory another user can write must be plain files with one link
/// (a hard link to /etc/shadow is a plain file too). Not root: the kernel's own checks suffice,
/// and these are ordinary opens.
public enum NoFollow {
    /// Whether this process needs the careful walk.
    public static var isRoot: Bool { geteuid() == 0 }

    /// A directory whose entries nobody but root can change.
    static func isTrusted(_ st: stat) -> Bool {
        st.st_uid == 0 && (st.st_mode & 0o022) == 0
    }

    /// An open directory: its descriptor (for the *at calls, fsync and fchown), and whether
    /// another user may change its entries.
    public final class Directory {
        public let fd: Int32
        public let path: String
        public let trusted: Bool

        init(fd: Int32, path: String, trusted: Bool) {
            self.fd = fd
            self.path = path
            self.trusted = trusted
        }

        deinit { close(fd) }

        /// Opens `name` in this directory, never through a link unless the directory is
        /// trusted; in an untrusted one, what is opened must be a plain file with one link.
        public func open(_ name: String, flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
            let path = self.path == "/" ? "/" + name : self.path + "/" + name
            let noFollow = trusted ? 0 : O_NOFOLLOW
            let fd = openat(self.fd, name, flags | noFollow | O_CLOEXEC, mode)
            guard fd >= 0 else {
                if errno == ELOOP && !trusted { throw FileError.linkRefused(path: path) }
                throw (flags & O_CREAT) != 0 ? FileError.create(path: path, errno: errno) : FileError.open(path: path, errno: errno)
            }
            if !trusted {
                var st = stat()
                guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
                    close(fd)
                    throw FileError.linkRefused(path: path)
                }
            }
            return fd
        }

        /// Removes the entry `name` itself (a link is removed, never followed); absent is fine.
        public func unlink(_ name: String) {
            _ = unlinkat(fd, name, 0)
        }

        /// rename(2) within this directory, then an fsync of it.
        public func rename(_ from: String, to: String) throws {
            guard renameat(fd, from, fd, to) == 0 else {
                throw FileError.rename(from: path + "/" + from, to: path + "/" + to, errno: errno)
            }
            guard fsync(fd) == 0 else { throw FileError.sync(path: path, errno: errno) }
        }
    }

    /// Opens the directory `path` for use as a parent. As root, every component is reached
    /// without following a link that another user could have planted.
    public static func directory(_ path: String) throws -> Directory {
        guard isRoot else {
            let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError.open(path: path, errno: errno) }
            var st = stat()
            let trusted = fstat(fd, &st) == 0 && isTrusted(st)
            return Directory(fd: fd, path: path, trusted: trusted)
        }
        return try walk(path)
    }

    /// The parent directory of `path`, opened as `directory` does, and the last component.
    public static func parent(of path: String) throws -> (Directory, String) {
        let name = (path as NSString).lastPathComponent
        guard !name.isEmpty, name != "/", name != ".", name != ".." else { throw FileError.open(path: path, errno: EINVAL) }
        return (try directory(Files.parent(of: path)), name)
    }

    /// open(2) of `path` as root would do it safely; an ordinary open otherwise.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        guard isRoot else {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            guard fd >= 0 else {
                throw (flags & O_CREAT) != 0 ? FileError.create(path: path, errno: errno) : FileError.open(path: path, errno: errno)
            }
            return fd
        }
        let (parent, name) = try parent(of: path)
        return try parent.open(name, flags: flags, mode: mode)
    }

    /// Creates the directory `path` when it is missing (mode `mode`, owned by `owner` when
    /// root), without following a link planted in its place. Returns whether it was created.
    @discardableResult
    public static func makeDirectory(_ path: String, mode: mode_t = 0o700, owner: (uid: uid_t, gid: gid_t)?) throws -> Bool {
        let (parent, name) = try parent(of: path)
        var created = false
        if mkdirat(parent.fd, name, mode) == 0 {
            created = true
        } else if errno != EEXIST {
            throw FileError.create(path: path, errno: errno)
        }
        let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            // ELOOP (a link) or ENOTDIR (a link to a file, or a file): not the directory asked for.
            if errno == ELOOP || errno == ENOTDIR { throw FileError.linkRefused(path: path) }
            throw FileError.open(path: path, errno: errno)
        }
        defer { close(fd) }
        if created {
            _ = fchmod(fd, mode)
            if let owner, isRoot { _ = fchown(fd, owner.uid, owner.gid) }
            _ = fsync(parent.fd)
        }
        return created
    }

    /// The component walk: `O_PATH | O_NOFOLLOW` at each step; a link is read and its target
    /// walked instead only when the directory holding it is trusted. At most 40 links, as the
    /// kernel allows.
    static func walk(_ path: String) throws -> Directory {
        guard path.hasPrefix("/") else {
            return try walk(FileManager.default.currentDirectoryPath + "/" + path)
        }
        var current = Glibc.open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw FileError.open(path: "/", errno: errno) }
        var reached = "/"
        var pending = path.split(separator: "/").map(String.init)
        var links = 0
        func fail(_ error: FileError) -> FileError {
            close(current)
            return error
        }
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." || component.isEmpty { continue }
            var dirStat = stat()
            guard fstat(current, &dirStat) == 0 else { throw fail(.open(path: reached, errno: errno)) }
            let trusted = isTrusted(dirStat)
            let next = openat(current, component, O_PATH | O_NOFOLLOW | O_CLOEXEC)
            let shown = reached == "/" ? "/" + component : reached + "/" + component
            guard next >= 0 else { throw fail(.open(path: shown, errno: errno)) }
            var st = stat()
            guard fstat(next, &st) == 0 else {
                close(next)
                throw fail(.open(path: shown, errno: errno))
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                close(current)
                current = next
                reached = component == ".." ? Files.parent(of: reached) : shown
            case S_IFLNK:
                close(next)
                guard trusted else { throw fail(.linkRefused(path: shown)) }
                links += 1
                guard links <= 40 else { throw fail(.open(path: shown, errno: ELOOP)) }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(current, component, &buffer, buffer.count - 1)
                guard n > 0 else { throw fail(.open(path: shown, errno: errno)) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                pending = target.split(separator: "/").map(String.init) + pending
                if target.hasPrefix("/") {
                    close(current)
                    current = Glibc.open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
                    reached = "/"
                }
            default:
                close(next)
                throw fail(.open(path: shown, errno: ENOTDIR))
            }
        }
        // A real descriptor for the result (O_PATH ones cannot be fsync'd or fchown'd).
        let fd = openat(current, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        var st = stat()
        let trusted = fstat(current, &st) == 0 && isTrusted(st)
        close(current)
        guard fd >= 0 else { throw FileError.open(path: reached, errno: errno) }
        return Directory(fd: fd, path: reached, trusted: trusted)
    }
}
