import Foundation
import XCTest
@testable import RejoinSteps

/// The old-data archive: a round trip that must give back exactly what went in, a re-read that
/// catches any damage, and an extractor that never writes outside its target.
final class ArchiveTests: XCTestCase {
    var temp: TemporaryDirectory!
    override func setUpWithError() throws { temp = try TemporaryDirectory("archive-tests") }
    override func tearDown() { temp = nil }

    /// A small tree with what a data directory has, and the odd cases: nested directories,
    /// modes 0600/0700/0755, a relative and a dangling absolute symlink, an empty file, and a
    /// few MB that do not compress.
    func makeTree(_ root: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/base/1/nested/deeper", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/pg_wal/archive_status", withIntermediateDirectories: true)
        try Data("15\n".utf8).write(to: URL(fileURLWithPath: root + "/PG_VERSION"))
        try Data().write(to: URL(fileURLWithPath: root + "/base/1/empty"))
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: root + "/base/1/nested/private"))
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: root + "/base/1/nested/deeper/run.sh"))
        var generator = SystemRandomNumberGenerator()
        var big = Data(count: 3 << 20 + 12345)
        big.withUnsafeMutableBytes { buffer in
            for i in stride(from: 0, to: buffer.count - 8, by: 8) {
                buffer.storeBytes(of: generator.next() as UInt64, toByteOffset: i, as: UInt64.self)
            }
        }
        try big.write(to: URL(fileURLWithPath: root + "/base/1/big"))
        try Data(repeating: 0x41, count: 200_000).write(to: URL(fileURLWithPath: root + "/pg_wal/000000010000000000000001"))
        try fm.createSymbolicLink(atPath: root + "/link-to-private", withDestinationPath: "base/1/nested/private")
        try fm.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "/nonexistent/pg_wal")
        chmod(root, 0o700)
        chmod(root + "/PG_VERSION", 0o600)
        chmod(root + "/base/1/nested/private", 0o600)
        chmod(root + "/base/1/nested/deeper/run.sh", 0o755)
        chmod(root + "/base/1/nested", 0o700)
        chmod(root + "/base/1/nested/deeper", 0o755)
        chmod(root + "/base/1/big", 0o644)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)]
        utimensat(AT_FDCWD, root + "/base/1/big", &times, 0)
    }

    /// Every entry with its type, mode, mtime (seconds), symlink target and contents' digest.
    func describe(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        func visit(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            var st = stat()
            XCTAssertEqual(lstat(path, &st), 0, path)
            let mode = String(st.st_mode & 0o7777, radix: 8)
            let key = relative.isEmpty ? "." : relative
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                result[key] = "dir \(mode) \(st.st_mtim.tv_sec)"
                for name in try FileManager.default.contentsOfDirectory(atPath: path) {
                    try visit(relative.isEmpty ? name : relative + "/" + name)
                }
            case S_IFLNK:
                result[key] = "symlink -> \(try FileManager.default.destinationOfSymbolicLink(atPath: path))"
            case S_IFREG:
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                result[key] = "file \(mode) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(data.count) \(try ChecksumAlgorithm.xxh128.hex(of: data))"
            default:
                result[key] = "other"
            }
        }
        try visit("")
        return result
    }

    func testRoundTripGivesBackFilesModesSymlinksAndContents() throws {
        let source = temp.path + "/main.old-20260101T000000Z"
        try makeTree(source)
        let before = try describe(source)
        let archive = temp.path + "/main.old-20260101T000000Z" + ArchiveCompression.best.fileExtension

        let result = try DirectoryArchive().archive(directory: source, to: archive, runID: "20260101T000000Z",
                                                    control: OldDataControl(timeline: 3, checkpointLSN: "0/3000148", clusterState: "in production", systemIdentifier: "7"))
        XCTAssertEqual(try describe(source), before, "archiving must not touch the directory")
        XCTAssertTrue(Files.isRegularFile(archive))
        XCTAssertFalse(Files.exists(archive + ".partial"))
        XCTAssertEqual(result.manifestFile, temp.path + "/main.old-20260101T000000Z.manifest.json")
        XCTAssertEqual(result.manifest.root, "main.old-20260101T000000Z")
        XCTAssertEqual(result.manifest.fileCount, 6)
        XCTAssertEqual(result.manifest.control?.timeline, 3)
        var st = stat()
        XCTAssertEqual(stat(archive, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "an archive of a data directory is private")

        // The manifest leads the archive and is beside it; both say the same.
        let inside = try DirectoryArchive.readManifest(archive: archive)
        let beside = try ArchiveManifest.decode(try Data(contentsOf: URL(fileURLWithPath: result.manifestFile)), archive: result.manifestFile)
        XCTAssertEqual(inside, beside)
        // Written as format 2: XXH3-128 (of nothing, here), no SHA-256.
        XCTAssertEqual(inside.format, 2)
        XCTAssertEqual(inside.checksum, .xxh128)
        XCTAssertEqual(inside.entries.first { $0.path == "base/1/empty" }?.xxh128, "99aa06d3014798d86001c324468d497f")
        XCTAssertTrue(inside.entries.allSatisfy { $0.sha256 == nil })
        XCTAssertTrue(inside.entries.filter { $0.type == .file }.allSatisfy { $0.xxh128?.count == 32 })

        let target = temp.path + "/restored"
        try DirectoryArchive().extract(archive: archive, to: target)
        var after = try describe(target)
        var expected = before
        // The root's mtime changes when entries are created in it during the test's own
        // checks; compare everything else exactly, nanoseconds included for files.
        after["."] = nil
        expected["."] = nil
        XCTAssertEqual(after, expected)
        XCTAssertEqual(stat(target, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/dangling"), "/nonexistent/pg_wal")
        XCTAssertFalse(Files.exists(target + "/" + ArchiveManifest.entryName), "the manifest is not part of the data")

        // A plain tar reads it too (the operator's fallback), without a warning.
        let (list, warnings) = try run(["/usr/bin/tar", "-tf", archive])
        XCTAssertTrue(list.hasPrefix(ArchiveManifest.entryName + "\n"), list)
        XCTAssertTrue(list.contains("main.old-20260101T000000Z/base/1/nested/deeper/run.sh"), list)
        XCTAssertEqual(warnings, "")
    }

    func testNonASCIINamesRoundTrip() throws {
        // The C locale cannot convert them; they are kept as the bytes they are.
        let source = temp.path + "/main.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source + "/caf\u{e9}", withIntermediateDirectories: true)
        try Data("\u{1F418}".utf8).write(to: URL(fileURLWithPath: source + "/caf\u{e9}/\u{1F418}.txt"))
        try FileManager.default.createSymbolicLink(atPath: source + "/l\u{e9}", withDestinationPath: "caf\u{e9}/\u{1F418}.txt")
        let before = try describe(source)
        let archive = source + ".tar.zst"
        try DirectoryArchive().archive(directory: source, to: archive)
        let target = temp.path + "/restored"
        try DirectoryArchive().extract(archive: archive, to: target)
        var after = try describe(target)
        var expected = before
        after["."] = nil
        expected["."] = nil
        XCTAssertEqual(after, expected)
    }

    func testWritingIsStreamedNotBuffered() throws {
        // 64 MB through a 64 kB block: memory must stay flat (a loose bound, not a benchmark).
        let source = temp.path + "/big.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let fd = open(source + "/data", O_WRONLY | O_CREAT, 0o600)
        let chunk = [UInt8](repeating: 7, count: 1 << 20)
        for _ in 0..<64 { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        close(fd)
        // The peak, not what is left after the call: a buffer of the whole data freed before
        // returning would leave nothing behind. Linux's high-water mark, reset first.
        let reset = open("/proc/self/clear_refs", O_WRONLY)
        try XCTSkipIf(reset < 0, "cannot reset the resident high-water mark here")
        _ = write(reset, "5", 1)
        close(reset)
        let before = try XCTUnwrap(Self.statusKB("VmRSS"))
        _ = try DirectoryArchive(blockSize: 64 << 10, feedBlockSize: 64 << 10).archive(directory: source, to: source + ".tar.zst")
        let peak = try XCTUnwrap(Self.statusKB("VmHWM"))
        XCTAssertLessThan(peak - before, 48 << 10, "peak resident memory grew by \(peak - before) kB archiving 64 MB")
    }

    /// A "Name:   12345 kB" line of /proc/self/status, in kB.
    static func statusKB(_ name: String) -> Int64? {
        guard let text = Files.read("/proc/self/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int64($0) }
        }
        return nil
    }

    /// Files are read and hashed on a second thread and handed over in blocks: every size around
    /// a block boundary keeps its own bytes and its own checksum, in order.
    func testFilesOfEverySizeAroundABlockKeepTheirOwnChecksums() throws {
        let source = temp.path + "/sizes.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let block = 4096
        let sizes = [0, 1, block - 1, block, block + 1, 3 * block, 5 * block + 7, 0, 2]
        var expected: [String: String] = [:]
        for (index, size) in sizes.enumerated() {
            let bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
            let name = String(format: "f%02d", index)
            try bytes.write(to: URL(fileURLWithPath: source + "/" + name))
            expected[name] = try ChecksumAlgorithm.xxh128.hex(of: bytes)
        }
        let archive = source + ".tar.zst"
        let manifest = try DirectoryArchive(blockSize: block, feedBlockSize: block).archive(directory: source, to: archive).manifest
        var got: [String: String] = [:]
        for entry in manifest.entries where entry.type == .file { got[entry.path] = entry.xxh128 }
        XCTAssertEqual(got, expected)
        XCTAssertNoThrow(try DirectoryArchive.verify(archive: archive, blockSize: block))
        XCTAssertNoThrow(try DirectoryArchive.verify(archive: archive, against: source, blockSize: block))
    }

    func testTamperedArchiveFailsVerification() throws {
        let source = temp.path + "/main.old-20260101T000000Z"
        try makeTree(source)
        var archiver = DirectoryArchive()
        archiver.compression = .gzip
        let archive = source + ".tar.gz"
        try archiver.archive(directory: source, to: archive)
        XCTAssertNoThrow(try DirectoryArchive.verify(archive: archive))

        // One byte changed in the middle (inside the incompressible file's data).
        var data = try Data(contentsOf: URL(fileURLWithPath: archive))
        data[data.count / 2] ^= 0x01
        let tampered = temp.path + "/tampered.tar.gz"
        try data.write(to: URL(fileURLWithPath: tampered))
        XCTAssertThrowsError(try DirectoryArchive.verify(archive: tampered)) { XCTAssertTrue($0 is ArchiveError, "\($0)") }
        XCTAssertThrowsError(try DirectoryArchive().extract(archive: tampered, to: temp.path + "/out"))
        XCTAssertFalse(Files.exists(temp.path + "/out"), "a failed extract leaves nothing behind")
        XCTAssertFalse(Files.exists(temp.path + "/out.pg-rejoin-extract"))

        // Truncated: the last entries are missing or cut.
        let truncated = temp.path + "/truncated.tar.gz"
        try Data(try Data(contentsOf: URL(fileURLWithPath: archive)).prefix(data.count * 3 / 4)).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try DirectoryArchive.verify(archive: truncated))
    }

    /// The re-read after writing compares the archive with the directory it came from: equal
    /// passes; one byte changed, a file grown or a file gone since fails, naming the file.
    func testReReadAgainstTheSourceCatchesAnyDifferenceFromTheDirectory() throws {
        let source = temp.path + "/main.old-20260101T000000Z"
        try makeTree(source)
        let archive = source + ".tar.zst"
        let manifest = try DirectoryArchive().archive(directory: source, to: archive).manifest
        XCTAssertEqual(try DirectoryArchive.verify(archive: archive, expected: manifest, against: source), manifest)

        let big = source + "/base/1/big"
        var data = try Data(contentsOf: URL(fileURLWithPath: big))
        data[data.count - 100] ^= 0x01
        try data.write(to: URL(fileURLWithPath: big))
        XCTAssertThrowsError(try DirectoryArchive.verify(archive: archive, against: source)) { error in
            guard case let ArchiveError.entryMismatch(_, entry, problem)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(entry, "base/1/big")
            XCTAssertTrue(problem.contains("differ"), problem)
        }
        data[data.count - 100] ^= 0x01
        data.append(0)
        try data.write(to: URL(fileURLWithPath: big))
        XCTAssertThrowsError(try DirectoryArchive.verify(archive: archive, against: source)) { error in
            guard case let ArchiveError.entryMismatch(_, entry, problem)? = error as? ArchiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(entry, "base/1/big")
            XCTAssertTrue(problem.contains("longer"), problem)
        }
        try FileManager.default.removeItem(atPath: big)
        XCTAssertThrowsError(try DirectoryArchive.verify(archive: archive, against: source))
        // Without the source the archive is still whole: its own checksums pass.
        XCTAssertNoThrow(try DirectoryArchive.verify(archive: archive))
    }

    /// In either manifest format: XXH3-128 (format 2) and SHA-256 (format 1, earlier versions).
    func testContentThatDisagreesWithTheManifestIsAChecksumMismatch() throws {
        let source = temp.path + "/d.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("original".utf8).write(to: URL(fileURLWithPath: source + "/f"))
        for (format, algorithm) in [(2, ChecksumAlgorithm.xxh128), (1, .sha256)] {
            var manifest = try DirectoryArchive().scan(source)
            manifest.format = format
            manifest.checksum = format > 1 ? algorithm : nil
            manifest.entries[1].setChecksum(try algorithm.hex(of: Data("original".utf8)), algorithm)
            let archive = temp.path + "/forged-\(format).tar.zst"
            try Self.writeRaw(archive, manifest: manifest, members: [
                (manifest.root, .directory, nil, nil),
                (manifest.root + "/f", .file, Data("0riginal".utf8), nil),
            ])
            XCTAssertThrowsError(try DirectoryArchive.verify(archive: archive)) { error in
                guard case let ArchiveError.checksumMismatch(_, entry, named, _, _)? = error as? ArchiveError else { return XCTFail("\(error)") }
                XCTAssertEqual(entry, "f")
                XCTAssertEqual(named, algorithm)
                XCTAssertTrue(error.localizedDescription.contains(algorithm.displayName), error.localizedDescription)
            }
        }
    }

    func testExtractRefusesDotDotAndAbsoluteEntries() throws {
        let source = temp.path + "/d.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let manifest = try DirectoryArchive().scan(source)
        let outside = temp.path + "/escaped"
        for evil in [manifest.root + "/../escaped", "../escaped", outside, manifest.root + "/a/../../escaped"] {
            let archive = temp.path + "/evil.tar.zst"
            unlink(archive)
            try Self.writeRaw(archive, manifest: manifest, members: [
                (manifest.root, .directory, nil, nil),
                (evil, .file, Data("pwned".utf8), nil),
            ])
            let target = temp.path + "/target"
            XCTAssertThrowsError(try DirectoryArchive().extract(archive: archive, to: target), evil) { error in
                guard case .unsafeEntry? = error as? ArchiveError else { return XCTFail("\(evil): \(error)") }
            }
            XCTAssertFalse(Files.exists(outside), "\(evil) was written outside the target")
            XCTAssertFalse(Files.exists(target), "\(evil): a refused archive leaves no target")
            XCTAssertThrowsError(try DirectoryArchive.verify(archive: archive))
        }
    }

    func testExtractRefusesANonEmptyTargetAndAcceptsAnEmptyOne() throws {
        let source = temp.path + "/d.old-20260101T000000Z"
        try makeTree(source)
        let archive = source + ".tar.zst"
        try DirectoryArchive().archive(directory: source, to: archive)
        let busy = temp.path + "/busy"
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: busy + "/mine"))
        XCTAssertThrowsError(try DirectoryArchive().extract(archive: archive, to: busy)) { error in
            guard case .targetNotEmpty? = error as? ArchiveError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: busy), ["mine"])
        let empty = temp.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try DirectoryArchive().extract(archive: archive, to: empty)
        XCTAssertTrue(Files.isRegularFile(empty + "/base/1/big"))
    }

    func testArchivingRefusesAnExistingArchiveAndLeavesNoPartial() throws {
        let source = temp.path + "/d.old-20260101T000000Z"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let archive = source + ".tar.zst"
        try Data("someone else's".utf8).write(to: URL(fileURLWithPath: archive))
        XCTAssertThrowsError(try DirectoryArchive().archive(directory: source, to: archive))
        XCTAssertEqual(try String(contentsOfFile: archive, encoding: .utf8), "someone else's")
        XCTAssertFalse(Files.exists(archive + ".partial"))
    }

    // MARK: finding and pruning copies

    func testFindListsOnlyPgRejoinNamesOldestFirst() throws {
        let pgdata = temp.path + "/main"
        try FileManager.default.createDirectory(atPath: pgdata, withIntermediateDirectories: true)
        for dir in ["main.old-20260102T000000Z", "main.old-20260101T000000Z-2", "main.old-by-hand", "other.old-20260101T000000Z"] {
            try FileManager.default.createDirectory(atPath: temp.path + "/" + dir, withIntermediateDirectories: true)
        }
        for file in ["main.old-20260103T000000Z.tar.zst", "main.old-20260103T000000Z.manifest.json",
                     "main.old-20260104T000000Z.tar.zst.partial", "main.old-20250101T000000Z.tar.gz",
                     "main.old-20260105T000000Z.manifest.json", "main.old-by-hand.manifest.json"] {
            try Data().write(to: URL(fileURLWithPath: temp.path + "/" + file))
        }
        let copies = OldDataCopies.find(pgdata: pgdata)
        XCTAssertEqual(copies.map(\.name), ["main.old-20250101T000000Z", "main.old-20260101T000000Z-2",
                                            "main.old-20260102T000000Z", "main.old-20260103T000000Z"])
        XCTAssertEqual(copies.map(\.kind), [.archive, .directory, .directory, .archive])
        XCTAssertEqual(copies.last?.manifestFile, temp.path + "/main.old-20260103T000000Z.manifest.json")
        XCTAssertEqual(OldDataCopies.leftovers(pgdata: pgdata), [temp.path + "/main.old-20260104T000000Z.tar.zst.partial",
                                                                 temp.path + "/main.old-20260105T000000Z.manifest.json"],
                       "half-written archives and a manifest whose archive never got its name")
    }

    func testPruneKeepsTheNewestNCountingThisRunAndNeverThisRun() throws {
        func copy(_ run: String, _ kind: OldDataCopy.Kind) -> OldDataCopy {
            let (id, time) = OldDataCopies.runID(of: "main.old-" + run, prefix: "main.old-")!
            return OldDataCopy(kind: kind, path: "/x/main.old-" + run, name: "main.old-" + run, runID: id, time: time, bytes: 0)
        }
        let copies = [copy("20260101T000000Z", .directory), copy("20260102T000000Z", .archive),
                      copy("20260102T000000Z", .directory), copy("20260103T000000Z", .directory),
                      copy("20260104T000000Z", .archive)]
        func pruned(keep: Int, protecting: String?) -> [String] {
            OldDataCopies.toPrune(copies, keep: keep, protecting: protecting).map { "\($0.name.dropFirst(9)) \($0.kind.rawValue)" }
        }
        // This run is the newest: it and one more survive.
        XCTAssertEqual(pruned(keep: 2, protecting: "main.old-20260104T000000Z"),
                       ["20260101T000000Z directory", "20260102T000000Z archive", "20260102T000000Z directory"])
        // This run is protected even when it is not the newest, and counts toward N.
        XCTAssertEqual(pruned(keep: 1, protecting: "main.old-20260101T000000Z"),
                       ["20260102T000000Z archive", "20260102T000000Z directory", "20260103T000000Z directory", "20260104T000000Z archive"])
        XCTAssertEqual(pruned(keep: 0, protecting: "main.old-20260103T000000Z").count, 4)
        // A rewind or a discard leaves no copy of this run: the newest N others stay.
        XCTAssertEqual(pruned(keep: 2, protecting: "main.old-20260105T000000Z"),
                       ["20260101T000000Z directory", "20260102T000000Z archive", "20260102T000000Z directory"])
        XCTAssertEqual(pruned(keep: 9, protecting: nil), [])
    }

    func testRemoveTakesAnArchiveWithItsManifest() throws {
        let pgdata = temp.path + "/main"
        let source = temp.path + "/main.old-20260101T000000Z"
        try makeTree(source)
        try DirectoryArchive().archive(directory: source, to: source + ".tar.zst")
        let copies = OldDataCopies.find(pgdata: pgdata)
        XCTAssertEqual(copies.map(\.kind), [.archive, .directory], "same run: by kind")
        for copy in copies { try OldDataCopies.remove(copy) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: temp.path), [])
    }

    // MARK: helpers

    /// Writes an archive member by member, with whatever names and contents a test needs.
    static func writeRaw(_ path: String, manifest: ArchiveManifest,
                         members: [(name: String, type: ArchiveManifest.EntryType, data: Data?, target: String?)]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let writer = try ArchiveWriter(fd: fd, path: path, compression: .best)
        let manifestData = try manifest.encoded()
        try writer.writeHeader(ArchiveEntryInfo(name: ArchiveManifest.entryName, type: .file, rawType: 0, mode: 0o600, uid: 0, gid: 0,
                                                mtime: 0, mtimeNanoseconds: 0, size: UInt64(manifestData.count)))
        try manifestData.withUnsafeBytes { try writer.writeData($0) }
        for member in members {
            let relative = ArchivePath.relative(member.name, root: manifest.root)
            let mode = manifest.entries.first { $0.path == relative }?.mode ?? 0o600
            try writer.writeHeader(ArchiveEntryInfo(name: member.name, type: member.type, rawType: 0, mode: mode, uid: 0, gid: 0,
                                                    mtime: 0, mtimeNanoseconds: 0, size: UInt64(member.data?.count ?? 0),
                                                    symlinkTarget: member.target))
            if let data = member.data { try data.withUnsafeBytes { try writer.writeData($0) } }
        }
        try writer.close()
    }

    func run(_ argv: [String]) throws -> (String, String) { try temp.run(argv) }
}
