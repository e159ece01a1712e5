import CLibCrypto
import Foundation

/// SHA-256 through OpenSSL's EVP interface. libarchive has no hashing API and Foundation has
/// none on Linux; libcrypto is on every Debian machine that has PostgreSQL (libpq links it),
/// uses the CPU's SHA extensions, and is maintained for exactly this. One instance owns one
/// EVP_MD_CTX; every call goes through `check`.
final class SHA256Digest {
    private let context: OpaquePointer

    init() throws {
        guard let context = EVP_MD_CTX_new() else { throw ArchiveError.crypto(operation: "EVP_MD_CTX_new") }
        self.context = context
        try check(EVP_DigestInit_ex(context, EVP_sha256(), nil), "EVP_DigestInit_ex")
    }

    deinit { EVP_MD_CTX_free(context) }

    private func check(_ rc: Int32, _ operation: String) throws {
        guard rc == 1 else { throw ArchiveError.crypto(operation: operation) }
    }

    func update(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try check(EVP_DigestUpdate(context, base, bytes.count), "EVP_DigestUpdate")
    }

    /// The digest as lowercase hex. The context is reset so the instance can hash again.
    func finish() throws -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        try check(EVP_DigestFinal_ex(context, &digest, &length), "EVP_DigestFinal_ex")
        try check(EVP_DigestInit_ex(context, EVP_sha256(), nil), "EVP_DigestInit_ex")
        return Self.hex(digest.prefix(Int(length)))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex by table: String(format:) per byte costs more than hashing a small file,
    /// and a data directory is mostly small files.
    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            characters.append(hexDigits[Int(byte >> 4)])
            characters.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    static func hex(of data: Data) throws -> String {
        let digest = try SHA256Digest()
        try data.withUnsafeBytes { try digest.update($0) }
        return try digest.finish()
    }
}

/// SHA-256 on its own thread, fed a copy of each block, so hashing runs beside decompression
/// instead of after it (re-reading an archive takes the longer of the two, not their sum). At
/// most `depth` blocks are in flight: memory stays fixed whatever the data size.
final class PipelinedDigest: @unchecked Sendable {
    private let digest: SHA256Digest
    private let queue = DispatchQueue(label: "pg-rejoin.sha256")
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var free: [UnsafeMutableRawBufferPointer]
    private var failure: Error?

    init(blockSize: Int, depth: Int = 3) throws {
        digest = try SHA256Digest()
        slots = DispatchSemaphore(value: depth)
        free = (0..<depth).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64) }
    }

    // Each queued block holds a reference to self: when this runs, none is in flight (and it
    // may run on the queue itself, so it must not wait for it).
    deinit { free.forEach { $0.deallocate() } }

    func update(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            slots.wait()
            let buffer = lock.withLock { free.removeLast() }
            let n = min(buffer.count, bytes.count - offset)
            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
            offset += n
            queue.async { [self] in
                do { try digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) } catch {
                    lock.withLock { if failure == nil { failure = error } }
                }
                lock.withLock { free.append(buffer) }
                slots.signal()
            }
        }
    }

    /// Queues the end of this file: `body` gets its digest once its blocks are hashed, and the
    /// next `update` starts the next file. Does not wait.
    func finish(_ body: @escaping (Swift.Result<String, Error>) -> Void) {
        queue.async { [self] in
            if let failure = lock.withLock({ failure }) { return body(.failure(failure)) }
            body(Result { try digest.finish() })
        }
    }

    /// Waits until everything queued is done.
    func wait() { queue.sync {} }

    /// Waits for the queued blocks; the digest as lowercase hex, and ready for the next file.
    func finish() throws -> String {
        try queue.sync {
            if let failure = lock.withLock({ failure }) { throw failure }
            return try digest.finish()
        }
    }
}
