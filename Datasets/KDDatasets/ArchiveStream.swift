// One open libarchive read stream: headers in order, the current member's data, limits enforced.
// Internal; `ArchiveReader` is the API.
import _CArchive
import _CImageCodecs
import Foundation

final class ArchiveStream {
    let name: String
    let limits: ArchiveLimits
    private let archive: OpaquePointer
    private let source: ArchiveSource   // retained: a memory stream reads from its block
    private let streamMemberName: String
    /// For gzip sources: the decompressor that feeds libarchive and checks each member's trailer.
    private let inflater: GunzipSource?
    /// Index of the entry whose header was read last (-1 before the first).
    private(set) var ordinal = -1
    private(set) var current: ArchiveEntry?
    private(set) var currentConsumed = false
    private var totalBytes = 0

    // File type bits of archive_entry_filetype (AE_IF* are cast macros, not imported into Swift).
    private static let typeMask: UInt32 = 0o170000
    private static let regularType: UInt32 = 0o100000
    private static let directoryType: UInt32 = 0o040000
    private static let symlinkType: UInt32 = 0o120000

    /// Opens `source` accepting only `format` (and only its compression filter), so libarchive's own
    /// format sniffing cannot pick anything else.
    init(source: ArchiveSource, format: ArchiveFormat, name: String, limits: ArchiveLimits,
         streamMemberName: String) throws {
        guard let a = archive_read_new() else { throw ArchiveError.unreadable(archive: name, reason: "out of memory") }
        // gzip is inflated by zlib, which checks every member's CRC-32 and length (libarchive's gzip
        // filter does not); libarchive then reads the plain tar or raw stream from it.
        var inflater: GunzipSource? = nil
        if case .gzip = format { inflater = GunzipSource(source: source, name: name) }
        switch format {
        case .gzip(let tar) where inflater != nil:
            if tar { archive_read_support_format_tar(a) } else { archive_read_support_format_raw(a) }
        case .tar: archive_read_support_format_tar(a)
        case .zip: archive_read_support_format_zip_seekable(a)
        case .ar: archive_read_support_format_ar(a)
        case .gzip(let tar), .xz(let tar), .bzip2(let tar), .zstd(let tar):
            switch format {
            case .gzip: archive_read_support_filter_gzip(a)
            case .xz: archive_read_support_filter_xz(a)
            case .bzip2: archive_read_support_filter_bzip2(a)
            default: archive_read_support_filter_zstd(a)
            }
            if tar { archive_read_support_format_tar(a) } else { archive_read_support_format_raw(a) }
        }
        if case .file(let path) = source, access(path, R_OK) != 0 {
            let reason = String(cString: strerror(errno))
            archive_read_free(a)
            throw ArchiveError.unreadable(archive: name, reason: reason)
        }
        let status: Int32 = ArchiveLocale.run {
            if let inflater { return inflater.open(a) }
            switch source {
            case .file(let path): return archive_read_open_filename(a, path, 1 << 16)
            case .memory(let block): return archive_read_open_memory(a, block.base, block.count)
            }
        }
        if status != ARCHIVE_OK {
            let reason = inflater?.failure ?? ArchiveStream.message(a)
            archive_read_free(a)
            let what: String
            if case .zip = format { what = "the zip directory (a zip is read from its end: a truncated zip has none)" }
            else { what = "the archive header" }
            throw ArchiveError.corrupt(archive: name, member: what, reason: reason)
        }
        self.archive = a
        self.source = source
        self.name = name
        self.limits = limits
        self.streamMemberName = streamMemberName
        self.inflater = inflater
    }

    deinit { archive_read_free(archive) }

    /// The decompressor's reason when it failed (libarchive only knows that its read failed), else
    /// libarchive's.
    private var reason: String { inflater?.failure ?? ArchiveStream.message(archive) }

    private static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    private var position: String {
        current.map { "the entry after \($0.path)" } ?? "the first entry"
    }

    /// Reads the next header; nil at the end of the archive.
    ///
    /// Any status but OK is an error (RETRY is libarchive skipping a damaged tar header, WARN a
    /// malformed pax attribute it ignored), except a WARN that a member name cannot be converted to
    /// the locale's charset (only possible when no UTF-8 locale is installed): that entry is kept.
    /// Names that are not valid UTF-8 (old zips with Latin-1 names) are decoded with replacement
    /// characters; such entries stay readable through their listed `ArchiveEntry`.
    func next() throws -> ArchiveEntry? { try ArchiveLocale.run { try nextHeader() } }

    private func nextHeader() throws -> ArchiveEntry? {
        if let entry = current, !currentConsumed {
            // Skip the unread data explicitly, so that a truncation inside it names this member.
            currentConsumed = true
            if archive_read_data_skip(archive) != ARCHIVE_OK {
                throw ArchiveError.corrupt(archive: name, member: entry.path, reason: reason)
            }
        }
        var pointer: OpaquePointer?
        let status = archive_read_next_header(archive, &pointer)
        if status == ARCHIVE_EOF {
            // A tar ends at its end-of-archive blocks, before the gzip trailer: read the rest of
            // the stream so that the last member's CRC-32 and length are checked too.
            if let inflater, !inflater.drain() {
                throw ArchiveError.corrupt(archive: name, member: "the end of the archive", reason: reason)
            }
            current = nil; currentConsumed = true; return nil
        }
        let charsetWarning = status == ARCHIVE_WARN && ArchiveStream.message(archive).contains("cannot be converted")
        guard status == ARCHIVE_OK || charsetWarning, let e = pointer else {
            throw ArchiveError.corrupt(archive: name, member: position, reason: reason)
        }
        ordinal += 1
        if ordinal >= limits.maxEntries { throw ArchiveError.tooManyEntries(archive: name, limit: limits.maxEntries) }
        let rawPath: String
        if archive_format(archive) == ARCHIVE_FORMAT_RAW {
            rawPath = streamMemberName
        } else if let utf8 = archive_entry_pathname_utf8(e) {
            rawPath = String(cString: utf8)
        } else if let native = archive_entry_pathname(e) {
            rawPath = String(decoding: UnsafeRawBufferPointer(start: native, count: strlen(native)), as: UTF8.self)
        } else {
            throw ArchiveError.corrupt(archive: name, member: position, reason: "an entry has no path")
        }
        if ArchiveReader.isUnsafe(rawPath) { throw ArchiveError.unsafePath(archive: name, member: rawPath) }
        let path = ArchiveReader.normalize(rawPath)

        let kind: ArchiveEntry.Kind
        if let target = archive_entry_hardlink(e) {
            kind = .hardlink(target: String(cString: target))
        } else {
            switch UInt32(archive_entry_filetype(e)) & ArchiveStream.typeMask {
            case ArchiveStream.regularType: kind = .file
            case ArchiveStream.directoryType: kind = .directory
            case ArchiveStream.symlinkType: kind = .symlink(target: archive_entry_symlink(e).map { String(cString: $0) } ?? "")
            case 0 where archive_format(archive) == ARCHIVE_FORMAT_RAW: kind = .file
            default: kind = .other
            }
        }
        let size: Int? = archive_entry_size_is_set(e) != 0 ? Int(archive_entry_size(e)) : nil
        if let size {
            guard size >= 0 else {
                throw ArchiveError.corrupt(archive: name, member: path, reason: "the header declares a negative size")
            }
            // Compared before adding: release builds use -Ounchecked, where an overflow would wrap.
            if size > limits.maxTotalBytes - totalBytes { throw ArchiveError.archiveTooLarge(archive: name, limit: limits.maxTotalBytes) }
            totalBytes += size
        }
        let entry = ArchiveEntry(path: path, size: size, kind: kind, ordinal: ordinal)
        current = entry
        currentConsumed = false
        return entry
    }

    /// Throws unless `entry` is a regular file (links are never followed).
    static func checkReadable(_ entry: ArchiveEntry, archive: String) throws {
        switch entry.kind {
        case .file: return
        case .symlink(let target), .hardlink(let target):
            throw ArchiveError.link(archive: archive, member: entry.path, target: target)
        case .directory, .other:
            throw ArchiveError.notAFile(archive: archive, member: entry.path)
        }
    }

    /// All bytes of the current member, at most `limits.maxMemberBytes`.
    func readCurrent() throws -> [UInt8] { try ArchiveLocale.run { try readCurrentData() } }

    private func readCurrentData() throws -> [UInt8] {
        guard let entry = current else { preconditionFailure("readCurrent() without a current entry") }
        precondition(!currentConsumed, "member \(entry.path) was already read from this stream")
        currentConsumed = true
        try ArchiveStream.checkReadable(entry, archive: name)
        let limit = limits.maxMemberBytes
        if let size = entry.size, size > limit {
            throw ArchiveError.memberTooLarge(archive: name, member: entry.path, size: size, limit: limit)
        }
        var bytes: [UInt8]
        if let size = entry.size {
            // The size is declared: read straight into an array of that size, then check that the
            // member really ends there.
            bytes = try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                var filled = 0
                while filled < size {
                    let n = archive_read_data(archive, buffer.baseAddress! + filled, size - filled)
                    if n < 0 { throw dataError(entry) }
                    if n == 0 { break }
                    filled += n
                }
                initialized = filled
            }
            if bytes.count < size {
                throw ArchiveError.corrupt(archive: name, member: entry.path,
                                           reason: "the header declares \(size) bytes but the data ends after \(bytes.count)")
            }
            var probe: UInt8 = 0
            let extra = archive_read_data(archive, &probe, 1)
            if extra < 0 { throw dataError(entry) }
            if extra > 0 {
                throw ArchiveError.corrupt(archive: name, member: entry.path,
                                           reason: "the data is longer than the \(size) bytes its header declares")
            }
        } else {
            bytes = []
            let chunk = 1 << 16
            var scratch = [UInt8](repeating: 0, count: chunk)
            while true {
                let n = scratch.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress!, chunk) }
                if n < 0 { throw dataError(entry) }
                if n == 0 { break }
                if bytes.count + n > limit {
                    throw ArchiveError.memberTooLarge(archive: name, member: entry.path, size: bytes.count + n, limit: limit)
                }
                if n > limits.maxTotalBytes - totalBytes { throw ArchiveError.archiveTooLarge(archive: name, limit: limits.maxTotalBytes) }
                bytes.append(contentsOf: scratch[0..<n])
                totalBytes += n
            }
        }
        return bytes
    }

    /// Up to `count` bytes from the start of the current member (format detection).
    func readPrefix(_ count: Int) throws -> [UInt8] { try ArchiveLocale.run { try readPrefixData(count) } }

    private func readPrefixData(_ count: Int) throws -> [UInt8] {
        guard let entry = current else { return [] }
        currentConsumed = true
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + filled, count - filled) }
            if n < 0 { throw dataError(entry) }
            if n == 0 { break }
            filled += n
        }
        return Array(bytes.prefix(filled))
    }

    private func dataError(_ entry: ArchiveEntry) -> ArchiveError {
        .corrupt(archive: name, member: entry.path, reason: reason)
    }
}

/// Runs libarchive calls under a UTF-8 character-type locale for the calling thread only.
///
/// libarchive converts member names between the archive's charset and the current locale's. A
/// Swift process runs in the "C" locale, where any non-ASCII name fails to convert (reading returns
/// no name; writing a pax header crashes inside libarchive 3.6). `uselocale` changes the locale of
/// this thread only and is restored afterwards, so no global state is touched.
enum ArchiveLocale {
    private static let utf8: locale_t? = {
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] {
            if let locale = newlocale(LC_CTYPE_MASK, name, nil) { return locale }
        }
        return nil
    }()

    static func run<T>(_ body: () throws -> T) rethrows -> T {
        guard let locale = utf8 else { return try body() }
        let previous = uselocale(locale)
        defer { uselocale(previous) }
        return try body()
    }
}
