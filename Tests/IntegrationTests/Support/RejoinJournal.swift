import Foundation

/// The journal of a data directory, read as plain JSON for assertions (independent of the code
/// under test).
struct RejoinJournal {
    var records: [[String: Any]]

    init(pgdata: String) throws {
        let text = try String(contentsOfFile: pgdata + ".rejoin/journal.jsonl", encoding: .utf8)
        records = text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    var plan: [String: Any]? { records.last { $0["kind"] as? String == "plan" }?["plan"] as? [String: Any] }
    var oldDataDirectory: String? { plan?["oldDataDirectory"] as? String }
    var stagingDirectory: String? { plan?["stagingDirectory"] as? String }

    func events(_ step: String) -> [String] {
        records.filter { $0["step"] as? String == step }.compactMap { $0["event"] as? String }
    }

    var kinds: [String] { records.compactMap { $0["kind"] as? String } }
}
