import Foundation

/// Step 3: the old data directory is renamed to a sibling, never deleted. Instant and atomic on
/// one filesystem; from here until verify passed the old data sits at `oldDataDirectory`.
public struct SetAsideStep: Step {
    public let kind = StepKind.setAside
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String { "rename \(plan.pgdata) to \(plan.oldDataDirectory)" }

    public func isDone(_ context: RunContext) async throws -> Bool {
        let plan = context.plan
        return FileIdentity.of(plan.oldDataDirectory) == plan.oldDataIdentity
            && (plan.tablespaces ?? []).allSatisfy { !$0.local || TablespaceMoves.isSetAside($0, run: plan.runID) }
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        if FileIdentity.of(plan.oldDataDirectory) != plan.oldDataIdentity {
            guard FileIdentity.of(plan.pgdata) == plan.oldDataIdentity else {
                throw StepError.oldDataMissing(pgdata: plan.pgdata, expected: plan.oldDataDirectory)
            }
            // Invariant 4: the last look at the upstream before PGDATA goes away.
            try await PreflightStep.recheckUpstream(plan)
            try Files.rename(plan.pgdata, to: plan.oldDataDirectory)
            FaultInjection.point(kind, .during)
        }
        // Then each tablespace, beside its own files (a rerun finishes what a kill left).
        let local = (plan.tablespaces ?? []).filter(\.local)
        for tablespace in local {
            try TablespaceMoves.setAside(tablespace, run: plan.runID, oldData: plan.oldDataDirectory)
        }
        let beside = local.isEmpty ? "" : "; its tablespaces in " + local.map { $0.oldLocation(run: plan.runID) }.joined(separator: ", ")
        return ["old.path": plan.oldDataDirectory, "summary": "old data kept at \(plan.oldDataDirectory)\(beside)"]
    }
}
