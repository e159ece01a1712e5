import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// syncfs(2) once for each file system that holds part of a data directory (the directory, its
/// WAL when pg_wal is a symlink, each tablespace), instead of an fsync of every file in it.
///
/// This is PostgreSQL's own `syncfs` method (`recovery_init_sync_method` in 15, the tools'
/// `--sync-method=syncfs` in 17): the same durability, at a cost that follows the data
/// written, not the number of files; a large cluster has hundreds of thousands, and after a
/// pg_rewind, which changes a few of them, fsyncing them all took longer than writing the
/// change. It also flushes whatever else is waiting on those file systems.
public enum FileSystemSync {
    /// Linux returns write-back errors from syncfs since 5.8; before, a failed write could go
    /// unreported, so on an older kernel the callers keep the fsync of every file.
    public static let reportsErrors: Bool = {
        var name = utsname()
        guard uname(&name) == 0 else { return false }
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return kernel(release, isAtLeast: (5, 8))
    }()

    /// "6.1.0-18-amd64" → compared as (6, 1).
    static func kernel(_ release: String, isAtLeast minimum: (Int, Int)) -> Bool {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2 else { return false }
        return (parts[0], parts[1]) >= minimum
    }

    /// Where the data directory's files live: the directory, then the targets of pg_wal and of
    /// each tablespace link (symlinks resolved; what does not resolve is skipped: it holds
    /// nothing to sync).
    public static func roots(of pgdata: String) -> [String] {
        var roots = [pgdata]
        if Files.isSymlink(pgdata + "/pg_wal"), let wal = resolved(pgdata + "/pg_wal") { roots.append(wal) }
        let tablespaces = (try? FileManager.default.contentsOfDirectory(atPath: pgdata + "/pg_tblspc")) ?? []
        for link in tablespaces.sorted() {
            if let target = resolved(pgdata + "/pg_tblspc/" + link) { roots.append(target) }
        }
        return roots
    }

    private static func resolved(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }

    /// syncfs for every file system under `roots(of:)`, once per device.
    public static func sync(_ pgdata: String) throws {
        var done: Set<UInt64> = []
        for root in roots(of: pgdata) {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError.open(path: root, errno: errno) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw FileError.read(path: root, errno: errno) }
            guard done.insert(UInt64(st.st_dev)).inserted else { continue }
            guard syncfs(fd) == 0 else { throw FileError.sync(path: root, errno: errno) }
        }
    }
}
