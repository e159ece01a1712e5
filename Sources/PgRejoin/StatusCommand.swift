import ArgumentParser
import Foundation
import RejoinSteps

struct StatusCommand: AsyncParsableCommand, DropsPrivilegesEarly {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the last or unfinished rejoin of a data directory.",
        discussion: "Exit 0: nothing unfinished. 40: an unfinished run that a rerun resumes. 41: a pg-rejoin is running now."
    )

    @OptionGroup var target: DataDirectoryOption
    @OptionGroup var output: OutputOptions

    func earlyOwnerReference() -> String? { (try? target.resolved())?.ownerReference }

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            let pgdata = try target.resolved()
            if Files.exists(pgdata.ownerReference) { try Privileges.becomeOwner(of: pgdata.ownerReference) }
            let report = try RunStatus.inspect(pgdata: pgdata.path)
            output.json ? Self.printJSON(report) : Self.printText(report)
            return report.exitStatus
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    static func printJSON(_ report: RunStatus) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(report) {
            StandardStreams.out(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    static func printText(_ r: RunStatus) {
        var lines = ["state:      \(r.state.rawValue)", "pgdata:     \(r.pgdata)"]
        if let run = r.runID {
            lines.append("run:        \(run)" + (r.lastOutcome.map { " (\($0))" } ?? ""))
            lines.append("upstream:   \(r.upstream ?? "?")")
            if let started = r.started { lines.append("started:    \(ISO8601DateFormatter().string(from: started))") }
            lines.append("steps done: \(r.stepsDone.isEmpty ? "none" : r.stepsDone.joined(separator: ", "))")
            if let current = r.currentStep { lines.append("current:    \(current)" + (r.lastEvent.map { " (\($0))" } ?? " (not started)")) }
            lines.append("old data:   \(r.oldDataDirectory ?? "not found")")
            if let staging = r.stagingDirectory { lines.append("staging:    \(staging)") }
            if let pid = r.pid { lines.append("pid:        \(pid) (\(r.pidAlive ? "running" : "not running"))") }
        }
        if let paused = r.healPaused { lines.append("heal:       \(paused) (heal and keepalived-notify change nothing; pg-rejoin heal --resume)") }
        lines.append("next:       \(r.next)")
        r.warnings.forEach { lines.append("warning:    \($0)") }
        StandardStreams.out(lines.joined(separator: "\n") + "\n")
    }
}
