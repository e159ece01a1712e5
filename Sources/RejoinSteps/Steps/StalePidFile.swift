import Foundation

/// A crashed server's postmaster.pid (its pid gone, a zombie, or reused by another program)
/// makes postgres refuse to start. It is moved into the working directory, not deleted, and only
/// when no live postgres owns it; postgres still checks its shared memory itself.
enum StalePidFile {
    /// `control`: pg_controldata's answer when the caller just read it.
    static func moveAside(from dataDirectory: String, context: RunContext, control: ControlData? = nil) async throws {
        guard Files.exists(dataDirectory + "/postmaster.pid"),
              case .crashed = try await LocalServerState.inspect(dataDirectory, tools: context.tools, control: control) else { return }
        try Files.rename(dataDirectory + "/postmaster.pid",
                         to: context.plan.workDirectory + "/postmaster.pid.stale-\(context.plan.runID)")
    }
}
