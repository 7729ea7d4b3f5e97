// Recognising archives and compressed streams from their content.
//
// How to use:
//
//     let format = try ArchiveReader.detectFormat(path: "CUB_200_2011.tgz")   // .gzip(tar: true)
//     if format.isArchive { ... } else { let bytes = try Gzip.decompress(path: ...) }
//
// The extension is never consulted: a zip named .tgz is a zip, an HTML error page saved as .tar.gz
// is reported as such.
import Foundation

/// What a file is, read from its first bytes (and, for compressed streams, the first 512
/// decompressed bytes).
public enum ArchiveFormat: Hashable, Sendable, CustomStringConvertible {
    /// An uncompressed tar (ustar, pax, GNU or v7).
    case tar
    /// A zip (also wheels, .sh3f, ModelNet40.zip).
    case zip
    /// A Unix ar archive (Debian .deb packages).
    case ar
    /// A gzip stream: a compressed tar when `tar`, else a single compressed file (Fashion-MNIST's .gz).
    case gzip(tar: Bool)
    /// An xz stream (a .deb's data.tar.xz when `tar`).
    case xz(tar: Bool)
    /// A bzip2 stream.
    case bzip2(tar: Bool)
    /// A Zstandard stream.
    case zstd(tar: Bool)

    /// True when the file holds named members (tar, zip, ar, compressed tar); false for a single
    /// compressed file, whose one member is its decompressed content.
    public var isArchive: Bool {
        switch self {
        case .tar, .zip, .ar: return true
        case .gzip(let tar), .xz(let tar), .bzip2(let tar), .zstd(let tar): return tar
        }
    }

    public var description: String {
        func name(_ filter: String, _ tar: Bool) -> String { tar ? "\(filter)-compressed tar" : "\(filter)-compressed file" }
        switch self {
        case .tar: return "tar archive"
        case .zip: return "zip archive"
        case .ar: return "ar archive"
        case .gzip(let tar): return name("gzip", tar)
        case .xz(let tar): return name("xz", tar)
        case .bzip2(let tar): return name("bzip2", tar)
        case .zstd(let tar): return name("zstd", tar)
        }
    }

    /// The same compression with the tar flag set (used after peeking into the stream).
    func withTar(_ tar: Bool) -> ArchiveFormat {
        switch self {
        case .gzip: return .gzip(tar: tar)
        case .xz: return .xz(tar: tar)
        case .bzip2: return .bzip2(tar: tar)
        case .zstd: return .zstd(tar: tar)
        default: return self
        }
    }

    var isCompressedStream: Bool {
        switch self {
        case .gzip, .xz, .bzip2, .zstd: return true
        default: return false
        }
    }
}

/// Magic numbers. Only the first 512 bytes of a file are needed.
enum FormatSniffer {
    static let prefixLength = 512

    /// The container or compression format of `prefix`, or nil. Compressed streams are returned with
    /// `tar: false`; the caller peeks into the decompressed data to decide.
    static func sniff(_ prefix: [UInt8]) -> ArchiveFormat? {
        func starts(_ magic: [UInt8]) -> Bool { prefix.count >= magic.count && Array(prefix.prefix(magic.count)) == magic }
        if starts([0x1F, 0x8B, 0x08]) { return .gzip(tar: false) }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz(tar: false) }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd(tar: false) }
        if starts(Array("BZh".utf8)), prefix.count > 3, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(prefix[3]) {
            return .bzip2(tar: false)
        }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) || starts([0x50, 0x4B, 0x07, 0x08]) {
            return .zip
        }
        if starts(Array("!<arch>\n".utf8)) { return .ar }
        if isTarHeader(prefix) { return .tar }
        return nil
    }

    /// A tar header block: its checksum field (octal, at 148..<156) equals the sum of the 512 header
    /// bytes with that field counted as spaces. This accepts v7 tars as well as ustar/pax/GNU.
    static func isTarHeader(_ block: [UInt8]) -> Bool {
        guard block.count >= 512 else { return false }
        var stored = 0, digits = 0
        for i in 148..<156 {
            let c = block[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "7") {
                stored = stored * 8 + Int(c - UInt8(ascii: "0")); digits += 1
            } else if c == 0 || c == UInt8(ascii: " ") {
                if digits > 0 { break }
            } else {
                return false
            }
        }
        guard digits > 0 else { return false }
        var sum = 0
        for i in 0..<512 { sum += (148..<156).contains(i) ? 32 : Int(block[i]) }
        return sum == stored
    }

    /// A short description of content that is no supported archive, for error messages.
    static func describe(_ prefix: [UInt8]) -> String {
        func starts(_ magic: [UInt8]) -> Bool { prefix.count >= magic.count && Array(prefix.prefix(magic.count)) == magic }
        if prefix.isEmpty { return "an empty file" }
        if starts([0xFF, 0xD8, 0xFF]) { return "a JPEG image" }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "a PNG image" }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return "a PNG image with a damaged signature" }
        if starts([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) { return "a 7-Zip archive (not supported: repack it as .tar.gz or .zip)" }
        if starts(Array("Rar!".utf8)) { return "a RAR archive (not supported: repack it as .tar.gz or .zip)" }
        if starts(Array("%PDF".utf8)) { return "a PDF document" }
        let text = String(decoding: prefix.prefix(256), as: UTF8.self).lowercased()
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") || text.contains("<html") {
            return "an HTML page (the download probably returned an error or login page)"
        }
        if trimmed.hasPrefix("<?xml") { return "an XML document" }
        if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") { return "what looks like JSON text" }
        let hex = prefix.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "unrecognised content starting with bytes \(hex)"
    }
}
