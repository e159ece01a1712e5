import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum PrivilegeError: LocalizedError, Equatable {
    case pathMissing(String)
    case unusable(path: String, problem: String)
    case rootOwned(String)
    case unknownOwner(path: String, uid: uid_t)
    case notOwner(path: String, owner: String, current: String)
    case switchFailed(user: String, step: String, errno: Int32)

    public var errorDescription: String? {
        switch self {
        case let .pathMissing(path):
            return "data directory \(path) does not exist; pass --pgdata the failed primary's data directory (or set PGDATA). Nothing was changed"
        case let .unusable(path, problem):
            return "data directory \(path) \(problem); pass --pgdata the failed primary's data directory (or set PGDATA). Nothing was changed"
        case let .rootOwned(path):
            return "\(path) is owned by root; PostgreSQL never runs as root, so this is not a data directory pg-rejoin may touch. Check --pgdata; if it really is the data directory, give it back to its server user (chown -R postgres: \(path)) and rerun. Nothing was changed"
        case let .unknownOwner(path, uid):
            return "\(path) is owned by uid \(uid), which has no entry in the user database; fix the ownership of the data directory. Nothing was changed"
        case let .notOwner(path, owner, current):
            return "\(path) belongs to \(owner), but pg-rejoin runs as \(current): PostgreSQL only runs as its data directory's owner. Run pg-rejoin as \(owner) or as root (it then becomes \(owner)). Nothing was changed"
        case let .switchFailed(user, step, e):
            return "cannot switch to user \(user) (\(step): \(String(cString: strerror(e)))); run pg-rejoin as root or as that user. Nothing was changed"
        }
    }
}

/// Started as root, pg-rejoin becomes the data directory's owner for the whole process before it
/// touches anything, so every file it or its children create belongs to that user. Doing it once
/// here (instead of per child) avoids setuid in spawned children, which hangs on these kernels.
public enum Privileges {
    /// Returns the user name now in effect.
    @discardableResult
    public static func becomeOwner(of dataDirectory: String) throws -> String {
        // The owner of what PGDATA leads to: a symlinked PGDATA is often root's link to the
        // postgres user's directory on another disk.
        var st = stat()
        guard stat(dataDirectory, &st) == 0 else {
            switch errno {
            case ELOOP: throw PrivilegeError.unusable(path: dataDirectory, problem: "is a symlink loop")
            case ENOENT: throw PrivilegeError.pathMissing(dataDirectory)
            case let e: throw PrivilegeError.unusable(path: dataDirectory, problem: "cannot be examined (\(String(cString: strerror(e))))")
            }
        }
        let owner = (uid: st.st_uid, gid: st.st_gid)
        if geteuid() != 0 {
            let current = currentUserName()
            guard owner.uid == geteuid() else {
                let name = getpwuid(owner.uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(owner.uid)"
                throw PrivilegeError.notOwner(path: dataDirectory, owner: name, current: current)
            }
            return current
        }
        guard owner.uid != 0 else { throw PrivilegeError.rootOwned(dataDirectory) }
        guard let pw = getpwuid(owner.uid) else { throw PrivilegeError.unknownOwner(path: dataDirectory, uid: owner.uid) }
        let name = String(cString: pw.pointee.pw_name)
        let gid = pw.pointee.pw_gid
        let home = String(cString: pw.pointee.pw_dir)
        // Order matters: supplementary groups and gid while still root, uid last.
        guard initgroups(name, gid) == 0 else { throw PrivilegeError.switchFailed(user: name, step: "initgroups", errno: errno) }
        guard setgid(gid) == 0 else { throw PrivilegeError.switchFailed(user: name, step: "setgid", errno: errno) }
        guard setuid(owner.uid) == 0 else { throw PrivilegeError.switchFailed(user: name, step: "setuid", errno: errno) }
        setenv("HOME", home, 1)
        setenv("USER", name, 1)
        setenv("LOGNAME", name, 1)
        return name
    }

    public static func currentUserName() -> String {
        if let pw = getpwuid(geteuid()) { return String(cString: pw.pointee.pw_name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "postgres"
    }
}
