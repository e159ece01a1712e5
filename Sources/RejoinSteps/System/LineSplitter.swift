#if canImport(Glibc)
import Glibc
#endif

/// Cuts a byte stream that arrives in chunks (a child's stdout) into lines, without building a
/// String per chunk: pg_waldump writes tens of thousands of lines, and reading them one String
/// at a time through an AsyncSequence cost seconds. Only a line split across two chunks is
/// copied; every other line is handed over in place.
public struct LineSplitter: Sendable {
    private var partial: [UInt8] = []

    public init() {}

    /// Hands every complete line in `chunk` (without its "\n") to `line`, keeping the tail.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ line: (UnsafeRawBufferPointer) -> Void) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count, let found = memchr(base + start, Int32(UInt8(ascii: "\n")), chunk.count - start) {
            let end = UnsafeRawPointer(found) - base
            let piece = UnsafeRawBufferPointer(start: base + start, count: end - start)
            if partial.isEmpty {
                line(piece)
            } else {
                partial.append(contentsOf: piece)
                partial.withUnsafeBytes { line($0) }
                partial.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
        if start < chunk.count { partial.append(contentsOf: UnsafeRawBufferPointer(start: base + start, count: chunk.count - start)) }
    }

    /// The last line when the stream did not end with a newline.
    public mutating func finish(_ line: (UnsafeRawBufferPointer) -> Void) {
        guard !partial.isEmpty else { return }
        partial.withUnsafeBytes { line($0) }
        partial.removeAll()
    }

    /// Every line of `text`, as the chunked path sees them (for parsers fed from fixtures).
    public static func lines(of text: String, _ line: (UnsafeRawBufferPointer) -> Void) {
        var splitter = LineSplitter()
        var copy = text
        copy.withUTF8 { splitter.feed(UnsafeRawBufferPointer($0), line) }
        splitter.finish(line)
    }
}
