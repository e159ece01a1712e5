import Foundation

/// What `config check` prints must be safe to paste into a ticket. The file cannot hold a
/// password key (the loader refuses it), but a command's argv might carry one inline
/// (`password=...` in a conninfo, `https://user:pw@host` in a URL, `--password X`): those
/// values are shown as `<redacted>`.
enum Redaction {
    static let mask = "<redacted>"

    static func redact(_ value: String) -> String {
        var text = value
        // key=value and key: value forms of password-like keys.
        text = replace(#"(?i)((?:password|passwd|pwd|secret|token)\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s&;,]+)"#, in: text, with: "$1" + mask)
        // URL user info: scheme://user:secret@host
        text = replace(#"(://[^/\s:@]+:)[^@\s/]+@"#, in: text, with: "$1" + mask + "@")
        return text
    }

    /// An argv: an element after `--password`/`-W`-style flags is hidden, and every element is
    /// redacted on its own.
    static func redact(argv: [String]) -> [String] {
        var out: [String] = []
        var hideNext = false
        for arg in argv {
            if hideNext { out.append(mask); hideNext = false; continue }
            let lower = arg.lowercased()
            if ["--password", "--passwd", "--secret", "--token", "-p:password"].contains(lower) { hideNext = true }
            out.append(redact(arg))
        }
        return out
    }

    private static func replace(_ pattern: String, in text: String, with template: String) -> String {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
        let range = NSRange(text.startIndex..., in: text)
        return regex.stringByReplacingMatches(in: text, range: range, withTemplate: template)
    }
}

/// `config check`'s report: every key with its effective value and where it came from.
enum EffectiveSettingsReport {
    static func render(_ effective: EffectiveSettings) -> String {
        var lines = ["# pg-rejoin effective settings (command line over \(effective.file ?? "no config file") over defaults)"]
        var section: String?
        for key in ConfigKeys.all {
            if key.section != section {
                section = key.section
                lines.append("")
                if let section { lines.append("[\(section)]") }
            }
            let leaf = key.name.split(separator: ".").last.map(String.init) ?? key.name
            guard var value = key.rendered(effective.settings) else {
                lines.append("# \(leaf) is not set: \(key.help)")
                continue
            }
            if case let .strings(path) = key.kind, let list = effective.settings[keyPath: path] {
                value = "[" + Redaction.redact(argv: list).map(TOMLText.string).joined(separator: ", ") + "]"
            } else {
                value = Redaction.redact(value)
            }
            lines.append("\(leaf) = \(value)  # \(effective.sources[key.name] ?? "default")")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
