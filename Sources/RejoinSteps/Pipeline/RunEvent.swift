import Foundation

/// What the runner tells its delegate: the terminal, JSON lines, or a test.
public enum RunEvent: Sendable {
    case info(String)
    case warning(String)
    case planned(RejoinPlan, resumingAt: StepKind?)
    case stepStarted(StepKind, detail: String)
    case stepFinished(StepKind, seconds: Double, detail: String)
    case stepSkipped(StepKind, reason: String)
    case stepFailed(StepKind, seconds: Double, error: String)
    /// Bytes done and total (total 0 when unknown), from the child's --progress output.
    case progress(StepKind, done: UInt64, total: UInt64)
    case summary(RunSummary)
}

public struct RunSummary: Sendable, Codable {
    public var outcome: String
    public var method: String
    public var upstream: String
    public var bytesCopied: UInt64
    public var totalSeconds: Double
    public var stepSeconds: [String: Double]
    public var oldDataDirectory: String?
    /// After a rewind: the report of what was thrown away (the saved WAL is beside it).
    public var divergenceReport: String?
    public var serverLog: String?
    /// How far replay was behind the upstream when verify passed.
    public var lagBytes: UInt64? = nil
}

public protocol RunDelegate: AnyObject, Sendable {
    func handle(_ event: RunEvent)
}
