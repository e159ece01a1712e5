import Foundation
import RejoinSteps

final class TextOutput: Output, @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private var lastProgress = Date.distantPast
    private var progressOnLine = false
    private var stepNumber: [StepKind: Int] = [:]
    private var stepCount = 0
    private var shownDecisions: Set<String> = []

    func handle(_ event: RunEvent) {
        lock.withLock { render(event) }
    }

    private func say(_ line: String) {
        if progressOnLine {
            StandardStreams.out("\n")
            progressOnLine = false
        }
        StandardStreams.out(line + "\n")
    }

    private func render(_ event: RunEvent) {
        switch event {
        case let .info(message):
            say("  \(message)")
        case let .warning(message):
            say("warning: \(message)")
        case let .planned(plan, resumingAt):
            stepCount = plan.steps.count
            for (i, step) in plan.steps.enumerated() { stepNumber[step] = i + 1 }
            if let resumingAt {
                say("resuming run \(plan.runID) at step \(resumingAt.rawValue): \(plan.pgdata) from \(plan.upstream.address)")
            } else {
                say("rejoining \(plan.pgdata) as a standby of \(plan.upstream.address) (run \(plan.runID), method \(plan.method))")
            }
            for decision in plan.decisions ?? [] where !shownDecisions.contains(decision) {
                shownDecisions.insert(decision)
                say("  \(decision)")
            }
        case let .stepStarted(step, detail):
            say("[\(position(step))] \(step.rawValue): \(detail)")
        case let .stepFinished(step, seconds, detail):
            say("[\(position(step))] \(step.rawValue) done in \(Self.duration(seconds))" + (detail.isEmpty ? "" : ": \(detail)"))
        case let .stepSkipped(step, reason):
            say("[\(position(step))] \(step.rawValue) skipped (\(reason))")
        case let .stepFailed(step, seconds, _):
            say("[\(position(step))] \(step.rawValue) FAILED after \(Self.duration(seconds))")
        case let .progress(_, done, total):
            let now = Date()
            // A terminal gets a live line; logs get a plain line every few seconds.
            let interval: TimeInterval = isTerminal ? 0.2 : 5
            guard now.timeIntervalSince(lastProgress) >= interval else { return }
            lastProgress = now
            let percent = total > 0 ? " (\(min(100, done * 100 / total))%)" : ""
            let text = "    copied \(ByteCount.format(done))" + (total > 0 ? " of \(ByteCount.format(total))" : "") + percent
            if isTerminal {
                StandardStreams.out("\r\(text)\u{1B}[K")
                progressOnLine = true
            } else {
                say(text)
            }
        case let .summary(summary):
            say("")
            say("rejoined: streaming standby of \(summary.upstream)")
            say("  method          \(summary.method)")
            say("  bytes copied    \(ByteCount.format(summary.bytesCopied))")
            say("  total time      \(Self.duration(summary.totalSeconds))")
            if let old = summary.oldDataDirectory { say("  old data kept   \(old)") }
            if let report = summary.divergenceReport { say("  divergence      \(report)") }
            if let log = summary.serverLog { say("  server log      \(log)") }
        }
    }

    private func position(_ step: StepKind) -> String {
        "\(stepNumber[step] ?? 0)/\(stepCount)"
    }

    func finish(_ outcome: RejoinOutcome) {
        lock.withLock {
            switch outcome {
            case let .alreadyStandby(address):
                say("already a standby of \(address); nothing to do")
            case let .dryRun(plan, resumingAt):
                say("dry run: nothing was changed. A run would do:")
                let start = resumingAt.flatMap { plan.steps.firstIndex(of: $0) } ?? 1
                for step in plan.steps[start...] {
                    say("  \(step.rawValue): \(step.step?.describe(plan) ?? "")")
                }
            case .rejoined:
                break
            }
        }
    }

    func fail(_ message: String, status: ExitStatus) {
        lock.withLock {
            if progressOnLine { StandardStreams.out("\n"); progressOnLine = false }
            StandardStreams.err("pg-rejoin: error: \(message)\n(exit \(status.rawValue): \(status.name))\n")
        }
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1f s", seconds) : String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60)
    }
}
