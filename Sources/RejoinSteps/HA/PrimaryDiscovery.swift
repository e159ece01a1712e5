import Foundation

/// What one peer said when asked (or why it did not answer).
public struct PeerObservation: Sendable, Equatable, CustomStringConvertible {
    public enum Role: Sendable, Equatable {
        case primary
        case standby
        case unreachable(String)
    }

    public var address: UpstreamAddress
    public var role: Role
    /// The peer's current timeline (IDENTIFY_SYSTEM): where a primary writes, where a standby
    /// replays.
    public var timeline: Int?
    public var systemIdentifier: String?
    /// A primary's current WAL position, a standby's replay position.
    public var walPosition: LSN?
    /// The local server answered at this address (its backend is a child of the local
    /// postmaster): the peer list names this node too, as a shared config does.
    public var isLocal: Bool

    public init(address: UpstreamAddress, role: Role, timeline: Int? = nil, systemIdentifier: String? = nil,
                walPosition: LSN? = nil, isLocal: Bool = false) {
        self.address = address
        self.role = role
        self.timeline = timeline
        self.systemIdentifier = systemIdentifier
        self.walPosition = walPosition
        self.isLocal = isLocal
    }

    public var isPrimary: Bool { role == .primary }

    public var description: String {
        let local = isLocal ? " (this node)" : ""
        switch role {
        case .primary: return "\(address)\(local): primary" + (timeline.map { " on timeline \($0)" } ?? "")
        case .standby: return "\(address)\(local): standby" + (timeline.map { " on timeline \($0)" } ?? "")
        case let .unreachable(why): return "\(address): no answer (\(why))"
        }
    }
}

public enum DiscoveryError: LocalizedError, RejoinFailure, Equatable {
    case noPeers
    case noPrimary(peers: [PeerObservation])
    case splitBrain(primaries: [PeerObservation])

    public var exitStatus: ExitStatus {
        switch self {
        case .noPeers: return .refused
        case .noPrimary: return .noPrimary
        case .splitBrain: return .splitBrain
        }
    }

    public var errorDescription: String? {
        switch self {
        case .noPeers:
            return "--from auto needs the cluster's nodes: pass --peers HOST:PORT,HOST:PORT or set `peers` in the config file. Nothing was changed"
        case let .noPrimary(peers):
            return "no primary among the peers (\(peers.map(\.description).joined(separator: "; "))); promote one, or pass --from the primary. Nothing was changed"
        case let .splitBrain(primaries):
            return "SPLIT BRAIN: more than one primary: \(primaries.map(\.description).joined(separator: "; ")). pg-rejoin will not choose; fence one of them, then rejoin it with --from the other. Nothing was changed"
        }
    }
}

/// Asks every peer, all at once and each with a short connect timeout, whether it is a primary.
/// Exactly one primary is an answer; two is split brain; none is none. The rejoin re-checks the
/// chosen one before its first destructive step (preflight's recheck), so a primary that
/// changes its mind in between is caught.
public enum PrimaryDiscovery {
    /// Probes every peer in parallel (one thread each: libpq connects block) and returns the
    /// observations in the order given. `localPostmaster`: the pid of the local server if it
    /// runs, to recognise the peer entry that is this node.
    public static func observe(_ peers: [UpstreamAddress], template: UpstreamEndpoint,
                               localPostmaster: Int32?) async -> [PeerObservation] {
        guard !peers.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let results = Results(count: peers.count)
            let group = DispatchGroup()
            for (index, peer) in peers.enumerated() {
                group.enter()
                var endpoint = template
                endpoint.address = peer
                let thread = Thread {
                    results.set(index, probe(endpoint, localPostmaster: localPostmaster))
                    group.leave()
                }
                thread.start()
            }
            group.notify(queue: .global()) { continuation.resume(returning: results.all) }
        }
    }

    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [PeerObservation?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: PeerObservation) { lock.withLock { values[index] = value } }
        var all: [PeerObservation] { lock.withLock { values.compactMap { $0 } } }
    }

    /// One peer: an SQL connection (role, position, whether it is the local server) and a
    /// replication connection (system identifier and current timeline, as IDENTIFY_SYSTEM
    /// reports them right after a promotion).
    public static func probe(_ endpoint: UpstreamEndpoint, localPostmaster: Int32?) -> PeerObservation {
        var observation = PeerObservation(address: endpoint.address, role: .unreachable("not asked"))
        do {
            let sql = try endpoint.connectSQL()
            guard let row = try sql.query("""
                SELECT pg_is_in_recovery(), pg_backend_pid(),
                       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text
                """).first, row.count == 3 else {
                return PeerObservation(address: endpoint.address, role: .unreachable("unexpected answer"))
            }
            observation.role = row[0] == "t" ? .standby : .primary
            observation.walPosition = row[2].flatMap { LSN($0) }
            if let localPostmaster, let backend = row[1].flatMap({ Int32($0) }) {
                observation.isLocal = UpstreamProbe.parentPid(of: backend) == localPostmaster
            }
        } catch {
            let message = (error as? PgError)?.serverMessage ?? "\(error)"
            return PeerObservation(address: endpoint.address, role: .unreachable(message.isEmpty ? "\(error)" : message))
        }
        // The role is known; the identity is a bonus a refused replication door must not hide.
        if let replication = try? endpoint.connectReplication(),
           let identity = try? replication.query("IDENTIFY_SYSTEM").first, identity.count >= 2 {
            observation.systemIdentifier = identity[0]
            observation.timeline = identity[1].flatMap { Int($0) }
        }
        return observation
    }

    /// The one primary among the peers that are not this node and belong to this cluster
    /// (`systemIdentifier`, when known).
    public static func primary(among observations: [PeerObservation], systemIdentifier: String?) throws -> PeerObservation {
        guard !observations.isEmpty else { throw DiscoveryError.noPeers }
        let primaries = remotePrimaries(observations, systemIdentifier: systemIdentifier)
        if primaries.count > 1 { throw DiscoveryError.splitBrain(primaries: primaries) }
        guard let primary = primaries.first else { throw DiscoveryError.noPrimary(peers: observations) }
        return primary
    }

    /// Primaries other than this node, of this cluster (a peer of another cluster never counts).
    public static func remotePrimaries(_ observations: [PeerObservation], systemIdentifier: String?) -> [PeerObservation] {
        observations.filter { peer in
            guard peer.isPrimary, !peer.isLocal else { return false }
            guard let mine = systemIdentifier, let theirs = peer.systemIdentifier else { return true }
            return mine == theirs
        }
    }

    /// observe + primary.
    public static func discover(_ peers: [UpstreamAddress], template: UpstreamEndpoint, localPostmaster: Int32?,
                                systemIdentifier: String?) async throws -> (primary: PeerObservation, observations: [PeerObservation]) {
        guard !peers.isEmpty else { throw DiscoveryError.noPeers }
        let observations = await observe(peers, template: template, localPostmaster: localPostmaster)
        return (try primary(among: observations, systemIdentifier: systemIdentifier), observations)
    }
}
