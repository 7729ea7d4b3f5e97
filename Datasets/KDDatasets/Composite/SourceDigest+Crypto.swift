// SHA-256 sums of the source files a derived dataset was built from, through swift-crypto.
//
//     let hex = FileDigest.sha256Hex(of: bytes)                   // "e3b0c442…" for no bytes
//     let fileHex = try FileDigest.sha256Hex(ofFile: "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
import Crypto
import Foundation

/// Hex SHA-256 digests of byte strings and files.
public enum FileDigest {
    /// 4 GiB: larger than any source file a builder hashes; a guard against a device or FIFO path.
    public static let fileLimit = 4 << 30

    public static func sha256Hex(of bytes: [UInt8]) -> String {
        Crypto.SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    public static func sha256Hex(ofFile path: String) throws -> String {
        sha256Hex(of: try LocalFile.read(path, limit: fileLimit))
    }
}
