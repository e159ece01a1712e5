import ArgumentParser
import Foundation
import RejoinSteps

/// `pg-rejoin lost`: what the failover lost, as rows an operator can review and re-apply.
struct LostCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "lost",
        abstract: "Show the transactions the old primary committed after the fork, which the rejoin discarded: as text, SQL, CSV or JSON.",
        discussion: """
            pg-rejoin reads them from the old primary into PGDATA.rejoin/lost-<run>/lost.json (--lost-rows \
            capture, the default): before a rewind, or after a full copy from the old data set aside. After \
            verify it reads the pre-fork rows they changed on the \
            rejoined standby. `--format sql` writes a script for the new primary, in commit order, meant for \
            review: updates and deletes change nothing unless the row still has its pre-fork value, and \
            conflicts are commented.

            --from-old PATH reads them later from an old copy a full copy kept (pg-rejoin old list), \
            its directory or its archive: for a run with --lost-rows skip, or one made before pg-rejoin \
            read them. The copy is crash-recovered if it had crashed and started privately to be read; \
            the node at --pgdata must run, as a standby of the new primary, for the pre-fork rows.
            """
    )

    @OptionGroup var target: DataDirectoryOption

    @Option(help: ArgumentHelp("The run (its id, as `status` and the journal name it; default: the latest with lost transactions read).", valueName: "id"))
    var run: String?

    @Option(help: ArgumentHelp("text (default), sql, csv (files in --to) or json.", valueName: "text|sql|csv|json"))
    var format: String = "text"

    @Option(help: ArgumentHelp("With --format csv: the directory for the files (must not exist, or be empty).", valueName: "dir"))
    var to: String?

    @Option(name: .customLong("from-old"),
            help: ArgumentHelp("Read them first from this old copy (a directory PGDATA.old-<run> or its archive), then show them.", valueName: "path"))
    var fromOld: String?

    @Option(help: ArgumentHelp("With --from-old: the directory of the copy's PostgreSQL programs (default: found as rejoin finds them).", valueName: "dir"))
    var bindir: String?

    func validate() throws {
        guard ["text", "sql", "csv", "json"].contains(format) else {
            throw ValidationError("--format '\(format)' is not known; use one of: text, sql, csv, json")
        }
        if format == "csv" && (to ?? "").isEmpty { throw ValidationError("--format csv writes files: name their directory with --to") }
        if let run, run.isEmpty { throw ValidationError("--run must not be empty") }
        if let fromOld, fromOld.isEmpty { throw ValidationError("--from-old must not be empty") }
        if fromOld != nil && run != nil { throw ValidationError("--from-old reads an old copy into its own run: leave out --run") }
        if let bindir, bindir.isEmpty { throw ValidationError("--bindir must not be empty") }
        if bindir != nil && fromOld == nil { throw ValidationError("--bindir is for --from-old (the programs that read the copy)") }
    }

    func earlyOwnerReference() -> String? { (try? target.resolved())?.ownerReference }

    func run() async throws {
        let out = TextOutput(quiet: false)
        let status = await CommandRunner.run(output: out) {
            let pgdata = try target.resolved()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            var run = self.run
            if let fromOld {
                run = try await LostFromOld(pgdata: pgdata.path, old: fromOld, bindir: bindir,
                                            progress: { StandardStreams.err("pg-rejoin: \($0)\n") }).run()
            }
            let path = try LostReports.find(pgdata: pgdata.path, run: run)
            let report = try LostFiles.read(path)
            switch format {
            case "sql": StandardStreams.out(LostSQL.render(report, pgdata: pgdata.path))
            case "json": StandardStreams.out(try LostText.json(report))
            case "csv": try writeCSV(report)
            default: StandardStreams.out(LostText.render(report))
            }
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    private func writeCSV(_ report: LostReport) throws {
        let directory = DataDirectoryOption.resolve(to ?? "").path
        if Files.exists(directory) {
            guard Files.isDirectory(directory), (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true else {
                throw LostReports.Failure.targetNotEmpty(directory)
            }
        } else {
            try Files.makeDirectory(directory)
        }
        let files = LostText.csv(report)
        for (name, content) in files.sorted(by: { $0.key < $1.key }) {
            try Files.writeAtomically(Data(content.utf8), to: directory + "/" + name, mode: 0o600)
            StandardStreams.out(directory + "/" + name + "\n")
        }
        StandardStreams.out("\(report.transactions.count) lost transaction\(report.transactions.count == 1 ? "" : "s"), \(files.count) file(s) in \(directory)\n")
    }
}

enum LostReports {
    enum Failure: LocalizedError, RejoinFailure {
        case none(pgdata: String)
        case unknownRun(run: String, known: [String])
        case targetNotEmpty(String)

        var exitStatus: ExitStatus { .refused }

        var errorDescription: String? {
            switch self {
            case let .none(pgdata):
                return "no lost transactions were read for \(pgdata): pg-rejoin reads them during a rejoin unless --lost-rows skip; to read them from an old copy a full copy kept (pg-rejoin old list), add --from-old PATH"
            case let .unknownRun(run, known):
                return "run \(run) has no lost transactions read; runs that have: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
            case let .targetNotEmpty(directory):
                return "\(directory) is not an empty directory; name a new one with --to. Nothing was written"
            }
        }
    }

    /// `lost-RUN/lost.json` of the run asked for, else of the latest run that has one.
    static func find(pgdata: String, run: String?) throws -> String {
        let work = WorkPaths(pgdata: pgdata).workDirectory
        let runs = ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? [])
            .filter { $0.hasPrefix("lost-") && Files.exists(work + "/" + $0 + "/lost.json") }
            .map { String($0.dropFirst("lost-".count)) }.sorted()
        if let run {
            guard runs.contains(run) else { throw Failure.unknownRun(run: run, known: runs) }
            return LostFiles.directory(workDirectory: work, run: run) + "/lost.json"
        }
        guard let latest = runs.last else { throw Failure.none(pgdata: pgdata) }
        return LostFiles.directory(workDirectory: work, run: latest) + "/lost.json"
    }
}
