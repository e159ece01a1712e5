import Foundation

/// Chooses between pg_rewind (time follows the divergence) and pg_basebackup (time follows the
/// database size), from named checks, and records why in the plan.
public enum MethodChoice {
    /// `control`, `upstreamTimeline` and `upstreamSettings`: what preflight just read.
    public static func choose(_ plan: RejoinPlan, requested: RejoinMethod, tools: PgTools,
                              control: ControlData, upstreamTimeline: Int, upstreamSettings: RewindSettings? = nil) async throws -> RejoinPlan {
        var plan = plan
        plan.requestedMethod = requested.rawValue
        let keepConfig = plan.steps.contains(.keepLocalConfig)
        if DamagedDirectory.isMarked(plan.pgdata) {
            // Half-rewritten by an interrupted pg_rewind: only a full copy makes a standby of it,
            // and it is set aside marked, never offered back as the old data.
            let reason = "the data directory was partly rewritten by an interrupted pg_rewind (\(DamagedDirectory.markerName))"
            if requested == .rewind { throw PreflightError.rewindNotPossible(reasons: [reason]) }
            plan.decisions = ["method basebackup: \(reason)"]
            plan.oldDataDamaged = true
            plan.localConfigDirectory = DamagedDirectory.savedLocalConfig(of: plan.pgdata)
            return switchTo(.basebackup, plan: plan, keepConfig: keepConfig)
        }
        if requested == .basebackup {
            plan.decisions = ["method basebackup: requested"]
            return switchTo(.basebackup, plan: plan, keepConfig: keepConfig)
        }
        var checks = RewindChecks.run(control: control, tools: tools, endpoint: plan.upstream, upstreamTimeline: upstreamTimeline,
                                       known: upstreamSettings)
        if let check = tablespaceCheck(plan.tablespaces ?? []) { checks.append(check) }
        plan.decisions = checks.map { "rewind check \($0.line)" }
        let failed = checks.filter { !$0.passed }
        if failed.isEmpty {
            plan.decisions?.append("method rewind: every rewind check passed")
            plan.localConfigDirectory = plan.workDirectory + "/local-config-\(plan.runID)"
            return switchTo(.rewind, plan: plan, keepConfig: keepConfig)
        }
        if requested == .rewind {
            throw PreflightError.rewindNotPossible(reasons: failed.map { "\($0.name): \($0.detail)" })
        }
        plan.decisions?.append("method basebackup: pg_rewind is not possible (\(failed.map(\.name).joined(separator: ", "))), "
                               + "so a full copy, whose time follows the database size; the check above says what would allow a rewind")
        return switchTo(.basebackup, plan: plan, keepConfig: keepConfig)
    }

    /// pg_rewind works through the node's own tablespace links; one the upstream created after
    /// the fork it would link to the upstream's path without creating it there. The copy path
    /// creates it where streaming replication would.
    static func tablespaceCheck(_ tablespaces: [TablespacePlan]) -> RewindCheck? {
        guard !tablespaces.isEmpty else { return nil }
        let missing = tablespaces.filter { !$0.local }
        if missing.isEmpty {
            return RewindCheck(name: "tablespaces", passed: true,
                               detail: "this node has every tablespace of the upstream (\(tablespaces.map(\.label).joined(separator: ", "))); pg_rewind works through their links")
        }
        return RewindCheck(name: "tablespaces", passed: false,
                           detail: "the upstream has \(missing.map(\.label).joined(separator: ", ")), which this node lacks (created after the fork); a full copy creates it at \(missing.map(\.location).joined(separator: ", "))")
    }

    /// After pg_rewind failed or was interrupted: a full copy, with the directory pg_rewind
    /// worked on set aside like any old data directory.
    public static func fallback(from plan: RejoinPlan, reason: String) -> RejoinPlan {
        var next = switchTo(.basebackup, plan: plan, keepConfig: plan.steps.contains(.keepLocalConfig))
        next.decisions = (plan.decisions ?? []) + ["fell back to basebackup: \(reason)"]
        return next
    }

    static func switchTo(_ method: RejoinMethod, plan: RejoinPlan, keepConfig: Bool) -> RejoinPlan {
        var plan = plan
        plan.method = method.rawValue
        plan.steps = RejoinPlan.steps(for: method, keepConfig: keepConfig)
        return plan
    }
}
