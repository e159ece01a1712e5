import Foundation
import RejoinSteps

/// One JSON object per line on stdout, each with an "event" key. Stable for scripts.
final class JSONOutput: Output, @unchecked Sendable {
    private let lock = NSLock()
    private var lastProgress = Date.distantPast
    private var meter = ProgressMeter()

    private func emit(_ object: [String: Any]) {
        var object = object
        object["time"] = ISO8601DateFormatter().string(from: Date())
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        StandardStreams.out(String(decoding: data, as: UTF8.self) + "\n")
    }

    func handle(_ event: RunEvent) {
        lock.withLock {
            switch event {
            case let .info(message): emit(["event": "info", "message": message])
            case let .warning(message): emit(["event": "warning", "message": message])
            case let .planned(plan, resumingAt):
                var object: [String: Any] = ["event": "plan", "run": plan.runID, "pgdata": plan.pgdata,
                                             "upstream": plan.upstream.address.description, "method": plan.method,
                                             "steps": plan.steps.map(\.rawValue), "old_data": plan.oldDataDirectory,
                                             "staging": plan.stagingDirectory]
                if let resumingAt { object["resuming_at"] = resumingAt.rawValue }
                if let decisions = plan.decisions { object["decisions"] = decisions }
                emit(object)
            case let .stepStarted(step, detail): emit(["event": "step_started", "step": step.rawValue, "detail": detail])
            case let .stepFinished(step, seconds, detail):
                emit(["event": "step_finished", "step": step.rawValue, "seconds": seconds, "detail": detail])
            case let .stepSkipped(step, reason): emit(["event": "step_skipped", "step": step.rawValue, "reason": reason])
            case let .stepFailed(step, seconds, error):
                emit(["event": "step_failed", "step": step.rawValue, "seconds": seconds, "error": error])
            case let .progress(step, done, total):
                let now = Date()
                let figures = meter.add(step, done: done, total: total, at: now)
                guard now.timeIntervalSince(lastProgress) >= 2 else { return }
                lastProgress = now
                var object: [String: Any] = ["event": "progress", "step": step.rawValue, "bytes_done": done, "bytes_total": total]
                if let rate = figures.bytesPerSecond { object["bytes_per_second"] = Int(rate) }
                if let left = figures.secondsLeft { object["eta_seconds"] = Int(left.rounded(.up)) }
                emit(object)
            case let .summary(summary):
                var object: [String: Any] = ["event": "summary", "outcome": summary.outcome, "method": summary.method,
                                             "upstream": summary.upstream, "bytes_copied": summary.bytesCopied,
                                             "total_seconds": summary.totalSeconds, "step_seconds": summary.stepSeconds]
                if let old = summary.oldDataDirectory { object["old_data"] = old }
                if let report = summary.divergenceReport { object["divergence_report"] = report }
                if let lag = summary.lagBytes { object["lag_bytes"] = lag }
                if let log = summary.serverLog { object["server_log"] = log }
                emit(object)
            }
        }
    }

    func finish(_ outcome: RejoinOutcome) {
        lock.withLock {
            switch outcome {
            case let .alreadyStandby(address):
                emit(["event": "result", "outcome": "already_standby", "upstream": address.description, "exit": 0])
            case let .dryRun(plan, resumingAt):
                let start = resumingAt.flatMap { plan.steps.firstIndex(of: $0) } ?? 1
                emit(["event": "result", "outcome": "dry_run", "would_run": plan.steps[start...].map(\.rawValue), "exit": 0])
            case .rejoined:
                emit(["event": "result", "outcome": "rejoined", "exit": 0])
            }
        }
    }

    func fail(_ message: String, status: ExitStatus) {
        lock.withLock {
            emit(["event": "error", "message": message, "exit": Int(status.rawValue), "code": status.name])
        }
    }
}
