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
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    static func hex(of data: Data) throws -> String {
        let digest = try SHA256Digest()
        try data.withUnsafeBytes { try digest.update($0) }
        return try digest.finish()
    }
}
