import ArgumentParser
import Logging

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per event on stdout instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Also log details (children's command lines, step metadata) to stderr.")
    var verbose = false

    func makeOutput() -> Output {
        json ? JSONOutput() : TextOutput()
    }

    /// The executable alone bootstraps logging; the library only takes a Logger.
    func makeLogger() -> Logger {
        // The Output already tells people what happened; the log handler adds detail on request.
        let level: Logger.Level = verbose ? .info : .critical
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "pg-rejoin")
    }
}
