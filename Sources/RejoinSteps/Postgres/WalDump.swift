import Foundation

/// What pg_waldump says about the WAL a rewind throws away: which relations were written,
/// how many records of each kind, the first and last position, the last commit time.
public struct DivergenceSummary: Codable, Sendable, Equatable {
    public var firstLSN: String?
    public var lastLSN: String?
    public var records: Int
    public var recordsByResourceManager: [String: Int]
    /// "database-oid/relfilenode" of every relation a record touched.
    public var relations: [String]
    public var commits: Int
    public var lastCommitTime: String?

    public init(parsing output: String) {
        var first: String?, last: String?
        var count = 0, commits = 0
        var byRmgr: [String: Int] = [:]
        var relations = Set<String>()
        var lastCommit: String?
        for line in output.split(whereSeparator: \.isNewline) where line.hasPrefix("rmgr: ") {
            count += 1
            let rmgr = line.dropFirst(6).prefix(while: { $0 != " " })
            byRmgr[String(rmgr), default: 0] += 1
            if let lsn = Self.field(line, after: "lsn: ", upTo: ",") {
                if first == nil { first = lsn }
                last = lsn
            }
            var rest = line[...]
            while let range = rest.range(of: " rel ") {
                let triple = rest[range.upperBound...].prefix(while: { $0 != " " && $0 != "," })
                let parts = triple.split(separator: "/")
                if parts.count == 3 { relations.insert("\(parts[1])/\(parts[2])") }
                rest = rest[range.upperBound...]
            }
            if rmgr == "Transaction", let desc = line.range(of: "desc: COMMIT ") {
                commits += 1
                lastCommit = String(line[desc.upperBound...].prefix(while: { $0 != ";" }))
                    .trimmingCharacters(in: .whitespaces)
            }
        }
        firstLSN = first
        lastLSN = last
        records = count
        recordsByResourceManager = byRmgr
        self.relations = relations.sorted()
        self.commits = commits
        lastCommitTime = lastCommit
    }

    static func field(_ line: Substring, after key: String, upTo end: Character) -> String? {
        guard let range = line.range(of: key) else { return nil }
        return String(line[range.upperBound...].prefix(while: { $0 != end }))
    }
}
