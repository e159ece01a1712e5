import Foundation
import RejoinSteps

/// The run's voice: text for people, JSON lines for programs. Thread-safe, because progress
/// arrives from the task that drains a child's stderr.
protocol Output: RunDelegate {
    func finish(_ outcome: RejoinOutcome)
    func fail(_ message: String, status: ExitStatus)
}

enum StandardStreams {
    static let lock = NSLock()

    static func out(_ text: String) {
        lock.withLock {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    static func err(_ text: String) {
        lock.withLock {
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}

extension ExitStatus {
    var name: String {
        switch self {
        case .ok: return "ok"
        case .failed: return "failed"
        case .refused: return "refused"
        case .locked: return "locked"
        case .splitBrainRisk: return "split-brain-risk"
        case .splitBrain: return "split-brain"
        case .noPrimary: return "no-primary"
        case .stepFailed: return "step-failed"
        case .verifyFailed: return "verify-failed"
        case .interrupted: return "interrupted"
        case .statusUnfinished: return "unfinished"
        case .statusRunning: return "running"
        case .usage: return "usage"
        case .configInvalid: return "config-invalid"
        }
    }
}
