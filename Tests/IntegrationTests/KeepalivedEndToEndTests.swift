import Foundation
import XCTest

/// The whole HA loop with a real keepalived: two network namespaces, PostgreSQL and keepalived
/// (configured from fixtures/ha) in each, a VIP. pg1's postgres is killed; the VIP moves and
/// the check script promotes pg2; pg1's postgres comes back as a stale primary and keepalived's
/// notify makes pg-rejoin turn it into a streaming standby of pg2. The namespace plumbing is
/// keepalived/keepalived-e2e.sh (test harness only); it skips (exit 77) only where it is not
/// root or may not create network namespaces.
final class KeepalivedEndToEndTests: XCTestCase {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    func testKilledPrimaryComesBackAsStreamingStandbyThroughKeepalivedNotify() throws {
        let work = "/tmp/pg-rejoin-ka-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer {
            if ProcessInfo.processInfo.environment["KEEP_SANDBOX"] == nil { try? FileManager.default.removeItem(atPath: work) }
        }
        let script = Self.here.appendingPathComponent("keepalived/keepalived-e2e.sh").path
        let fixtures = Self.here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/ha").path
        let result = try Command.run(
            ["/usr/bin/timeout", "-k", "15", "420", "/bin/bash", script],
            environment: ["PG_REJOIN_BIN": Sandbox.binary, "PG_BINDIR": ProcessInfo.processInfo.environment["PG_BINDIR"] ?? "/usr/lib/postgresql/15/bin", "FIXTURES": fixtures, "WORK": work])
        if result.status == 77 {
            throw XCTSkip(result.stdout.split(separator: "\n").last(where: { $0.hasPrefix("SKIP") }).map(String.init) ?? result.output)
        }
        XCTAssertEqual(result.status, 0, "keepalived end-to-end test failed:\n" + result.output.suffix(12_000))
        XCTAssertTrue(result.stdout.contains("PASSED: pg1 rejoined as a streaming standby of pg2"), result.output)
        // Nothing of the test is left behind: its namespaces are gone.
        let namespaces = try Command.check(["/usr/sbin/ip", "netns", "list"]).stdout
        XCTAssertFalse(namespaces.contains("pgrj-"), namespaces)
    }
}
