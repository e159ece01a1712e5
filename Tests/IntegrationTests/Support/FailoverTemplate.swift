import Foundation
import XCTest

/// One failover shared by a whole test class: the crashed pg1 is kept as a template and copied
/// back before each case, so dozens of kill-and-resume cases cost one failover.
final class FailoverTemplate {
    let sandbox: Sandbox
    let failover: Failover
    var template: String { sandbox.root + "/pg1-template" }

    /// `prepare` runs on the upstream before the template is taken (e.g. to make data big).
    init(grants: RoleGrants = [], prepare: (Failover) throws -> Void = { _ in }) throws {
        sandbox = try Sandbox()
        do {
            failover = try Failover.make(in: sandbox, grants: grants)
            try prepare(failover)
            try Command.check(["/bin/cp", "-a", failover.pg1.dataDirectory, template])
        } catch {
            sandbox.tearDown()
            throw error
        }
    }

    /// pg1 back to the crashed failed primary (everything pg-rejoin made removed); running as a
    /// primary again when `running`.
    @discardableResult
    func resetLocal(running: Bool = false) throws -> PostgresNode {
        let pg1 = failover.pg1
        pg1.stopQuietly()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: pg1.home)) ?? [] where entry.hasPrefix("data") {
            try FileManager.default.removeItem(atPath: pg1.home + "/" + entry)
        }
        try Command.check(["/bin/cp", "-a", template, pg1.dataDirectory])
        if running { try pg1.start() }
        return pg1
    }

    func tearDown() { sandbox.tearDown() }
}
