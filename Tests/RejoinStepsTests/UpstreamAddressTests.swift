import XCTest
@testable import RejoinSteps

final class UpstreamAddressTests: XCTestCase {
    private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> UpstreamAddress {
        try UpstreamAddress(parsing: text)
    }

    private func assertError(_ text: String, _ expected: AddressError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try UpstreamAddress(parsing: text), "parsing \(text.debugDescription)", file: file, line: line) { error in
            XCTAssertEqual(error as? AddressError, expected, "parsing \(text.debugDescription)", file: file, line: line)
        }
    }

    // MARK: accepted forms

    func testHostAloneGetsDefaultPort() throws {
        let address = try parse("pg2")
        XCTAssertEqual(address, UpstreamAddress(host: "pg2", port: 5432))
        XCTAssertEqual(UpstreamAddress.defaultPort, 5432)
    }

    func testHostAndPort() throws {
        XCTAssertEqual(try parse("pg2:5433"), UpstreamAddress(host: "pg2", port: 5433))
        XCTAssertEqual(try parse("pg2.db.example.com:1"), UpstreamAddress(host: "pg2.db.example.com", port: 1))
        XCTAssertEqual(try parse("pg2:65535"), UpstreamAddress(host: "pg2", port: 65535))
    }

    func testIPv4AndPort() throws {
        XCTAssertEqual(try parse("10.0.0.2:5432"), UpstreamAddress(host: "10.0.0.2", port: 5432))
        XCTAssertEqual(try parse("10.0.0.2"), UpstreamAddress(host: "10.0.0.2", port: 5432))
    }

    func testBracketedIPv6AndPort() throws {
        XCTAssertEqual(try parse("[::1]:5433"), UpstreamAddress(host: "::1", port: 5433))
        XCTAssertEqual(try parse("[fd00::2]"), UpstreamAddress(host: "fd00::2", port: 5432))
    }

    func testBareIPv6IsAHostWithDefaultPort() throws {
        XCTAssertEqual(try parse("::1"), UpstreamAddress(host: "::1", port: 5432))
        XCTAssertEqual(try parse("fd00::10:2"), UpstreamAddress(host: "fd00::10:2", port: 5432))
    }

    func testSurroundingSpacesAreIgnored() throws {
        XCTAssertEqual(try parse("  pg2:5433 "), UpstreamAddress(host: "pg2", port: 5433))
    }

    // MARK: refused forms

    func testEmpty() {
        assertError("", .empty)
        assertError("   ", .empty)
    }

    func testMissingPort() {
        assertError("pg2:", .badPort(""))
        assertError("[::1]:", .badPort(""))
    }

    func testPortOutOfRange() {
        assertError("pg2:0", .badPort("0"))
        assertError("pg2:65536", .badPort("65536"))
        assertError("pg2:-1", .badPort("-1"))
        assertError("[::1]:70000", .badPort("70000"))
    }

    func testPortNotANumber() {
        assertError("pg2:abc", .badPort("abc"))
        assertError("pg2:54 32", .badPort("54 32"))
    }

    func testSpaceInHost() {
        assertError("a b", .badHost("a b"))
        assertError("pg2\nhost=evil", .badHost("pg2\nhost=evil"))
    }

    func testUnclosedBracket() {
        assertError("[::1", .badHost("[::1"))
    }

    func testJunkAfterBracket() {
        assertError("[::1]5433", .badHost("[::1]5433"))
        assertError("[]:5432", .badHost("[]:5432"))
    }

    func testMultipleHostsAreRefused() {
        assertError("host,host2", .badHost("host,host2"))
        assertError("host:5432,host2:5432", .badHost("host:5432,host2:5432"))
    }

    func testConninfoMetacharactersAreRefused() {
        assertError("pg2'", .badHost("pg2'"))
        assertError(#"pg2""#, .badHost(#"pg2""#))
        assertError(#"pg\2"#, .badHost(#"pg\2"#))
        assertError("host=pg2", .badHost("host=pg2"))
        assertError("repl@pg2", .badHost("repl@pg2"))
    }

    func testEmptyHostBeforePort() {
        assertError(":5432", .badHost(":5432"))
    }

    func testErrorsSayWhatToDo() {
        XCTAssertEqual(AddressError.badPort("0").errorDescription,
                       "--from has an invalid port '0'; a port is a number from 1 to 65535 (for example --from pg2:5432)")
        XCTAssertTrue(AddressError.badHost("a b").errorDescription?.contains("'a b'") ?? false)
        XCTAssertTrue(AddressError.empty.errorDescription?.contains("--from") ?? false)
    }

    // MARK: description

    func testDescription() {
        XCTAssertEqual(UpstreamAddress(host: "pg2").description, "pg2:5432")
        XCTAssertEqual(UpstreamAddress(host: "10.0.0.2", port: 6432).description, "10.0.0.2:6432")
        XCTAssertEqual(UpstreamAddress(host: "::1", port: 5433).description, "[::1]:5433")
    }

    func testDescriptionRoundTrips() throws {
        for text in ["pg2", "pg2:5433", "[::1]:5433", "::1", "10.0.0.2:5432", "[fd00::10:2]:1", "db-2.example.com:65535"] {
            let address = try parse(text)
            XCTAssertEqual(try parse(address.description), address, "round trip of \(text)")
        }
    }

    func testCodableRoundTrip() throws {
        let address = UpstreamAddress(host: "::1", port: 5433)
        let data = try JSONEncoder().encode(address)
        XCTAssertEqual(try JSONDecoder().decode(UpstreamAddress.self, from: data), address)
    }
}
