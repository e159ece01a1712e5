import Foundation

/// Reads what an old primary committed after the fork: pg_waldump over its WAL from the fork
/// names the committed transactions and the blocks they touched, then a private hot standby
/// (`PrivateServer`) on its data directory gives their rows. The same reading serves a rejoin
/// (`CaptureLostStep`) and a kept copy read later (`LostFromOld`).
///
/// The directory must be shut down cleanly: crash recovery is the caller's, which knows where a
/// stale pid file may go.
struct LostReading {
    var server: PrivateServer
    var run: String
    var systemIdentifier: String

    func read(timeline: Int, fork: LSN, clock: PhaseClock) async throws -> (report: LostReport, wal: LostWAL) {
        let (_, builder) = try await server.children.run(ChildCommand(server.tools.path("pg_waldump"), [
            "--path", server.dataDirectory + "/pg_wal", "--timeline", String(timeline), "--start", fork.description,
        ]), reducingOutputInto: LostWAL.Builder()) { builder, chunk in builder.feed(chunk) }
        var finishing = builder
        let wal = finishing.finished()
        clock.mark("waldump")
        let empty = LostReport(format: LostReport.formatVersion, run: run, systemIdentifier: systemIdentifier, timeline: timeline,
                               fork: fork.description, capturedAt: Date(), tables: [], transactions: [], notes: [], oldValues: nil)
        guard !wal.commits.isEmpty else { return (empty, wal) }
        let user = Privileges.currentUserName()
        let report = try await server.with { port in
            clock.mark("start")
            // Tests: killed while the private server runs (a rerun stops it and reads again).
            FaultInjection.point(.captureLost, .during)
            defer { clock.mark("read") }
            return try LostCapture(wal: wal, connect: { database in
                try Self.connect(server, port: port, database: database, users: [user, "postgres"])
            }).capture(run: run, systemIdentifier: systemIdentifier, timeline: timeline, fork: fork.description)
        }
        clock.mark("stop")
        return (report, wal)
    }

    /// The first of `users` that exists (the private hba trusts any on its socket).
    static func connect(_ server: PrivateServer, port: Int, database: String, users: [String]) throws -> PgConnection {
        var last: Error?
        for user in users {
            do {
                return try PgConnection(parameters: [("host", server.socketDirectory), ("port", String(port)), ("dbname", database),
                                                     ("user", user), ("application_name", "pg-rejoin"),
                                                     // Values arrive as UTF-8 whatever the database's encoding.
                                                     ("client_encoding", "UTF8")],
                                        target: "the old primary (private socket)")
            } catch { last = error }
        }
        throw last ?? PgError.connect(target: "the old primary", message: "no user to connect as")
    }
}
