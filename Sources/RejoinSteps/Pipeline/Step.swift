/// One resumable step of a rejoin.
public protocol Step: Sendable {
    var kind: StepKind { get }
    /// A cheap look at the real world: is this step's effect already in place? A rerun trusts
    /// this over the journal. It must stay true after later steps ran.
    func isDone(_ context: RunContext) async throws -> Bool
    /// Does the work from the start. An interrupted run calls it again, so it must first make
    /// any half-done state safe. Returns facts for the journal (paths, sizes; never secrets).
    func run(_ context: RunContext) async throws -> [String: String]
    /// One line for the output and --dry-run: what this step will touch.
    func describe(_ plan: RejoinPlan) -> String
}
