import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The local WAL after the fork: what a rewind throws away. Its segments are copied into
/// `PGDATA.rejoin/divergence-<run>/wal` before pg_rewind may touch pg_wal. Each segment is
/// copied under a temporary name, fsync'd and renamed, so a saved segment is always complete.
struct DivergentWAL {
    var directory: String
    var walCopy: String
    var segmentSize: UInt64

    init(directory: String, segmentSize: UInt64) {
        self.directory = directory
        walCopy = directory + "/wal"
        self.segmentSize = segmentSize
    }

    init(plan: RejoinPlan, control: ControlData) {
        self.init(directory: plan.workDirectory + "/divergence-\(plan.runID)",
                  segmentSize: control.fields["Bytes per WAL segment"].flatMap { UInt64($0) } ?? 16 << 20)
    }

    /// Copies the segments of `timeline` from the fork's segment through the one holding `last`,
    /// skipping segments already saved. Without `last` (a crashed server, before its recovery has
    /// found where the WAL ends) it copies through the most recently written segment: later
    /// names in pg_wal are recycled segments waiting for reuse (hundreds of MB on a big
    /// cluster), whose last write is older. A segment saved before crash recovery is kept as
    /// it is: it holds what the crashed server wrote, byte for byte.
    /// Returns how many segments the copy holds.
    @discardableResult
    func save(from pgdata: String, timeline: Int, fork: LSN, through last: LSN?) throws -> Int {
        try Files.makeDirectory(directory)
        try Files.makeDirectory(walCopy)
        let walDirectory = pgdata + "/pg_wal"
        let all = segments(in: walDirectory, timeline: timeline)
        // Without `last`: the segment written last is where the server crashed. Before the
        // fork's segment, nothing diverged and every later name is a recycled segment.
        let newest = all.max { ($0.modified.tv_sec, $0.modified.tv_nsec, $0.number) < ($1.modified.tv_sec, $1.modified.tv_nsec, $1.number) }
        let through = last?.segment(size: segmentSize) ?? newest?.number ?? 0
        let candidates = all.filter { $0.number >= fork.segment(size: segmentSize) && $0.number <= through }
        let saved = Set(segments(in: walCopy, timeline: timeline).map(\.name))
        for segment in candidates where !saved.contains(segment.name) {
            try Files.copyFile(walDirectory + "/" + segment.name, to: walCopy + "/" + segment.name)
        }
        return segments(in: walCopy, timeline: timeline).count
    }

    struct Segment {
        var name: String
        var number: UInt64
        var modified: timespec
    }

    /// WAL segment files of `timeline` in `directory`: 24 hex digits, timeline first.
    func segments(in directory: String, timeline: Int) -> [Segment] {
        let timelineHex = String(format: "%08X", timeline)
        let segmentsPerId = (UInt64(1) << 32) / segmentSize
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            guard name.count == 24, name.hasPrefix(timelineHex),
                  let high = UInt64(name.dropFirst(8).prefix(8), radix: 16),
                  let low = UInt64(name.dropFirst(16), radix: 16) else { return nil }
            var st = stat()
            guard stat(directory + "/" + name, &st) == 0 else { return nil }
            return Segment(name: name, number: high * segmentsPerId + low, modified: st.st_mtim)
        }.sorted { $0.number < $1.number }
    }
}
