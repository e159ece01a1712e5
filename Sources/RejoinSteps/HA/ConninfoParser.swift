/// Reads a libpq keyword/value conninfo string (what primary_conninfo holds) into pairs:
/// `key=value` or `key = 'quoted \' value'`, the reverse of `Quoting.conninfo`. Used only to
/// learn where a standby points; nothing read here is ever printed whole (it may hold a
/// password).
public enum ConninfoParser {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in pairs(text) { result[key] = value }
        return result
    }

    /// The pairs in the order written (a key given twice appears twice; libpq takes the last).
    public static func pairs(_ text: String) -> [(String, String)] {
        var result: [(String, String)] = []
        var chars = Array(text.unicodeScalars)[...]
        func skipSpaces() { while let c = chars.first, c == " " || c == "\t" || c == "\n" || c == "\r" { chars.removeFirst() } }
        while true {
            skipSpaces()
            guard !chars.isEmpty else { break }
            var key = ""
            while let c = chars.first, c != "=", c != " ", c != "\t" { key.unicodeScalars.append(c); chars.removeFirst() }
            skipSpaces()
            guard chars.first == "=" else { break }
            chars.removeFirst()
            skipSpaces()
            var value = ""
            if chars.first == "'" {
                chars.removeFirst()
                while let c = chars.first {
                    chars.removeFirst()
                    if c == "\\", let next = chars.first { value.unicodeScalars.append(next); chars.removeFirst(); continue }
                    if c == "'" { break }
                    value.unicodeScalars.append(c)
                }
            } else {
                while let c = chars.first, c != " ", c != "\t", c != "\n" {
                    chars.removeFirst()
                    if c == "\\", let next = chars.first { value.unicodeScalars.append(next); chars.removeFirst(); continue }
                    value.unicodeScalars.append(c)
                }
            }
            if !key.isEmpty { result.append((key, value)) }
        }
        return result
    }

    /// host and port of a conninfo (the first host of a list; port 5432 when none is given).
    public static func upstream(_ text: String) -> UpstreamAddress? {
        let pairs = parse(text)
        guard let host = (pairs["host"] ?? pairs["hostaddr"])?.split(separator: ",").first.map(String.init), !host.isEmpty else {
            return nil
        }
        let port = pairs["port"].flatMap { $0.split(separator: ",").first }.flatMap { Int($0) } ?? UpstreamAddress.defaultPort
        return UpstreamAddress(host: host, port: port)
    }
}
