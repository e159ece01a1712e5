import Foundation
import XCTest

/// A finished child process, for assertions.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

/// Runs argv (never a shell string) and waits. Output goes through files, so a server that
/// inherits the descriptors cannot keep us waiting for EOF.
enum Command {
    static var isRoot: Bool { geteuid() == 0 }

    @discardableResult
    static func run(_ argv: [String], environment: [String: String]? = nil, asPostgres: Bool = false) throws -> CommandResult {
        var argv = argv
        if asPostgres && isRoot { argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("out").path, errPath = dir.appendingPathComponent("err").path
        let env = (environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } } ?? ProcessInfo.processInfo.environment)
            .map { "\($0.key)=\($0.value)" }
        let status = try spawnAndWait(argv, environment: env, stdout: outPath, stderr: errPath)
        return CommandResult(status: status,
                             stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// posix_spawn + waitpid: Foundation's Process sometimes misses a child's exit on Linux when
    /// many children come and go, and a test must never hang on that.
    /// A child left running in the background (pg-rejoin mid-clone, for signal tests).
    struct Background {
        var pid: pid_t
        var stdout: String
        var stderr: String

        /// Waits for it and returns what it did.
        func wait() -> CommandResult {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return CommandResult(status: Command.decode(status),
                                 stdout: (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "",
                                 stderr: (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
        }
    }

    static func background(_ argv: [String], environment: [String: String]? = nil) throws -> Background {
        let base = NSTemporaryDirectory() + "bg-\(UUID().uuidString)"
        let env = (environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } } ?? ProcessInfo.processInfo.environment)
            .map { "\($0.key)=\($0.value)" }
        let pid = try spawn(argv, environment: env, stdout: base + ".out", stderr: base + ".err")
        return Background(pid: pid, stdout: base + ".out", stderr: base + ".err")
    }

    static func decode(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    static func spawnAndWait(_ argv: [String], environment: [String], stdout: String, stderr: String) throws -> Int32 {
        let pid = try spawn(argv, environment: environment, stdout: stdout, stderr: stderr)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return decode(status)
    }

    static func spawn(_ argv: [String], environment: [String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, cEnv)
        guard rc == 0 else { throw SpawnFailed(argv: argv, errno: rc) }
        return pid
    }

    struct SpawnFailed: Error { var argv: [String]; var errno: Int32 }

    /// Runs and fails the test unless the child exited 0.
    @discardableResult
    static func check(_ argv: [String], asPostgres: Bool = false, environment: [String: String]? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try run(argv, environment: environment, asPostgres: asPostgres)
        if result.status != 0 {
            XCTFail("\(argv.joined(separator: " ")) exited \(result.status): \(result.output)", file: file, line: line)
            throw CommandFailed(argv: argv, result: result)
        }
        return result
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var argv: [String]
        var result: CommandResult
        var description: String { "\(argv.joined(separator: " ")) exited \(result.status): \(result.output)" }
    }

    /// A port nobody listens on, below the kernel's ephemeral range (32768-60999 here): a
    /// server's port chosen from that range can be taken, while the server is down between a
    /// crash and a rejoin, as the source port of some client connection.
    /// `PG_REJOIN_TEST_PORTS=LOW-HIGH` narrows the range: `make test` runs several test processes
    /// at once, each in a range of its own, so that none picks the port of another's server
    /// while that server is down.
    static func freePort() -> Int {
        let range = portRange
        for _ in 0..<200 {
            let port = Int.random(in: range)
            if canBind(port) { return port }
        }
        return Int.random(in: range)
    }

    private static let portRange: ClosedRange<Int> = {
        let fallback = 20000...31999
        guard let text = ProcessInfo.processInfo.environment["PG_REJOIN_TEST_PORTS"] else { return fallback }
        let bounds = text.split(separator: "-").compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] >= 1024, bounds[0] < bounds[1], bounds[1] < 32768 else { return fallback }
        return bounds[0]...bounds[1]
    }()

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0
    }
}
