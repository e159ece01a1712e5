import Foundation
import RejoinSteps

/// Bytes done and total of a copy, with the throughput over the last few seconds and the time
/// left at that rate.
struct ProgressFigures: Equatable {
    var done: UInt64
    var total: UInt64
    var bytesPerSecond: Double?
    var secondsLeft: Double?

    var percent: Int? { total > 0 ? Int(min(100, done * 100 / total)) : nil }

    /// "450.0 MB of 1.0 GB (45%), 85.3 MB/s, ETA 7 s": for logs and non-terminals.
    var line: String {
        var text = ByteCount.format(done) + (total > 0 ? " of \(ByteCount.format(total))" : "")
        if let percent { text += " (\(percent)%)" }
        if let rate = bytesPerSecond { text += ", \(ByteCount.format(UInt64(rate)))/s" }
        if let left = secondsLeft { text += ", ETA \(Self.clock(left))" }
        return text
    }

    /// "[=========>          ]  45%  450.0 MB / 1.0 GB  85.3 MB/s  ETA 0:07": for a terminal.
    func bar(width: Int = 24) -> String {
        var text = ""
        if let percent {
            let filled = width * percent / 100
            let head = filled < width ? ">" : ""
            text += "[" + String(repeating: "=", count: max(0, filled - head.count)) + head
                + String(repeating: " ", count: width - max(filled, head.count)) + "] "
            text += String(repeating: " ", count: max(0, 3 - String(percent).count)) + "\(percent)%  "
        }
        text += ByteCount.format(done) + (total > 0 ? " / \(ByteCount.format(total))" : "")
        text += "  " + (bytesPerSecond.map { "\(ByteCount.format(UInt64($0)))/s" } ?? "--/s")
        text += "  ETA " + (secondsLeft.map { Self.clock($0) } ?? "--")
        return text
    }

    /// 7 s, 2m05s, 1h02m.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}

/// Turns progress reports into figures: the rate over a sliding window (so a stall shows
/// quickly), reset when another step reports.
struct ProgressMeter {
    private var step: StepKind?
    private var samples: [(time: Date, bytes: UInt64)] = []
    var window: TimeInterval = 10

    mutating func add(_ step: StepKind, done: UInt64, total: UInt64, at now: Date = Date()) -> ProgressFigures {
        if step != self.step || (samples.last.map { done < $0.bytes } ?? false) {
            self.step = step
            samples = []
        }
        samples.append((now, done))
        // Keep one sample older than the window, so the rate always spans about `window`.
        while samples.count > 2, now.timeIntervalSince(samples[1].time) >= window { samples.removeFirst() }
        var figures = ProgressFigures(done: done, total: total)
        if let first = samples.first, now.timeIntervalSince(first.time) >= 0.5, done >= first.bytes {
            let rate = Double(done - first.bytes) / now.timeIntervalSince(first.time)
            figures.bytesPerSecond = rate
            if rate > 0, total > done { figures.secondsLeft = Double(total - done) / rate }
            if total > 0, done >= total { figures.secondsLeft = 0 }
        }
        return figures
    }
}
