import Foundation
import RejoinSteps

/// What is wrong with the config file (or a setting missing from both it and the command line).
/// Each names the file, the key and its line, and says what to write instead.
enum ConfigError: LocalizedError, RejoinFailure, Equatable {
    case fileMissing(path: String)
    case unreadable(path: String, reason: String)
    case syntax(path: String, line: Int, column: Int, message: String)
    case unknownKey(path: String, key: String, line: Int?, suggestion: String?)
    case wrongType(path: String, key: String, line: Int?, expected: String, found: String)
    case badValue(path: String, key: String, line: Int?, problem: String)
    case secret(path: String, key: String, line: Int?)
    case missingSetting(String)

    var exitStatus: ExitStatus {
        if case .missingSetting = self { return .usage }
        return .configInvalid
    }

    static func at(_ path: String, _ line: Int?) -> String {
        line.map { "\(path) line \($0)" } ?? path
    }

    var errorDescription: String? {
        switch self {
        case let .fileMissing(path):
            return "config file \(path) does not exist; check --config, or leave it out to use /etc/pg-rejoin/pg-rejoin.toml when it exists. Nothing was changed"
        case let .unreadable(path, reason):
            return "cannot read config file \(path): \(reason). Nothing was changed"
        case let .syntax(path, line, column, message):
            return "\(path) line \(line), column \(column): not valid TOML: \(message). Nothing was changed"
        case let .unknownKey(path, key, line, suggestion):
            let hint = suggestion.map { "; did you mean `\($0)`?" } ?? "; `pg-rejoin config check --help` lists the keys."
            return "\(Self.at(path, line)): unknown key `\(key)`\(hint) Nothing was changed"
        case let .wrongType(path, key, line, expected, found):
            return "\(Self.at(path, line)): `\(key)` must be \(expected), not \(found). Nothing was changed"
        case let .badValue(path, key, line, problem):
            return "\(Self.at(path, line)): `\(key)` \(problem). Nothing was changed"
        case let .secret(path, key, line):
            return "\(Self.at(path, line)): `\(key)`: a password does not belong in pg-rejoin's config file (it would be read by every process that reads the file, and shown by `config check`). Put it in a libpq password file (mode 0600, lines host:port:database:user:password) and set `passfile = \"/path/to/it\"` instead; the value was not read or repeated. Nothing was changed"
        case let .missingSetting(message):
            return message + ". Nothing was changed"
        }
    }
}
