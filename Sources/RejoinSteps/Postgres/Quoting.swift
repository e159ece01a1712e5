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

    /// A conninfo string from ordered key/value pairs, every value quoted.
    public static func conninfo(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\(conninfoValue($0.1))" }.joined(separator: " ")
    }
}
