import ArgumentParser
import Foundation
import RejoinSteps

/// `pg-rejoin old list|extract`: the old data copies rejoins left beside PGDATA.
struct OldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "old",
        abstract: "List, extract, verify and remove the old data copies pg-rejoin kept beside PGDATA.",
        discussion: """
            Each rejoin by full copy renames the old data directory to PGDATA.old-<UTC time>; \
            with --old-data archive it becomes PGDATA.old-<UTC time>.tar.zst (or .tar.gz) with a \
            manifest of checksums beside it. --keep-old N prunes older copies after a verified rejoin, \
            except copies that hold commits no other node has (or may: not judged) and copies a \
            postmaster runs in; only `old remove` removes those.
            """,
        subcommands: [OldListCommand.self, OldExtractCommand.self, OldVerifyCommand.self, OldRemoveCommand.self],
        defaultSubcommand: OldListCommand.self
    )
}

struct OldListCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show kept old data directories and archives: time, size, and the timeline/LSN they ended at.",
        discussion: "For a directory the timeline and checkpoint come from pg_controldata; for an archive from its manifest, recorded when it was written."
    )

    @OptionGroup var target: DataDirectoryOption

    @Option(help: ArgumentHelp("Directory of the PostgreSQL programs, for pg_controldata (default: /usr/lib/postgresql/MAJOR/bin, pg_config, PATH).", valueName: "dir"))
    var bindir: String?

    @OptionGroup var output: OutputOptions

    func earlyOwnerReference() -> String? { (try? target.resolved())?.ownerReference }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let pgdata = try target.resolved()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            let children = ChildProcessRunner()
            let bindir = self.bindir
            let copies = await OldDataCopies.describe(pgdata: pgdata.path) { major in
                guard let dir = try? await PgBinaries.resolve(explicit: bindir, majorVersion: major, children: children) else { return nil }
                return PgTools(bindir: dir, children: children)
            }
            output.json ? Self.printJSON(pgdata: pgdata.path, copies) : Self.printText(pgdata: pgdata.path, copies)
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    static func printJSON(pgdata: String, _ copies: [OldDataCopy]) {
        struct Listing: Encodable {
            var pgdata: String
            var copies: [OldDataCopy]
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(Listing(pgdata: pgdata, copies: copies)) {
            StandardStreams.out(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    static func printText(pgdata: String, _ copies: [OldDataCopy]) {
        guard !copies.isEmpty else {
            StandardStreams.out("no old data copies beside \(pgdata)\n")
            return
        }
        let time = ISO8601DateFormatter()
        var rows = [["KIND", "TIME (UTC)", "SIZE", "TIMELINE", "CHECKPOINT LSN", "LOST COMMITS", "PATH"]]
        for copy in copies {
            var size = ByteCount.format(copy.bytes)
            if let data = copy.dataBytes { size += " (of \(ByteCount.format(data)))" }
            rows.append([copy.kind.rawValue + (copy.damaged == nil ? "" : " DAMAGED"), time.string(from: copy.time), size,
                         copy.control?.timeline.map(String.init) ?? "?", copy.control?.checkpointLSN ?? "?",
                         copy.lostVerdict?.short ?? "?", copy.path])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        for copy in copies where copy.problem != nil { lines.append("note: \(copy.path): \(copy.problem ?? "")") }
        for copy in copies {
            if let verdict = copy.lostVerdict, !verdict.prunable {
                lines.append("kept: \(copy.path): lost commits \(verdict); retention never prunes it, `pg-rejoin old remove` does")
            }
            if let damaged = copy.damaged { lines.append("DAMAGED: \(copy.path): \(damaged); not the old data, do not start it") }
            for tablespace in copy.tablespaces ?? [] { lines.append("tablespace: \(copy.path): \(tablespace) (counted in its size, removed with it)") }
        }
        StandardStreams.out(lines.joined(separator: "\n") + "\n")
    }
}

struct OldExtractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Restore an old data archive into a new directory for inspection, verifying every checksum.",
        discussion: """
            The target must not exist or be empty. Files, directories, symlinks, modes and mtimes \
            are restored (owners too when run as root); entries with absolute paths or '..' are \
            refused. The result is not started: to look at it, start it on another port with \
            recovery disabled, never as a second copy of a running cluster.
            """
    )

    @Argument(help: ArgumentHelp("The archive (PGDATA.old-<time>.tar.zst or .tar.gz).", valueName: "archive"))
    var archive: String

    @Option(help: ArgumentHelp("The directory to restore into (must not exist, or be empty).", valueName: "dir"))
    var to: String

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if archive.isEmpty { throw ValidationError("the archive path must not be empty") }
        if to.isEmpty { throw ValidationError("--to must not be empty") }
    }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let target = DataDirectoryOption.resolve(to).path
            var archiver = DirectoryArchive()
            archiver.progressInterval = 5
            let manifest = try archiver.extract(archive: archive, to: target) { _, done, total in
                out.handle(.info("extracting: \(ByteCount.format(done)) of \(ByteCount.format(total))"))
            }
            out.handle(.info("extracted \(manifest.entries.count) entries (\(ByteCount.format(manifest.totalBytes))) to \(target); \(manifest.fileCount) checksums verified"))
            if let control = manifest.control {
                out.handle(.info("it ended on timeline \(control.timeline.map(String.init) ?? "?"), latest checkpoint \(control.checkpointLSN ?? "?")"))
            }
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}

struct OldVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-read an old data archive and check every file against its manifest's checksums.",
        discussion: """
            Reads the whole archive and writes nothing: every entry the manifest lists must be \
            there once, with its type, mode, symlink target, size and checksum (XXH3-128; SHA-256 \
            in archives of manifest format 1), and nothing else. \
            For an archive kept a long time, before relying on it. Exit 0 when it is whole, 1 \
            when it is damaged.
            """
    )

    @Argument(help: ArgumentHelp("The archive (PGDATA.old-<time>.tar.zst or .tar.gz).", valueName: "archive"))
    var archive: String

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if archive.isEmpty { throw ValidationError("the archive path must not be empty") }
    }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let manifest = try DirectoryArchive.verify(archive: archive) { _, done, total in
                out.handle(.info("verifying: \(ByteCount.format(done)) of \(ByteCount.format(total))"))
            }
            out.handle(.info("\(archive) is whole: \(manifest.entries.count) entries (\(ByteCount.format(manifest.totalBytes))), \(manifest.fileCount) checksums verified"))
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}

struct OldRemoveCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove one kept old data copy (directory, or archive with its manifest): the explicit way to let go of lost commits.",
        discussion: """
            Only copies `old list` shows can be removed, never PGDATA, the old data of an \
            unfinished run, or a copy a postmaster runs in. Retention (--keep-old) keeps copies \
            that hold commits no other node has; this removes one when you have looked at them \
            (pg-rejoin lost) and decided. It says what the copy held.
            """
    )

    @OptionGroup var target: DataDirectoryOption

    @Argument(help: ArgumentHelp("The copy: its path or its name as `old list` shows it (PGDATA.old-<time>[.tar.zst]).", valueName: "copy"))
    var copy: String

    @OptionGroup var output: OutputOptions

    func earlyOwnerReference() -> String? { (try? target.resolved())?.ownerReference }

    func validate() throws {
        if copy.isEmpty { throw ValidationError("the copy to remove must not be empty") }
    }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let pgdata = try target.resolved()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            let removed = try OldDataCopies.removeExplicitly(copy, pgdata: pgdata.path)
            out.handle(.info("removed \(removed.paths.joined(separator: " and ")); it held lost commits: \(removed.lostCommits)"))
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
