import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum LockError: LocalizedError, Equatable {
    case held(path: String, pid: Int32?)

    public var errorDescription: String? {
        switch self {
        case let .held(path, pid):
            let who = pid.map { "pid \($0)" } ?? "another process"
            return "another pg-rejoin (\(who)) is working on this data directory (lock \(path)); wait for it to finish, or check it with `pg-rejoin status`"
        }
    }
}

/// One pg-rejoin per data directory: an flock on a file that holds the holder's pid. The kernel
/// drops the flock when the process dies, even by kill -9, so a crash never leaves it stuck.
public final class RunLock {
    private let fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        // O_CLOEXEC: the postmaster that pg_ctl starts must not inherit (and keep) the lock.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.create(path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Files.read(path).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            close(fd)
            throw LockError.held(path: path, pid: holder)
        }
        self.fd = fd
        let pid = Data("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = lseek(fd, 0, SEEK_SET)
        try Files.writeAll(fd: fd, pid, path: path)
        _ = fsync(fd)
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Whether some process holds the lock now (for `status`), and its pid.
    public static func holder(path: String) -> (held: Bool, pid: Int32?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return (false, nil) }
        defer { close(fd) }
        let pid = Files.read(path).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return (false, pid)
        }
        return (true, pid)
    }
}
