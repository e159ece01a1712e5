import Foundation

/// A file digest on its own thread, fed a copy of each block, so hashing runs beside
/// decompression instead of after it (re-reading an archive takes the longer of the two, not
/// their sum). At most `depth` blocks are in flight: memory stays fixed whatever the data size.
final class PipelinedDigest: @unchecked Sendable {
    private let digest: FileDigest
    private let queue = DispatchQueue(label: "pg-rejoin.digest")
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var free: [UnsafeMutableRawBufferPointer]
    private var failure: Error?

    init(_ algorithm: ChecksumAlgorithm, blockSize: Int, depth: Int = 3) throws {
        digest = try algorithm.makeDigest()
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
