import ArgumentParser

struct PgRejoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg-rejoin",
        abstract: "Turn a failed PostgreSQL primary into a verified streaming standby of the new primary.",
        discussion: """
            What is kept depends on the method. A full copy (--method basebackup, or auto when \
            a rewind is not possible) renames the old data directory aside, never deletes it, \
            and replaces PGDATA only by a complete copy. A rewind (--method rewind, and auto \
            whenever it can) rewrites PGDATA in place and keeps the WAL written after the fork \
            with a report (PGDATA.rejoin/divergence-<run>), not the old directory: use \
            --method basebackup when the old state must survive as it was. Resumable: every \
            step is journaled; rerun the same command after a crash and it continues where it \
            stopped. Exit codes are listed in README.md.
            """,
        version: "0.1.0",
        subcommands: [RejoinCommand.self, StatusCommand.self, AbortCommand.self, OldCommand.self, LostCommand.self,
                      HealCommand.self, KeepalivedNotifyCommand.self, ConfigCommand.self],
        defaultSubcommand: RejoinCommand.self
    )
}
