import Foundation
import Logging
import RejoinSteps
#if canImport(Glibc)
import Glibc
#endif

/// The file behind `--log-file`: opened once for appending, mode 0600 (a log names hosts and
/// paths), shared by every logger; one write(2) per line, so lines from concurrent tasks never
/// interleave.
final class LogFile: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()

    init(path: String) throws {
        self.path = path
        // Opened while still root: never through a link another user could have planted.
        let fd: Int32
        do {
            fd = try NoFollow.open(path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
        } catch let error as FileError {
            throw LogFileError(path: path, reason: error)
        }
        // An existing file keeps its owner, but not a mode that lets others read it.
        fchmod(fd, 0o600)
        self.fd = fd
    }

    deinit { close(fd) }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock {
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
    }
}

struct LogFileError: LocalizedError {
    var path: String
    var reason: FileError
    var errorDescription: String? {
        if case .linkRefused = reason { return "the log file: " + (reason.errorDescription ?? path) }
        return "cannot open the log file \(path): \(reason.errorDescription ?? "\(reason)"); check that its directory exists and is writable"
    }
}

/// Lines such as `2026-11-24T19:01:02.345Z pg-rejoin[4242] notice: step clone done step.kind=clone`.
struct FileLogHandler: LogHandler {
    let label: String
    let file: LogFile
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, file: LogFile, level: Logger.Level) {
        self.label = label
        self.file = file
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var text = "\(formatter.string(from: Date())) pg-rejoin[\(getpid())] \(event.level): \(event.message)"
        if !merged.isEmpty { text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        self.file.write(text)
    }
}

/// `--syslog`: the system log (facility daemon, ident pg-rejoin, with the pid) through the
/// `Syslog` wrapper of Glibc's openlog/vsyslog, for keepalived and cron runs nobody watches.
struct SyslogLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: return LOG_DEBUG
        case .info: return LOG_INFO
        case .notice: return LOG_NOTICE
        case .warning: return LOG_WARNING
        case .error: return LOG_ERR
        case .critical: return LOG_CRIT
        }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        var text = "\(event.message)"
        if !merged.isEmpty { text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        Syslog.log(Self.priority(event.level), text)
    }
}
