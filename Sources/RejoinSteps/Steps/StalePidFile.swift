import Foundation

/// A crashed server's postmaster.pid (its pid gone, a zombie, or reused by another program)
/// makes postgres refuse to start. It is moved into the working directory, not deleted, and only
/// when no live postgres owns it; postgres still checks its shared memory itself.
enum StalePidFile {
    /// `control`: pg_controldata's answer when the caller just read it.
    static func moveAside(from dataDirectory: String, context: RunContext, control: ControlData? = nil) async throws {
        try await moveAside(from: dataDirectory, to: destination(context.plan), tools: context.tools, control: control)
    }

    /// Where a run keeps a stale pid file it moved: its working directory.
    static func destination(_ plan: RejoinPlan) -> String { plan.workDirectory + "/postmaster.pid.stale-\(plan.runID)" }

    static func moveAside(from dataDirectory: String, to destination: String, tools: PgTools, control: ControlData? = nil) async throws {
        guard Files.exists(dataDirectory + "/postmaster.pid"),
              case .crashed = try await LocalServerState.inspect(dataDirectory, tools: tools, control: control) else { return }
        try Files.rename(dataDirectory + "/postmaster.pid", to: destination)
    }
}
