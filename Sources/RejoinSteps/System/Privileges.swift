import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum PrivilegeError: LocalizedError, Equatable {
    case pathMissing(String)
    case rootOwned(String)
    case unknownOwner(path: String, uid: uid_t)
    case switchFailed(user: String, step: String, errno: Int32)

    public var errorDescription: String? {
        switch self {
        case let .pathMissing(path):
            return "data directory \(path) does not exist; pass --pgdata the failed primary's data directory (or set PGDATA)"
        case let .rootOwned(path):
            return "\(path) is owned by root; PostgreSQL never runs as root, so this is not a data directory pg-rejoin may touch. Check --pgdata"
        case let .unknownOwner(path, uid):
            return "\(path) is owned by uid \(uid), which has no entry in the user database; fix the ownership of the data directory"
        case let .switchFailed(user, step, e):
            return "cannot switch to user \(user) (\(step): \(String(cString: strerror(e)))); run pg-rejoin as root or as that user"
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
        guard let owner = Files.owner(of: dataDirectory) else { throw PrivilegeError.pathMissing(dataDirectory) }
        if geteuid() != 0 {
            return currentUserName()
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
