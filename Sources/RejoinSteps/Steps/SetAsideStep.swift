import Foundation

/// Step 3: the old data directory is renamed to a sibling, never deleted. Instant and atomic on
/// one filesystem; from here until verify passed the old data sits at `oldDataDirectory`.
public struct SetAsideStep: Step {
    public let kind = StepKind.setAside
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String { "rename \(plan.pgdata) to \(plan.oldDataDirectory)" }

    public func isDone(_ context: RunContext) async throws -> Bool {
        FileIdentity.of(context.plan.oldDataDirectory) == context.plan.oldDataIdentity
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        guard FileIdentity.of(plan.pgdata) == plan.oldDataIdentity else {
            throw StepError.oldDataMissing(pgdata: plan.pgdata, expected: plan.oldDataDirectory)
        }
        // Invariant 4: the last look at the upstream before PGDATA goes away.
        try await PreflightStep.recheckUpstream(plan)
        try Files.rename(plan.pgdata, to: plan.oldDataDirectory)
        FaultInjection.point(kind, .during)
        return ["old.path": plan.oldDataDirectory, "summary": "old data kept at \(plan.oldDataDirectory)"]
    }
}
