import Foundation
import XCTest
@testable import RejoinSteps

/// The manifest's checksums: XXH3-128 as `xxh128sum` prints it for new archives (format 2),
/// and archives of format 1, written with SHA-256 by earlier versions, still listed, verified
/// and extracted (fixtures/archive/format1-sha256.tar.zst, written by pg-rejoin 0.1.0 before
/// the change).
final class ArchiveChecksumTests: XCTestCase {
    var temp: TemporaryDirectory!
    override func setUpWithError() throws { temp = try TemporaryDirectory("archive-checksum-tests") }
    override func tearDown() { temp = nil }

    static let formatOne = Fixtures.path("archive/format1-sha256.tar.zst")

    // MARK: XXH3-128

    /// Vectors from `xxhsum -H2` (Debian's xxhash 0.8.1): the same hex, high half first, so a
    /// file restored by plain tar can be checked against the manifest with `xxh128sum`.
    func testXXH128IsWhatXxh128sumPrints() throws {
        XCTAssertEqual(try ChecksumAlgorithm.xxh128.hex(of: Data()), "99aa06d3014798d86001c324468d497f")
        XCTAssertEqual(try ChecksumAlgorithm.xxh128.hex(of: Data("abc".utf8)), "06b05ab6733a618578af5f94892f3950")
        let pattern = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        XCTAssertEqual(try ChecksumAlgorithm.xxh128.hex(of: pattern), "e3503d8de40743b7269eb834f6c110a9")
    }

    /// Fed in pieces of any size, and reused after `finish`, a digest gives what one call gives.
    func testADigestFedInPiecesAndReusedGivesTheSameChecksum() throws {
        let bytes = Data((0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        for algorithm in ChecksumAlgorithm.allCases {
            let whole = try algorithm.hex(of: bytes)
            let digest = try algorithm.makeDigest()
            for piece in [1, 63, 4096, 65_537] {
                try bytes.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = min(piece, raw.count - offset)
                        try digest.update(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)]))
                        offset += n
                    }
                }
                XCTAssertEqual(try digest.finish(), whole, "\(algorithm) in pieces of \(piece)")
            }
            XCTAssertEqual(try digest.finish().count, algorithm.hexLength)
        }
        XCTAssertEqual(try ChecksumAlgorithm.sha256.hex(of: Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    // MARK: Format 1 (SHA-256)

    func testAFormatOneArchiveIsReadWithItsSHA256() throws {
        let manifest = try DirectoryArchive.readManifest(archive: Self.formatOne)
        XCTAssertEqual(manifest.format, 1)
        XCTAssertNil(manifest.checksum)
        XCTAssertEqual(manifest.checksumAlgorithm, .sha256)
        XCTAssertEqual(manifest.entries.first { $0.path == "base/1/empty" }?.sha256,
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(try DirectoryArchive.verify(archive: Self.formatOne), manifest)

        let target = temp.path + "/restored"
        try DirectoryArchive().extract(archive: Self.formatOne, to: target)
        XCTAssertEqual(try String(contentsOfFile: target + "/PG_VERSION", encoding: .utf8), "15\n")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/pg_wal"), "pg_wal_dir")
        for entry in manifest.entries where entry.type == .file {
            let data = try Data(contentsOf: URL(fileURLWithPath: target + "/" + entry.path))
            XCTAssertEqual(try ChecksumAlgorithm.sha256.hex(of: data), entry.sha256, entry.path)
        }
    }

    /// `old list` finds a format-1 archive beside PGDATA and reads where its cluster ended,
    /// from the manifest inside and from the copy beside it.
    func testAFormatOneArchiveIsListedWithWhereItsClusterEnded() async throws {
        let pgdata = temp.path + "/main"
        try FileManager.default.createDirectory(atPath: pgdata, withIntermediateDirectories: false)
        let stem = temp.path + "/main.old-20261202T060000Z"
        try FileManager.default.copyItem(atPath: Self.formatOne, toPath: stem + ".tar.zst")
        for beside in [false, true] {
            if beside {
                try FileManager.default.copyItem(atPath: Fixtures.path("archive/format1-sha256.manifest.json"),
                                                 toPath: stem + ".manifest.json")
            }
            let copies = await OldDataCopies.describe(pgdata: pgdata) { _ in nil }
            XCTAssertEqual(copies.count, 1)
            XCTAssertEqual(copies.first?.kind, .archive)
            XCTAssertEqual(copies.first?.manifestFile, beside ? stem + ".manifest.json" : nil)
            XCTAssertNil(copies.first?.problem)
            XCTAssertEqual(copies.first?.control?.timeline, 1)
            XCTAssertEqual(copies.first?.control?.checkpointLSN, "0/3000060")
        }
    }

    // MARK: Formats refused

    func testAManifestOfAnUnknownFormatOrAMismatchedChecksumIsRefused() throws {
        let source = temp.path + "/d.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let manifest = try DirectoryArchive().scan(source)
        XCTAssertEqual(manifest.format, ArchiveManifest.formatVersion)
        XCTAssertEqual(try ArchiveManifest.decode(try manifest.encoded(), archive: "a"), manifest)

        var newer = manifest
        newer.format = 3
        var unnamed = manifest
        unnamed.checksum = nil
        var oldNamed = manifest
        oldNamed.format = 1
        for (bad, expected) in [(newer, "format 3"), (unnamed, "checksum none"), (oldNamed, "format 1 with checksum xxh128")] {
            XCTAssertThrowsError(try ArchiveManifest.decode(try bad.encoded(), archive: "a")) { error in
                guard case let ArchiveError.badManifest(_, reason)? = error as? ArchiveError else { return XCTFail("\(error)") }
                XCTAssertTrue(reason.contains(expected), reason)
            }
        }
    }
}
