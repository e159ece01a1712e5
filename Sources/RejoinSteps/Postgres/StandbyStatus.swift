import Foundation

/// How a running local standby is doing, from its own views.
public struct StandbyStatus: Sendable, Equatable {
    public var inRecovery: Bool
    public var receiverStatus: String?
    public var senderHost: String?
    public var senderPort: Int?
    public var replayLSN: String?

    public func isStreaming(from address: UpstreamAddress) -> Bool {
        inRecovery && receiverStatus == "streaming" && senderHost == address.host && senderPort == address.port
    }

    public static func read(_ connection: PgConnection) throws -> StandbyStatus {
        guard let row = try connection.query("""
            SELECT pg_is_in_recovery(),
                   (SELECT status FROM pg_stat_wal_receiver),
                   (SELECT sender_host FROM pg_stat_wal_receiver),
                   (SELECT sender_port::text FROM pg_stat_wal_receiver),
                   pg_last_wal_replay_lsn()::text
            """).first, row.count == 5 else {
            throw PgError.unexpectedResult(target: connection.target, sql: "standby status")
        }
        return StandbyStatus(inRecovery: row[0] == "t", receiverStatus: row[1], senderHost: row[2],
                             senderPort: row[3].flatMap { Int($0) }, replayLSN: row[4])
    }
}
