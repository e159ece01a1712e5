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
            let started = Date()
            try context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .started))
            context.delegate.handle(.stepStarted(step.kind, detail: step.describe(context.plan)))
            context.logger.info("step started", metadata: ["step.kind": "\(step.kind.rawValue)"])
            do {
                let facts = try await step.run(context)
                let elapsed = Date().timeIntervalSince(started)
                seconds[step.kind] = elapsed
                try context.record(JournalRecord(kind: .step, run: run, step: step.kind, event: .done, facts: facts))
                context.delegate.handle(.stepFinished(step.kind, seconds: elapsed, detail: facts["summary"] ?? ""))
                context.logger.info("step done", metadata: ["step.kind": "\(step.kind.rawValue)", "step.seconds": "\(elapsed)"])
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
}
