import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one place a data directory path given by the operator becomes the path runs work with:
/// absolute, normalised, and with symlinks resolved, so the journal and PGDATA.rejoin are found
/// beside the real directory. A symlinked PGDATA dangles while its directory is set aside (the
/// link names the real path, which is renamed): the link is followed anyway, by reading it, so
/// a rerun, status, abort and heal still find the run.
public enum DataDirectoryPath {
    public static func resolve(_ raw: String) -> String {
        var path = normalise(raw)
        for _ in 0..<40 {
            if let real = realpath(path, nil) {
                defer { free(real) }
                return String(cString: real)
            }
            // Missing: a link whose target is gone, or a plain missing path. Follow a link by
            // hand; otherwise resolve what exists of the parent.
            guard Files.isSymlink(path), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
                let parent = Files.parent(of: path), name = (path as NSString).lastPathComponent
                guard parent != path, let real = realpath(parent, nil) else { return path }
                defer { free(real) }
                let base = String(cString: real)
                return base == "/" ? "/" + name : base + "/" + name
            }
            path = normalise(target.hasPrefix("/") ? target : Files.parent(of: path) + "/" + target)
        }
        return path
    }

    /// Absolute (against the working directory), `.`/`..` folded, no trailing slash.
    public static func normalise(_ raw: String) -> String {
        let absolute = raw.hasPrefix("/") ? raw : FileManager.default.currentDirectoryPath + "/" + raw
        var path = (absolute as NSString).standardizingPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }
}
