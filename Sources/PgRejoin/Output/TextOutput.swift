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
    private var meter = ProgressMeter()
    private var stepOrder: [StepKind] = []
    /// --quiet: errors, warnings (on stderr) and the final line only.
    private let quiet: Bool

    init(quiet: Bool = false) {
        self.quiet = quiet
    }

    func handle(_ event: RunEvent) {
        lock.withLock { quiet ? renderQuiet(event) : render(event) }
    }

    private func renderQuiet(_ event: RunEvent) {
        switch event {
        case let .warning(message): StandardStreams.err("pg-rejoin: warning: \(message)\n")
        case let .summary(summary): say("rejoined: streaming standby of \(summary.upstream)")
        default: break
        }
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
            stepOrder = plan.steps
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
        case let .progress(step, done, total):
            let now = Date()
            let figures = meter.add(step, done: done, total: total, at: now)
            // A terminal gets a live bar; logs get a plain line at most every 5 s.
            let interval: TimeInterval = isTerminal ? 0.2 : 5
            guard now.timeIntervalSince(lastProgress) >= interval else { return }
            lastProgress = now
            if isTerminal {
                StandardStreams.out("\r    \(figures.bar())\u{1B}[K")
                progressOnLine = true
            } else {
                say("    \(step.rawValue): \(figures.line)")
            }
        case let .summary(summary):
            say("")
            say("rejoined: streaming standby of \(summary.upstream)")
            say("  method          \(summary.method)")
            say("  bytes copied    \(ByteCount.format(summary.bytesCopied))")
            let timed = stepOrder.filter { summary.stepSeconds[$0.rawValue] != nil }.map(\.rawValue)
                + summary.stepSeconds.keys.filter { key in !stepOrder.contains { $0.rawValue == key } }.sorted()
            if !timed.isEmpty {
                say("  time per step")
                let width = timed.map(\.count).max() ?? 0
                for step in timed {
                    let seconds = Self.duration(summary.stepSeconds[step] ?? 0)
                    say("    " + step.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                        + String(repeating: " ", count: max(0, 8 - seconds.count)) + seconds)
                }
            }
            say("  total time      \(Self.duration(summary.totalSeconds))")
            if let lag = summary.lagBytes { say("  lag at verify   \(ByteCount.format(lag))") }
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
            case .dryRun where quiet:
                say("dry run: nothing was changed")
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
