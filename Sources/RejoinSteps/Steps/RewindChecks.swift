import Foundation

/// One named precondition of pg_rewind, with the reason it holds or not (as Patroni's rewind
/// checks do): the output and the journal say exactly why a rewind was or was not possible.
public struct RewindCheck: Codable, Sendable, Equatable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public var line: String { "\(name): \(passed ? "ok" : "no"), \(detail)" }
}

public enum RewindChecks {
    /// Checks that need nothing changed: the local control file, the upstream's settings, and
    /// the upstream's checkpoint on its new timeline (a CHECKPOINT is requested if needed).
    /// `known`: the upstream's settings as preflight's probe just read them; without them, or
    /// when a CHECKPOINT is needed, the checks connect on their own.
    public static func run(control: ControlData, tools: PgTools, endpoint: UpstreamEndpoint, upstreamTimeline: Int,
                           known: RewindSettings? = nil) -> [RewindCheck] {
        var checks: [RewindCheck] = []
        checks.append(RewindCheck(
            name: "pg_rewind-installed", passed: access(tools.path("pg_rewind"), X_OK) == 0,
            detail: tools.path("pg_rewind")))
        let hints = control.dataChecksumsEnabled || control.walLogHints
        checks.append(RewindCheck(
            name: "hint-bits-logged", passed: hints,
            detail: hints ? (control.dataChecksumsEnabled ? "data checksums are on" : "wal_log_hints is on")
                : "the local cluster has neither data checksums nor wal_log_hints=on, so pg_rewind cannot know which pages changed"))
        do {
            // One connection, opened only when the probe's settings are missing or the upstream
            // needs a CHECKPOINT.
            var connection: PgConnection?
            func sql() throws -> PgConnection {
                if let connection { return connection }
                let opened = try endpoint.connectSQL()
                connection = opened
                return opened
            }
            let settings = try known ?? RewindSettings.read(sql())
            checks.append(RewindCheck(name: "upstream-full-page-writes", passed: settings.fullPageWrites,
                                      detail: settings.fullPageWrites ? "full_page_writes is on" : "full_page_writes is off on the upstream"))
            let user = endpoint.user
            checks.append(RewindCheck(
                name: "upstream-role-privileges", passed: settings.missingFunctions.isEmpty,
                detail: settings.missingFunctions.isEmpty
                    ? "role \(user) may execute the functions pg_rewind calls on its source"
                    : "role \(user) may not execute what pg_rewind calls on its source, so a rewind would fail part-way; "
                        + "on the upstream run: " + settings.grants(for: user, checkpoint: false).joined(separator: "; ")))
            var checkpointTimeline = settings.checkpointTimeline
            var detail = "the upstream's last checkpoint is on timeline \(checkpointTimeline)"
            if checkpointTimeline < upstreamTimeline {
                // Freshly promoted: without a checkpoint on the new timeline pg_rewind compares
                // against the old one and finds nothing to do. Asked only of a role that may:
                // a refused CHECKPOINT would say nothing the privileges do not already.
                if settings.mayCheckpoint {
                    let sql = try sql()
                    _ = try sql.query("CHECKPOINT")
                    checkpointTimeline = try RewindSource.checkpointTimeline(sql) ?? 0
                    detail = "ran CHECKPOINT on the upstream; its last checkpoint is now on timeline \(checkpointTimeline)"
                } else {
                    detail = "the upstream's last checkpoint is still on the old timeline \(checkpointTimeline) and role \(user) may not run CHECKPOINT; "
                        + (settings.versionNumber >= 150000
                            ? "on the upstream run: GRANT pg_checkpoint TO \(Quoting.identifier(user)) (or wait for its next checkpoint)"
                            : "before PostgreSQL 15 only a superuser may: run CHECKPOINT on the upstream as one (or wait for its next checkpoint)")
                }
            }
            checks.append(RewindCheck(name: "upstream-timeline-checkpointed", passed: checkpointTimeline >= upstreamTimeline, detail: detail))
        } catch {
            checks.append(RewindCheck(name: "upstream-settings", passed: false,
                                      detail: (error as? LocalizedError)?.errorDescription ?? "\(error)"))
        }
        return checks
    }
}
