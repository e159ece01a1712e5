import Foundation

public enum AddressError: LocalizedError, Equatable {
    case empty
    case badPort(String)
    case badHost(String)

    public var errorDescription: String? {
        switch self {
        case .empty:
            return "--from is empty; pass the new primary as HOST or HOST:PORT (for example --from pg2:5432)"
        case let .badPort(text):
            return "--from has an invalid port '\(text)'; a port is a number from 1 to 65535 (for example --from pg2:5432)"
        case let .badHost(text) where text.contains("=") || text.contains("@"):
            // A conninfo string or URI may carry a password: never repeat it.
            return "--from looks like a connection string or URI (not repeated here: it may hold a password); pass only HOST, HOST:PORT or [IPv6]:PORT, and give the password in a passfile (--passfile)"
        case let .badHost(text):
            return "--from '\(text)' is not a host name or address; pass HOST, HOST:PORT or [IPv6]:PORT"
        }
    }
}

/// The new primary, as the operator named it: HOST, HOST:PORT, [IPV6]:PORT or a bare IPv6
/// address. The host is kept as written, because PostgreSQL reports it back that way in
/// pg_stat_wal_receiver.sender_host.
public struct UpstreamAddress: Codable, Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public static let defaultPort = 5432

    public init(host: String, port: Int = UpstreamAddress.defaultPort) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw AddressError.empty }
        var host = text
        var portText: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw AddressError.badHost(text) }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw AddressError.badHost(text) }
                portText = String(rest.dropFirst())
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        let forbidden = CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: ",'\"\\=@"))
        guard !host.isEmpty, host.rangeOfCharacter(from: forbidden) == nil else { throw AddressError.badHost(text) }
        self.host = host
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { throw AddressError.badPort(portText) }
            self.port = port
        } else {
            self.port = UpstreamAddress.defaultPort
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
