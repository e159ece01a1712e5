import Foundation

/// Everything `heal` observed: the local server, an unfinished run, and every peer. Plain
/// values, so the decision is a pure function that unit tests drive through every state.
public struct HealFacts: Sendable, Equatable {
    public enum Local: Sendable, Equatable {
        case runningPrimary(timeline: Int)
        case runningStandby(StandbyFacts)
        /// Not running: stopped cleanly, or crashed (a stale postmaster.pid).
        case down(timeline: Int?, wasStandby: Bool, note: String)
        /// A standby shut down cleanly (maintenance, a reboot): its control file says where its
        /// WAL ends and standby.signal is there. It may need only a start.
        case stoppedStandby(StandbyFacts)
        /// A rejoin stopped part-way; PGDATA may be set aside.
        case unfinishedRun(upstream: UpstreamAddress)
        /// Another pg-rejoin holds the lock now.
        case busy(pid: Int32?)
    }

    /// A running local standby: where it streams from and how far it got.
    public struct StandbyFacts: Sendable, Equatable {
        /// The highest timeline it has seen (checkpoint, min recovery point, WAL receiver).
        public var timeline: Int
        /// The furthest WAL it has received or replayed: what a new upstream must contain.
        public var position: LSN?
        /// The sender while the WAL receiver streams.
        public var streamingFrom: UpstreamAddress?
        /// host and port of primary_conninfo.
        public var configuredUpstream: UpstreamAddress?
        public var receiverStatus: String?
        /// False while it replays after a start and refuses connections: nothing above is
        /// known for sure then.
        public var acceptingConnections: Bool

        public init(timeline: Int, position: LSN?, streamingFrom: UpstreamAddress?, configuredUpstream: UpstreamAddress?,
                    receiverStatus: String?, acceptingConnections: Bool = true) {
            self.timeline = timeline
            self.position = position
            self.streamingFrom = streamingFrom
            self.configuredUpstream = configuredUpstream
            self.receiverStatus = receiverStatus
            self.acceptingConnections = acceptingConnections
        }
    }

    public var local: Local
    public var systemIdentifier: String?
    public var peers: [PeerObservation]
    /// The history of the remote primary's timeline, fetched when a local standby is on an
    /// older timeline and might be repointed.
    public var primaryHistory: TimelineHistory?
    public var demoteOnSplitBrain: Bool

    public init(local: Local, systemIdentifier: String?, peers: [PeerObservation], primaryHistory: TimelineHistory? = nil,
                demoteOnSplitBrain: Bool = false) {
        self.local = local
        self.systemIdentifier = systemIdentifier
        self.peers = peers
        self.primaryHistory = primaryHistory
        self.demoteOnSplitBrain = demoteOnSplitBrain
    }

    /// Primaries other than this node, of this cluster.
    public var remotePrimaries: [PeerObservation] {
        PrimaryDiscovery.remotePrimaries(peers, systemIdentifier: systemIdentifier)
    }
}

/// What `heal` does about what it saw. Decided by `HealDecision.decide`, a pure function.
public enum HealDecision: Sendable, Equatable, CustomStringConvertible {
    /// Streams from the current primary: nothing to do.
    case healthyStandby(primary: UpstreamAddress)
    /// The only primary: nothing to do.
    case healthyPrimary
    /// Configured for the current primary, on a timeline that can follow it, but not streaming
    /// at this instant (reconnecting, catching up from the archive): left alone.
    case standbyConnecting(primary: UpstreamAddress, status: String)
    /// A standby still starting up (not accepting connections): judged once it does.
    case standbyStarting
    /// Make this node a standby of `from` (the full pipeline, resuming an unfinished run first).
    case rejoin(from: UpstreamAddress, demote: Bool, reason: String)
    /// Finish the unfinished run toward `from`.
    case resume(from: UpstreamAddress)
    /// Point the running standby at `to` (primary_conninfo, reload or restart), no copy.
    case repoint(to: UpstreamAddress, reason: String)
    /// Start the cleanly stopped standby as it is: it is configured for the primary and its
    /// timeline can follow it. Never a copy for a node stopped for maintenance.
    case startStandby(primary: UpstreamAddress, reason: String)
    /// Two or more primaries: alert, change nothing.
    case splitBrain(primaries: [String])
    /// No primary among the peers: nothing to follow.
    case noPrimary(detail: String)
    /// Another pg-rejoin works on this data directory now.
    case busy(pid: Int32?)
    /// A state heal must not touch on its own.
    case refuse(reason: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .healthyStandby, .healthyPrimary, .standbyConnecting, .standbyStarting, .rejoin, .resume, .repoint, .startStandby: return .ok
        case .splitBrain: return .splitBrain
        case .noPrimary: return .noPrimary
        case .busy: return .locked
        case .refuse: return .refused
        }
    }

    /// Whether carrying it out changes anything.
    public var acts: Bool {
        switch self {
        case .rejoin, .resume, .repoint, .startStandby: return true
        default: return false
        }
    }

    /// Whether waiting may change it (a promotion under way, a run about to finish).
    public var isTransient: Bool {
        switch self {
        case .noPrimary, .splitBrain, .standbyConnecting, .standbyStarting: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case let .healthyStandby(primary): return "healthy: streaming standby of \(primary)"
        case .healthyPrimary: return "healthy: the only primary"
        case .standbyStarting: return "the local standby is starting up and does not accept connections yet; left alone until it does"
        case let .standbyConnecting(primary, status):
            return "standby of \(primary), not streaming at this moment (\(status)); its timeline can follow, so it is left alone"
        case let .rejoin(from, demote, reason):
            return "rejoin as a standby of \(from)" + (demote ? " (stopping the local primary)" : "") + ": \(reason)"
        case let .resume(from): return "resume the unfinished rejoin from \(from)"
        case let .repoint(to, reason): return "repoint the standby to \(to) without a copy: \(reason)"
        case let .startStandby(primary, reason): return "start the stopped standby of \(primary) as it is, no copy: \(reason)"
        case let .splitBrain(primaries): return "SPLIT BRAIN: more than one primary: \(primaries.joined(separator: "; "))"
        case let .noPrimary(detail): return "no primary to follow: \(detail)"
        case let .busy(pid): return "another pg-rejoin (pid \(pid.map(String.init) ?? "?")) works on this data directory"
        case let .refuse(reason): return "refused: \(reason)"
        }
    }

    public static func decide(_ facts: HealFacts) -> HealDecision {
        if case let .busy(pid) = facts.local { return .busy(pid: pid) }
        let primaries = facts.remotePrimaries
        let answered = facts.peers.filter { if case .unreachable = $0.role { return false } else { return true } }
        let peerList = facts.peers.isEmpty ? "no peers configured" : facts.peers.map(\.description).joined(separator: "; ")
        if primaries.count > 1 {
            var named = primaries.map(\.description)
            if case let .runningPrimary(timeline) = facts.local { named.insert("this node: primary on timeline \(timeline)", at: 0) }
            return .splitBrain(primaries: named)
        }
        let primary = primaries.first

        switch facts.local {
        case .busy:
            return .busy(pid: nil)

        case let .unfinishedRun(upstream):
            guard let primary else { return .noPrimary(detail: "an unfinished run waits to rejoin from \(upstream), and no peer is a primary (\(peerList))") }
            guard primary.address == upstream else {
                return .refuse(reason: "an unfinished run rejoins from \(upstream), but the primary is now \(primary.address); finish or undo it by hand (`pg-rejoin status`, `pg-rejoin abort`), then heal again")
            }
            return .resume(from: upstream)

        case let .runningPrimary(timeline):
            guard let primary else { return .healthyPrimary }
            // A running primary takes writes, whatever its timeline: a stale one (an older
            // timeline) may serve clients that connect to it directly. Stopping it throws
            // those writes away, so heal only alerts unless the operator said it may
            // (heal.demote_on_split_brain): the same rule for every two-primary state.
            var named = ["this node: primary on timeline \(timeline)", primary.description]
            if let theirs = primary.timeline, theirs > timeline {
                named[0] = "this node: a stale primary on timeline \(timeline), older than \(primary.address)'s \(theirs)"
            }
            if facts.demoteOnSplitBrain {
                return .rejoin(from: primary.address, demote: true,
                               reason: "two primaries (\(named.joined(separator: "; "))) and demote_on_split_brain is set")
            }
            return .splitBrain(primaries: named)

        case let .down(_, _, note):
            guard let primary else {
                return .noPrimary(detail: "the local server is down (\(note)) and no peer is a primary (\(answered.isEmpty ? "no peer answered: " : "")\(peerList))")
            }
            return .rejoin(from: primary.address, demote: false, reason: "the local server is down (\(note)) and \(primary.address) is the primary")

        case let .stoppedStandby(standby):
            guard let primary else {
                return .noPrimary(detail: "the local standby is stopped and no peer is a primary (\(peerList))")
            }
            let (follows, why) = canFollow(standby, primary: primary, history: facts.primaryHistory)
            if follows && standby.configuredUpstream == primary.address {
                return .startStandby(primary: primary.address, reason: "it was shut down cleanly, is configured for \(primary.address) and \(why)")
            }
            let now = standby.configuredUpstream.map { $0 == primary.address ? "is configured for it" : "is configured for \($0)" } ?? "has no upstream"
            return .rejoin(from: primary.address, demote: false,
                           reason: "the local standby is stopped and \(now), but cannot just start (\(follows ? "not configured for the primary" : why))")

        case let .runningStandby(standby):
            guard let primary else {
                return .noPrimary(detail: "this node is a standby and no peer is a primary (\(peerList))")
            }
            if standby.streamingFrom == primary.address { return .healthyStandby(primary: primary.address) }
            if !standby.acceptingConnections { return .standbyStarting }
            let (follows, why) = canFollow(standby, primary: primary, history: facts.primaryHistory)
            if standby.configuredUpstream == primary.address {
                if follows { return .standbyConnecting(primary: primary.address, status: standby.receiverStatus ?? "no WAL receiver") }
                return .rejoin(from: primary.address, demote: false,
                               reason: "this standby is configured for \(primary.address) but cannot follow it (\(why)); a full rejoin is needed")
            }
            let now = standby.streamingFrom.map { "streams from \($0)" }
                ?? standby.configuredUpstream.map { "is configured for \($0), which is not the primary" }
                ?? "has no upstream"
            if follows {
                return .repoint(to: primary.address, reason: "this standby \(now); \(primary.address) is the primary and \(why)")
            }
            return .rejoin(from: primary.address, demote: false,
                           reason: "this standby \(now); \(primary.address) is the primary, but a repoint is not safe (\(why)), so a full rejoin")
        }
    }

    /// Whether a standby can follow `primary` by streaming alone: the primary's history must
    /// contain everything the standby has, i.e. the standby's timeline is the primary's (and
    /// not ahead), or forked off it at or after the standby's position. Unsure means no.
    public static func canFollow(_ standby: HealFacts.StandbyFacts, primary: PeerObservation,
                                 history: TimelineHistory?) -> (Bool, String) {
        guard let theirs = primary.timeline else { return (false, "the primary's timeline is unknown") }
        let mine = standby.timeline
        if mine == theirs {
            guard let position = standby.position, let end = primary.walPosition else {
                return (true, "both are on timeline \(mine)")
            }
            return position <= end
                ? (true, "both are on timeline \(mine) and the standby (\(position)) is not ahead of the primary (\(end))")
                : (false, "the standby (\(position)) is ahead of the primary (\(end)) on timeline \(mine)")
        }
        if mine > theirs { return (false, "the standby's timeline \(mine) is newer than the primary's \(theirs)") }
        guard let history else { return (false, "the primary's timeline history is unknown") }
        guard let fork = history.forkPoint(of: mine) else {
            return (false, "timeline \(mine) is not in the primary's history of timeline \(theirs)")
        }
        guard let position = standby.position else { return (false, "the standby's WAL position is unknown") }
        return position <= fork
            ? (true, "its timeline \(mine) forked to the primary's at \(fork), at or after the standby's \(position)")
            : (false, "the standby has WAL up to \(position), past the fork point \(fork) of timeline \(mine)")
    }
}
