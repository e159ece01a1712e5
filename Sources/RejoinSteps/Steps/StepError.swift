import Foundation

/// Failures after the run began. The journal knows where the run stopped; every message says
/// where the data is and that a rerun resumes.
public enum StepError: LocalizedError, RejoinFailure {
    case stopFailed(pgdata: String, detail: String)
    case oldDataMissing(pgdata: String, expected: String)
    case cloneFailed(detail: String)
    case cloneIncomplete(staging: String)
    case newDataMissing(staging: String, pgdata: String)
    case pgdataOccupied(pgdata: String)
    case tablespaceMissing(tablespace: String, path: String, expected: String)
    case startFailed(pgdata: String, log: String, detail: String)
    case verifyTimedOut(seconds: Int, waitingFor: String, logTail: [String])

    public var exitStatus: ExitStatus {
        if case .verifyTimedOut = self { return .verifyFailed }
        return .stepFailed
    }

    public var errorDescription: String? {
        switch self {
        case let .stopFailed(pgdata, detail):
            return "could not stop the local server in \(pgdata): \(detail). Stop it by hand, then rerun"
        case let .oldDataMissing(pgdata, expected):
            return "the old data directory is neither at \(pgdata) nor at \(expected); pg-rejoin stops rather than guess. Find it before going on"
        case let .cloneFailed(detail):
            return "pg_basebackup failed: \(detail). The old data directory is untouched; fix the cause and rerun to clone again"
        case let .cloneIncomplete(staging):
            return "pg_basebackup exited 0 but \(staging) has no backup_manifest; rerun to clone again"
        case let .newDataMissing(staging, pgdata):
            return "the new copy is neither at \(staging) nor at \(pgdata); rerun to clone again"
        case let .pgdataOccupied(pgdata):
            return "\(pgdata) exists again but is neither the old nor the new data directory; something else created it. Move it aside and rerun"
        case let .tablespaceMissing(tablespace, path, expected):
            return "tablespace \(tablespace): its files are neither at \(path) nor at \(expected); pg-rejoin stops rather than guess. Find them (mount the tablespace's disk?), then rerun"
        case let .startFailed(pgdata, log, detail):
            return "the standby in \(pgdata) did not start: \(detail). Its log is \(log); fix the cause and rerun"
        case let .verifyTimedOut(seconds, waitingFor, logTail):
            let tail = logTail.isEmpty ? "" : "\nlast lines of the server log:\n  " + logTail.joined(separator: "\n  ")
            return "the standby did not verify within \(seconds) s (still waiting for: \(waitingFor)). It is running; rerun to verify again, or raise --verify-timeout" + tail
        }
    }
}
