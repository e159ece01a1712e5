import XCTest
@testable import RejoinSteps

/// Preflight's judgement of the upstream, without servers: the comparison with the local
/// cluster, libpq's messages turned into the operator's problem, and the option values.
final class PreflightComparisonTests: XCTestCase {
    let address = UpstreamAddress(host: "10.0.0.2", port: 5432)

    func upstream(major: Int = 15, timeline: Int = 2, system: String = "7311", recovery: Bool = false,
                  local: Bool = false) -> UpstreamFacts {
        UpstreamFacts(systemIdentifier: system, timeline: timeline, inRecovery: recovery, versionNumber: major * 10000 + 4,
                      databaseBytes: 1 << 30, tablespaces: [], servedByLocalPostmaster: local)
    }

    let local = PreflightStep.LocalFacts(systemIdentifier: "7311", majorVersion: 15, timeline: 1, pgdata: "/var/lib/postgresql/15/main")

    func compare(_ facts: UpstreamFacts, _ local: PreflightStep.LocalFacts? = nil, onThisMachine: Bool = false) -> PreflightError? {
        do {
            try PreflightStep.compare(upstream: facts, at: address, with: local ?? self.local, resolvesToThisMachine: { _ in onThisMachine })
            return nil
        } catch {
            return error as? PreflightError
        }
    }

    func testTheNewPrimaryOfTheSameClusterPasses() {
        XCTAssertNil(compare(upstream()))
        XCTAssertNil(compare(upstream(timeline: 1)), "the same timeline is fine from another node")
    }

    /// No second major version is packaged in Debian 12, so this is where "another major
    /// version" is proved; BadInputTests drives the same check end to end with a forged PG_VERSION.
    func testAnotherMajorVersionIsRefusedEitherWay() {
        XCTAssertEqual(compare(upstream(major: 16)), .versionMismatch(address: "10.0.0.2:5432", upstream: 16, local: 15))
        XCTAssertEqual(compare(upstream(major: 14)), .versionMismatch(address: "10.0.0.2:5432", upstream: 14, local: 15))
        let message = PreflightError.versionMismatch(address: "10.0.0.2:5432", upstream: 16, local: 15).errorDescription ?? ""
        XCTAssertTrue(message.contains("runs PostgreSQL 16, the local data directory is 15"), message)
        XCTAssertTrue(message.hasSuffix("Nothing was changed"), message)
    }

    func testStandbyOtherClusterAndOlderTimelineAreRefused() {
        XCTAssertEqual(compare(upstream(recovery: true)), .upstreamIsStandby(address: "10.0.0.2:5432"))
        XCTAssertEqual(compare(upstream(system: "9999")), .differentCluster(address: "10.0.0.2:5432", upstream: "9999", local: "7311"))
        var newer = local
        newer.timeline = 3
        XCTAssertEqual(compare(upstream(timeline: 2), newer), .timelineBehind(address: "10.0.0.2:5432", upstream: 2, local: 3))
    }

    func testThisVeryNodeIsRefused() {
        // The probe's backend was a child of the local postmaster: certain, whatever the address.
        guard case .upstreamIsThisNode? = compare(upstream(local: true)) else { return XCTFail("not refused") }
        // This machine's address and the running local server's port, same cluster and timeline.
        var running = local
        running.runningPort = 5432
        guard case .upstreamIsThisNode? = compare(upstream(timeline: 1), running, onThisMachine: true) else { return XCTFail("not refused") }
        // Another port, another timeline, another machine, or no local server: another node.
        XCTAssertNil(compare(upstream(timeline: 2), running, onThisMachine: true))
        XCTAssertNil(compare(upstream(timeline: 1), running, onThisMachine: false))
        running.runningPort = 5433
        XCTAssertNil(compare(upstream(timeline: 1), running, onThisMachine: true))
        XCTAssertNil(compare(upstream(timeline: 1), local, onThisMachine: true))
    }

    func testLoopbackResolvesToThisMachine() {
        XCTAssertTrue(UpstreamAddress(host: "127.0.0.1").resolvesToThisMachine())
        XCTAssertTrue(UpstreamAddress(host: "localhost").resolvesToThisMachine())
        XCTAssertFalse(UpstreamAddress(host: "192.0.2.1").resolvesToThisMachine(), "TEST-NET-1 is nobody's")
    }

    // MARK: libpq's messages

    var endpoint: UpstreamEndpoint {
        UpstreamEndpoint(address: address, user: "repl", database: "postgres", passfile: nil, connectTimeout: 7)
    }

    func classify(_ message: String, replication: Bool = true) -> PreflightError {
        return UpstreamProbe.classify(.connect(target: "x", message: message), endpoint: endpoint, replication: replication)
    }

    func testLibpqMessagesNameTheOperatorsProblem() {
        guard case .hostNotFound(host: "10.0.0.2", _) = classify(#"could not translate host name "pg9" to address: Name or service not known"#) else { return XCTFail() }
        XCTAssertEqual(classify(#"connection to server at "10.0.0.2", port 5432 failed: timeout expired"#),
                       .upstreamSilent(address: "10.0.0.2:5432", seconds: 7))
        guard case .authenticationFailed = classify(#"connection to server at "10.0.0.2", port 5432 failed: FATAL:  password authentication failed for user "repl""#) else { return XCTFail() }
        // PostgreSQL 15 and 16 word the missing REPLICATION attribute differently.
        guard case .roleCannotReplicate = classify("FATAL:  must be superuser or replication role to start walsender") else { return XCTFail() }
        guard case .roleCannotReplicate = classify("FATAL:  permission denied to start WAL sender DETAIL:  Only roles with the REPLICATION attribute may start a WAL sender process.") else { return XCTFail() }
        guard case .replicationNotInHBA = classify(#"FATAL:  no pg_hba.conf entry for replication connection from host "10.0.0.1", user "repl", no encryption"#) else { return XCTFail() }
        guard case .replicationNotInHBA = classify(#"FATAL:  pg_hba.conf rejects replication connection for host "10.0.0.1", user "repl", no encryption"#) else { return XCTFail() }
        // The seed's hba (replication only): the line to add names this host as the replication
        // connection saw it.
        guard case let .sqlNotInHBA(_, _, _, line, _) = UpstreamProbe.classify(
            .connect(target: "10.0.0.2:5432", message: #"FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "repl", database "postgres", no encryption"#),
            endpoint: endpoint, replication: false, clientAddress: "10.0.0.1") else { return XCTFail() }
        XCTAssertEqual(line, "host postgres repl 10.0.0.1/32 scram-sha-256")
        guard case .sqlRefused = classify(#"FATAL:  database "postgres" does not exist"#, replication: false) else { return XCTFail() }
        guard case .upstreamUnreachable = classify(#"connection to server at "10.0.0.2", port 5432 failed: Connection refused"#) else { return XCTFail() }
    }

    func testEveryRefusalSaysNothingChanged() {
        let refusals: [PreflightError] = [
            .hostNotFound(host: "pg9", message: "m"), .upstreamSilent(address: "a", seconds: 10),
            .roleCannotReplicate(address: "a", user: "u", message: "m"), .replicationNotInHBA(address: "a", user: "u", message: "m"),
            .upstreamIsThisNode(address: "a", pgdata: "/d", evidence: "e"), .workDirectoryUnusable(path: "/d.rejoin", user: "u", problem: "p"),
            .notEnoughSpace(path: "/", needed: 2, free: 1, reserve: 1),
            .sqlNotInHBA(address: "a", user: "u", database: "d", line: "host d u 10.0.0.1/32 scram-sha-256", message: "m"),
            .rewindNotPossible(reasons: ["upstream-role-privileges: r"]),
        ]
        for refusal in refusals {
            XCTAssertTrue(refusal.errorDescription?.hasSuffix("Nothing was changed") ?? false, "\(refusal)")
            XCTAssertEqual(refusal.exitStatus, .refused)
        }
    }

    // MARK: option values

    func testSizesNeedAUnit() {
        XCTAssertEqual(ByteCount.parse("128MB"), 128 << 20)
        XCTAssertEqual(ByteCount.parse("2GB"), 2 << 30)
        XCTAssertEqual(ByteCount.parse("1.5 GB"), 3 << 29)
        XCTAssertEqual(ByteCount.parse("64kB"), 64 << 10)
        XCTAssertEqual(ByteCount.parse("10g"), 10 << 30)
        XCTAssertEqual(ByteCount.parse("1000TB"), 1000 << 40)
        XCTAssertEqual(ByteCount.parse("0"), 0)
        XCTAssertNil(ByteCount.parse("512"), "a bare number has no obvious unit")
        XCTAssertNil(ByteCount.parse("lots"))
        XCTAssertNil(ByteCount.parse("-1GB"))
        XCTAssertNil(ByteCount.parse("5XB"))
        XCTAssertNil(ByteCount.parse("99999999999PB"), "overflow")
    }

    func testNodeNamesMustSurviveAsApplicationName() {
        XCTAssertNil(NodeName.problem(#"pg1 "east" it's a\b"#), "quotes, spaces and backslashes are quoted, not refused")
        XCTAssertNotNil(NodeName.problem(""))
        XCTAssertTrue(NodeName.problem("pg1\nprimary_conninfo='x'")?.contains("U+000A") ?? false)
        XCTAssertNotNil(NodeName.problem("pg1\r"))
        XCTAssertNotNil(NodeName.problem("knoten-ü"), "PostgreSQL would show it as knoten-??")
        XCTAssertNil(NodeName.problem(String(repeating: "n", count: 63)))
        XCTAssertNotNil(NodeName.problem(String(repeating: "n", count: 64)))
    }

    func testAConninfoInFromIsNotEchoed() {
        let message = AddressError.badHost("host=pg2 password=hunter2").errorDescription ?? ""
        XCTAssertFalse(message.contains("hunter2"), message)
        XCTAssertTrue(message.contains("passfile"), message)
        XCTAssertFalse((AddressError.badHost("postgresql://repl:hunter2@pg2/db").errorDescription ?? "").contains("hunter2"))
    }
}
