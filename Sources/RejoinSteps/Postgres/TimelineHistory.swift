/// A timeline history file (`0000000N.history`, or the answer to TIMELINE_HISTORY): one line per
/// ancestor timeline, "TLI<tab>LSN<tab>reason", where LSN is where that timeline ended and the
/// next one forked off.
public struct TimelineHistory: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var timeline: Int
        public var switchPoint: LSN
    }

    public var entries: [Entry]

    public init(parsing text: String) {
        entries = text.split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#") else { return nil }
            let fields = trimmed.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let tli = Int(fields[0]), let lsn = LSN(String(fields[1])) else { return nil }
            return Entry(timeline: tli, switchPoint: lsn)
        }
    }

    /// Where `timeline` ended in this history: the fork point for a server still on it.
    public func forkPoint(of timeline: Int) -> LSN? {
        entries.first { $0.timeline == timeline }?.switchPoint
    }
}

/// Whether a failed primary diverged from the new one, from the upstream's timeline history and
/// the local control file (after a clean shutdown).
public enum Divergence: Equatable, Sendable {
    /// The local WAL ends before the fork: nothing to undo, only standby config is needed.
    case notDiverged(fork: LSN?)
    /// The local WAL goes past the fork point: the records after it must be rewound.
    case diverged(fork: LSN, localEnd: LSN)
    /// Same timeline, but the local server is ahead of the upstream: pg_rewind cannot see it.
    case aheadOnSameTimeline(localEnd: LSN, upstreamEnd: LSN)
    /// The local timeline is not in the upstream's history.
    case unrelatedTimelines(local: Int, upstream: Int)

    /// As pg_rewind decides (pg_rewind.c): the target's WAL ends at the end of its last
    /// checkpoint record, or at its minimum recovery point when that is later, and it diverged
    /// when that end is past the fork. A checkpoint record that starts at the fork ends past it
    /// (records start and end on record boundaries, and the fork is one), so it is divergence.
    public static func decide(localTimeline: Int, local: WALEnd, upstreamTimeline: Int, upstreamEnd: LSN,
                              history: TimelineHistory) -> Divergence {
        if localTimeline == upstreamTimeline {
            return local.isPast(upstreamEnd) ? .aheadOnSameTimeline(localEnd: local.atLeast, upstreamEnd: upstreamEnd) : .notDiverged(fork: nil)
        }
        guard localTimeline < upstreamTimeline, let fork = history.forkPoint(of: localTimeline) else {
            return .unrelatedTimelines(local: localTimeline, upstream: upstreamTimeline)
        }
        return local.isPast(fork) ? .diverged(fork: fork, localEnd: local.atLeast) : .notDiverged(fork: fork)
    }
}

/// Where a cleanly shut down cluster's WAL ends, from its control file: its last checkpoint
/// record (which ends after where it starts) and, for a standby, its minimum recovery point.
public struct WALEnd: Equatable, Sendable {
    public var checkpoint: LSN
    public var minRecoveryPoint: LSN

    public init(checkpoint: LSN, minRecoveryPoint: LSN = LSN(0)) {
        self.checkpoint = checkpoint
        self.minRecoveryPoint = minRecoveryPoint
    }

    /// The WAL goes beyond `position`: the checkpoint record starts at or after it (and so
    /// ends after it), or recovery had to reach past it.
    public func isPast(_ position: LSN) -> Bool {
        checkpoint >= position || minRecoveryPoint > position
    }

    /// A lower bound of the end, for messages and reports.
    public var atLeast: LSN { max(checkpoint, minRecoveryPoint) }
}
