import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A testing aid, documented in README.md: `PG_REJOIN_FAULT=STEP:before|during|after` makes
/// pg-rejoin SIGKILL itself at that point, with no cleanup, as an OOM kill or a power cut would.
/// `clone:child` kills only the pg_basebackup child part-way through the copy, `rewind:child`
/// only pg_rewind part-way through its writes. Unset in
/// production, where every check below is a comparison against nil.
public enum FaultInjection {
    public enum Moment: String, Sendable {
        case before, during, after, child
    }

    public static let configured: (step: String, moment: Moment)? = parse(ProcessInfo.processInfo.environment["PG_REJOIN_FAULT"])

    static func parse(_ value: String?) -> (step: String, moment: Moment)? {
        guard let value, let colon = value.lastIndex(of: ":"),
              let moment = Moment(rawValue: String(value[value.index(after: colon)...])) else { return nil }
        return (String(value[..<colon]), moment)
    }

    public static func isArmed(_ step: StepKind, _ moment: Moment) -> Bool {
        guard let configured else { return false }
        return configured.step == step.rawValue && configured.moment == moment
    }

    /// Dies here, now, if the fault names this point.
    public static func point(_ step: StepKind, _ moment: Moment) {
        guard isArmed(step, moment) else { return }
        FileHandle.standardError.write(Data("pg-rejoin: PG_REJOIN_FAULT: killing myself at \(step.rawValue):\(moment.rawValue)\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
