import ArgumentParser
import Foundation
import RejoinSteps

/// `pg-rejoin config check`: validates the config file and prints the effective settings.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the config file.",
        subcommands: [ConfigCheckCommand.self],
        defaultSubcommand: ConfigCheckCommand.self
    )
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the config file and print the effective settings (command line over file over defaults).",
        discussion: """
            Exit 0 when the file is valid (or absent and not asked for with --config); 78 with a \
            message naming the key and its line otherwise. Unknown keys, wrong types, bad values \
            and any password key are errors. Options given here override the file as they would \
            for heal, so the effect of a command line can be checked too. Keys: \
            \(ConfigKeys.all.map(\.name).joined(separator: ", ")).
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var ha: HAOptions

    @Option(help: ArgumentHelp("This node's application_name on the upstream.", valueName: "name"))
    var nodeName: String?

    @OptionGroup var output: OutputOptions

    func run() async throws {
        let out = output.makeOutput()
        let status = await CommandRunner.run(output: out) {
            var commandLine = ha.adding(to: target.settings)
            commandLine.nodeName = nodeName
            let loaded = try ha.load()
            let effective = EffectiveSettings(commandLine: commandLine, file: loaded)
            if output.json {
                var object: [String: Any] = ["event": "config", "file": loaded?.path ?? NSNull(), "valid": true]
                var values: [String: Any] = [:]
                for key in ConfigKeys.all {
                    guard let rendered = key.rendered(effective.settings) else { continue }
                    values[key.name] = ["value": Redaction.redact(rendered), "source": effective.sources[key.name] ?? "default"]
                }
                object["settings"] = values
                if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                    StandardStreams.out(String(decoding: data, as: UTF8.self) + "\n")
                }
            } else {
                StandardStreams.out(EffectiveSettingsReport.render(effective))
                StandardStreams.out(loaded.map { "# \($0.path): valid\n" } ?? "# no config file (\(ha.config ?? ConfigLoader.defaultPath) does not exist)\n")
            }
            return .ok
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
