import ArgumentParser
import Foundation
import RejoinSteps

/// Where the local data directory is and how to reach the upstream: shared by the commands.
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The failed primary's data directory (default: $PGDATA).", valueName: "dir"))
    var pgdata: String?

    @Option(help: ArgumentHelp("The replication role on the upstream (default: repl).", valueName: "role"))
    var user: String?

    @Option(help: ArgumentHelp("libpq password file for the role; also written into primary_conninfo.", valueName: "path"))
    var passfile: String?

    @Option(help: ArgumentHelp("Database for pg-rejoin's SQL checks on the upstream (default: postgres).", valueName: "name"))
    var dbname: String?

    @Option(help: ArgumentHelp("Directory of the PostgreSQL programs (default: /usr/lib/postgresql/MAJOR/bin, pg_config, PATH).", valueName: "dir"))
    var bindir: String?

    @Option(help: ArgumentHelp("A Debian/Ubuntu cluster (pg_lsclusters): its data directory, programs and configuration come from /etc/postgresql/VERSION/NAME, start and stop go through pg_ctlcluster.", valueName: "version/name"))
    var cluster: String?

    func validate() throws {
        if let pgdata, pgdata.isEmpty { throw ValidationError("--pgdata must not be empty") }
        // A missing PGDATA is reported after the config file is merged (it may set pgdata).
        if let user, user.isEmpty { throw ValidationError("--user must not be empty") }
        if let dbname, dbname.isEmpty { throw ValidationError("--dbname must not be empty") }
        if let cluster { _ = try DebianCluster(cluster) }
        if let passfile, !passfile.hasPrefix("/") {
            throw ValidationError("--passfile must be an absolute path (the standby's walreceiver reads it from another working directory): \(passfile)")
        }
    }

    /// The absolute PGDATA path, and the path to take the owner from (PGDATA may be set aside
    /// by an unfinished run).
    func resolvedPGDATA() -> (path: String, ownerReference: String) {
        DataDirectoryOption.resolve(pgdata ?? ProcessInfo.processInfo.environment["PGDATA"] ?? "")
    }

    /// --passfile, else an absolute PGPASSFILE: the walreceiver runs without our environment,
    /// so the file it should use has to be written into primary_conninfo.
    var effectivePassfile: String? {
        if let passfile { return passfile }
        if let env = ProcessInfo.processInfo.environment["PGPASSFILE"], env.hasPrefix("/") { return env }
        return nil
    }
}

enum HostName {
    static func short() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "pg-rejoin" }
        let name = String(cString: buffer)
        return String(name.split(separator: ".").first ?? "pg-rejoin")
    }
}
