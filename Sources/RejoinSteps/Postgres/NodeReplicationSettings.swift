import Foundation

/// This node's own replication settings, as the server would read them: postgresql.conf with
/// its includes (in order, relative to the including file), then postgresql.auto.conf; the
/// last assignment wins. A rejoin keeps them: the options of its `primary_conninfo` (TLS,
/// keepalives, timeouts ...) and its `application_name`, its archive fallback and replay delay,
/// its slot. Only host, port, user and passfile come from the rejoin.
public struct NodeReplicationSettings: Sendable, Equatable {
    /// Raw values (as written, quotes included) with the file and line that set them last.
    public struct Setting: Sendable, Equatable {
        public var raw: String
        public var file: String
        public var line: Int

        /// The value itself: quotes removed, escapes resolved, a trailing comment dropped.
        public var value: String { Quoting.configValue(raw) }
        public var whereSet: String { "\(file) line \(line)" }
    }

    public var settings: [String: Setting]

    /// Settings a standby keeps across a rejoin (written again by write-standby-config).
    public static let carried = ["restore_command", "archive_cleanup_command", "recovery_min_apply_delay", "primary_slot_name"]
    /// Keys of primary_conninfo the rejoin sets itself; the node's others are kept.
    public static let rejoinOwnsConninfoKeys: Set<String> = ["host", "hostaddr", "port", "user", "passfile", "password", "application_name", "dbname", "replication"]
    /// What keeps a standby from ever verifying: a recovery target ends recovery (or pauses
    /// it), and with hot_standby off it accepts no connection.
    static let recoveryTargets = ["recovery_target", "recovery_target_lsn", "recovery_target_name", "recovery_target_time", "recovery_target_xid"]

    /// Reads `dataDirectory`'s configuration; `configFile` is postgresql.conf's path when it
    /// lives elsewhere (Debian's /etc/postgresql/V/NAME).
    public static func read(dataDirectory: String, configFile: String? = nil) -> NodeReplicationSettings {
        var settings: [String: Setting] = [:]
        var seen = Set<String>()
        func load(_ path: String, depth: Int) {
            guard depth < 10, !seen.contains(path), let text = Files.read(path) else { return }
            seen.insert(path)
            let base = Files.parent(of: path)
            for (index, line) in ConfigFile(text: text).lines.enumerated() {
                guard let name = ConfigFile.settingName(of: line) else { continue }
                if ["include", "include_if_exists", "include_dir"].contains(name) {
                    guard let target = ConfigFile(lines: [line]).includes.first?.path else { continue }
                    let absolute = target.hasPrefix("/") ? target : base + "/" + target
                    if name == "include_dir" {
                        let entries = (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []
                        for entry in entries.sorted() where entry.hasSuffix(".conf") && !entry.hasPrefix(".") {
                            load(absolute + "/" + entry, depth: depth + 1)
                        }
                    } else {
                        load(absolute, depth: depth + 1)
                    }
                    continue
                }
                guard let eq = line.firstIndex(of: "=") else { continue }
                let raw = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                settings[name] = Setting(raw: raw, file: path, line: index + 1)
            }
        }
        load(configFile ?? dataDirectory + "/postgresql.conf", depth: 0)
        load(dataDirectory + "/postgresql.auto.conf", depth: 0)
        return NodeReplicationSettings(settings: settings)
    }

    public func value(_ key: String) -> String? {
        guard let setting = settings[key.lowercased()] else { return nil }
        let value = setting.value
        return value.isEmpty ? nil : value
    }

    /// The node's primary_conninfo as key/value pairs, in order.
    public var conninfo: [(String, String)] {
        guard let raw = value("primary_conninfo") else { return [] }
        return ConninfoParser.pairs(raw)
    }

    /// The options of the node's primary_conninfo a rejoin keeps (not host, port, user,
    /// passfile, password, application_name).
    public var keptConninfoOptions: [(String, String)] {
        conninfo.filter { !Self.rejoinOwnsConninfoKeys.contains($0.0) }
    }

    public var applicationName: String? {
        conninfo.last { $0.0 == "application_name" }.map(\.1).flatMap { $0.isEmpty ? nil : $0 }
    }

    public var hasPassword: Bool { conninfo.contains { $0.0 == "password" } }

    /// The settings a standby keeps, unquoted, by name.
    public var carriedSettings: [String: String] {
        var result: [String: String] = [:]
        for key in Self.carried { if let value = value(key) { result[key] = value } }
        return result
    }

    /// Why a standby with these settings would never verify, with where each is set.
    public var blockers: [String] {
        var found: [String] = []
        for key in Self.recoveryTargets {
            if let setting = settings[key], !setting.value.isEmpty {
                found.append("\(key) = \(setting.raw) (\(setting.whereSet)): recovery would stop there instead of following the upstream")
            }
        }
        if let setting = settings["hot_standby"], ["off", "false", "no", "0"].contains(setting.value.lowercased()) {
            found.append("hot_standby = \(setting.raw) (\(setting.whereSet)): the standby would accept no connection, so nothing can check it streams")
        }
        return found
    }
}
