import Foundation
import XCTest

/// Replication slots with the seed's role (REPLICATION is enough): the slot the standby
/// streams through is made on the new primary and verified in use; the old primary's own slots
/// that a rewind carries into the standby are dropped; a forgotten slot named after the node
/// on the upstream is reported.
final class SlotTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func slot(_ node: PostgresNode, _ name: String) throws -> String {
        try node.sql("SELECT slot_type || ' ' || active FROM pg_replication_slots WHERE slot_name = '\(name)'")
    }

    /// --slot NAME: created on the new primary over the replication connection, written as
    /// primary_slot_name, and in use by this standby when verify passes.
    func testANamedSlotIsMadeOnTheNewPrimaryAndUsed() throws {
        let f = try Failover.make(in: sandbox)
        XCTAssertEqual(try slot(f.pg2, "pg1_slot"), "")
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--slot", "pg1_slot"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("through slot pg1_slot (created on the upstream)"), result.stdout)
        XCTAssertEqual(try slot(f.pg2, "pg1_slot"), "physical true")
        XCTAssertEqual(try f.pg1.sql("SHOW primary_slot_name"), "pg1_slot")
        XCTAssertEqual(try f.pg2.sql("SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE r.application_name = 'pg1'"), "1")
    }

    /// The node's own primary_slot_name (ALTER SYSTEM) is kept and made on the new primary; an
    /// inactive slot named after the node is reported; after a rewind the old primary's slots
    /// are gone with pg_replslot's contents.
    func testTheNodesOwnSlotIsKeptAndAForgottenOneIsReported() throws {
        let f = try Failover.make(in: sandbox, grants: .all)
        let auto = f.pg1.dataDirectory + "/postgresql.auto.conf"
        try ((try String(contentsOfFile: auto, encoding: .utf8)) + "primary_slot_name = 'pg1_own'\n").write(toFile: auto, atomically: false, encoding: .utf8)
        // A slot once made for this node and forgotten: it holds WAL back on pg2.
        try f.pg2.sql("SELECT pg_create_physical_replication_slot('pg1')")

        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("method rewind"), result.stdout)
        XCTAssertEqual(try slot(f.pg2, "pg1_own"), "physical true")
        XCTAssertEqual(try f.pg1.sql("SHOW primary_slot_name"), "pg1_own")
        XCTAssertTrue(result.output.contains("the upstream has an inactive slot pg1, named after this node"), result.output)
    }

    /// A clean switchover needs no rewind: the old primary keeps its pg_replslot, and its slot
    /// for pg2 would hold the new standby's WAL back forever. Dropped after verify, and named.
    func testTheOldPrimarysSlotsAreDroppedWhenTheyCameAlong() throws {
        let f = try Failover.make(in: sandbox, diverge: false, grants: .all) { pg1 in
            try pg1.sql("SELECT pg_create_physical_replication_slot('pg2_from_pg1', true)")
        }
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "auto"))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("not diverged"), result.stdout)
        XCTAssertTrue(result.stdout.contains("dropped the old primary's replication slot(s) pg2_from_pg1"), result.stdout)
        XCTAssertEqual(try f.pg1.sql("SELECT count(*) FROM pg_replication_slots"), "0")
    }

    /// --slot none: no slot, and the node's own primary_slot_name is not kept.
    func testNoSlotDropsTheSetting() throws {
        let f = try Failover.make(in: sandbox)
        let auto = f.pg1.dataDirectory + "/postgresql.auto.conf"
        try ((try String(contentsOfFile: auto, encoding: .utf8)) + "primary_slot_name = 'pg1_own'\n").write(toFile: auto, atomically: false, encoding: .utf8)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--slot", "none"]))
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try f.pg1.sql("SHOW primary_slot_name"), "")
        XCTAssertEqual(try f.pg2.sql("SELECT count(*) FROM pg_replication_slots"), "0")
    }

    func testABadSlotNameIsAUsageError() throws {
        let f = try Failover.make(in: sandbox)
        let result = try sandbox.rejoin(sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, extra: ["--slot", "Pg1-Slot"]))
        XCTAssertEqual(result.status, 64, result.output)
        XCTAssertTrue(result.stderr.contains("lower-case letters, digits and underscores"), result.stderr)
        XCTAssertEqual(siblings(of: f.pg1), [])
    }
}
