import Foundation
import Logging
import RejoinSteps

/// What the operator sees, also written to `--log-file` and `--syslog`: each event as one log
/// line (progress at most every 30 s), then passed on unchanged to the text or JSON output.
final class LoggedOutput: Output, @unchecked Sendable {
    private let inner: Output
    private let logger: Logger
    private let lock = NSLock()
    private var lastProgress = Date.distantPast
    private var meter = ProgressMeter()

    init(_ inner: Output, logger: Logger) {
        self.inner = inner
        self.logger = logger
    }

    func handle(_ event: RunEvent) {
        log(event)
        inner.handle(event)
    }

    private func log(_ event: RunEvent) {
        switch event {
        case let .info(message):
            logger.info("\(message)")
        case let .warning(message):
            logger.warning("\(message)")
        case let .planned(plan, resumingAt):
            let what = resumingAt.map { "resuming run \(plan.runID) at \($0.rawValue)" } ?? "run \(plan.runID)"
            logger.notice("\(what): rejoining \(plan.pgdata) as a standby of \(plan.upstream.address), method \(plan.method)",
                          metadata: ["run.id": "\(plan.runID)", "pg.datadir": "\(plan.pgdata)", "old.path": "\(plan.oldDataDirectory)"])
        case let .stepStarted(step, detail):
            logger.info("step \(step.rawValue) started: \(detail)", metadata: ["step.kind": "\(step.rawValue)"])
        case let .stepFinished(step, seconds, detail):
            let text = "step \(step.rawValue) done in \(String(format: "%.1f", seconds)) s" + (detail.isEmpty ? "" : ": \(detail)")
            logger.notice("\(text)", metadata: ["step.kind": "\(step.rawValue)"])
        case let .stepSkipped(step, reason):
            logger.info("step \(step.rawValue) skipped (\(reason))", metadata: ["step.kind": "\(step.rawValue)"])
        case let .stepFailed(step, seconds, error):
            logger.error("step \(step.rawValue) failed after \(String(format: "%.1f", seconds)) s: \(error)", metadata: ["step.kind": "\(step.rawValue)"])
        case let .progress(step, done, total):
            let now = Date()
            let line: String? = lock.withLock {
                let figures = meter.add(step, done: done, total: total, at: now)
                guard now.timeIntervalSince(lastProgress) >= 30 else { return nil }
                lastProgress = now
                return figures.line
            }
            if let line { logger.info("\(step.rawValue): \(line)", metadata: ["step.kind": "\(step.rawValue)"]) }
        case let .summary(summary):
            let steps = summary.stepSeconds.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.1f", $0.value))s" }.joined(separator: " ")
            logger.notice("rejoined: streaming standby of \(summary.upstream), method \(summary.method), copied \(ByteCount.format(summary.bytesCopied)) in \(String(format: "%.1f", summary.totalSeconds)) s; old data: \(summary.oldDataDirectory ?? "none kept"); steps: \(steps)")
        }
    }

    func finish(_ outcome: RejoinOutcome) {
        switch outcome {
        case let .alreadyStandby(address): logger.notice("already a standby of \(address); nothing to do")
        case .dryRun: logger.notice("dry run: nothing was changed")
        case .rejoined: break
        }
        inner.finish(outcome)
    }

    func fail(_ message: String, status: ExitStatus) {
        logger.error("\(message) (exit \(status.rawValue): \(status.name))")
        inner.fail(message, status: status)
    }
}
