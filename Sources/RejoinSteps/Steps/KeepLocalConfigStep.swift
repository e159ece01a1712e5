import Foundation

/// Step 5: the node keeps its own configuration. pg_basebackup copied the upstream's
/// postgresql.conf, pg_hba.conf and pg_ident.conf (port, memory, listen addresses of another
/// machine); the old data directory's copies, and files they include from inside PGDATA,
/// replace them. postgresql.auto.conf keeps the local settings but for the ones a standby must
/// get fresh, which write-standby-config sets.
public struct KeepLocalConfigStep: Step {
    public let kind = StepKind.keepLocalConfig
    public init() {}

    static let configFiles = ["postgresql.conf", "pg_hba.conf", "pg_ident.conf"]
    /// Settings that point at the old replication topology; never carried over.
    public static let topologySettings: Set<String> = ["primary_conninfo", "primary_slot_name", "restore_command"]

    public func describe(_ plan: RejoinPlan) -> String {
        let source = plan.localConfigDirectory.map { "the copy saved before pg_rewind (\($0))" } ?? plan.oldDataDirectory
        return "copy postgresql.conf, pg_hba.conf, pg_ident.conf and local postgresql.auto.conf settings from \(source)"
    }

    public func isDone(_ context: RunContext) async throws -> Bool {
        guard context.state.isDone(kind) else { return false }
        // Once a start was tried, PGDATA's config files are the operator's: a fix made after a
        // failed start must not be overwritten by the rerun with the old copy's mistake.
        if context.state.status[.start] != nil { return true }
        guard let new = context.newDataDirectory(), let old = context.localConfigSource() else { return false }
        return Self.files(in: old, alsoKnownAs: context.plan.pgdata).allSatisfy { Files.read(old + "/" + $0) == Files.read(new + "/" + $0) }
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        guard let old = context.localConfigSource() else {
            throw StepError.oldDataMissing(pgdata: context.plan.pgdata, expected: context.plan.oldDataDirectory)
        }
        guard let new = context.newDataDirectory() else {
            throw StepError.newDataMissing(staging: context.plan.stagingDirectory, pgdata: context.plan.pgdata)
        }
        let files = Self.files(in: old, alsoKnownAs: context.plan.pgdata)
        for file in files {
            let target = new + "/" + file
            try Files.makeDirectories(Files.parent(of: target), below: new)
            try Files.copyFile(old + "/" + file, to: target)
            FaultInjection.point(kind, .during)
        }
        // A directory pg_rewind left half-written carries a setting that keeps it from starting:
        // never into the new standby.
        let auto = ConfigFile(text: Files.read(old + "/postgresql.auto.conf") ?? "")
            .removing(Self.topologySettings.union([DamagedDirectory.guardSetting]))
        try Files.writeAtomically(Data(auto.text.utf8), to: new + "/postgresql.auto.conf", mode: 0o600)
        return ["config.files": files.joined(separator: ","), "summary": "kept \(files.count) local config files"]
    }

    /// The config files present in `dataDirectory`, plus files they include that live inside it
    /// (paths relative to PGDATA). Includes outside PGDATA are not ours to copy: they stay
    /// where they are and keep working. `alias` is PGDATA's own path: the old directory has
    /// been renamed, but its absolute includes still name PGDATA.
    public static func files(in dataDirectory: String, alsoKnownAs alias: String? = nil) -> [String] {
        var result: [String] = []
        var queue = configFiles.filter { Files.exists(dataDirectory + "/" + $0) }
        while let file = queue.first {
            queue.removeFirst()
            guard !result.contains(file) else { continue }
            result.append(file)
            guard let text = Files.read(dataDirectory + "/" + file) else { continue }
            let base = Files.parent(of: file)
            for include in ConfigFile(text: text).includes {
                guard let relative = insideDataDirectory(include.path, relativeTo: base, dataDirectory: dataDirectory)
                        ?? alias.flatMap({ insideDataDirectory(include.path, relativeTo: base, dataDirectory: $0) }) else { continue }
                if include.directive == "include_dir" {
                    let entries = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/" + relative)) ?? []
                    // PostgreSQL reads only regular files ending in .conf from an include_dir.
                    for entry in entries.sorted() where entry.hasSuffix(".conf") && !entry.hasPrefix(".")
                        && Files.isRegularFile(dataDirectory + "/" + relative + "/" + entry) {
                        queue.append(relative + "/" + entry)
                    }
                } else if Files.exists(dataDirectory + "/" + relative) {
                    queue.append(relative)
                }
            }
        }
        return result
    }

    static func insideDataDirectory(_ path: String, relativeTo base: String, dataDirectory: String) -> String? {
        let absolute = path.hasPrefix("/") ? path : dataDirectory + "/" + (base == "." ? "" : base + "/") + path
        let standardized = (absolute as NSString).standardizingPath
        guard standardized.hasPrefix(dataDirectory + "/") else { return nil }
        return String(standardized.dropFirst(dataDirectory.count + 1))
    }
}
