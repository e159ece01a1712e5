import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file that one thread is still writing, read back from disk by another as it grows: a read
/// that catches up with the writer waits until the writer says it wrote more, finished, or gave
/// up. This is how an archive is re-read while it is written, instead of after.
///
/// Each part is read from the disk, not from the page cache the writer just filled: it is
/// written out (sync_file_range, waiting for the device) and dropped from the cache first.
/// While the writer is at work only whole blocks below what it reported written are read, so
/// no page it is still filling is dropped or read half-written. Owns its descriptor and its
/// buffer.
final class GrowingFile: @unchecked Sendable {
    enum State { case writing, finished, abandoned }

    let path: String
    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    /// Reader side only: where the next read starts.
    private var offset: UInt64
    /// Reader side only: why the last read failed. libarchive, reading through a callback,
    /// sees only that it failed; this says why.
    private(set) var failure: Error?

    private let condition = NSCondition()
    private var state = State.writing
    /// How far the writer says the file is written.
    private var written: UInt64 = 0
    /// Where a waiting reader wants `written` to be before it is woken.
    private var wanted = UInt64.max

    /// Opens `path`, which the writer has already created, to read it from `offset` on (a
    /// multiple of the page size). Blocks are whole pages.
    init(path: String, from offset: UInt64, blockSize: Int) throws {
        self.path = path
        self.offset = offset
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.io(operation: "open", path: path, errno: errno) }
        let page = 4096
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(page, (blockSize + page - 1) / page * page), alignment: page)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    // MARK: The writer's side

    /// The file is written up to `size` bytes. A waiting reader is woken only once a whole
    /// block is there for it: waking it for every few compressed bytes costs more than the
    /// reading.
    func wrote(upTo size: UInt64) {
        condition.lock()
        defer { condition.unlock() }
        written = max(written, size)
        if written >= wanted { condition.broadcast() }
    }

    /// Everything is written: the reader reads on to the end of the file, and stops there.
    func finish() { end(.finished) }

    /// The writer failed: waiting and later reads fail. No effect after `finish`.
    func abandon() { end(.abandoned) }

    private func end(_ final: State) {
        condition.lock()
        defer { condition.unlock() }
        if state == .writing { state = final }
        condition.broadcast()
    }

    // MARK: The reader's side

    /// The next bytes from disk, valid until the next call: a whole block, waiting for the
    /// writer until one is written, or what is left once the writer finished; empty at the end.
    func next() throws -> UnsafeRawBufferPointer {
        do {
            return try read()
        } catch {
            failure = error
            throw error
        }
    }

    private func read() throws -> UnsafeRawBufferPointer {
        let block = UInt64(buffer.count)
        condition.lock()
        wanted = offset + block
        while state == .writing && written < wanted { condition.wait() }
        wanted = .max
        let state = self.state
        condition.unlock()
        guard state != .abandoned else { throw ArchiveError.io(operation: "re-read", path: path, errno: ECANCELED) }
        try dropFromCache(offset, length: block)
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ArchiveError.io(operation: "re-read", path: path, errno: errno) }
            // Before the writer finished there is always a whole block here.
            guard n == buffer.count || state == .finished else { throw ArchiveError.io(operation: "re-read", path: path, errno: EIO) }
            offset += UInt64(n)
            return UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
    }

    /// Reads whatever is left, to the end the writer finishes at: a decompressor stops at the
    /// end of its data and may leave the last bytes of the stream unread, and every byte of the
    /// file is to be read back.
    func drain() throws {
        while try next().count > 0 {}
    }

    /// Writes the range out to the device, waiting for it, and drops it from the page cache,
    /// so that the read that follows comes from the disk.
    private func dropFromCache(_ start: UInt64, length: UInt64) throws {
        guard clinux_write_out(fd, __off64_t(start), __off64_t(length)) == 0 else {
            throw ArchiveError.io(operation: "write out", path: path, errno: errno)
        }
        _ = posix_fadvise(fd, off_t(start), off_t(length), POSIX_FADV_DONTNEED)
    }
}
