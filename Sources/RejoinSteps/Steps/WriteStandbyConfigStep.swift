import Foundation

/// Step 6: standby.signal and a fresh primary_conninfo in postgresql.auto.conf. The conninfo
/// names host, port, user, application_name and passfile, then the node's own options (TLS,
/// keepalives, timeouts ...), every value quoted; never a password. The node's own standby
/// settings (restore_command, archive_cleanup_command, recovery_min_apply_delay,
/// primary_slot_name) are written back as preflight found them.
public struct WriteStandbyConfigStep: Step {
    public let kind = StepKind.writeStandbyConfig
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "write standby.signal and primary_conninfo (\(Self.primaryConninfo(plan)))"
    }

    public static func primaryConninfo(_ plan: RejoinPlan) -> String {
        var pairs: [(String, String)] = [
            ("host", plan.upstream.address.host),
            ("port", String(plan.upstream.address.port)),
            ("user", plan.upstream.user),
            ("application_name", plan.nodeName),
        ]
        if let passfile = plan.upstream.passfile { pairs.append(("passfile", passfile)) }
        for option in plan.conninfoOptions ?? [] where option.count == 2 { pairs.append((option[0], option[1])) }
        return Quoting.conninfo(pairs)
    }

    public static func rewrite(autoConf text: String, plan: RejoinPlan) -> String {
        var file = ConfigFile(text: text)
            .removing(KeepLocalConfigStep.topologySettings.union(NodeReplicationSettings.carried))
        for (key, value) in (plan.standbySettings ?? [:]).sorted(by: { $0.key < $1.key }) {
            file = file.setting(key, to: value)
        }
        return file.setting("primary_conninfo", to: primaryConninfo(plan)).text
    }

    public func isDone(_ context: RunContext) async throws -> Bool {
        guard let new = context.newDataDirectory(), Files.exists(new + "/standby.signal") else { return false }
        let current = Files.read(new + "/postgresql.auto.conf") ?? ""
        return current == Self.rewrite(autoConf: current, plan: context.plan)
    }

    public func run(_ context: RunContext) async throws -> [String: String] {
        guard let new = context.newDataDirectory() else {
            throw StepError.newDataMissing(staging: context.plan.stagingDirectory, pgdata: context.plan.pgdata)
        }
        var facts: [String: String] = [:]
        if let slot = context.plan.slotName {
            // Before the standby names it: a slot that does not exist would stop it streaming.
            let created = try ReplicationSlots.ensure(slot, on: context.plan.upstream)
            facts["slot"] = slot
            facts["slot.created"] = created ? "yes" : "no (it existed)"
        }
        let autoConf = new + "/postgresql.auto.conf"
        let rewritten = Self.rewrite(autoConf: Files.read(autoConf) ?? "", plan: context.plan)
        try Files.writeAtomically(Data(rewritten.utf8), to: autoConf, mode: 0o600)
        FaultInjection.point(kind, .during)
        try Files.removeTree(new + "/recovery.signal")
        try Files.writeAtomically(Data(), to: new + "/standby.signal", mode: 0o600)
        // Redone on a rerun while the standby already runs (someone changed its settings):
        // primary_conninfo and the slot are reloadable, so the running server takes them now.
        if context.state.status[.start] != nil, try await context.tools.isRunning(new) {
            _ = try await context.children.run(ChildCommand(context.tools.path("pg_ctl"), ["reload", "-D", new]).withoutPassword())
            facts["reloaded"] = "yes"
        }
        facts["summary"] = "standby of \(context.plan.upstream.address) as \(context.plan.nodeName)"
            + (context.plan.slotName.map { " through slot \($0)" + (facts["slot.created"] == "yes" ? " (created on the upstream)" : "") } ?? "")
        return facts
    }
}
