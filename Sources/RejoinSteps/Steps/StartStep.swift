import Foundation

/// Step 8: pg_ctl -w start, log in the working directory.
public struct StartStep: Step {
    public let kind = StepKind.start
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String { "pg_ctl start -D \(plan.pgdata) (log \(plan.serverLog))" }

    public func isDone(_ context: RunContext) async throws -> Bool {
        // The new data directory must be in place (swapped in, or rewound in place) and running.
        guard context.newDataDirectory() == context.plan.pgdata else { return false }
        return try await LocalServerState.inspect(context.plan.pgdata, tools: context.tools).isRunning
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        // A server of this directory that died before (a kill during an earlier start, say).
        try await StalePidFile.moveAside(from: plan.pgdata, context: context)
        var result = try await context.tools.start(plan.pgdata, logFile: plan.serverLog, timeoutSeconds: max(60, plan.verifyTimeout)) { _ in
            FaultInjection.point(.start, .during)
        }
        // Right after a crash the old postmaster may linger as a zombie until its parent reaps it,
        // and PostgreSQL takes that pid in the socket lock file for a live server: a start that
        // failed at once gets two more tries a second apart.
        for _ in 0..<2 where !result.succeeded {
            guard !(try await context.tools.isRunning(plan.pgdata)) else { break }
            try await Task.sleep(nanoseconds: 1_000_000_000)
            result = try await context.tools.start(plan.pgdata, logFile: plan.serverLog, timeoutSeconds: max(60, plan.verifyTimeout))
        }
        guard result.succeeded else {
            let logTail = VerifyStep.tail(of: plan.serverLog, lines: 8).joined(separator: "\n  ")
            throw StepError.startFailed(pgdata: plan.pgdata, log: plan.serverLog,
                                        detail: (result.standardErrorTail.last ?? result.statusDescription)
                                            + (logTail.isEmpty ? "" : "; the server log ends with:\n  " + logTail))
        }
        return ["server.log": plan.serverLog, "summary": "started"]
    }
}
