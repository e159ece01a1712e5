import Foundation
import Logging

/// What every step gets: the plan, the journal's view of the run, the tools, and the delegate.
public final class RunContext: @unchecked Sendable {
    public let plan: RejoinPlan
    public let journal: Journal
    public private(set) var state: JournalState
    public let tools: PgTools
    public let logger: Logger
    public let delegate: RunDelegate

    public init(plan: RejoinPlan, journal: Journal, state: JournalState, tools: PgTools, logger: Logger, delegate: RunDelegate) {
        self.plan = plan
        self.journal = journal
        self.state = state
        self.tools = tools
        self.logger = logger
        self.delegate = delegate
    }

    public var children: ChildProcessRunner { tools.children }

    /// Writes one record and folds it into `state`, so later steps see earlier facts.
    public func record(_ record: JournalRecord) throws {
        try journal.append(record)
        Journal.apply(record, to: &state)
    }

    /// The new data directory's identity, known once clone finished.
    public var stagingIdentity: FileIdentity? {
        guard let device = state.facts["staging.device"].flatMap(UInt64.init),
              let inode = state.facts["staging.inode"].flatMap(UInt64.init) else { return nil }
        return FileIdentity(device: device, inode: inode)
    }

    /// The tablespaces the clone copied (the upstream has them), each swapped in with PGDATA.
    public var clonedTablespaces: [TablespacePlan] { (plan.tablespaces ?? []).filter { $0.upstreamLocation != nil } }

    /// A cloned tablespace's version directory, by identity, as the clone recorded it.
    public func tablespaceIdentity(_ tablespace: TablespacePlan) -> FileIdentity? {
        guard let device = state.facts["tablespace.\(tablespace.oid).device"].flatMap(UInt64.init),
              let inode = state.facts["tablespace.\(tablespace.oid).inode"].flatMap(UInt64.init) else { return nil }
        return FileIdentity(device: device, inode: inode)
    }

    /// Where the new copy is now: staging before swap-in, PGDATA after. Found by identity.
    /// A rewind works in place: PGDATA itself.
    public func newDataDirectory() -> String? {
        if plan.isRewind { return FileIdentity.of(plan.pgdata) == plan.oldDataIdentity ? plan.pgdata : nil }
        guard let id = stagingIdentity else { return nil }
        if FileIdentity.of(plan.stagingDirectory) == id { return plan.stagingDirectory }
        if FileIdentity.of(plan.pgdata) == id { return plan.pgdata }
        return nil
    }

    /// Where this node's own config files are: the copy saved before pg_rewind overwrote them
    /// (also after a fallback from rewind), else the old data directory.
    public func localConfigSource() -> String? {
        if let saved = plan.localConfigDirectory, Files.isDirectory(saved) { return saved }
        return oldDataLocation()
    }

    /// Where the old data is now: PGDATA before set-aside, the .old sibling after. Found by
    /// identity, never by name alone.
    public func oldDataLocation() -> String? {
        if FileIdentity.of(plan.pgdata) == plan.oldDataIdentity { return plan.pgdata }
        if FileIdentity.of(plan.oldDataDirectory) == plan.oldDataIdentity { return plan.oldDataDirectory }
        return nil
    }
}
