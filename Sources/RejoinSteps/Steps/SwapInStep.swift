import Foundation

/// Step 7: the complete, configured copy becomes PGDATA by one rename (invariant 2).
public struct SwapInStep: Step {
    public let kind = StepKind.swapIn
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String { "rename \(plan.stagingDirectory) to \(plan.pgdata)" }

    public func isDone(_ context: RunContext) async throws -> Bool {
        guard let id = context.stagingIdentity else { return false }
        return FileIdentity.of(context.plan.pgdata) == id
            && context.clonedTablespaces.allSatisfy { TablespaceMoves.isSwappedIn($0, identity: context.tablespaceIdentity($0)) }
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        guard let id = context.stagingIdentity, FileIdentity.of(plan.stagingDirectory) == id else {
            throw StepError.newDataMissing(staging: plan.stagingDirectory, pgdata: plan.pgdata)
        }
        guard !Files.exists(plan.pgdata) else { throw StepError.pgdataOccupied(pgdata: plan.pgdata) }
        // The tablespaces first: PGDATA's own rename is the last, so a new copy at PGDATA is
        // always whole.
        for tablespace in context.clonedTablespaces {
            if try TablespaceMoves.swapIn(tablespace, run: plan.runID, identity: context.tablespaceIdentity(tablespace),
                                          newData: plan.stagingDirectory) {
                FaultInjection.point(kind, .during)
            }
        }
        try Files.rename(plan.stagingDirectory, to: plan.pgdata)
        FaultInjection.point(kind, .during)
        chmod(plan.pgdata, 0o700)
        return ["summary": "\(plan.pgdata) is the new copy"]
    }
}
