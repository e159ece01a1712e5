import CXXHash
import Foundation

/// XXH3-128 through libxxhash's streaming interface, the old-data manifest's checksum. One
/// instance owns one XXH3_state_t; every call that can fail goes through `check`.
final class XXH128Digest: FileDigest {
    private let state: OpaquePointer

    init() throws {
        guard let state = XXH3_createState() else {
            throw ArchiveError.digest(algorithm: .xxh128, operation: "XXH3_createState")
        }
        self.state = state
        try check(XXH3_128bits_reset(state), "XXH3_128bits_reset")
    }

    deinit { XXH3_freeState(state) }

    private func check(_ rc: XXH_errorcode, _ operation: String) throws {
        guard rc == XXH_OK else { throw ArchiveError.digest(algorithm: .xxh128, operation: operation) }
    }

    func update(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try check(XXH3_128bits_update(state, base, bytes.count), "XXH3_128bits_update")
    }

    /// The canonical form, high 64 bits first, big-endian: what `xxh128sum` prints.
    func finish() throws -> String {
        let hash = XXH3_128bits_digest(state)
        try check(XXH3_128bits_reset(state), "XXH3_128bits_reset")
        var canonical = XXH128_canonical_t()
        XXH128_canonicalFromHash(&canonical, hash)
        return withUnsafeBytes(of: canonical.digest) { Hex.encode($0) }
    }
}
