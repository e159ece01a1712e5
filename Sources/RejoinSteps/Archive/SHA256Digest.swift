import CLibCrypto
import Foundation

/// SHA-256 through OpenSSL's EVP interface: the checksum of manifest format 1, kept to verify
/// and extract archives written with it. libcrypto is on every Debian machine that has
/// PostgreSQL (libpq links it). One instance owns one EVP_MD_CTX; every call goes through
/// `check`.
final class SHA256Digest: FileDigest {
    private let context: OpaquePointer

    init() throws {
        guard let context = EVP_MD_CTX_new() else { throw ArchiveError.digest(algorithm: .sha256, operation: "EVP_MD_CTX_new") }
        self.context = context
        try check(EVP_DigestInit_ex(context, EVP_sha256(), nil), "EVP_DigestInit_ex")
    }

    deinit { EVP_MD_CTX_free(context) }

    private func check(_ rc: Int32, _ operation: String) throws {
        guard rc == 1 else { throw ArchiveError.digest(algorithm: .sha256, operation: operation) }
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
        return Hex.encode(digest.prefix(Int(length)))
    }
}
