import Foundation

/// Fixed-size blocks handed from one thread to another, in order, each with a message: the
/// sender fills a free block and sends it, the receiver uses it and gives it back. Only `depth`
/// blocks exist, so memory stays fixed whatever the data size, and a sender that runs ahead
/// waits for a free one. Either side may close the pipe (done, or failed): waiting calls then
/// return nil. Owns the blocks; both threads must be done with it before it goes away.
final class BlockPipe<Message>: @unchecked Sendable {
    struct Item {
        var message: Message
        /// The block and how many of its bytes are filled, for messages that carry data.
        var block: UnsafeMutableRawBufferPointer?
        var count: Int

        var bytes: UnsafeRawBufferPointer {
            guard let block else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            return UnsafeRawBufferPointer(rebasing: block[0..<count])
        }
    }

    private let condition = NSCondition()
    private let blocks: [UnsafeMutableRawBufferPointer]
    private var free: [UnsafeMutableRawBufferPointer]
    private var queue: [Item] = []
    private var head = 0
    private var closed = false

    init(blockSize: Int, depth: Int = 4) {
        blocks = (0..<max(1, depth)).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 4096) }
        free = blocks
    }

    deinit { blocks.forEach { $0.deallocate() } }

    /// A block to fill; waits until one is given back. Nil once the pipe is closed.
    func freeBlock() -> UnsafeMutableRawBufferPointer? {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty && !closed { condition.wait() }
        return closed ? nil : free.removeLast()
    }

    func send(_ message: Message, block: UnsafeMutableRawBufferPointer? = nil, count: Int = 0) {
        condition.lock()
        defer { condition.unlock() }
        if closed {
            if let block { free.append(block) }
            return
        }
        queue.append(Item(message: message, block: block, count: count))
        condition.broadcast()
    }

    /// The next item in the order sent; waits for one. Nil once the pipe is closed and every
    /// item sent before is received.
    func receive() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == queue.count && !closed { condition.wait() }
        guard head < queue.count else { return nil }
        let item = queue[head]
        head += 1
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        }
        return item
    }

    func giveBack(_ item: Item) {
        if let block = item.block { giveBack(block) }
    }

    /// A block taken with `freeBlock` and not sent after all.
    func giveBack(_ block: UnsafeMutableRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        free.append(block)
        condition.broadcast()
    }

    /// No more items will be sent (the sender is done), or none will be received (the
    /// receiver failed): wakes both sides.
    func close() {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }
}

/// A body of work on its own thread, joined by `wait` (once or more): the second core's share
/// of writing or re-reading an archive.
final class WorkerThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var joined = false

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    func wait() {
        lock.withLock {
            guard !joined else { return }
            done.wait()
            joined = true
        }
    }
}
