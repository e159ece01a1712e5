import Foundation

/// Step 2: the old server must be down before its directory moves. A standby is stopped; a
/// primary only got this far with --demote (preflight refused otherwise): fast, then immediate.
public struct StopLocalStep: Step {
    public let kind = StepKind.stopLocal
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String { "stop the local server in \(plan.pgdata) if it runs" }

    public func isDone(_ context: RunContext) async throws -> Bool {
        // In place (rewind), the server running after `start` is the new standby, not the old one.
        if context.plan.isRewind && context.state.status[.start] != nil { return true }
        guard let old = context.oldDataLocation() else { return false }
        return !(try await LocalServerState.inspect(old, tools: context.tools).isRunning)
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        guard let old = context.oldDataLocation() else {
            throw StepError.oldDataMissing(pgdata: context.plan.pgdata, expected: context.plan.oldDataDirectory)
        }
        try await PreflightStep.recheckUpstream(context.plan)
        let fast = try await context.tools.stop(old, mode: "fast", timeoutSeconds: 60)
        FaultInjection.point(kind, .during)
        if !(try await context.tools.isRunning(old)) { return ["summary": "stopped (fast)"] }
        context.delegate.handle(.warning("fast shutdown did not finish (\(fast.statusDescription)); using immediate shutdown"))
        let immediate = try await context.tools.stop(old, mode: "immediate", timeoutSeconds: 60)
        if !(try await context.tools.isRunning(old)) { return ["summary": "stopped (immediate)"] }
        throw StepError.stopFailed(pgdata: old, detail: immediate.standardErrorTail.last ?? immediate.statusDescription)
    }
}
