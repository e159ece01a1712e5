import Foundation
import XCTest
@testable import RejoinSteps

/// How an archive is written once and re-read while it is written: the file that is followed
/// as it grows, the head space the manifest goes into afterwards, and the re-read that compares
/// the body with the directory.
final class ArchiveRereadTests: XCTestCase {
    var temp: TemporaryDirectory!
    override func setUpWithError() throws { temp = try TemporaryDirectory("archive-reread-tests") }
    override func tearDown() { temp = nil }

    private func bytes(_ count: Int, seed: Int) -> Data {
        Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ seed) })
    }

    // MARK: GrowingFile

    /// Pieces of every size, some smaller than a block and some larger, written by another
    /// thread after the reader started: the reader gets every byte after the start, in order.
    func testAGrowingFileGivesBackEveryByteTheWriterWrites() throws {
        let path = temp.path + "/growing"
        let start = 8192
        let pieces = [1, 4095, 4096, 4097, 100, 20_000, 3, 65_536, 7]
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(write(fd, [UInt8](repeating: 0xEE, count: start), start), start)
        let file = try GrowingFile(path: path, from: UInt64(start), blockSize: 4096)
        var expected = Data()
        for (index, count) in pieces.enumerated() { expected.append(bytes(count, seed: index)) }

        let writer = WorkerThread(name: "test-writer") { [pieces] in
            var written = UInt64(start)
            for (index, count) in pieces.enumerated() {
                let piece = Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ index) })
                let n = piece.withUnsafeBytes { write(fd, $0.baseAddress, count) }
                XCTAssertEqual(n, count)
                written += UInt64(count)
                file.wrote(upTo: written)
                usleep(2000)
            }
            file.finish()
        }
        var got = Data()
        while true {
            let chunk = try file.next()
            if chunk.isEmpty { break }
            got.append(contentsOf: chunk)
        }
        writer.wait()
        XCTAssertEqual(got.count, expected.count)
        XCTAssertEqual(got, expected, "the bytes before the start are not read; the rest are, in order")
        XCTAssertNoThrow(try file.drain(), "at the end, draining reads nothing more")
    }

    /// A writer that fails must not leave the reader waiting for bytes that will never come.
    func testAnAbandonedGrowingFileFailsTheWaitingReader() throws {
        let path = temp.path + "/abandoned"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(count: 100)))
        let file = try GrowingFile(path: path, from: 0, blockSize: 4096)
        let outcome = LockedBox<Error?>(nil)
        let reader = WorkerThread(name: "test-reader") {
            do { _ = try file.next() } catch { outcome.update { _ in (error, ()) } }
        }
        usleep(50_000)
        file.abandon()
        reader.wait()
        guard case ArchiveError.io(_, _, let code)? = outcome.current as? ArchiveError else {
            return XCTFail("the reader should fail, got \(String(describing: outcome.current))")
        }
        XCTAssertEqual(code, ECANCELED)
        XCTAssertNotNil(file.failure, "the reason is kept for whoever read through libarchive")
        file.finish()
        XCTAssertThrowsError(try file.next(), "finish after abandon changes nothing")
    }

    // MARK: Head space

    private func tree(_ root: String, files: Int) throws {
        try FileManager.default.createDirectory(atPath: root + "/base", withIntermediateDirectories: true)
        for index in 0..<files {
            try bytes(index * 977, seed: index).write(to: URL(fileURLWithPath: root + "/base/\(index)"))
        }
    }

    /// The body starts right after the head space, the padding in it decompresses to nothing,
    /// for both compressions: libarchive and a plain tar read the manifest first, then the
    /// entries, and extract gives back the files.
    func testTheHeadSpacePaddingIsSkippedByEveryReader() throws {
        for compression in ArchiveCompression.allCases {
            let source = temp.path + "/main.old-2026010\(compression == .zstd ? 1 : 2)T000000Z"
            try tree(source, files: 40)
            let archive = source + compression.fileExtension
            var archiver = DirectoryArchive()
            archiver.compression = compression
            let manifest = try archiver.archive(directory: source, to: archive).manifest

            let head = try HeadSpace(for: manifest, compression: compression)
            XCTAssertEqual(head.size % 4096, 0)
            let data = try Data(contentsOf: URL(fileURLWithPath: archive))
            let magic: [UInt8] = compression == .zstd ? [0x28, 0xB5, 0x2F, 0xFD] : [0x1F, 0x8B]
            XCTAssertEqual(Array(data[head.size..<(head.size + magic.count)]), magic, "\(compression): the body starts after the head space")
            XCTAssertEqual(Array(data[0..<magic.count]), magic, "\(compression): the manifest's stream starts the file")

            XCTAssertEqual(try DirectoryArchive.readManifest(archive: archive), manifest)
            XCTAssertNoThrow(try DirectoryArchive.verify(archive: archive, expected: manifest, against: source))
            let (list, warnings) = try temp.run(["/usr/bin/tar", "-tf", archive])
            XCTAssertTrue(list.hasPrefix(ArchiveManifest.entryName + "\n"), "\(compression): \(list)")
            XCTAssertTrue(list.contains(manifest.root + "/base/39"), "\(compression): \(list)")
            XCTAssertEqual(warnings, "", "\(compression)")
            let target = temp.path + "/restored-\(compression.rawValue)"
            try DirectoryArchive().extract(archive: archive, to: target)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target + "/base/39")), bytes(39 * 977, seed: 39))
        }
    }

    /// The space is sized from the manifest before its checksums are known; a manifest that
    /// somehow grew beyond it is refused rather than written over the body.
    func testAManifestThatDoesNotFitItsSpaceIsRefused() throws {
        let small = temp.path + "/small.old-20260101T000000Z"
        try tree(small, files: 2)
        let large = temp.path + "/large.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: large, withIntermediateDirectories: true)
        for index in 0..<400 { XCTAssertTrue(FileManager.default.createFile(atPath: large + "/\(index)", contents: Data())) }
        let archiver = DirectoryArchive()
        let head = try HeadSpace(for: try archiver.scan(small), compression: .gzip)
        // Random checksums do not compress: 400 of them are far more than the space for 2.
        var grown = try archiver.scan(large)
        for index in grown.entries.indices where grown.entries[index].type == .file {
            let random = (0..<(grown.checksumAlgorithm.hexLength / 2)).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            grown.entries[index].setChecksum(random, grown.checksumAlgorithm)
        }
        XCTAssertThrowsError(try head.bytes(json: try grown.encoded(), created: grown.created, level: 1, path: small + ".tar.gz")) { error in
            guard case let ArchiveError.library(_, _, message)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("does not fit"), message)
        }
        // The space made for a manifest fits it exactly, padding and all.
        var sized = try archiver.scan(small)
        for index in sized.entries.indices where sized.entries[index].type == .file {
            sized.entries[index].setChecksum(String(repeating: "f", count: sized.checksumAlgorithm.hexLength), sized.checksumAlgorithm)
        }
        XCTAssertEqual(try head.bytes(json: try sized.encoded(), created: sized.created, level: 1, path: small + ".tar.gz").count, head.size)
    }

    // MARK: The re-read

    /// The re-read of the body compares it with the directory: unchanged passes; a byte
    /// changed or a file gone fails, naming the entry.
    func testTheRereadOfTheBodyComparesItWithTheDirectory() throws {
        let source = temp.path + "/main.old-20260101T000000Z"
        try tree(source, files: 12)
        let archive = source + ".tar.zst"
        let manifest = try DirectoryArchive().archive(directory: source, to: archive).manifest
        let head = try HeadSpace(for: manifest, compression: .zstd)
        func reread() throws {
            let body = try GrowingFile(path: archive, from: UInt64(head.size), blockSize: 4096)
            body.finish()
            try DirectoryArchive.rereadBody(body, expected: manifest, source: source, blockSize: 4096)
        }
        XCTAssertNoThrow(try reread())

        let changed = source + "/base/11"
        var data = try Data(contentsOf: URL(fileURLWithPath: changed))
        data[data.count / 2] ^= 0x01
        try data.write(to: URL(fileURLWithPath: changed))
        XCTAssertThrowsError(try reread()) { error in
            guard case let ArchiveError.entryMismatch(_, entry, problem)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(entry, "base/11")
            XCTAssertTrue(problem.contains("differ"), problem)
        }
        try FileManager.default.removeItem(atPath: changed)
        XCTAssertThrowsError(try reread())

        // A read that fails under libarchive is reported as itself, not as libarchive's
        // "read failed".
        let abandoned = try GrowingFile(path: archive, from: UInt64(head.size), blockSize: 4096)
        abandoned.abandon()
        XCTAssertThrowsError(try DirectoryArchive.rereadBody(abandoned, expected: manifest, source: source, blockSize: 4096)) { error in
            guard case let ArchiveError.io(_, _, code)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(code, ECANCELED)
        }
    }

    /// The head is read back from disk after the fsync: a damaged manifest stream fails.
    func testADamagedHeadFailsTheConfirmation() throws {
        let source = temp.path + "/main.old-20260101T000000Z"
        try tree(source, files: 5)
        let archive = source + ".tar.zst"
        let manifest = try DirectoryArchive().archive(directory: source, to: archive).manifest
        let json = try manifest.encoded()
        XCTAssertNoThrow(try DirectoryArchive.confirmHead(archive: archive, expected: manifest, encoded: json, blockSize: 4096))
        var other = manifest
        other.runID = "someone else"
        XCTAssertThrowsError(try DirectoryArchive.confirmHead(archive: archive, expected: other, encoded: try other.encoded(), blockSize: 4096))

        var data = try Data(contentsOf: URL(fileURLWithPath: archive))
        data[20] ^= 0xFF
        let damaged = temp.path + "/damaged.tar.zst"
        try data.write(to: URL(fileURLWithPath: damaged))
        XCTAssertThrowsError(try DirectoryArchive.confirmHead(archive: damaged, expected: manifest, encoded: json, blockSize: 4096))
    }
}
