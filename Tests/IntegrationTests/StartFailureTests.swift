import Foundation
import XCTest

/// pg-rejoin watches postmaster.pid itself to learn early that the new standby is ready, but a
/// server that cannot start is still pg_ctl's to report: the run stops at the start step with
/// the server log's last lines, and after the fix the same command resumes there.
final class StartFailureTests: XCTestCase {
    var sandbox: Sandbox!

    override func setUpWithError() throws { sandbox = try Sandbox() }
    override func tearDown() { sandbox.tearDown() }

    func testAServerThatCannotStartIsReportedWithItsLogAndARerunResumes() throws {
        let f = try Failover.make(in: sandbox)
        // The node's own postgresql.conf is kept over the copy's, mistake included.
        let conf = f.pg1.dataDirectory + "/postgresql.conf"
        let original = try String(contentsOfFile: conf, encoding: .utf8)
        try overwrite(conf, with: original + "\nno_such_setting_for_pg_rejoin = 1\n")

        let arguments = sandbox.rejoinArguments(local: f.pg1, from: f.pg2.address, method: "basebackup")
        let failed = try sandbox.rejoin(arguments)
        XCTAssertEqual(failed.status, 20, failed.output)
        XCTAssertTrue(failed.stderr.contains("no_such_setting_for_pg_rejoin"), "the server log's reason: \(failed.stderr)")
        XCTAssertEqual(try RejoinJournal(pgdata: f.pg1.dataDirectory).events("start"), ["started", "failed"], failed.output)

        // The operator fixes PGDATA's config, as the error says, and reruns.
        try overwrite(conf, with: original)
        let rerun = try sandbox.rejoin(arguments)
        XCTAssertEqual(rerun.status, 0, rerun.output)
        XCTAssertTrue(rerun.stdout.contains("resuming run"), rerun.stdout)
        XCTAssertFalse(rerun.output.contains("keep-local-config:"), "the fix made in PGDATA is kept: \(rerun.output)")
        XCTAssertEqual(try f.pg2.sql("SELECT application_name, state FROM pg_stat_replication"), "pg1|streaming")
    }

    /// In place: the file keeps its owner (the postgres user) and mode.
    private func overwrite(_ path: String, with text: String) throws {
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
    }
}
