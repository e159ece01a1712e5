import ArgumentParser
import Foundation
import RejoinSteps

/// `--pgdata` alone, for the commands that only look at (or undo) a run.
struct DataDirectoryOption: ParsableArguments {
    @Option(help: ArgumentHelp("The data directory (default: $PGDATA).", valueName: "dir"))
    var pgdata: String?

    func validate() throws {
        if let pgdata, pgdata.isEmpty { throw ValidationError("--pgdata must not be empty") }
        if pgdata == nil && (ProcessInfo.processInfo.environment["PGDATA"] ?? "").isEmpty {
            throw ValidationError("no data directory: pass --pgdata DIR or set PGDATA")
        }
    }

    /// The absolute PGDATA path, and the path to take the owner from (PGDATA may be set aside).
    func resolved() -> (path: String, ownerReference: String) {
        Self.resolve(pgdata ?? ProcessInfo.processInfo.environment["PGDATA"] ?? "")
    }

    static func resolve(_ raw: String) -> (path: String, ownerReference: String) {
        let absolute = raw.hasPrefix("/") ? raw : FileManager.default.currentDirectoryPath + "/" + raw
        var path = (absolute as NSString).standardizingPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        // A symlinked PGDATA names the real directory in the journal.
        if let real = realpath(path, nil) {
            path = String(cString: real)
            free(real)
        }
        let work = WorkPaths(pgdata: path).workDirectory
        let reference = FileManager.default.fileExists(atPath: path) || !FileManager.default.fileExists(atPath: work) ? path : work
        return (path, reference)
    }
}
