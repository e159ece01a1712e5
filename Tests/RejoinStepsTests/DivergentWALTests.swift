import XCTest
@testable import RejoinSteps

/// Which segments of pg_wal are saved before a rewind: from the fork's segment on, and not the
/// recycled segments that already carry later names.
final class DivergentWALTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "divergent-wal-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/pgdata/pg_wal", withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A segment file with `age` seconds since its last write (1 MB segments keep the test small).
    private func segment(_ name: String, age: TimeInterval, content: String? = nil) throws {
        let path = root + "/pgdata/pg_wal/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((content ?? name).utf8)))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -age)], ofItemAtPath: path)
    }

    private func saved(_ wal: DivergentWAL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: wal.walCopy).sorted()
    }

    func testBeforeRecoveryItSavesFromTheForkThroughTheNewestWrittenSegment() throws {
        try segment("000000010000000000000002", age: 300)   // before the fork
        try segment("000000010000000000000003", age: 60)    // the fork's segment
        try segment("000000010000000000000004", age: 5)     // written last: the crash was here
        try segment("000000010000000000000005", age: 900)   // recycled, waiting for reuse
        try segment("000000020000000000000004", age: 1)     // another timeline
        let wal = DivergentWAL(directory: root + "/divergence", segmentSize: 1 << 20)
        let fork = try XCTUnwrap(LSN("0/380000"))   // segment 3 of 1 MB segments
        XCTAssertEqual(try wal.save(from: root + "/pgdata", timeline: 1, fork: fork, through: nil), 2)
        XCTAssertEqual(try saved(wal), ["000000010000000000000003", "000000010000000000000004"])
    }

    func testACrashBeforeTheForksSegmentSavesNothing() throws {
        try segment("000000010000000000000002", age: 1)     // written last: the crash was here
        try segment("000000010000000000000003", age: 900)   // recycled
        try segment("000000010000000000000004", age: 800)   // recycled
        let wal = DivergentWAL(directory: root + "/divergence", segmentSize: 1 << 20)
        XCTAssertEqual(try wal.save(from: root + "/pgdata", timeline: 1, fork: try XCTUnwrap(LSN("0/380000")), through: nil), 0)
    }

    func testAfterRecoveryItAddsWhatIsMissingAndKeepsWhatWasSaved() throws {
        try segment("000000010000000000000003", age: 60)
        let wal = DivergentWAL(directory: root + "/divergence", segmentSize: 1 << 20)
        let fork = try XCTUnwrap(LSN("0/380000"))
        try wal.save(from: root + "/pgdata", timeline: 1, fork: fork, through: nil)
        // Recovery appended to segment 3 and the end is in segment 4 now.
        try segment("000000010000000000000003", age: 0, content: "after recovery")
        try segment("000000010000000000000004", age: 0)
        try segment("000000010000000000000005", age: 0)
        let end = try XCTUnwrap(LSN("0/480000"))
        XCTAssertEqual(try wal.save(from: root + "/pgdata", timeline: 1, fork: fork, through: end), 2)
        XCTAssertEqual(try saved(wal), ["000000010000000000000003", "000000010000000000000004"])
        XCTAssertEqual(try String(contentsOfFile: wal.walCopy + "/000000010000000000000003", encoding: .utf8),
                       "000000010000000000000003", "the copy made before recovery is kept as the crashed server left it")
    }
}
