import Foundation

/// What `pg-rejoin status` reports: the last run of a data directory, read from the journal and
/// checked against the disk and the lock. Reads only.
public struct RunStatus: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        /// No journal, or the last run finished (or was aborted).
        case idle
        /// A run stopped part-way; rerunning the same command resumes it.
        case unfinished
        /// A pg-rejoin holds the lock right now.
        case running
    }

    public var state: State
    public var pgdata: String
    public var runID: String?
    public var upstream: String?
    public var started: Date?
    public var stepsDone: [String]
    public var currentStep: String?
    public var lastEvent: String?
    public var oldDataDirectory: String?
    public var stagingDirectory: String?
    public var pid: Int32?
    public var pidAlive: Bool
    public var lastOutcome: String?
    public var next: String
    public var warnings: [String]
    /// Set while `heal --pause` holds heal and keepalived-notify off this node: who, when, why.
    public var healPaused: String? = nil

    public var exitStatus: ExitStatus {
        switch state {
        case .idle: return .ok
        case .unfinished: return .statusUnfinished
        case .running: return .statusRunning
        }
    }

    public static func inspect(pgdata: String) throws -> RunStatus {
        let paths = WorkPaths(pgdata: pgdata)
        let journal = try Journal.read(path: paths.journal, expectedPGDATA: pgdata)
        let holder = RunLock.holder(path: paths.lock)
        var status = RunStatus(state: .idle, pgdata: pgdata, stepsDone: [], pidAlive: false,
                               next: "nothing: no unfinished run", warnings: journal.warnings)
        status.healPaused = HealPause.current(pgdata: pgdata)?.note
        guard let plan = journal.plan else {
            if holder.held { status.state = .running; status.pid = holder.pid; status.pidAlive = true }
            return status
        }
        status.runID = plan.runID
        status.upstream = plan.upstream.address.description
        status.started = plan.created
        status.stepsDone = plan.steps.filter { journal.isDone($0) }.map(\.rawValue)
        let current = plan.steps.first { !journal.isDone($0) }
        status.currentStep = journal.finished ? nil : current?.rawValue
        status.lastEvent = current.flatMap { journal.status[$0]?.rawValue }
        status.lastOutcome = journal.outcome
        status.pid = holder.pid
        status.pidAlive = holder.held
        if FileIdentity.of(plan.pgdata) == plan.oldDataIdentity {
            status.oldDataDirectory = plan.pgdata
        } else if FileIdentity.of(plan.oldDataDirectory) == plan.oldDataIdentity {
            status.oldDataDirectory = plan.oldDataDirectory
        }
        if Files.exists(plan.stagingDirectory) { status.stagingDirectory = plan.stagingDirectory }
        if holder.held {
            status.state = .running
            status.next = "wait: pid \(holder.pid.map(String.init) ?? "?") is working on it now"
        } else if journal.isUnfinished {
            status.state = .unfinished
            status.next = "rerun `pg-rejoin --from \(plan.upstream.address) --pgdata \(plan.pgdata)` to resume at \(current?.rawValue ?? "verify"), or `pg-rejoin abort --pgdata \(plan.pgdata)` to put the old data back"
            if status.oldDataDirectory == nil {
                status.warnings.append("the old data directory is at neither \(plan.pgdata) nor \(plan.oldDataDirectory)")
            }
        }
        return status
    }
}
