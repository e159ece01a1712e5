import Foundation

/// pg_controldata's answers, remembered by the exact bytes of the `global/pg_control` they were
/// read from. A rejoin asks about the same control file several times within a second (preflight,
/// then each step's `isDone` and its own look before acting), and each answer costs a process.
/// The output is a pure function of the file's contents and the program that printed it, so a
/// copy is reused only when the file still holds the same bytes: never a stale answer, whatever
/// wrote the file in between (a server, crash recovery, pg_rewind) and however close in time.
final class ControlDataCache: @unchecked Sendable {
    static let shared = ControlDataCache()

    private struct Key: Hashable {
        var program: String
        var dataDirectory: String
    }

    private struct Answer {
        var contents: Data
        var control: ControlData
    }

    private let lock = NSLock()
    private var answers: [Key: Answer] = [:]
    /// A handful of data directories at most (PGDATA, an old copy, a staging directory).
    private let capacity = 16

    /// The control file's current contents, or nil when it cannot be read (no caching then).
    static func contents(of dataDirectory: String) -> Data? {
        FileManager.default.contents(atPath: dataDirectory + "/global/pg_control")
    }

    func answer(program: String, dataDirectory: String, contents: Data) -> ControlData? {
        lock.withLock {
            guard let answer = answers[Key(program: program, dataDirectory: dataDirectory)], answer.contents == contents else { return nil }
            return answer.control
        }
    }

    func remember(_ control: ControlData, program: String, dataDirectory: String, contents: Data) {
        lock.withLock {
            if answers.count >= capacity { answers.removeAll() }
            answers[Key(program: program, dataDirectory: dataDirectory)] = Answer(contents: contents, control: control)
        }
    }
}
