import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum StepEvent: String, Codable, Sendable {
    case started, done, failed, interrupted
}

/// One line of the journal. Flat on purpose: `jq` and `grep` read it at 3 a.m.
public struct JournalRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case plan, step, note, finished, aborted }

    public var kind: Kind
    public var time: Date
    public var run: String
    public var plan: RejoinPlan?
    public var step: StepKind?
    public var event: StepEvent?
    public var facts: [String: String]?
    public var message: String?

    public init(kind: Kind, run: String, plan: RejoinPlan? = nil, step: StepKind? = nil, event: StepEvent? = nil,
                facts: [String: String]? = nil, message: String? = nil, time: Date = Date()) {
        self.kind = kind
        self.time = time
        self.run = run
        self.plan = plan
        self.step = step
        self.event = event
        self.facts = facts
        self.message = message
    }
}

public enum JournalError: LocalizedError, Equatable {
    case corrupt(path: String, line: Int)
    case unknownFormat(path: String, version: Int)
    case otherDataDirectory(path: String, recorded: String, expected: String)

    public var errorDescription: String? {
        switch self {
        case let .corrupt(path, line):
            return "journal \(path) is damaged at line \(line) (not the last line, so not a torn write); nothing was changed. Inspect it, then move it aside to start afresh"
        case let .unknownFormat(path, version):
            return "journal \(path) has format \(version), which this pg-rejoin (format \(RejoinPlan.formatVersion)) cannot read; nothing was changed. Finish the run with the pg-rejoin version that started it"
        case let .otherDataDirectory(path, recorded, expected):
            return "journal \(path) belongs to data directory \(recorded), not \(expected); nothing was changed. Check --pgdata"
        }
    }
}

/// What the journal says about the latest run.
public struct JournalState: Sendable {
    public var plan: RejoinPlan?
    public var finished: Bool
    /// "finished" or "aborted" once the run has ended.
    public var outcome: String?
    public var status: [StepKind: StepEvent]
    public var facts: [String: String]
    /// A torn last line (a crash mid-write) is dropped with this warning.
    public var warnings: [String]

    public var isUnfinished: Bool { plan != nil && !finished }

    public func isDone(_ step: StepKind) -> Bool { status[step] == .done }

    public static let empty = JournalState(plan: nil, finished: false, outcome: nil, status: [:], facts: [:], warnings: [])
}

/// Append-only JSON lines, one fsync per record: when `append` returns, the record survives a
/// power loss.
public final class Journal {
    public let path: String
    private let fd: Int32
    private let encoder: JSONEncoder

    public init(path: String) throws {
        self.path = path
        let existed = Files.exists(path)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError.create(path: path, errno: errno) }
        self.fd = fd
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
        if !existed { try Files.fsyncParent(of: path) }
        try Self.cutTornTail(fd: fd, path: path)
    }

    deinit { close(fd) }

    /// A crash mid-write leaves a last line without its newline. Appending after it would glue
    /// the next record onto the fragment and corrupt the journal for good, so the fragment
    /// (which `read` already ignored with a warning) is cut off first.
    private static func cutTornTail(fd: Int32, path: String) throws {
        guard let text = Files.read(path), !text.isEmpty, !text.hasSuffix("\n") else { return }
        let keep = text.utf8.lastIndex(of: UInt8(ascii: "\n")).map { text.utf8.distance(from: text.utf8.startIndex, to: $0) + 1 } ?? 0
        guard ftruncate(fd, off_t(keep)) == 0, fsync(fd) == 0 else { throw FileError.write(path: path, errno: errno) }
    }

    public func append(_ record: JournalRecord) throws {
        var data = try encoder.encode(record)
        data.append(0x0A)
        try Files.writeAll(fd: fd, data, path: path)
        guard fsync(fd) == 0 else { throw FileError.sync(path: path, errno: errno) }
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Reads the journal at `path` (missing means empty) and folds it into the latest run's state.
    public static func read(path: String, expectedPGDATA: String? = nil) throws -> JournalState {
        guard let text = Files.read(path) else { return .empty }
        return try replay(text: text, path: path, expectedPGDATA: expectedPGDATA)
    }

    public static func replay(text: String, path: String, expectedPGDATA: String? = nil) throws -> JournalState {
        var state = JournalState.empty
        let decoder = decoder()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let lastIndex = lines.lastIndex(where: { !$0.isEmpty })
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let isLast = index == lastIndex
            guard let record = try? decoder.decode(JournalRecord.self, from: Data(line.utf8)) else {
                if let version = formatVersion(of: line), version != RejoinPlan.formatVersion {
                    throw JournalError.unknownFormat(path: path, version: version)
                }
                if isLast {
                    state.warnings.append("ignored a torn last line in \(path) (a crash while writing it)")
                    continue
                }
                throw JournalError.corrupt(path: path, line: index + 1)
            }
            apply(record, to: &state)
        }
        if let plan = state.plan {
            if plan.format != RejoinPlan.formatVersion {
                throw JournalError.unknownFormat(path: path, version: plan.format)
            }
            if let expected = expectedPGDATA, plan.pgdata != expected {
                throw JournalError.otherDataDirectory(path: path, recorded: plan.pgdata, expected: expected)
            }
        }
        return state
    }

    static func apply(_ record: JournalRecord, to state: inout JournalState) {
        switch record.kind {
        case .plan:
            let warnings = state.warnings
            state = .empty
            state.warnings = warnings
            state.plan = record.plan
        case .step:
            guard record.run == state.plan?.runID, let step = record.step, let event = record.event else { return }
            state.status[step] = event
            for (k, v) in record.facts ?? [:] { state.facts[k] = v }
        case .finished, .aborted:
            if record.run == state.plan?.runID {
                state.finished = true
                state.outcome = record.kind == .aborted ? "aborted" : "finished"
            }
        case .note:
            break
        }
    }

    /// A record this version cannot decode may still say which format it is in.
    private static func formatVersion(of line: Substring) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let plan = object["plan"] as? [String: Any] else { return nil }
        return plan["format"] as? Int
    }
}
