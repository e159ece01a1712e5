import Foundation
import Logging

public struct StepFailedError: LocalizedError, RejoinFailure {
    public var step: StepKind
    public var underlying: Error

    public var exitStatus: ExitStatus {
        if let failure = underlying as? RejoinFailure { return failure.exitStatus }
        return .stepFailed
    }

    public var errorDescription: String? {
        let reason = (underlying as? LocalizedError)?.errorDescription ?? "\(underlying)"
        return "step \(step.rawValue) failed: \(reason)"
    }
}

/// Runs steps in order against the journal: `started` before each, `done` or `failed` after,
/// each fsync'd. A step whose effect is already in the world is skipped (and says why); a step
/// the journal calls done but the world disagrees with is redone, and the output says so.
public struct Runner {
    public init() {}

    public func run(_ steps: [any Step], context: RunContext) async throws -> [StepKind: Double] {
        var seconds: [StepKind: Double] = [:]
        let run = context.plan.runID
        for step in steps {
            let journaled = context.state.isDone(step.kind)
            if try await step.isDone(context) {
                if !journaled {
                    try context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .done,
                                                     message: "found already done"))
                }
                context.delegate.handle(.stepSkipped(step.kind, reason: journaled ? "done" : "already in place"))
                continue
            }
            if journaled {
                context.delegate.handle(.warning("the journal says \(step.kind.rawValue) finished, but the data on disk disagrees; doing it again"))
            }
            if Task.isCancelled { throw try interrupted(step.kind, context: context) }
            let started = Date()
            try context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .started))
            context.delegate.handle(.stepStarted(step.kind, detail: step.describe(context.plan)))
            context.logger.info("step started", metadata: ["step.kind": "\(step.kind.rawValue)"])
            FaultInjection.point(step.kind, .before)
            do {
                let facts = try await step.run(context)
                FaultInjection.point(step.kind, .after)
                let elapsed = Date().timeIntervalSince(started)
                seconds[step.kind] = elapsed
                try context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .done, facts: facts))
                context.delegate.handle(.stepFinished(step.kind, seconds: elapsed, detail: facts["summary"] ?? ""))
                context.logger.info("step done", metadata: ["step.kind": "\(step.kind.rawValue)", "step.seconds": "\(elapsed)"])
            } catch is CancellationError {
                throw try interrupted(step.kind, context: context)
            } catch {
                let elapsed = Date().timeIntervalSince(started)
                let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                try? context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .failed, message: message))
                context.delegate.handle(.stepFailed(step.kind, seconds: elapsed, error: message))
                context.logger.error("step failed", metadata: ["step.kind": "\(step.kind.rawValue)", "error": "\(message)"])
                throw StepFailedError(step: step.kind, underlying: error)
            }
        }
        return seconds
    }

    /// SIGINT/SIGTERM: the child is already stopped; say so in the journal and stop here.
    private func interrupted(_ step: StepKind, context: RunContext) throws -> InterruptedError {
        try context.record(JournalRecord(kind: .step, run: context.plan.runID, step: step, event: .interrupted,
                                         message: "interrupted by a signal"))
        context.delegate.handle(.warning("interrupted during \(step.rawValue); rerun the same command to resume"))
        return InterruptedError(step: step)
    }
}

public struct InterruptedError: LocalizedError, RejoinFailure {
    public var step: StepKind
    public var exitStatus: ExitStatus { .interrupted }
    public var errorDescription: String? {
        "interrupted during step \(step.rawValue); the journal records where it stopped. Rerun the same command to resume"
    }
}
