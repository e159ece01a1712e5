import ArgumentParser

struct PgRejoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg-rejoin",
        abstract: "Turn a failed PostgreSQL primary into a verified streaming standby of the new primary.",
        discussion: """
            Safe: the old data directory is renamed aside, never deleted, and PGDATA is only \
            replaced by a complete copy. Resumable: every step is journaled; rerun the same \
            command after a crash and it continues where it stopped. Exit codes are listed in \
            README.md.
            """,
        version: "0.1.0",
        subcommands: [RejoinCommand.self, StatusCommand.self, AbortCommand.self, OldCommand.self,
                      HealCommand.self, KeepalivedNotifyCommand.self, ConfigCommand.self],
        defaultSubcommand: RejoinCommand.self
    )
}
