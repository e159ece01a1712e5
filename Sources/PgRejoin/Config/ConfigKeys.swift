import Foundation
import RejoinSteps

/// The config file's schema: each key's dotted name, TOML type, where it lands in `Settings`,
/// the command-line option it mirrors, and the check its value must pass. One table serves the
/// loader (types, unknown keys), the merge and `config check`.
struct ConfigKey {
    enum Kind {
        case string(WritableKeyPath<Settings, String?>)
        case integer(WritableKeyPath<Settings, Int?>)
        case boolean(WritableKeyPath<Settings, Bool?>)
        case strings(WritableKeyPath<Settings, [String]?>)

        var typeName: String {
            switch self {
            case .string: return "a string"
            case .integer: return "an integer"
            case .boolean: return "a boolean (true or false)"
            case .strings: return "an array of strings"
            }
        }
    }

    /// Dotted: `pgdata`, `commands.start`, `heal.demote_on_split_brain`.
    let name: String
    let kind: Kind
    /// The command-line option with the same meaning, if there is one.
    let option: String?
    let help: String
    /// Why a value is not acceptable, or nil.
    var check: (Any) -> String? = { _ in nil }

    var section: String? { name.contains(".") ? String(name.split(separator: ".")[0]) : nil }

    func isSet(in settings: Settings) -> Bool {
        switch kind {
        case let .string(path): return settings[keyPath: path] != nil
        case let .integer(path): return settings[keyPath: path] != nil
        case let .boolean(path): return settings[keyPath: path] != nil
        case let .strings(path): return settings[keyPath: path] != nil
        }
    }

    func copyIfSet(from source: Settings, to target: inout Settings) {
        switch kind {
        case let .string(path): if let v = source[keyPath: path] { target[keyPath: path] = v }
        case let .integer(path): if let v = source[keyPath: path] { target[keyPath: path] = v }
        case let .boolean(path): if let v = source[keyPath: path] { target[keyPath: path] = v }
        case let .strings(path): if let v = source[keyPath: path] { target[keyPath: path] = v }
        }
    }

    /// The value as TOML, for `config check`; nil when unset.
    func rendered(_ settings: Settings) -> String? {
        switch kind {
        case let .string(path): return settings[keyPath: path].map(TOMLText.string)
        case let .integer(path): return settings[keyPath: path].map(String.init)
        case let .boolean(path): return settings[keyPath: path].map { $0 ? "true" : "false" }
        case let .strings(path): return settings[keyPath: path].map { "[" + $0.map(TOMLText.string).joined(separator: ", ") + "]" }
        }
    }
}

enum TOMLText {
    /// A TOML basic string: backslash, quote and control characters escaped.
    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04X", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

enum ConfigKeys {
    static let sections = ["commands", "heal", "keepalived"]

    static let all: [ConfigKey] = [
        ConfigKey(name: "pgdata", kind: .string(\.pgdata), option: "--pgdata",
                  help: "the data directory", check: absolutePath),
        ConfigKey(name: "bindir", kind: .string(\.bindir), option: "--bindir",
                  help: "directory of the PostgreSQL programs", check: absolutePath),
        ConfigKey(name: "slot", kind: .string(\.slot), option: "--slot",
                  help: "the physical replication slot: a name, auto (the node's own primary_slot_name) or none", check: slotChoice),
        ConfigKey(name: "cluster", kind: .string(\.cluster), option: "--cluster",
                  help: "a Debian/Ubuntu cluster, VERSION/NAME (configuration in /etc/postgresql, pg_ctlcluster)", check: debianClusterName),
        ConfigKey(name: "user", kind: .string(\.user), option: "--user",
                  help: "the replication role on the upstream", check: nonEmpty),
        ConfigKey(name: "passfile", kind: .string(\.passfile), option: "--passfile",
                  help: "libpq password file for the role (absolute path)", check: absolutePath),
        ConfigKey(name: "dbname", kind: .string(\.dbname), option: "--dbname",
                  help: "database for pg-rejoin's SQL checks", check: nonEmpty),
        ConfigKey(name: "node_name", kind: .string(\.nodeName), option: "--node-name",
                  help: "this node's application_name on the upstream",
                  check: { NodeName.problem($0 as? String ?? "").map { $0.replacingOccurrences(of: "--node-name", with: "node_name") } }),
        ConfigKey(name: "from", kind: .string(\.from), option: "--from",
                  help: "the upstream, or \"auto\" to ask the peers", check: upstreamOrAuto),
        ConfigKey(name: "peers", kind: .strings(\.peers), option: "--peers",
                  help: "every node of the cluster as HOST:PORT (this one may be listed too)", check: peerList),
        ConfigKey(name: "method", kind: .string(\.method), option: "--method",
                  help: "auto, rewind or basebackup", check: method),
        ConfigKey(name: "verify_timeout", kind: .integer(\.verifyTimeout), option: "--verify-timeout",
                  help: "seconds to wait for the standby to stream", check: positive),
        ConfigKey(name: "connect_timeout", kind: .integer(\.connectTimeout), option: "--connect-timeout",
                  help: "seconds libpq waits for the upstream", check: positive),
        ConfigKey(name: "disk_reserve", kind: .string(\.diskReserve), option: "--disk-reserve",
                  help: "space to leave free beyond the copy", check: size),
        ConfigKey(name: "max_rate", kind: .string(\.maxRate), option: "--max-rate",
                  help: "limit of the copy's transfer rate", check: rate),
        ConfigKey(name: "demote", kind: .boolean(\.demote), option: "--demote",
                  help: "allow stopping a local server that runs as a primary"),
        ConfigKey(name: "keep_config", kind: .boolean(\.keepConfig), option: "--keep-config",
                  help: "keep this node's configuration files"),
        ConfigKey(name: "working_directory", kind: .string(\.workingDirectory), option: nil,
                  help: "heal's and keepalived-notify's log and stamp (default PGDATA.rejoin)", check: absolutePath),
        ConfigKey(name: "lost_rows", kind: .string(\.lostRows), option: "--lost-rows",
                  help: "read the lost transactions as rows (before a rewind, or after a full copy): capture or skip", check: lostRowsMode),
        ConfigKey(name: "old_data", kind: .string(\.oldData), option: "--old-data",
                  help: "after a verified rejoin: keep, archive or discard the old data directory", check: oldDataMode),
        ConfigKey(name: "keep_old", kind: .integer(\.keepOld), option: "--keep-old",
                  help: "old copies to keep beside PGDATA (older ones are pruned)", check: notNegative),

        ConfigKey(name: "commands.start", kind: .strings(\.startCommand), option: nil,
                  help: "starts the local server instead of pg_ctl start (argv; rejoin and repoint)", check: argv),
        ConfigKey(name: "commands.stop", kind: .strings(\.stopCommand), option: nil,
                  help: "stops the local server instead of pg_ctl stop (argv; rejoin, abort and repoint)", check: argv),
        ConfigKey(name: "commands.post_rejoin", kind: .strings(\.postRejoinCommand), option: nil,
                  help: "runs after a verified rejoin or repoint (argv)", check: argv),

        ConfigKey(name: "heal.demote_on_split_brain", kind: .boolean(\.demoteOnSplitBrain), option: nil,
                  help: "with two primaries, rejoin this one to the other (off: alert and change nothing)"),
        ConfigKey(name: "heal.discovery_timeout", kind: .integer(\.discoveryTimeout), option: "--discovery-timeout",
                  help: "seconds to wait for each peer when looking for the primary", check: positive),
        ConfigKey(name: "heal.wait_for_primary", kind: .integer(\.waitForPrimary), option: "--wait-for-primary",
                  help: "seconds heal keeps looking while there is no single primary", check: notNegative),

        ConfigKey(name: "keepalived.log", kind: .string(\.notifyLog), option: nil,
                  help: "log of keepalived-notify and the heal it starts (default: in working_directory)", check: absolutePath),
        ConfigKey(name: "keepalived.debounce", kind: .integer(\.notifyDebounce), option: nil,
                  help: "seconds a just-started heal suppresses further starts", check: notNegative),
        ConfigKey(name: "keepalived.wait_for_primary", kind: .integer(\.notifyWaitForPrimary), option: nil,
                  help: "heal.wait_for_primary for the heal that keepalived-notify starts", check: notNegative),
    ]

    static func key(named name: String) -> ConfigKey? { all.first { $0.name == name } }

    /// Keys that look like a secret: the file must never hold one.
    static func isSecretName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["password", "passwd", "secret", "token"].contains { lower.contains($0) }
    }

    // MARK: value checks (also used for command-line values)

    static func absolutePath(_ value: Any) -> String? {
        guard let text = value as? String, !text.isEmpty else { return "must not be empty" }
        return text.hasPrefix("/") ? nil : "must be an absolute path, not '\(text)'"
    }

    static func slotChoice(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return (try? SlotChoice(parsing: text)) == nil ? "must be a slot name (lower-case letters, digits, underscores), auto or none, not '\(text)'" : nil
    }

    static func debianClusterName(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return (try? DebianCluster(text)) == nil ? "must be VERSION/NAME as pg_lsclusters shows them (15/main), not '\(text)'" : nil
    }

    static func nonEmpty(_ value: Any) -> String? {
        (value as? String ?? "").isEmpty ? "must not be empty" : nil
    }

    static func positive(_ value: Any) -> String? {
        let n = value as? Int ?? 0
        return n > 0 ? nil : "must be a positive number of seconds, not \(n)"
    }

    static func notNegative(_ value: Any) -> String? {
        let n = value as? Int ?? -1
        return n >= 0 ? nil : "must be 0 or more, not \(n)"
    }

    static func size(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return ByteCount.parse(text) != nil ? nil : "'\(text)' is not a size; give a number with a unit, for example 512MB or 2GB"
    }

    static func rate(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return text.range(of: "^[0-9]+[kM]?$", options: .regularExpression) != nil
            ? nil : "'\(text)' is not a rate; use kB/s as a number, or a number with k or M (for example 50M)"
    }

    static func method(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return RejoinMethod(rawValue: text) != nil
            ? nil : "'\(text)' is not known; use one of: \(RejoinMethod.allCases.map(\.rawValue).joined(separator: ", "))"
    }

    static func lostRowsMode(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return LostRowsMode(rawValue: text) != nil
            ? nil : "'\(text)' is not known; use one of: \(LostRowsMode.allCases.map(\.rawValue).joined(separator: ", "))"
    }

    static func oldDataMode(_ value: Any) -> String? {
        let text = value as? String ?? ""
        return OldDataMode(rawValue: text) != nil
            ? nil : "'\(text)' is not known; use one of: \(OldDataMode.allCases.map(\.rawValue).joined(separator: ", "))"
    }

    static func upstreamOrAuto(_ value: Any) -> String? {
        let text = value as? String ?? ""
        if text == automaticUpstream { return nil }
        do { _ = try UpstreamAddress(parsing: text) } catch {
            return ((error as? LocalizedError)?.errorDescription ?? "\(error)").replacingOccurrences(of: "--from ", with: "")
        }
        return nil
    }

    static func peerList(_ value: Any) -> String? {
        let list = value as? [String] ?? []
        if list.isEmpty { return "must name at least one peer as HOST:PORT" }
        for peer in list {
            do { _ = try UpstreamAddress(parsing: peer) } catch {
                if peer.contains("=") || peer.contains("@") {
                    return "has an entry that looks like a connection string (not repeated: it may hold a password); give HOST:PORT and put the password in a passfile"
                }
                return "has '\(peer)', which is not HOST, HOST:PORT or [IPV6]:PORT"
            }
        }
        return nil
    }

    static func argv(_ value: Any) -> String? {
        let list = value as? [String] ?? []
        guard let program = list.first, !program.isEmpty else {
            return "must be a non-empty array: the program's absolute path, then its arguments, e.g. [\"/usr/bin/pg_ctlcluster\", \"15\", \"main\", \"start\"]"
        }
        guard program.hasPrefix("/") else {
            return "must start with the program's absolute path (it is run directly, without a shell or PATH), not '\(program)'"
        }
        return nil
    }
}
