import XCTest
@testable import RejoinSteps

/// The heal decision on every state the issue lists, and the timeline rule for a repoint.
final class HealDecisionTests: XCTestCase {
    let pg1 = UpstreamAddress(host: "10.0.0.1", port: 5432)
    let pg2 = UpstreamAddress(host: "10.0.0.2", port: 5432)
    let pg3 = UpstreamAddress(host: "10.0.0.3", port: 5432)
    let system = "7300000000000000001"

    func peer(_ address: UpstreamAddress, _ role: PeerObservation.Role, timeline: Int? = 2, lsn: String? = "0/5000000",
              local: Bool = false, system: String? = nil) -> PeerObservation {
        PeerObservation(address: address, role: role, timeline: timeline, systemIdentifier: system ?? self.system,
                        walPosition: lsn.flatMap { LSN($0) }, isLocal: local)
    }

    func standby(timeline: Int = 2, position: String? = "0/4000000", streaming: UpstreamAddress? = nil,
                 configured: UpstreamAddress? = nil, status: String? = nil) -> HealFacts.Local {
        .runningStandby(HealFacts.StandbyFacts(timeline: timeline, position: position.flatMap { LSN($0) }, streamingFrom: streaming,
                                               configuredUpstream: configured, receiverStatus: status ?? (streaming == nil ? nil : "streaming")))
    }

    func decide(_ local: HealFacts.Local, _ peers: [PeerObservation], history: String? = nil, demoteOnSplitBrain: Bool = false) -> HealDecision {
        HealDecision.decide(HealFacts(local: local, systemIdentifier: system, peers: peers,
                                      primaryHistory: history.map { TimelineHistory(parsing: $0) }, demoteOnSplitBrain: demoteOnSplitBrain))
    }

    // MARK: healthy: nothing to do

    func testStreamingStandbyOfThePrimaryIsHealthy() {
        let d = decide(standby(streaming: pg2, configured: pg2), [peer(pg1, .standby, local: true), peer(pg2, .primary)])
        XCTAssertEqual(d, .healthyStandby(primary: pg2))
        XCTAssertEqual(d.exitStatus, .ok)
        XCTAssertFalse(d.acts)
    }

    func testOnlyPrimaryIsHealthy() {
        XCTAssertEqual(decide(.runningPrimary(timeline: 2), [peer(pg1, .primary, local: true), peer(pg2, .standby)]), .healthyPrimary)
        // The peer does not answer at all: still the only primary there is.
        XCTAssertEqual(decide(.runningPrimary(timeline: 2), [peer(pg1, .primary, local: true), peer(pg2, .unreachable("timeout"))]), .healthyPrimary)
    }

    // MARK: rejoin

    func testDownNodeRejoinsThePrimary() {
        let d = decide(.down(timeline: 1, wasStandby: false, note: "crashed"), [peer(pg1, .unreachable("refused")), peer(pg2, .primary)])
        guard case let .rejoin(from, demote, _) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(from, pg2)
        XCTAssertFalse(demote)
        XCTAssertEqual(d.exitStatus, .ok)
        XCTAssertTrue(d.acts)
    }

    /// A stale primary (older timeline) still takes writes: alerted like any two primaries,
    /// stopped only with demote_on_split_brain.
    func testStalePrimaryOnOlderTimelineIsAlertedAndDemotedOnlyWhenAllowed() {
        let peers = [peer(pg1, .primary, timeline: 1, local: true), peer(pg2, .primary, timeline: 2)]
        let alert = decide(.runningPrimary(timeline: 1), peers)
        guard case let .splitBrain(named) = alert else { return XCTFail("\(alert)") }
        XCTAssertTrue(named[0].contains("stale primary on timeline 1"), "\(named)")
        XCTAssertEqual(alert.exitStatus.rawValue, 13)
        XCTAssertFalse(alert.acts)

        let allowed = decide(.runningPrimary(timeline: 1), peers, demoteOnSplitBrain: true)
        guard case let .rejoin(from, demote, reason) = allowed else { return XCTFail("\(allowed)") }
        XCTAssertEqual(from, pg2)
        XCTAssertTrue(demote)
        XCTAssertTrue(reason.contains("stale primary"), reason)
        XCTAssertTrue(reason.contains("demote_on_split_brain"), reason)
    }

    /// A standby shut down for maintenance needs at most a start: never a copy while its
    /// timeline can follow and it is configured for the primary.
    func testACleanlyStoppedStandbyIsStartedNotRebuilt() {
        func stopped(timeline: Int = 2, position: String = "0/4000000", configured: UpstreamAddress?) -> HealFacts.Local {
            .stoppedStandby(HealFacts.StandbyFacts(timeline: timeline, position: LSN(position), streamingFrom: nil,
                                                   configuredUpstream: configured, receiverStatus: "stopped"))
        }
        let primary = [peer(pg1, .unreachable("refused")), peer(pg2, .primary)]
        guard case .startStandby(let to, _) = decide(stopped(configured: pg2), primary) else { return XCTFail() }
        XCTAssertEqual(to, pg2)
        XCTAssertTrue(decide(stopped(configured: pg2), primary).acts)
        // Forked off the primary's timeline after everything it has: still a start.
        let history = "1\t0/4800000\tno recovery target specified\n"
        guard case .startStandby = decide(stopped(timeline: 1, configured: pg2), primary, history: history) else { return XCTFail() }
        // Past the fork: a start would never stream; a rejoin.
        guard case .rejoin = decide(stopped(timeline: 1, position: "0/4900000", configured: pg2), primary, history: history) else { return XCTFail() }
        // Configured for another node: a rejoin, which writes the right primary_conninfo.
        guard case .rejoin = decide(stopped(configured: pg3), primary) else { return XCTFail() }
        // No primary: nothing to follow.
        guard case .noPrimary = decide(stopped(configured: pg2), [peer(pg2, .standby)]) else { return XCTFail() }
    }

    func testUnfinishedRunIsResumedWhenItsUpstreamIsStillThePrimary() {
        XCTAssertEqual(decide(.unfinishedRun(upstream: pg2), [peer(pg2, .primary)]), .resume(from: pg2))
    }

    func testUnfinishedRunTowardANodeThatIsNoLongerPrimaryIsRefused() {
        let d = decide(.unfinishedRun(upstream: pg2), [peer(pg2, .standby), peer(pg3, .primary)])
        guard case let .refuse(reason) = d else { return XCTFail("\(d)") }
        XCTAssertTrue(reason.contains("abort"), reason)
        XCTAssertEqual(d.exitStatus, .refused)
    }

    // MARK: split brain

    func testTwoPrimariesOnTheSameTimelineIsSplitBrain() {
        let d = decide(.runningPrimary(timeline: 2), [peer(pg1, .primary, local: true), peer(pg2, .primary, timeline: 2)])
        guard case let .splitBrain(named) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(named.count, 2)
        XCTAssertTrue(named[1].contains("10.0.0.2:5432"), "\(named)")
        XCTAssertEqual(d.exitStatus, .splitBrain)
        XCTAssertEqual(d.exitStatus.rawValue, 13)
        XCTAssertFalse(d.acts)
    }

    func testLocalPrimaryOnANewerTimelineThanTheOtherIsSplitBrainNotARejoin() {
        let d = decide(.runningPrimary(timeline: 3), [peer(pg2, .primary, timeline: 2)])
        guard case .splitBrain = d else { return XCTFail("\(d)") }
    }

    func testDemoteOnSplitBrainRejoinsToTheOther() {
        let d = decide(.runningPrimary(timeline: 2), [peer(pg2, .primary, timeline: 2)], demoteOnSplitBrain: true)
        guard case let .rejoin(from, demote, reason) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(from, pg2)
        XCTAssertTrue(demote)
        XCTAssertTrue(reason.contains("demote_on_split_brain"), reason)
    }

    func testTwoRemotePrimariesIsSplitBrainWhateverTheLocalState() {
        let peers = [peer(pg2, .primary), peer(pg3, .primary)]
        for local in [HealFacts.Local.down(timeline: 1, wasStandby: false, note: "x"), standby(streaming: pg2), .unfinishedRun(upstream: pg2)] {
            guard case let .splitBrain(named) = decide(local, peers) else { return XCTFail("\(local)") }
            XCTAssertEqual(named.count, 2)
        }
    }

    func testAPrimaryOfAnotherClusterDoesNotCount() {
        let d = decide(.down(timeline: 1, wasStandby: false, note: "x"),
                       [peer(pg2, .primary), peer(pg3, .primary, system: "999")])
        guard case let .rejoin(from, _, _) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(from, pg2)
    }

    // MARK: no primary

    func testNoPrimaryChangesNothing() {
        let down = decide(.down(timeline: 1, wasStandby: false, note: "crashed"), [peer(pg2, .standby), peer(pg3, .unreachable("timeout"))])
        guard case .noPrimary = down else { return XCTFail("\(down)") }
        XCTAssertEqual(down.exitStatus, .noPrimary)
        XCTAssertEqual(down.exitStatus.rawValue, 14)
        XCTAssertTrue(down.isTransient)
        guard case .noPrimary = decide(standby(streaming: pg2), [peer(pg2, .standby)]) else { return XCTFail() }
        guard case .noPrimary = decide(.unfinishedRun(upstream: pg2), [peer(pg2, .unreachable("refused"))]) else { return XCTFail() }
    }

    func testBusyIsLocked() {
        XCTAssertEqual(decide(.busy(pid: 42), []).exitStatus, .locked)
    }

    // MARK: repoint

    func testStandbyStreamingFromANodeThatIsNoLongerPrimaryIsRepointedOnTheSameTimeline() {
        // pg3 streams from pg1 (now a standby itself); pg2 is the primary, all on timeline 2.
        let d = decide(standby(timeline: 2, position: "0/4000000", streaming: pg1, configured: pg1),
                       [peer(pg1, .standby), peer(pg2, .primary, timeline: 2, lsn: "0/5000000")])
        guard case let .repoint(to, reason) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(to, pg2)
        XCTAssertTrue(reason.contains("streams from 10.0.0.1:5432"), reason)
    }

    func testStandbyOfADeadPrimaryIsRepointedWhenItsTimelineForkedAfterIt() {
        // pg3 was a standby of pg1 on timeline 1 up to 0/3000100; pg2 forked at 0/3000148.
        let d = decide(standby(timeline: 1, position: "0/3000100", configured: pg1, status: nil),
                       [peer(pg1, .unreachable("refused")), peer(pg2, .primary, timeline: 2)],
                       history: "1\t0/3000148\tno recovery target specified\n")
        guard case let .repoint(to, reason) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(to, pg2)
        XCTAssertTrue(reason.contains("forked"), reason)
    }

    func testStandbyPastTheForkPointGetsAFullRejoin() {
        let d = decide(standby(timeline: 1, position: "0/3000200", configured: pg1),
                       [peer(pg2, .primary, timeline: 2)], history: "1\t0/3000148\treason\n")
        guard case let .rejoin(from, demote, reason) = d else { return XCTFail("\(d)") }
        XCTAssertEqual(from, pg2)
        XCTAssertFalse(demote)
        XCTAssertTrue(reason.contains("full rejoin"), reason)
        XCTAssertTrue(reason.contains("past the fork point"), reason)
    }

    func testUnsureMeansAFullRejoin() {
        // No history fetched, no timeline, or a timeline the primary never had.
        for (facts, history) in [(peer(pg2, .primary, timeline: 2), nil as String?),
                                 (peer(pg2, .primary, timeline: nil), "1\t0/3000148\tx\n"),
                                 (peer(pg2, .primary, timeline: 3), "2\t0/4000000\tx\n")] {
            let d = decide(standby(timeline: 1, position: "0/3000000", configured: pg1), [facts], history: history)
            guard case .rejoin = d else { return XCTFail("\(d)") }
        }
        // A standby on a newer timeline than the primary cannot follow it either.
        guard case .rejoin = decide(standby(timeline: 3, configured: pg1), [peer(pg2, .primary, timeline: 2)]) else { return XCTFail() }
    }

    func testStandbyConfiguredForThePrimaryButNotStreamingYetIsLeftAlone() {
        let d = decide(standby(timeline: 2, configured: pg2, status: "waiting"), [peer(pg2, .primary, timeline: 2)])
        XCTAssertEqual(d, .standbyConnecting(primary: pg2, status: "waiting"))
        XCTAssertEqual(d.exitStatus, .ok)
        XCTAssertTrue(d.isTransient)
    }

    func testStandbyStillStartingUpIsLeftAloneWhateverItIsConfiguredFor() {
        for configured in [pg1, pg2] {
            let starting = HealFacts.Local.runningStandby(HealFacts.StandbyFacts(
                timeline: 1, position: nil, streamingFrom: nil, configuredUpstream: configured, receiverStatus: nil, acceptingConnections: false))
            let d = decide(starting, [peer(pg2, .primary, timeline: 2)], history: "1\t0/3000148\tx\n")
            XCTAssertEqual(d, .standbyStarting)
            XCTAssertEqual(d.exitStatus, .ok)
            XCTAssertFalse(d.acts)
        }
    }

    func testStandbyConfiguredForThePrimaryThatCannotFollowItIsRejoined() {
        let d = decide(standby(timeline: 1, position: "0/3000200", configured: pg2, status: nil),
                       [peer(pg2, .primary, timeline: 2)], history: "1\t0/3000148\tx\n")
        guard case .rejoin = d else { return XCTFail("\(d)") }
    }

    func testCanFollowOnTheSameTimelineNeedsTheStandbyNotAhead() {
        let ahead = HealFacts.StandbyFacts(timeline: 2, position: LSN("0/6000000"), streamingFrom: nil, configuredUpstream: nil, receiverStatus: nil)
        XCTAssertFalse(HealDecision.canFollow(ahead, primary: peer(pg2, .primary, timeline: 2, lsn: "0/5000000"), history: nil).0)
        XCTAssertTrue(HealDecision.canFollow(ahead, primary: peer(pg2, .primary, timeline: 2, lsn: "0/6000000"), history: nil).0)
    }

    func testConninfoParserFindsHostAndPort() {
        XCTAssertEqual(ConninfoParser.upstream("host='10.0.0.2' port='5433' user='repl' application_name='it''s'"),
                       UpstreamAddress(host: "10.0.0.2", port: 5433))
        XCTAssertEqual(ConninfoParser.upstream("user=repl passfile='/a b/.pgpass' channel_binding=prefer host=pg1 sslmode=prefer"),
                       UpstreamAddress(host: "pg1", port: 5432))
        XCTAssertEqual(ConninfoParser.parse(Quoting.conninfo([("application_name", "a 'b' \\c")]))["application_name"], "a 'b' \\c")
        XCTAssertNil(ConninfoParser.upstream("user=repl"))
    }

    func testPrimaryDiscoveryChoosesExactlyOne() throws {
        XCTAssertEqual(try PrimaryDiscovery.primary(among: [peer(pg1, .primary, local: true), peer(pg2, .primary)], systemIdentifier: system).address, pg2)
        XCTAssertThrowsError(try PrimaryDiscovery.primary(among: [peer(pg1, .primary), peer(pg2, .primary)], systemIdentifier: system)) { error in
            XCTAssertEqual((error as? DiscoveryError)?.exitStatus, .splitBrain)
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(message.contains("10.0.0.1:5432") && message.contains("10.0.0.2:5432"), message)
        }
        XCTAssertThrowsError(try PrimaryDiscovery.primary(among: [peer(pg1, .standby), peer(pg2, .unreachable("timeout"))], systemIdentifier: system)) { error in
            XCTAssertEqual((error as? DiscoveryError)?.exitStatus, .noPrimary)
        }
    }
}
