// Single compressed files and plain files, read with a size limit.
//
// How to use:
//
//     let images = try Gzip.decompress(path: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
//     let maybe = try Gzip.decompressIfCompressed(bytes: member, name: "x.gz")   // plain bytes pass through
//     let text = try LocalFile.read("/path/annotations.xml", limit: 16 << 20)
//     let packed = try Gzip.compress(bytes)                                        // e.g. test fixtures
import _CArchive
import Foundation

/// Decompression of one gzip stream (libarchive's "raw" format with the gzip filter).
public enum Gzip {
    /// 512 MiB, the same as ``ArchiveLimits/maxMemberBytes``: Fashion-MNIST's largest file
    /// decompresses to 47 MB.
    public static let defaultLimit = 512 << 20

    /// True when `bytes` starts with the gzip magic 1F 8B and method 8 (deflate).
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0x1F && bytes[1] == 0x8B && bytes[2] == 0x08
    }

    /// The decompressed content of the gzip file at `path`, at most `limit` bytes.
    public static func decompress(path: String, limit: Int = defaultLimit) throws -> [UInt8] {
        let prefix = try LocalFile.readPrefix(path, count: FormatSniffer.prefixLength)
        return try decompress(source: .file(path), prefix: prefix, name: path, limit: limit)
    }

    /// The decompressed content of gzip `bytes`; `name` is used in messages.
    public static func decompress(bytes: [UInt8], name: String, limit: Int = defaultLimit) throws -> [UInt8] {
        try decompress(source: .memory(MemoryBlock(bytes)), prefix: Array(bytes.prefix(3)), name: name, limit: limit)
    }

    /// `bytes` decompressed when they are a gzip stream, else unchanged (for files shipped either way).
    public static func decompressIfCompressed(bytes: [UInt8], name: String, limit: Int = defaultLimit) throws -> [UInt8] {
        isGzip(bytes) ? try decompress(bytes: bytes, name: name, limit: limit) : bytes
    }

    /// `bytes` as one gzip stream (libarchive's "raw" writer with the gzip filter).
    public static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        try ArchiveLocale.run { try compressData(bytes) }
    }

    private static func compressData(_ bytes: [UInt8]) throws -> [UInt8] {
        let name = "(gzip stream)"
        guard let a = archive_write_new() else { throw ArchiveError.writeFailed(archive: name, reason: "out of memory") }
        defer { archive_write_free(a) }
        let sink = MemorySink()
        func fail(_ what: String) -> ArchiveError {
            .writeFailed(archive: name, reason: what + ": " + (archive_error_string(a).map { String(cString: $0) } ?? "unknown error"))
        }
        guard archive_write_set_format_raw(a) == ARCHIVE_OK, archive_write_add_filter_gzip(a) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK,
              archive_write_open2(a, Unmanaged.passUnretained(sink).toOpaque(), nil, memorySinkWrite, nil, nil) == ARCHIVE_OK,
              let entry = archive_entry_new() else { throw fail("setting up") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, "data")
        archive_entry_set_filetype(entry, 0o100000)
        archive_entry_set_size(entry, Int64(bytes.count))
        guard archive_write_header(a, entry) == ARCHIVE_OK else { throw fail("writing") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { throw fail("writing") }
            written += n
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw fail("closing") }
        return sink.bytes
    }

    private static func decompress(source: ArchiveSource, prefix: [UInt8], name: String, limit: Int) throws -> [UInt8] {
        guard isGzip(prefix) else {
            throw ArchiveError.notAnArchive(archive: name, found: FormatSniffer.describe(prefix) + " instead of gzip data")
        }
        let limits = ArchiveLimits(maxMemberBytes: limit, maxTotalBytes: limit, maxEntries: 1)
        let stream = try ArchiveStream(source: source, format: .gzip(tar: false), name: name, limits: limits,
                                       streamMemberName: ArchiveReader.streamMemberName(for: name))
        guard try stream.next() != nil else {
            throw ArchiveError.corrupt(archive: name, member: "the gzip stream", reason: "no data")
        }
        return try stream.readCurrent()
    }
}

/// Plain files read whole, with a size limit.
public enum LocalFile {
    /// The bytes of the file at `path`; refuses files larger than `limit`.
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ArchiveError.unreadable(archive: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        if size > limit { throw ArchiveError.memberTooLarge(archive: path, member: "the file", size: size, limit: limit) }
        return try readUpTo(fd, count: size, path: path)   // shorter if the file shrank while it was read
    }

    /// Up to `count` bytes from the start of the file.
    static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        return try readUpTo(fd, count: count, path: path)
    }

    /// Up to `count` bytes from an open file, retrying interrupted reads; fewer at end of file.
    private static func readUpTo(_ fd: Int32, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + filled, count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            filled += n
        }
        if filled < count { bytes.removeLast(count - filled) }
        return bytes
    }
}

