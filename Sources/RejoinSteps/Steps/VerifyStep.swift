import Foundation

/// Step 9: proof, not hope. Locally the server is in recovery and its WAL receiver streams from
/// the upstream; on the upstream, pg_stat_replication shows this node streaming; and replay has
/// reached the upstream's WAL position taken when verify began.
public struct VerifyStep: Step {
    public let kind = StepKind.verify
    public init() {}

    public func describe(_ plan: RejoinPlan) -> String {
        "wait up to \(plan.verifyTimeout) s for streaming from \(plan.upstream.address) and replay to catch up"
    }

    /// Never skipped: it is cheap when all is well, and it is the point of the whole run.
    public func isDone(_ context: RunContext) async throws -> Bool { false }

    public func run(_ context: RunContext) async throws -> [String: String] {
        let plan = context.plan
        let deadline = Date().addingTimeInterval(TimeInterval(plan.verifyTimeout))
        var target: String?
        var waitingFor = "the local server to accept connections"
        var warnedPrivilege = false
        // Right after start the WAL receiver is usually a few milliseconds from streaming:
        // look again soon, then less and less often (each look is a connection to the upstream).
        var pause: UInt64 = 50_000_000
        while true {
            do {
                let upstream = try plan.upstream.connectSQL()
                if target == nil { target = try upstream.value("SELECT pg_current_wal_lsn()::text") }
                FaultInjection.point(kind, .during)
                let local = try LocalEndpoint.connect(dataDirectory: plan.pgdata, user: plan.localUser)
                let status = try StandbyStatus.read(local)
                if !status.inRecovery {
                    waitingFor = "recovery (the server is not in recovery: standby.signal missing?)"
                } else if !status.isStreaming(from: plan.upstream.address) {
                    waitingFor = "the WAL receiver to stream from \(plan.upstream.address) (now: \(status.receiverStatus ?? "not running"))"
                } else if let target, try local.value("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", [target]) != "t" {
                    waitingFor = "replay to reach \(target) (now \(status.replayLSN ?? "?"))"
                } else {
                    let states = try upstream.query("SELECT state FROM pg_stat_replication WHERE application_name = $1", [plan.nodeName])
                        .map { $0.first ?? nil }
                    let slotInUse = try plan.slotName.map { try ReplicationSlots.usedBy($0, applicationName: plan.nodeName, on: upstream) }
                    switch UpstreamSideCheck(states: states) {
                    case _ where slotInUse.map({ !$0.ours }) ?? false:
                        waitingFor = "the upstream to show slot \(plan.slotName ?? "") in use by this standby (active: \(slotInUse?.active == true ? "by another walsender" : "no"))"
                    case .notListed:
                        waitingFor = "the upstream to list application_name \(plan.nodeName) in pg_stat_replication"
                    case .streaming:
                        Self.housekeeping(context, upstream: upstream, local: local)
                        return Self.verified(plan, target: target, lag: Self.lag(upstream: upstream, local: local))
                    case .hidden:
                        // A role without pg_read_all_stats sees the walsender's row with its
                        // state NULL: the local receiver and the replay position are the proof.
                        if !warnedPrivilege {
                            context.delegate.handle(.warning(UpstreamSideCheck.skippedMessage(user: plan.upstream.user)))
                            warnedPrivilege = true
                        }
                        Self.housekeeping(context, upstream: upstream, local: local)
                        var facts = Self.verified(plan, target: target, lag: Self.lag(upstream: upstream, local: local))
                        facts["verify.upstream-side"] = "skipped"
                        return facts
                    case let .other(seen):
                        waitingFor = "the upstream to report \(plan.nodeName) as streaming (now \(seen.joined(separator: ",")))"
                    }
                }
            } catch let error as PgError {
                waitingFor = error.errorDescription ?? waitingFor
            }
            if Date() >= deadline {
                throw StepError.verifyTimedOut(seconds: plan.verifyTimeout, waitingFor: waitingFor, logTail: Self.tail(of: plan.serverLog, lines: 15))
            }
            try await Task.sleep(nanoseconds: pause)
            pause = min(pause * 2, 500_000_000)
        }
    }

    /// Once the standby streams: the old primary's own slots that came along are dropped (on a
    /// standby they would hold WAL back forever), and a slot on the upstream named after this
    /// node that it does not use is reported (it holds WAL back there).
    static func housekeeping(_ context: RunContext, upstream: PgConnection, local: PgConnection) {
        let plan = context.plan
        let dropped = ReplicationSlots.dropCarriedOver(plan.carriedSlots ?? [], local: local)
        if !dropped.isEmpty {
            context.delegate.handle(.info("dropped the old primary's replication slot(s) \(dropped.joined(separator: ", ")) on this standby (they would hold its WAL back)"))
        }
        for slot in ReplicationSlots.forgotten(nodeName: plan.nodeName, using: plan.slotName, on: upstream) {
            context.delegate.handle(.warning("the upstream has an inactive slot \(slot), named after this node, which this standby does not use: it holds WAL back on the upstream. Rejoin with --slot \(slot) to use it, or drop it there: SELECT pg_drop_replication_slot('\(slot)')"))
        }
    }

    static func verified(_ plan: RejoinPlan, target: String?, lag: UInt64?) -> [String: String] {
        var facts = ["verify.lsn": target ?? "",
                     "summary": "streaming from \(plan.upstream.address), replayed to \(target ?? "?")"
                        + (lag.map { ", \(ByteCount.format($0)) behind" } ?? "")]
        if let lag { facts["verify.lag.bytes"] = String(lag) }
        return facts
    }

    /// How far the standby's replay is behind the upstream's WAL right now, in bytes. Needs no
    /// privilege on the upstream: the local replay position is sent as a parameter.
    static func lag(upstream: PgConnection, local: PgConnection) -> UInt64? {
        guard let replayed = try? local.value("SELECT pg_last_wal_replay_lsn()::text"),
              let diff = try? upstream.value("SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn), 0)::bigint::text", [replayed]) else {
            return nil
        }
        return UInt64(diff)
    }

    static func tail(of path: String, lines: Int) -> [String] {
        guard let text = Files.read(path) else { return [] }
        return Array(text.split(separator: "\n").suffix(lines).map(String.init))
    }
}

/// What the upstream's pg_stat_replication says of this node's walsender(s). A NULL state is
/// what a role without pg_read_all_stats sees: the row is there, its state is hidden.
enum UpstreamSideCheck: Equatable {
    case notListed
    case streaming
    case hidden
    case other([String])

    init(states: [String?]) {
        if states.isEmpty {
            self = .notListed
        } else if states.contains("streaming") {
            self = .streaming
        } else if states.allSatisfy({ $0 == nil }) {
            self = .hidden
        } else {
            self = .other(states.compactMap { $0 })
        }
    }

    static func skippedMessage(user: String) -> String {
        "the upstream-side check was skipped: role \(user) cannot read pg_stat_replication.state on the upstream; "
            + "verified by the local WAL receiver and the replay position instead (GRANT pg_monitor TO \(user) enables the check)"
    }
}
