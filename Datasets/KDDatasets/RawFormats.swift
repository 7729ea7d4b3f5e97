// Raw array files: IDX (MNIST / Fashion-MNIST). Numpy pickles are in NumpyPickle.swift.
//
// How to use:
//
//     let images = try IDX.read(path: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
//     // images.dimensions == [60000, 28, 28]; images.values: 47,040,000 bytes, row-major
//     let labels = try IDX.read(path: ".../train-labels-idx1-ubyte.gz", expectedRank: 1)
//     let same = try IDX.parse(bytes: memberBytes, name: "archive.tgz:t10k-images-idx3-ubyte")   // gzip or plain
import Foundation

/// A refusal to parse an array file, naming the file and what was expected and found.
public enum DataFileError: Error, Equatable, CustomStringConvertible {
    /// The header does not identify the expected kind of file.
    case badHeader(file: String, expected: String, found: String)
    /// The header's counts and the bytes present disagree.
    case sizeMismatch(file: String, what: String, expected: Int, found: Int)
    /// A valid file using a feature this reader does not handle.
    case unsupported(file: String, reason: String)
    /// The structure is broken at byte `offset`.
    case malformed(file: String, offset: Int, reason: String)

    public var description: String {
        switch self {
        case let .badHeader(file, expected, found):
            return "\(file): expected \(expected), found \(found). Is this the right file?"
        case let .sizeMismatch(file, what, expected, found):
            return "\(file): \(what): the header implies \(expected) bytes but \(found) are present. "
                + "The file is truncated or not what its header says: re-download it."
        case let .unsupported(file, reason):
            return "\(file): \(reason)."
        case let .malformed(file, offset, reason):
            return "\(file): malformed at byte \(offset): \(reason). The file is damaged: re-download it."
        }
    }
}

/// An unsigned-byte IDX array: dimensions and values in row-major order.
public struct IDXArray: Equatable, Sendable {
    public let dimensions: [Int]
    public let values: [UInt8]

    public init(dimensions: [Int], values: [UInt8]) {
        precondition(!dimensions.isEmpty && dimensions.allSatisfy { $0 >= 0 }, "bad IDX dimensions \(dimensions)")
        precondition(values.count == dimensions.reduce(1, *), "\(values.count) values for dimensions \(dimensions)")
        self.dimensions = dimensions
        self.values = values
    }

    /// Number of items (the first dimension).
    public var count: Int { dimensions[0] }
    /// Values per item (product of the other dimensions; 1 for labels).
    public var itemSize: Int { dimensions.dropFirst().reduce(1, *) }
}

/// The IDX format of LeCun's MNIST and of Fashion-MNIST:
///
/// ```
/// magic: 00 00 <type> <rank>     type 0x08 = unsigned byte; rank 3 for images, 1 for labels
/// rank × UInt32 big-endian       dimensions (count, rows, columns)
/// values                         product(dimensions) × 1 byte, row-major
/// ```
/// Counts are checked against the bytes actually present, in both directions: a short file is
/// truncated, a long one is not the file its header describes.
public enum IDX {
    /// Largest IDX file read into memory: Fashion-MNIST's training images are 47 MB.
    public static let defaultLimit = 512 << 20

    /// Reads an IDX file, gzip-compressed or plain (decided by content). When `expectedRank` is
    /// given (3 for images, 1 for labels), another rank is an error.
    public static func read(path: String, expectedRank: Int? = nil, limit: Int = defaultLimit) throws -> IDXArray {
        try parse(bytes: LocalFile.read(path, limit: limit), name: path, expectedRank: expectedRank, limit: limit)
    }

    /// Parses IDX bytes (gzip-compressed or plain).
    public static func parse(bytes raw: [UInt8], name: String, expectedRank: Int? = nil, limit: Int = defaultLimit) throws -> IDXArray {
        let bytes = try Gzip.decompressIfCompressed(bytes: raw, name: name, limit: limit)
        guard bytes.count >= 4 else {
            throw DataFileError.badHeader(file: name, expected: "an IDX header (4 magic bytes)", found: "\(bytes.count) bytes")
        }
        let magic = bytes.prefix(4).map { String(format: "%02x", $0) }.joined()
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataFileError.badHeader(file: name, expected: "IDX magic 0000 08 0N", found: "0x\(magic)")
        }
        guard bytes[2] == 0x08 else {
            let types: [UInt8: String] = [0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"]
            throw DataFileError.unsupported(file: name, reason: "IDX element type 0x\(String(format: "%02x", bytes[2])) "
                + "(\(types[bytes[2]] ?? "unknown")); only unsigned bytes (0x08, as in MNIST and Fashion-MNIST) are read")
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw DataFileError.badHeader(file: name, expected: "rank ≥ 1", found: "rank 0 (magic 0x\(magic))") }
        if let expectedRank, rank != expectedRank {
            let kind = [1: "labels (magic 0x00000801)", 3: "images (magic 0x00000803)"][expectedRank] ?? "rank \(expectedRank)"
            throw DataFileError.badHeader(file: name, expected: "IDX \(kind)", found: "rank \(rank) (magic 0x\(magic)): are the image and label files swapped?")
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DataFileError.sizeMismatch(file: name, what: "header", expected: headerSize, found: bytes.count)
        }
        var dimensions: [Int] = []
        var product = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let value = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dimensions.append(value)
            let (p, overflow) = product.multipliedReportingOverflow(by: value)
            guard !overflow, p <= limit else {
                throw DataFileError.sizeMismatch(file: name, what: "dimensions \(dimensions)", expected: overflow ? Int.max : p,
                                                 found: bytes.count - headerSize)
            }
            product = p
        }
        guard bytes.count - headerSize == product else {
            throw DataFileError.sizeMismatch(file: name, what: "values for dimensions \(dimensions.map(String.init).joined(separator: "×"))",
                                             expected: product, found: bytes.count - headerSize)
        }
        return IDXArray(dimensions: dimensions, values: Array(bytes[headerSize...]))
    }

    /// The IDX bytes of `array` (plain; compress with ``Gzip/compress(_:)``).
    public static func encode(_ array: IDXArray) -> [UInt8] {
        precondition(array.dimensions.count < 256 && array.dimensions.allSatisfy { $0 <= Int(UInt32.max) })
        var out: [UInt8] = [0, 0, 0x08, UInt8(array.dimensions.count)]
        for d in array.dimensions { out += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return out + array.values
    }
}
