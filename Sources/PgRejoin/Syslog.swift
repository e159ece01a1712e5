import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// heal's and keepalived-notify's voice when nobody watches a terminal: syslog (facility
/// daemon, ident pg-rejoin, with the pid). Healthy checks are not logged, so a heal from cron
/// every minute does not flood the log.
enum Syslog {
    /// openlog keeps the pointer: it must outlive the process's use of syslog.
    private static let ident: UnsafeMutablePointer<CChar>? = strdup("pg-rejoin")
    private static let opened: Bool = {
        openlog(ident, LOG_PID, LOG_DAEMON)
        return true
    }()

    static func critical(_ message: String) { log(LOG_CRIT, message) }
    static func warning(_ message: String) { log(LOG_WARNING, message) }
    static func notice(_ message: String) { log(LOG_NOTICE, message) }
    static func info(_ message: String) { log(LOG_INFO, message) }

    static func log(_ priority: Int32, _ message: String) {
        _ = opened
        // Through "%s": a message is never a format string.
        message.withCString { text in
            withVaList([text]) { vsyslog(priority, "%s", $0) }
        }
    }
}
