import Foundation

/// Step 4: pg_basebackup into staging (inside the working directory, beside PGDATA), never into
/// PGDATA. A staging directory left by an interrupted run is never trusted: it is removed and
/// the copy starts again.
public struct CloneStep: Step {
    public let kind = StepKind.clone
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "pg_basebackup from \(plan.upstream.address) into \(plan.stagingDirectory)"
            + (plan.walDirectory.map { " (WAL in \($0))" } ?? "")
    }

    public func isDone(_ context: RunContext) async throws -> Bool {
        // Done means a finished copy exists: staging with its manifest, or already swapped in.
        guard context.state.isDone(.clone), let location = context.newDataDirectory() else { return false }
        let run = context.plan.runID
        let tablespacesThere = context.clonedTablespaces.allSatisfy { tablespace in
            let identity = context.tablespaceIdentity(tablespace)
            return identity != nil && [tablespace.current, tablespace.newLocation(run: run) + "/" + tablespace.versionDirectory]
                .contains { FileIdentity.of($0) == identity }
        }
        return tablespacesThere && (location == context.plan.pgdata || Files.exists(location + "/backup_manifest"))
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        // Never trust what another process may still be writing: a pg_basebackup orphaned by a
        // kill -9 of an earlier pg-rejoin would keep filling (or, exiting, removing) staging
        // while we remove it and clone again. It is stopped first.
        OrphanChildren.terminate(program: "pg_basebackup", flag: "-D", value: plan.stagingDirectory)
        try Files.removeTree(plan.stagingDirectory)
        if let wal = plan.walDirectory { try Files.removeTree(wal) }
        // Each tablespace is copied beside its own files (`TablespacePlan`), never into the
        // upstream's path, which on this node may be the old data.
        for tablespace in context.clonedTablespaces { try Files.removeTree(tablespace.newLocation(run: plan.runID)) }
        var arguments = ["-D", plan.stagingDirectory, "-X", "stream", "--checkpoint=fast",
                         "-h", plan.upstream.address.host, "-p", String(plan.upstream.address.port),
                         "-U", plan.upstream.user, "--no-password", "--progress"]
        if let wal = plan.walDirectory { arguments += ["--waldir", wal] }
        if let rate = plan.maxRate { arguments += ["--max-rate", rate] }
        for tablespace in context.clonedTablespaces {
            guard let upstream = tablespace.upstreamLocation else { continue }
            arguments.append("--tablespace-mapping=" + Self.mappingPart(upstream) + "=" + Self.mappingPart(tablespace.newLocation(run: plan.runID)))
        }
        let command = ChildCommand(context.tools.path("pg_basebackup"), arguments, environment: plan.upstream.childEnvironment)
        let progress = ProgressParser(total: plan.upstreamBytes)
        let delegate = context.delegate
        let child = ChildPid()
        let result = try await context.children.run(command, onStart: { child.set($0) }) { line in
            guard let (done, total) = progress.parse(line) else { return }
            delegate.handle(.progress(.clone, done: done, total: total))
            // Fault injection (tests): part-way means a quarter of the copy, or the first
            // progress report of a small cluster.
            let partWay = done > 0 && (total == 0 || done * 4 >= total || total < 64 << 20)
            if partWay && FaultInjection.isArmed(.clone, .child) { ProcessGroup.kill9(child.value) }
            if partWay { FaultInjection.point(.clone, .during) }
        }
        guard result.succeeded else {
            throw StepError.cloneFailed(detail: result.standardErrorTail.filter { !ProgressParser.isProgressLine($0) }.suffix(5).joined(separator: "; "))
        }
        guard Files.exists(plan.stagingDirectory + "/backup_manifest"), let identity = FileIdentity.of(plan.stagingDirectory) else {
            throw StepError.cloneIncomplete(staging: plan.stagingDirectory)
        }
        chmod(plan.stagingDirectory, 0o700)
        var facts: [String: String] = [:]
        for tablespace in context.clonedTablespaces {
            let cloned = tablespace.newLocation(run: plan.runID) + "/" + tablespace.versionDirectory
            guard let identity = FileIdentity.of(cloned) else {
                throw StepError.cloneFailed(detail: "it exited 0 but wrote no \(cloned) for tablespace \(tablespace.label)")
            }
            facts["tablespace.\(tablespace.oid).device"] = String(identity.device)
            facts["tablespace.\(tablespace.oid).inode"] = String(identity.inode)
        }
        let bytes = progress.lastDone
        return facts.merging([
            "staging.path": plan.stagingDirectory,
            "staging.device": String(identity.device),
            "staging.inode": String(identity.inode),
            "clone.bytes": String(bytes),
            "summary": "copied \(ByteCount.format(bytes))",
        ]) { $1 }
    }

    /// One side of `--tablespace-mapping=OLD=NEW`: pg_basebackup reads `\=` as a literal `=`.
    static func mappingPart(_ path: String) -> String {
        path.replacingOccurrences(of: "=", with: "\\=")
    }
}

/// Reads pg_basebackup's `--progress` lines: "218500/329461 kB (66%), 0/1 tablespace".
public final class ProgressParser: @unchecked Sendable {
    private let lock = NSLock()
    private var done: UInt64 = 0
    private let fallbackTotal: UInt64

    public init(total: UInt64) { self.fallbackTotal = total }

    public var lastDone: UInt64 { lock.withLock { done } }

    public static func isProgressLine(_ line: String) -> Bool { parseKB(line) != nil }

    static func parseKB(_ line: String) -> (UInt64, UInt64)? {
        guard let kb = line.range(of: " kB") else { return nil }
        let head = line[..<kb.lowerBound]
        let parts = head.split(separator: "/")
        guard parts.count == 2,
              let done = UInt64(parts[0].split(separator: " ").last ?? ""),
              let total = UInt64(parts[1]) else { return nil }
        return (done * 1024, total * 1024)
    }

    public func parse(_ line: String) -> (UInt64, UInt64)? {
        guard let (d, t) = Self.parseKB(line) else { return nil }
        lock.withLock { done = d }
        return (d, t > 0 ? t : fallbackTotal)
    }
}
