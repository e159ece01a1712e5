import Foundation

/// A postgresql.conf-style file as lines, for the two edits pg-rejoin makes: drop settings it
/// owns and append fresh ones. Everything else, comments included, is kept as it was.
public struct ConfigFile: Sendable, Equatable {
    public var lines: [String]

    public init(text: String) {
        // Split on "\n" scalars: with CRLF files "\r\n" is one Character and would not split.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        if lines.last == "" { lines.removeLast() }
        self.lines = lines
    }

    public var text: String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    /// The setting name a line assigns, lowercased, or nil for comments and blank lines.
    static func settingName(of line: String) -> String? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard let first = trimmed.first, first.isLetter || first == "_" else { return nil }
        let name = trimmed.prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
        // `name = value`, `name value` and `include 'file'` are all valid assignments.
        guard let next = trimmed.dropFirst(name.count).first, next == "=" || next == " " || next == "\t" else { return nil }
        return name.lowercased()
    }

    public func value(of key: String) -> String? {
        let key = key.lowercased()
        for line in lines.reversed() where Self.settingName(of: line) == key {
            guard let eq = line.firstIndex(of: "=") else { continue }
            return line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    public func removing(_ keys: Set<String>) -> ConfigFile {
        let lowered = Set(keys.map { $0.lowercased() })
        return ConfigFile(lines: lines.filter { line in
            guard let name = Self.settingName(of: line) else { return true }
            return !lowered.contains(name)
        })
    }

    /// Replaces any assignment of `key` with `key = 'value'` (value quoted for the file).
    public func setting(_ key: String, to value: String) -> ConfigFile {
        var result = removing([key])
        result.lines.append("\(key) = \(Quoting.configString(value))")
        return result
    }

    /// Paths named by include, include_if_exists and include_dir, as written.
    public var includes: [(directive: String, path: String)] {
        lines.compactMap { line in
            guard let name = Self.settingName(of: line),
                  ["include", "include_if_exists", "include_dir"].contains(name),
                  let open = line.firstIndex(of: "'") else { return nil }
            let afterOpen = line.index(after: open)
            guard let close = line[afterOpen...].firstIndex(of: "'") else { return nil }
            return (name, String(line[afterOpen..<close]))
        }
    }

    init(lines: [String]) { self.lines = lines }
}
