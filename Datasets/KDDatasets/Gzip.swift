// Single compressed files and plain files, read with a size limit.
//
// How to use:
//
//     let images = try Gzip.decompress(path: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
//     let maybe = try Gzip.decompressIfCompressed(bytes: member, name: "x.gz")   // plain bytes pass through
//     let text = try LocalFile.read("/path/annotations.xml", limit: 16 << 20)
//     let packed = try Gzip.compress(bytes)                                        // e.g. test fixtures
import _CArchive
import _CImageCodecs
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
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
        // type check below then refuses it. (Regular files ignore the flag.)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ArchiveError.unreadable(archive: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind: String
            switch info.st_mode & S_IFMT {
            case S_IFIFO: kind = "a FIFO (named pipe)"
            case S_IFDIR: kind = "a directory"
            case S_IFCHR, S_IFBLK: kind = "a device"
            case S_IFSOCK: kind = "a socket"
            default: kind = "a special file"
            }
            throw ArchiveError.unreadable(archive: path, reason: "it is \(kind), not a regular file")
        }
        let size = Int(info.st_size)
        if size > limit { throw ArchiveError.memberTooLarge(archive: path, member: "the file", size: size, limit: limit) }
        return try readUpTo(fd, count: size, path: path)   // shorter if the file shrank while it was read
    }

    /// Up to `count` bytes from the start of the file.
    static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
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


/// The compressed bytes of a gzip source inflated by the C shim's zlib decompressor, handed to
/// libarchive through its read callback. Every member's CRC-32 and length are checked; a failure is
/// kept in `failure` (libarchive only learns that the read failed).
final class GunzipSource {
    private let source: ArchiveSource
    private let gunzip: OpaquePointer
    private var fd: Int32 = -1
    private let input: UnsafeMutablePointer<UInt8>
    private let output: UnsafeMutablePointer<UInt8>
    private var inputStart = 0
    private var inputEnd = 0
    private var memoryOffset = 0
    private var endOfFile = false
    private(set) var failure: String?
    static let chunk = 1 << 18

    /// nil when zlib cannot be loaded (the caller falls back to libarchive's unchecked filter).
    init?(source: ArchiveSource, name: String) {
        var message = [CChar](repeating: 0, count: 256)
        guard let g = kd_gunzip_new(&message) else { return nil }
        gunzip = g
        self.source = source
        input = .allocate(capacity: GunzipSource.chunk)
        output = .allocate(capacity: GunzipSource.chunk)
    }

    deinit {
        kd_gunzip_free(gunzip)
        input.deallocate()
        output.deallocate()
        if fd >= 0 { close(fd) }
    }

    /// Opens `archive` on this source (archive_read_open2 with this object as client data).
    func open(_ archive: OpaquePointer) -> Int32 {
        if case .file(let path) = source {
            fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { failure = String(cString: strerror(errno)); return ARCHIVE_FATAL }
        }
        return archive_read_open2(archive, Unmanaged.passUnretained(self).toOpaque(), nil, { _, context, buffer in
            Unmanaged<GunzipSource>.fromOpaque(context!).takeUnretainedValue().next(buffer)
        }, nil, nil)
    }

    /// Decompresses whatever follows what libarchive read, to the end of the data, checking every
    /// trailer; false when that fails (see `failure`).
    func drain() -> Bool {
        while true {
            let n = next(nil)
            if n < 0 { return false }
            if n == 0 { return true }
        }
    }

    /// The next decompressed block for libarchive: its size, 0 at the end, -1 on failure.
    private func next(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
        if failure != nil { return -1 }
        while true {
            let inputPointer: UnsafePointer<UInt8>
            let inputCount: Int
            let final: Bool
            switch source {
            case .memory(let block):
                inputPointer = UnsafePointer(block.base.assumingMemoryBound(to: UInt8.self)) + memoryOffset
                inputCount = block.count - memoryOffset
                final = true
            case .file:
                if inputStart == inputEnd && !endOfFile {
                    let n = Foundation.read(fd, input, GunzipSource.chunk)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = String(cString: strerror(errno))
                        return -1
                    }
                    inputStart = 0
                    inputEnd = n
                    endOfFile = n == 0
                }
                inputPointer = UnsafePointer(input) + inputStart
                inputCount = inputEnd - inputStart
                final = endOfFile
            }
            var consumed = 0, made = 0
            var message = [CChar](repeating: 0, count: 256)
            let status = kd_gunzip_run(gunzip, inputPointer, inputCount, &consumed, output, GunzipSource.chunk, &made,
                                       final ? 1 : 0, &message)
            if status != Int32(KD_CODEC_OK.rawValue) {
                failure = "the gzip data is damaged: " + String(cString: message)
                return -1
            }
            if case .memory = source { memoryOffset += consumed } else { inputStart += consumed }
            if made > 0 {
                buffer?.pointee = UnsafeRawPointer(output)
                return made
            }
            // Nothing made: the end (every trailer checked), or more input is needed.
            if final && consumed == 0 { return 0 }
        }
    }
}
