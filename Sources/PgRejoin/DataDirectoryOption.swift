import ArgumentParser
import Foundation
import RejoinSteps

/// The data directory, for the commands that only look at (or undo) a run. It is found as
/// rejoin finds it: --pgdata, else `pgdata` in the config file, else $PGDATA, so `status`
/// and `abort` on a node set up with a config file need no arguments.
struct DataDirectoryOption: ParsableArguments {
    @Option(help: ArgumentHelp("The data directory (default: pgdata from the config file, else $PGDATA).", valueName: "dir"))
    var pgdata: String?

    @Option(help: ArgumentHelp("The config file to take pgdata from (default: /etc/pg-rejoin/pg-rejoin.toml when it exists).", valueName: "path"))
    var config: String?

    func validate() throws {
        if let pgdata, pgdata.isEmpty { throw ValidationError("--pgdata must not be empty") }
        if let config, config.isEmpty { throw ValidationError("--config must not be empty") }
    }

    /// The absolute PGDATA path, and the path to take the owner from (PGDATA may be set aside).
    /// A config file is read only when --pgdata is not given, and checked like rejoin checks it.
    func resolved() throws -> (path: String, ownerReference: String) {
        if let pgdata { return Self.resolve(pgdata) }
        return try EffectiveSettings(commandLine: Settings(), file: try ConfigLoader.load(explicit: config)).requirePGDATA()
    }

    static func resolve(_ raw: String) -> (path: String, ownerReference: String) {
        // A symlinked PGDATA names the real directory in the journal, also while it dangles.
        let path = DataDirectoryPath.resolve(raw)
        let work = WorkPaths(pgdata: path).workDirectory
        let reference = FileManager.default.fileExists(atPath: path) || !FileManager.default.fileExists(atPath: work) ? path : work
        return (path, reference)
    }
}
