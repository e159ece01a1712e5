import XCTest
@testable import RejoinSteps

/// Values pg-rejoin writes into a conninfo string or into postgresql.auto.conf must come back
/// exactly as given and never break out of their quotes.
final class QuotingTests: XCTestCase {
    /// Strings an operator (or a hostile hostname) could put in a node name or a path.
    /// "\r\n" has its own test (`testConfigStringEscapesCRLF`).
    static let nasty: [String] = [
        "", "pg1", "node one", "it's", "''", #"C:\data"#, #"\"#, #"\'"#, #"'\"#, "a\nb", "a\rb",
        "a\tb", "\n", "line1\nrestore_command = 'rm -rf /'", "x' host='evil", #"x\' host=\'evil"#,
        "nœud-東京-🐘", "e\u{301}", "key=value other=thing", "  padded  ", "# not a comment", "a\u{0B}b\u{0C}c",
    ]

    // MARK: conninfo values (libpq conninfo_parse rules)

    func testConninfoValueQuotesEveryValue() {
        XCTAssertEqual(Quoting.conninfoValue("pg2"), "'pg2'")
        XCTAssertEqual(Quoting.conninfoValue("10.0.0.2"), "'10.0.0.2'")
        XCTAssertEqual(Quoting.conninfoValue(""), "''")
    }

    func testConninfoValueKeepsSpacesInsideQuotes() {
        XCTAssertEqual(Quoting.conninfoValue("node one"), "'node one'")
        XCTAssertEqual(Quoting.conninfoValue("  padded  "), "'  padded  '")
        XCTAssertEqual(Quoting.conninfoValue("key=value other=thing"), "'key=value other=thing'")
    }

    func testConninfoValueEscapesSingleQuotesWithBackslash() {
        XCTAssertEqual(Quoting.conninfoValue("it's"), #"'it\'s'"#)
        XCTAssertEqual(Quoting.conninfoValue("''"), #"'\'\''"#)
        XCTAssertEqual(Quoting.conninfoValue("x' host='evil"), #"'x\' host=\'evil'"#)
    }

    func testConninfoValueEscapesBackslashes() {
        XCTAssertEqual(Quoting.conninfoValue(#"C:\data"#), #"'C:\\data'"#)
        XCTAssertEqual(Quoting.conninfoValue(#"\"#), #"'\\'"#)
        XCTAssertEqual(Quoting.conninfoValue(#"\'"#), #"'\\\''"#)
        XCTAssertEqual(Quoting.conninfoValue(#"x\' host=\'evil"#), #"'x\\\' host=\\\'evil'"#)
    }

    func testConninfoValueKeepsControlCharactersLiterally() {
        // Inside quotes libpq takes every character but `\` and `'` as it is.
        XCTAssertEqual(Quoting.conninfoValue("a\nb"), "'a\nb'")
        XCTAssertEqual(Quoting.conninfoValue("a\tb"), "'a\tb'")
        XCTAssertEqual(Quoting.conninfoValue("a\r\nb"), "'a\r\nb'")
    }

    func testConninfoValueKeepsUnicode() {
        XCTAssertEqual(Quoting.conninfoValue("nœud-東京-🐘"), "'nœud-東京-🐘'")
        XCTAssertEqual(Quoting.conninfoValue("e\u{301}"), "'e\u{301}'")
    }

    func testConninfoJoinsQuotedPairsInOrder() {
        XCTAssertEqual(Quoting.conninfo([]), "")
        XCTAssertEqual(Quoting.conninfo([("host", "pg2")]), "host='pg2'")
        XCTAssertEqual(Quoting.conninfo([("host", "pg2"), ("port", "5433"), ("user", "repl")]),
                       "host='pg2' port='5433' user='repl'")
        XCTAssertEqual(Quoting.conninfo([("application_name", "it's a \\ node"), ("passfile", "")]),
                       #"application_name='it\'s a \\ node' passfile=''"#)
    }

    func testConninfoCannotBeInjectedIntoAnotherKeyword() throws {
        let value = "x' host='evil.example' sslmode='disable"
        let conninfo = Quoting.conninfo([("host", "pg2"), ("application_name", value)])
        XCTAssertEqual(conninfo, #"host='pg2' application_name='x\' host=\'evil.example\' sslmode=\'disable'"#)
        let parsed = try LibpqModel.parseConninfo(conninfo)
        XCTAssertEqual(parsed.map(\.0), ["host", "application_name"])
        XCTAssertEqual(parsed.last?.1, value)
    }

    func testConninfoRoundTripsThroughLibpqRules() throws {
        for value in Self.nasty {
            let conninfo = Quoting.conninfo([("host", "pg2"), ("application_name", value), ("user", "repl")])
            let parsed = try LibpqModel.parseConninfo(conninfo)
            XCTAssertEqual(parsed.map(\.0), ["host", "application_name", "user"], "value \(value.debugDescription)")
            XCTAssertEqual(parsed.count == 3 ? parsed[1].1 : nil, value, "value \(value.debugDescription)")
        }
    }

    // MARK: postgresql.conf strings (guc-file.l rules, as ALTER SYSTEM writes them)

    func testConfigStringQuotesEveryValue() {
        XCTAssertEqual(Quoting.configString("pg1_slot"), "'pg1_slot'")
        XCTAssertEqual(Quoting.configString(""), "''")
        XCTAssertEqual(Quoting.configString("node one"), "'node one'")
    }

    func testConfigStringDoublesSingleQuotes() {
        XCTAssertEqual(Quoting.configString("it's"), "'it''s'")
        XCTAssertEqual(Quoting.configString("''"), "''''''")
    }

    func testConfigStringDoublesBackslashes() {
        XCTAssertEqual(Quoting.configString(#"C:\data"#), #"'C:\\data'"#)
        XCTAssertEqual(Quoting.configString(#"\'"#), #"'\\'''"#)
    }

    func testConfigStringEscapesLineBreaksAndTabs() {
        XCTAssertEqual(Quoting.configString("a\nb"), #"'a\nb'"#)
        XCTAssertEqual(Quoting.configString("a\rb"), #"'a\rb'"#)
        XCTAssertEqual(Quoting.configString("a\tb"), #"'a\tb'"#)
        XCTAssertEqual(Quoting.configString("\n"), #"'\n'"#)
    }

    /// "\r\n" is one Swift Character (a single grapheme cluster), so it must be escaped too.
    func testConfigStringEscapesCRLF() {
        XCTAssertEqual(Quoting.configString("a\r\nb"), #"'a\r\nb'"#)
    }

    func testConfigStringKeepsUnicode() {
        XCTAssertEqual(Quoting.configString("nœud-東京-🐘"), "'nœud-東京-🐘'")
        XCTAssertEqual(Quoting.configString("e\u{301}"), "'e\u{301}'")
    }

    /// The exact line ALTER SYSTEM (PostgreSQL 15) wrote for the same value, from the fixture.
    func testConfigStringMatchesAlterSystem() throws {
        let file = ConfigFile(text: try Fixtures.text("autoconf/alter-system.auto.conf"))
        let value = #"cp '/mnt/archive/%f' "%p" \ # it's here"#
        XCTAssertEqual(file.value(of: "restore_command"), Quoting.configString(value))
        XCTAssertEqual(file.value(of: "cluster_name"), Quoting.configString(#"pg1 "main""#))
    }

    func testConfigStringNeverContainsALineBreak() {
        for value in Self.nasty {
            let quoted = Quoting.configString(value)
            XCTAssertFalse(quoted.unicodeScalars.contains { $0 == "\n" || $0 == "\r" },
                           "raw line break for \(value.debugDescription): \(quoted.debugDescription)")
        }
    }

    func testConfigStringRoundTripsThroughGucRules() throws {
        for value in Self.nasty {
            XCTAssertEqual(try LibpqModel.unquoteConfigString(Quoting.configString(value)), value,
                           "value \(value.debugDescription)")
        }
    }

    /// primary_conninfo is a conninfo inside a config string: both layers must round-trip.
    func testConninfoInsideConfigStringRoundTrips() throws {
        for value in Self.nasty {
            let line = Quoting.configString(Quoting.conninfo([("host", "pg2"), ("application_name", value)]))
            let conninfo = try LibpqModel.unquoteConfigString(line)
            let parsed = try LibpqModel.parseConninfo(conninfo)
            XCTAssertEqual(parsed.map(\.0), ["host", "application_name"], "value \(value.debugDescription)")
            XCTAssertEqual(parsed.last?.1, value, "value \(value.debugDescription)")
        }
    }
}

/// Small models of the two PostgreSQL parsers the quoting targets, written from their sources:
/// libpq `conninfo_parse` (fe-connect.c) and `GUC_scanstr` plus the STRING token of guc-file.l.
/// They let the tests check meaning, not only spelling.
enum LibpqModel {
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    private static func isSpace(_ s: Unicode.Scalar) -> Bool {
        [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"].contains(s)
    }

    static func parseConninfo(_ text: String) throws -> [(String, String)] {
        let s = Array(text.unicodeScalars)
        var i = 0
        var pairs: [(String, String)] = []
        while true {
            while i < s.count, isSpace(s[i]) { i += 1 }
            if i == s.count { return pairs }
            var key = ""
            while i < s.count, s[i] != "=", !isSpace(s[i]) { key.unicodeScalars.append(s[i]); i += 1 }
            while i < s.count, isSpace(s[i]) { i += 1 }
            guard i < s.count, s[i] == "=" else { throw ParseError(description: "missing = after \(key)") }
            i += 1
            while i < s.count, isSpace(s[i]) { i += 1 }
            var value = ""
            if i < s.count, s[i] == "'" {
                i += 1
                var closed = false
                while i < s.count {
                    if s[i] == "\\" {
                        i += 1
                        if i < s.count { value.unicodeScalars.append(s[i]); i += 1 }
                    } else if s[i] == "'" {
                        i += 1
                        closed = true
                        break
                    } else {
                        value.unicodeScalars.append(s[i]); i += 1
                    }
                }
                guard closed else { throw ParseError(description: "unterminated quoted string") }
            } else {
                while i < s.count, !isSpace(s[i]) {
                    if s[i] == "\\", i + 1 < s.count { i += 1 }
                    value.unicodeScalars.append(s[i]); i += 1
                }
            }
            pairs.append((key, value))
        }
    }

    static func unquoteConfigString(_ quoted: String) throws -> String {
        let s = Array(quoted.unicodeScalars)
        guard s.count >= 2, s.first == "'", s.last == "'" else { throw ParseError(description: "not a quoted string") }
        guard !s.contains("\n") else { throw ParseError(description: "a raw newline ends the line inside the string") }
        var out = String.UnicodeScalarView()
        var i = 1
        let end = s.count - 1
        while i < end {
            let c = s[i]
            if c == "\\", i + 1 < end {
                let n = s[i + 1]
                switch n {
                case "b": out.append("\u{08}"); i += 2
                case "f": out.append("\u{0C}"); i += 2
                case "n": out.append("\n"); i += 2
                case "r": out.append("\r"); i += 2
                case "t": out.append("\t"); i += 2
                case "0"..."7":
                    var value: UInt32 = 0
                    var j = i + 1
                    while j < end, j < i + 4, ("0"..."7").contains(s[j]) {
                        value = value * 8 + (s[j].value - 48)
                        j += 1
                    }
                    out.append(Unicode.Scalar(value) ?? "?")
                    i = j
                default: out.append(n); i += 2
                }
            } else if c == "'" {
                guard i + 1 < end, s[i + 1] == "'" else { throw ParseError(description: "unescaped quote inside the string") }
                out.append("'"); i += 2
            } else {
                out.append(c); i += 1
            }
        }
        return String(out)
    }
}
