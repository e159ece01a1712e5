import ArgumentParser
import Foundation
import Logging

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per event on stdout instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Also log details (children's command lines, step metadata) to stderr.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Print only errors, warnings and the final line (text output; --json is unchanged).")
    var quiet = false

    @Option(help: ArgumentHelp("Also append every event, with times, to this file (created 0600).", valueName: "path"))
    var logFile: String?

    @Flag(help: "Also send every event to syslog (facility daemon, ident pg-rejoin).")
    var syslog = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose contradict each other; pass one") }
        if let logFile, logFile.isEmpty { throw ValidationError("--log-file must not be empty") }
    }

    /// Text or JSON for the operator, also logged to --log-file / --syslog when asked.
    func makeOutput() -> Output {
        let base: Output = json ? JSONOutput() : TextOutput(quiet: quiet)
        guard LogSetup.bootstrap(self) else { return base }
        return LoggedOutput(base, logger: Logger(label: LogSetup.eventsLabel))
    }

    /// The executable alone bootstraps logging; the library only takes a Logger.
    func makeLogger() -> Logger {
        LogSetup.bootstrap(self)
        return Logger(label: "pg-rejoin")
    }
}

extension LogSetup {
    /// Called by Main while still root, before it switches to the data directory's owner: a
    /// --log-file under /var/log stays writable after the switch (the descriptor is open).
    static func prepare(for command: ParsableCommand) {
        for child in Mirror(reflecting: command).children {
            if let group = child.value as? OptionGroup<OutputOptions> {
                bootstrap(group.wrappedValue)
                return
            }
        }
    }
}

/// Bootstraps swift-log once per process: stderr for --verbose; the log file and syslog get the
/// operator's events (label `pg-rejoin.events`) and the library's warnings (its details too
/// with --verbose).
enum LogSetup {
    static let eventsLabel = "pg-rejoin.events"
    private static let lock = NSLock()
    private static var done = false
    private static var logsEvents = false

    /// Returns whether events go to a log file or syslog.
    @discardableResult
    static func bootstrap(_ options: OutputOptions) -> Bool {
        lock.withLock {
            if done { return logsEvents }
            done = true
            var file: LogFile?
            if let path = options.logFile {
                do { file = try LogFile(path: path) } catch {
                    let reason = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                    FileHandle.standardError.write(Data("pg-rejoin: warning: \(reason); going on without it\n".utf8))
                }
            }
            let syslog = options.syslog
            let verbose = options.verbose
            logsEvents = file != nil || syslog
            LoggingSystem.bootstrap { label in
                let events = label == eventsLabel
                // The Output already tells people what happened; stderr adds detail on request.
                var handlers: [LogHandler] = []
                if !events {
                    var stderr = StreamLogHandler.standardError(label: label)
                    stderr.logLevel = verbose ? .info : .critical
                    handlers.append(stderr)
                }
                let level: Logger.Level = events ? (verbose ? .debug : .info) : (verbose ? .debug : .warning)
                if let file { handlers.append(FileLogHandler(label: label, file: file, level: level)) }
                if syslog { handlers.append(SyslogLogHandler(label: label, level: level)) }
                return handlers.isEmpty ? SwiftLogNoOpLogHandler() : MultiplexLogHandler(handlers)
            }
            return logsEvents
        }
    }
}
