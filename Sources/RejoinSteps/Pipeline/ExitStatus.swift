/// The exit codes: a contract with cron, keepalived hooks and operators' scripts.
/// Documented in README.md; never renumber.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Verified streaming standby of the upstream (or already was one).
    case ok = 0
    /// An unexpected error; read the message.
    case failed = 1
    /// Bad input or a failed safety check before anything changed. Nothing was changed.
    case refused = 10
    /// Another pg-rejoin holds the lock on this data directory.
    case locked = 11
    /// The local server runs as a primary and --demote was not given. Nothing was changed.
    case splitBrainRisk = 12
    /// `heal`, `--from auto`: more than one peer runs as a primary (split brain). Every primary
    /// is named on stderr and in syslog. Nothing was changed.
    case splitBrain = 13
    /// `heal`, `--from auto`: no peer (other than this node) runs as a primary, or none answered.
    /// Nothing was changed.
    case noPrimary = 14
    /// A step failed after the run began; the journal knows where. Rerun to resume.
    case stepFailed = 20
    /// The standby started but did not verify as streaming in time. Rerun to verify again.
    case verifyFailed = 21
    /// Interrupted by SIGINT/SIGTERM; rerun to resume.
    case interrupted = 30
    /// `status`: an unfinished run that a rerun resumes.
    case statusUnfinished = 40
    /// `status`: a pg-rejoin is working on this data directory now.
    case statusRunning = 41
    /// Command-line usage error (swift-argument-parser's code). Nothing was changed.
    case usage = 64
    /// The config file is missing (an explicit --config), not TOML, or has an unknown key, a
    /// wrong type, a bad value or a password (sysexits' EX_CONFIG). Nothing was changed.
    case configInvalid = 78
}

/// An error that knows which exit code it means.
public protocol RejoinFailure: Error {
    var exitStatus: ExitStatus { get }
}
