import Foundation
import TOMLKit

/// A config file that passed every check: its settings, and the line of each key (for messages
/// and `config check`).
struct LoadedConfig: Equatable {
    var path: String
    var settings: Settings
    var lines: [String: Int]
}

/// Reads the TOML config file and checks it completely before anything else happens: syntax,
/// unknown keys, types, values, and that no password is in it. Every error names the key and
/// its line.
enum ConfigLoader {
    static let defaultPath = "/etc/pg-rejoin/pg-rejoin.toml"

    /// `explicit` is --config: it must exist. Without it the default file is read when present,
    /// and a missing default file means "no file".
    static func load(explicit: String?) throws -> LoadedConfig? {
        let path = explicit ?? defaultPath
        guard FileManager.default.fileExists(atPath: path) else {
            if explicit != nil { throw ConfigError.fileMissing(path: path) }
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError.unreadable(path: path, reason: "it is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String) throws -> LoadedConfig {
        let lines = KeyLines(text)
        // Refuse a secret before TOMLKit sees the file: even a syntax error message could
        // quote a password line.
        if let (key, line) = lines.firstSecret {
            throw ConfigError.secret(path: path, key: key, line: line)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError.syntax(path: path, line: error.source.begin.line, column: error.source.begin.column,
                                     message: error.description)
        }
        var settings = Settings()
        var found: [String: Int] = [:]
        for (name, value) in flatten(table, path: path, lines: lines) {
            let line = lines.line(of: name)
            if ConfigKeys.isSecretName(name) { throw ConfigError.secret(path: path, key: name, line: line) }
            guard let key = ConfigKeys.key(named: name) else {
                throw ConfigError.unknownKey(path: path, key: name, line: line, suggestion: suggestion(for: name))
            }
            let decoded = try decode(value, as: key, path: path, line: line)
            if let problem = key.check(decoded) {
                throw ConfigError.badValue(path: path, key: name, line: line, problem: problem)
            }
            assign(decoded, to: key, in: &settings)
            if let line { found[name] = line }
        }
        return LoadedConfig(path: path, settings: settings, lines: found)
    }

    /// Top-level keys and the keys of the known sections, as dotted names, in file order.
    private static func flatten(_ table: TOMLTable, path: String, lines: KeyLines) -> [(String, TOMLValueConvertible)] {
        var result: [(String, TOMLValueConvertible)] = []
        for name in table.keys {
            guard let value = table[name] else { continue }
            if let section = value.table, ConfigKeys.sections.contains(name) {
                for inner in section.keys {
                    if let innerValue = section[inner] { result.append(("\(name).\(inner)", innerValue)) }
                }
            } else {
                result.append((name, value))
            }
        }
        // toml++ keeps keys sorted; report problems in the order the file has them.
        return result.sorted { (lines.line(of: $0.0) ?? .max) < (lines.line(of: $1.0) ?? .max) }
    }

    private static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a floating-point number"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        case .date, .time, .dateTime: return "a date or time"
        }
    }

    private static func decode(_ value: TOMLValueConvertible, as key: ConfigKey, path: String, line: Int?) throws -> Any {
        let wrong = { ConfigError.wrongType(path: path, key: key.name, line: line, expected: key.kind.typeName, found: describe(value)) }
        switch key.kind {
        case .string:
            guard value.type == .string, let s = value.string else { throw wrong() }
            return s
        case .integer:
            guard value.type == .int, let n = value.int else { throw wrong() }
            return n
        case .boolean:
            guard value.type == .bool, let b = value.bool else { throw wrong() }
            return b
        case .strings:
            guard value.type == .array, let array = value.array else { throw wrong() }
            var strings: [String] = []
            for element in array {
                guard element.type == .string, let s = element.string else {
                    throw ConfigError.wrongType(path: path, key: key.name, line: line, expected: key.kind.typeName,
                                                found: "an array holding \(describe(element))")
                }
                strings.append(s)
            }
            return strings
        }
    }

    private static func assign(_ value: Any, to key: ConfigKey, in settings: inout Settings) {
        switch key.kind {
        case let .string(p): settings[keyPath: p] = value as? String
        case let .integer(p): settings[keyPath: p] = value as? Int
        case let .boolean(p): settings[keyPath: p] = value as? Bool
        case let .strings(p): settings[keyPath: p] = value as? [String]
        }
    }

    /// The known key closest to a misspelt one (same name in another section, or a small edit).
    static func suggestion(for name: String) -> String? {
        let leaf = name.split(separator: ".").last.map(String.init) ?? name
        let normalized = leaf.replacingOccurrences(of: "-", with: "_").lowercased()
        if let same = ConfigKeys.all.first(where: { $0.name.split(separator: ".").last.map(String.init) == normalized && $0.name != name }) {
            return same.name
        }
        let scored = ConfigKeys.all.map { ($0.name, distance(name.lowercased(), $0.name)) }.min { $0.1 < $1.1 }
        if let (best, d) = scored, d <= max(2, best.count / 4) { return best }
        return nil
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Where each key is defined in the file's text. TOMLKit does not report value positions, so
/// this scans the lines itself: `[section]` headers, then `key =` (bare, quoted or dotted).
struct KeyLines {
    private var firstLine: [String: Int] = [:]
    private(set) var firstSecret: (String, Int)?

    init(_ text: String) {
        var section = ""
        var inMultiline: String?
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let number = index + 1
            var line = raw.trimmingCharacters(in: .whitespaces)
            if let delimiter = inMultiline {
                if line.contains(delimiter) { inMultiline = nil }
                continue
            }
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("[") && !line.hasPrefix("[[") {
                let name = line.dropFirst().prefix { $0 != "]" }
                section = Self.normalize(String(name))
                if firstLine[section] == nil { firstLine[section] = number }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = Self.normalize(String(line[..<eq]))
            guard !key.isEmpty else { continue }
            let full = section.isEmpty ? key : section + "." + key
            if firstLine[full] == nil { firstLine[full] = number }
            if firstSecret == nil, ConfigKeys.isSecretName(full) { firstSecret = (full, number) }
            line = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            for delimiter in ["\"\"\"", "'''"] where line.hasPrefix(delimiter) {
                if !line.dropFirst(3).contains(delimiter) { inMultiline = delimiter }
            }
        }
    }

    /// `a . "b"` -> `a.b`
    private static func normalize(_ key: String) -> String {
        key.split(separator: ".").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }.joined(separator: ".")
    }

    func line(of key: String) -> Int? { firstLine[key] }
}
