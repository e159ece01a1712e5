/// Quoting for the two languages pg-rejoin writes values into. Every value is quoted, always:
/// a node name or a path may hold spaces, quotes, backslashes or newlines, and none of them may
/// break out and inject another setting.
public enum Quoting {
    /// A libpq conninfo value: single quotes, with `\` and `'` escaped by a backslash
    /// (libpq's conninfo_parse rules).
    public static func conninfoValue(_ value: String) -> String {
        var out = "'"
        // Unicode scalars, not Characters: "\r\n" is one Character and would slip past.
        for ch in value.unicodeScalars {
            if ch == "\\" || ch == "'" { out.append("\\") }
            out.unicodeScalars.append(ch)
        }
        out.append("'")
        return out
    }

    /// A string in postgresql.conf / postgresql.auto.conf: single quotes, `'` doubled and `\`
    /// doubled as ALTER SYSTEM writes them; newline, CR and tab escaped because a raw line break
    /// would end the setting.
    public static func configString(_ value: String) -> String {
        var out = "'"
        for ch in value.unicodeScalars {
            switch ch {
            case "'": out += "''"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        out.append("'")
        return out
    }

    /// An SQL identifier as the operator would paste it into psql: bare when it is a plain
    /// lower-case name, else double-quoted with `"` doubled (quote_ident's rule, keywords aside:
    /// a role is rarely named after one, and the quoted form is right whenever it is quoted).
    public static func identifier(_ name: String) -> String {
        let plain = name.unicodeScalars.enumerated().allSatisfy { index, ch in
            ("a"..."z").contains(ch) || ch == "_" || (index > 0 && (("0"..."9").contains(ch) || ch == "$"))
        }
        if plain && !name.isEmpty && !["user", "all", "public", "none"].contains(name) { return name }
        return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The value of a postgresql.conf assignment as written (`'a''b\\c'  # note` -> a'b\c):
    /// the reverse of `configString`; an unquoted value loses a trailing comment.
    public static func configValue(_ raw: String) -> String {
        var text = raw.trimmingCharacters(in: .whitespaces)
        if let hash = text.range(of: "#"), !text.hasPrefix("'") { text = String(text[..<hash.lowerBound]) }
        guard text.hasPrefix("'") else { return text.trimmingCharacters(in: .whitespaces) }
        var out = ""
        var chars = Array(text.unicodeScalars.dropFirst())[...]
        while let c = chars.popFirst() {
            if c == "'" {
                if chars.first == "'" { chars.removeFirst(); out += "'"; continue }
                break
            }
            if c == "\\", let next = chars.popFirst() {
                switch next {
                case "n": out += "\n"
                case "r": out += "\r"
                case "t": out += "\t"
                default: out.unicodeScalars.append(next)
                }
                continue
            }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// A conninfo string from ordered key/value pairs, every value quoted.
    public static func conninfo(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\(conninfoValue($0.1))" }.joined(separator: " ")
    }
}
