import Foundation
import XCTest
@testable import PgRejoin
import RejoinSteps

/// `fixtures/` beside `Tests/`.
enum ConfigFixtures {
    static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures").path

    static func path(_ relative: String) -> String { root + "/" + relative }
}

import ArgumentParser

struct OutputOnly: ParsableCommand {
    @OptionGroup var output: OutputOptions
}

final class ConfigTests: XCTestCase {
    func load(_ fixture: String) throws -> LoadedConfig {
        let loaded = try ConfigLoader.load(explicit: ConfigFixtures.path("config/" + fixture))
        return try XCTUnwrap(loaded)
    }

    func error(_ fixture: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            _ = try load(fixture)
            XCTFail("\(fixture) was accepted", file: file, line: line)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("\(fixture): unexpected \(error)", file: file, line: line)
            return nil
        }
    }

    func testKeysAreUniqueAndEveryRejoinOptionHasOne() throws {
        XCTAssertEqual(Set(ConfigKeys.all.map(\.name)).count, ConfigKeys.all.count)
        // Every option of `rejoin` that configures the work has a key (per-invocation flags excepted).
        let perInvocation: Set<String> = ["--dry-run", "--config", "--help", "--version", "--no-demote", "--no-keep-config"]
        func options(_ help: String) throws -> Set<String> {
            Set(help.matches(of: try Regex("--[a-z][a-z-]+")).map { String(help[$0.range]) })
        }
        let help = RejoinCommand.helpMessage(columns: 400)
        // Output options (--json, --verbose ...) say how this invocation talks, not what it does.
        let output = try options(OutputOnly.helpMessage(columns: 400))
        let keyed = Set(ConfigKeys.all.compactMap(\.option))
        XCTAssertEqual(try options(help).subtracting(perInvocation).subtracting(output).subtracting(keyed), [], help)
    }

    func testGoodFileLoadsEveryKeyWithItsLine() throws {
        let config = try load("pg-rejoin-good.toml")
        let s = config.settings
        XCTAssertEqual(s.pgdata, "/var/lib/postgresql/15/main")
        XCTAssertEqual(s.bindir, "/usr/lib/postgresql/15/bin")
        XCTAssertEqual(s.user, "repl")
        XCTAssertEqual(s.passfile, "/var/lib/postgresql/.pgpass")
        XCTAssertEqual(s.nodeName, "pg1")
        XCTAssertEqual(s.peers, ["10.0.0.1:5432", "10.0.0.2:5432"])
        XCTAssertEqual(s.method, "rewind")
        XCTAssertEqual(s.verifyTimeout, 300)
        XCTAssertEqual(s.connectTimeout, 5)
        XCTAssertEqual(s.diskReserve, "2GB")
        XCTAssertEqual(s.maxRate, "50M")
        XCTAssertEqual(s.demote, false)
        XCTAssertEqual(s.keepConfig, true)
        XCTAssertEqual(s.oldData, "archive")
        XCTAssertEqual(s.keepOld, 3)
        XCTAssertEqual(s.lostRows, "skip")
        XCTAssertEqual(s.workingDirectory, "/var/lib/postgresql/pg-rejoin")
        XCTAssertEqual(s.startCommand, ["/usr/bin/pg_ctlcluster", "15", "main", "start"])
        XCTAssertEqual(s.stopCommand, ["/usr/bin/pg_ctlcluster", "15", "main", "stop", "--", "-m", "fast"])
        XCTAssertEqual(s.postRejoinCommand?.first, "/usr/local/bin/notify-ops")
        XCTAssertEqual(s.demoteOnSplitBrain, false)
        XCTAssertEqual(s.discoveryTimeout, 2)
        XCTAssertEqual(s.waitForPrimary, 10)
        XCTAssertEqual(s.notifyLog, "/var/log/postgresql/pg-rejoin-keepalived.log")
        XCTAssertEqual(s.notifyDebounce, 45)
        XCTAssertEqual(s.notifyWaitForPrimary, 40)
        XCTAssertEqual(config.lines["pgdata"], 2)
        XCTAssertEqual(config.lines["commands.start"], 22)
        XCTAssertEqual(config.lines["keepalived.debounce"], 33)
    }

    func testExampleConfigInFixturesIsValid() throws {
        let loaded = try XCTUnwrap(try ConfigLoader.load(explicit: ConfigFixtures.path("ha/pg-rejoin.toml")))
        XCTAssertFalse(loaded.settings.peers?.isEmpty ?? true)
    }

    func testUnknownKeyNamesKeyLineAndSuggestion() throws {
        let e = try XCTUnwrap(error("pg-rejoin-unknown-key.toml"))
        guard case let .unknownKey(_, key, line, suggestion) = e else { return XCTFail("\(e)") }
        XCTAssertEqual(key, "heal.demote_on_splitbrain")
        XCTAssertEqual(line, 6)
        XCTAssertEqual(suggestion, "heal.demote_on_split_brain")
        let message = e.errorDescription ?? ""
        XCTAssertTrue(message.contains("pg-rejoin-unknown-key.toml line 6"), message)
        XCTAssertTrue(message.contains("unknown key `heal.demote_on_splitbrain`"), message)
        XCTAssertEqual(e.exitStatus, .configInvalid)
        XCTAssertEqual(e.exitStatus.rawValue, 78)
    }

    func testUnknownSectionAndMisplacedKey() throws {
        XCTAssertThrowsError(try ConfigLoader.parse("pgdata = \"/x\"\n[heal]\nverify_timeout = 3\n", path: "x.toml")) { error in
            XCTAssertEqual(error as? ConfigError, .unknownKey(path: "x.toml", key: "heal.verify_timeout", line: 3, suggestion: "verify_timeout"))
        }
        XCTAssertThrowsError(try ConfigLoader.parse("[replication]\nuser = \"x\"\n", path: "x.toml")) { error in
            guard case let .unknownKey(_, key, line, _) = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "replication")
            XCTAssertEqual(line, 1)
        }
    }

    func testWrongTypeNamesKeyLineAndTypes() throws {
        let e = try XCTUnwrap(error("pg-rejoin-wrong-type.toml"))
        guard case let .wrongType(_, key, line, expected, found) = e else { return XCTFail("\(e)") }
        XCTAssertEqual(key, "verify_timeout")
        XCTAssertEqual(line, 4)
        XCTAssertEqual(expected, "an integer")
        XCTAssertEqual(found, "a string")
        XCTAssertTrue((e.errorDescription ?? "").contains("line 4: `verify_timeout` must be an integer, not a string"), e.errorDescription ?? "")
    }

    func testArrayElementOfWrongType() throws {
        let e = try XCTUnwrap(error("pg-rejoin-peers-wrong-element.toml"))
        guard case let .wrongType(_, key, line, _, found) = e else { return XCTFail("\(e)") }
        XCTAssertEqual(key, "peers")
        XCTAssertEqual(line, 1)
        XCTAssertEqual(found, "an array holding an integer")
    }

    func testBadValueNamesKeyAndLine() throws {
        let e = try XCTUnwrap(error("pg-rejoin-bad-value.toml"))
        guard case let .badValue(_, key, line, problem) = e else { return XCTFail("\(e)") }
        XCTAssertEqual(key, "peers")
        XCTAssertEqual(line, 3)
        XCTAssertTrue(problem.contains("10.0.0.2:99999"), problem)
    }

    func testSyntaxErrorNamesLine() throws {
        let e = try XCTUnwrap(error("pg-rejoin-syntax.toml"))
        guard case let .syntax(_, line, _, _) = e else { return XCTFail("\(e)") }
        XCTAssertTrue((2...3).contains(line), "\(e)")
    }

    func testPasswordKeyIsRefusedWithoutRepeatingIt() throws {
        let e = try XCTUnwrap(error("pg-rejoin-password.toml"))
        guard case let .secret(_, key, line) = e else { return XCTFail("\(e)") }
        XCTAssertEqual(key, "password")
        XCTAssertEqual(line, 3)
        let message = e.errorDescription ?? ""
        XCTAssertTrue(message.contains("passfile"), message)
        XCTAssertFalse(message.contains("hunter2"), message)
    }

    func testMissingExplicitFileIsAnErrorMissingDefaultIsNot() throws {
        XCTAssertThrowsError(try ConfigLoader.load(explicit: "/nonexistent/pg-rejoin.toml")) { error in
            XCTAssertEqual(error as? ConfigError, .fileMissing(path: "/nonexistent/pg-rejoin.toml"))
        }
        if !FileManager.default.fileExists(atPath: ConfigLoader.defaultPath) {
            XCTAssertNil(try ConfigLoader.load(explicit: nil))
        }
    }

    /// status, abort and old find the data directory as rejoin does: --pgdata, else the
    /// config file's pgdata, else $PGDATA.
    func testStatusAndAbortTakePGDATAFromTheConfigFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pg-rejoin-\(UUID().uuidString).toml").path
        try Data("pgdata = \"/srv/from-file\"\n".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertEqual(try DataDirectoryOption.parse(["--config", file]).resolved().path, "/srv/from-file")
        XCTAssertEqual(try StatusCommand.parse(["--config", file]).target.resolved().path, "/srv/from-file")
        XCTAssertEqual(try AbortCommand.parse(["--config", file, "--pgdata", "/srv/from-cli"]).target.resolved().path, "/srv/from-cli")
        XCTAssertThrowsError(try DataDirectoryOption.parse(["--config", "/nonexistent/pg-rejoin.toml"]).resolved()) { error in
            XCTAssertEqual(error as? ConfigError, .fileMissing(path: "/nonexistent/pg-rejoin.toml"))
        }
        XCTAssertThrowsError(try DataDirectoryOption.parse(["--config", ""]))

        // Neither --pgdata, nor pgdata in the file, nor $PGDATA: a usage error (exit 64).
        let empty = file + ".empty.toml"
        try Data("method = \"auto\"\n".utf8).write(to: URL(fileURLWithPath: empty))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let saved = ProcessInfo.processInfo.environment["PGDATA"]
        unsetenv("PGDATA")
        defer { if let saved { setenv("PGDATA", saved, 1) } }
        XCTAssertThrowsError(try DataDirectoryOption.parse(["--config", empty]).resolved()) { error in
            guard case .missingSetting? = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual((error as? ConfigError)?.exitStatus, .usage)
        }
    }

    func testCommandLineOverridesFileAndFileOverridesDefaults() throws {
        let file = try load("pg-rejoin-overridden.toml")
        let command = try RejoinCommand.parse([
            "--pgdata", "/srv/from-cli", "--user", "cli_user", "--method", "basebackup", "--no-demote",
            "--peers", "127.0.0.1:6000,127.0.0.1:6001",
        ])
        let effective = EffectiveSettings(commandLine: command.commandLineSettings, file: file)
        // The command line wins...
        XCTAssertEqual(effective.settings.pgdata, "/srv/from-cli")
        XCTAssertEqual(effective.user, "cli_user")
        XCTAssertEqual(effective.method, "basebackup")
        XCTAssertEqual(effective.demote, false)
        XCTAssertEqual(effective.settings.peers, ["127.0.0.1:6000", "127.0.0.1:6001"])
        // ...what it leaves out comes from the file...
        XCTAssertEqual(effective.verifyTimeout, 300)
        XCTAssertEqual(effective.keepConfig, false)
        // ...and only then the defaults.
        XCTAssertEqual(effective.connectTimeout, 10)
        XCTAssertEqual(effective.dbname, "postgres")
        XCTAssertEqual(effective.sources["pgdata"], "command line")
        XCTAssertTrue(effective.sources["verify_timeout"]?.hasSuffix("pg-rejoin-overridden.toml line 5") ?? false, "\(effective.sources)")
        XCTAssertEqual(effective.sources["connect_timeout"], "default")
        // Peers configured and no --from: auto.
        XCTAssertEqual(try effective.upstream(), .discover([UpstreamAddress(host: "127.0.0.1", port: 6000),
                                                            UpstreamAddress(host: "127.0.0.1", port: 6001)]))
        let options = effective.rejoinOptions(upstream: UpstreamAddress(host: "h"), pgdata: "/srv/from-cli", dryRun: false)
        XCTAssertEqual(options.user, "cli_user")
        XCTAssertEqual(options.verifyTimeout, 300)
        XCTAssertEqual(options.keepConfig, false)
        XCTAssertFalse(options.demote)
    }

    func testDefaultsWithoutFile() throws {
        let command = try RejoinCommand.parse(["--from", "pg2:5433", "--pgdata", "/d"])
        let effective = EffectiveSettings(commandLine: command.commandLineSettings, file: nil)
        XCTAssertEqual(try effective.upstream(), .address(UpstreamAddress(host: "pg2", port: 5433)))
        XCTAssertEqual(effective.user, "repl")
        XCTAssertEqual(effective.method, "auto")
        XCTAssertEqual(effective.verifyTimeout, 120)
        XCTAssertTrue(effective.keepConfig)
        XCTAssertFalse(effective.demote)
    }

    func testNoUpstreamAndNoPeersIsAUsageError() throws {
        let command = try RejoinCommand.parse(["--pgdata", "/d"])
        let effective = EffectiveSettings(commandLine: command.commandLineSettings, file: nil)
        XCTAssertThrowsError(try effective.upstream()) { error in
            XCTAssertEqual((error as? ConfigError)?.exitStatus, .usage)
        }
        let auto = try RejoinCommand.parse(["--pgdata", "/d", "--from", "auto"])
        XCTAssertThrowsError(try EffectiveSettings(commandLine: auto.commandLineSettings, file: nil).upstream())
    }

    func testConfigCheckRedactsSecretsInCommands() throws {
        let effective = EffectiveSettings(commandLine: Settings(), file: try load("pg-rejoin-good.toml"))
        let report = EffectiveSettingsReport.render(effective)
        XCTAssertFalse(report.contains("abc123"), report)
        XCTAssertFalse(report.contains("hunter2"), report)
        XCTAssertTrue(report.contains("--token=<redacted>"), report)
        XCTAssertTrue(report.contains("https://ops:<redacted>@hooks.example/rejoined"), report)
        XCTAssertTrue(report.contains("[commands]"), report)
        XCTAssertTrue(report.contains("start = [\"/usr/bin/pg_ctlcluster\", \"15\", \"main\", \"start\"]"), report)
        XCTAssertEqual(Redaction.redact("host=a password='x y' user=b"), "host=a password=<redacted> user=b")
    }

    func testKeyLinesFollowSectionsAndQuotedKeys() {
        let lines = KeyLines("""
            # comment
            pgdata = "/x"
            [heal]
            "wait_for_primary" = 3
            text = \"\"\"
            fake = 1
            \"\"\"
            [keepalived]
            log = "/l"
            """)
        XCTAssertEqual(lines.line(of: "pgdata"), 2)
        XCTAssertEqual(lines.line(of: "heal.wait_for_primary"), 4)
        XCTAssertNil(lines.line(of: "heal.fake"))
        XCTAssertEqual(lines.line(of: "keepalived.log"), 9)
    }
}

/// The exit codes are a contract with cron and keepalived: each one is in README's table.
final class ExitCodeDocumentationTests: XCTestCase {
    func testEveryExitStatusIsInTheReadmeTable() throws {
        let readme = try String(contentsOfFile: ConfigFixtures.root + "/../README.md", encoding: .utf8)
        guard let table = readme.components(separatedBy: "## Exit codes").dropFirst().first?.components(separatedBy: "\n## ").first else {
            return XCTFail("README has no Exit codes section")
        }
        for status in ExitStatus.allCases {
            XCTAssertTrue(table.contains("\n| \(status.rawValue) |"), "exit \(status.rawValue) (\(status)) is not in README's Exit codes table")
        }
    }
}
