// Writing tar, tar.gz, tar.xz, zip and ar archives from bytes, to a file (atomically) or to memory.
//
// How to use:
//
//     let writer = try ArchiveWriter(path: "out/composite.tar.gz", format: .tarGzip)
//     try writer.addDirectory("composite/images")
//     try writer.addFile("composite/images/0001.png", bytes: png)
//     try writer.finish()                        // only now does out/composite.tar.gz appear
//
//     let zip = try ArchiveWriter.archive(.zip, files: [("a.txt", Array("hi".utf8))])   // in memory
//
// Entries get a fixed modification time (2020-01-01T00:00:00Z), owner 0 and mode 0644/0755, so the
// same inputs give the same archive bytes.
import _CArchive
import Foundation

/// Builds one archive. Nothing is visible at the destination path until ``finish()`` succeeds.
public final class ArchiveWriter {
    public enum Format: Sendable, CaseIterable {
        case tar, tarGzip, tarXz, zip
        /// BSD ar, the container of Debian packages (member names up to 16 characters, files only).
        case ar
    }

    /// The time stamp written on every entry, for reproducible archives.
    public static let fixedModificationTime = 1_577_836_800

    public let name: String
    public let format: Format
    private let archive: OpaquePointer
    private let destination: String?
    private let temporaryPath: String?
    private let sink: MemorySink?
    private var finished = false
    /// Tests build hostile archives (".." paths); everything else gets the same path rules as reading.
    var allowUnsafePaths = false

    /// Writes to `path` through a temporary file in the same folder, renamed into place by ``finish()``.
    public convenience init(path: String, format: Format) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try self.init(name: path, format: format, destination: path, temporaryPath: temporary)
    }

    /// Writes to memory; read the result from ``bytes`` after ``finish()``.
    public convenience init(format: Format, name: String = "(in-memory archive)") throws {
        try self.init(name: name, format: format, destination: nil, temporaryPath: nil)
    }

    private init(name: String, format: Format, destination: String?, temporaryPath: String?) throws {
        let (a, sink) = try ArchiveLocale.run { try ArchiveWriter.open(name: name, format: format, temporaryPath: temporaryPath) }
        self.archive = a
        self.name = name
        self.format = format
        self.destination = destination
        self.temporaryPath = temporaryPath
        self.sink = sink
    }

    private static func open(name: String, format: Format, temporaryPath: String?) throws -> (OpaquePointer, MemorySink?) {
        guard let a = archive_write_new() else { throw ArchiveError.writeFailed(archive: name, reason: "out of memory") }
        var status: Int32
        switch format {
        case .tar: status = archive_write_set_format_pax_restricted(a)
        case .tarGzip:
            status = archive_write_set_format_pax_restricted(a)
            if status == ARCHIVE_OK { status = archive_write_add_filter_gzip(a) }
            // No time stamp in the gzip header (MTIME = 0, RFC 1952): the same files give the same bytes.
            if status == ARCHIVE_OK { status = archive_write_set_filter_option(a, "gzip", "timestamp", nil) }
        case .tarXz:
            status = archive_write_set_format_pax_restricted(a)
            if status == ARCHIVE_OK { status = archive_write_add_filter_xz(a) }
        case .zip: status = archive_write_set_format_zip(a)
        case .ar: status = archive_write_set_format_ar_bsd(a)
        }
        if status == ARCHIVE_OK { status = archive_write_set_bytes_in_last_block(a, 1) }
        var sink: MemorySink? = nil
        if status == ARCHIVE_OK {
            if let temporaryPath {
                status = archive_write_open_filename(a, temporaryPath)
            } else {
                let memory = MemorySink()
                sink = memory
                status = archive_write_open2(a, Unmanaged.passUnretained(memory).toOpaque(), nil, memorySinkWrite, nil, nil)
            }
        }
        guard status == ARCHIVE_OK else {
            let reason = archive_error_string(a).map { String(cString: $0) } ?? "cannot set up the \(format) writer"
            archive_write_free(a)
            if let temporaryPath { unlink(temporaryPath) }
            throw ArchiveError.writeFailed(archive: name, reason: reason)
        }
        return (a, sink)
    }

    deinit {
        ArchiveLocale.run { _ = archive_write_free(archive) }   // closes if needed
        if !finished, let temporaryPath { unlink(temporaryPath) }
    }

    /// The archive bytes of an in-memory writer after ``finish()``.
    public var bytes: [UInt8] { sink?.bytes ?? [] }

    /// Adds a regular file.
    public func addFile(_ path: String, bytes: [UInt8], mode: Int = 0o644) throws {
        try add(path, type: 0o100000, mode: mode, size: bytes.count) { entry in _ = entry }
        try ArchiveLocale.run {
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress! + written, bytes.count - written) }
                guard n > 0 else { throw failure("writing \(path)") }
                written += n
            }
        }
    }

    /// Adds a directory entry (tar and zip only).
    public func addDirectory(_ path: String, mode: Int = 0o755) throws {
        try add(path.hasSuffix("/") ? path : path + "/", type: 0o040000, mode: mode, size: 0) { _ in }
    }

    /// Adds a symbolic link entry (tar and zip only).
    public func addSymlink(_ path: String, target: String) throws {
        try add(path, type: 0o120000, mode: 0o777, size: 0) { archive_entry_set_symlink_utf8($0, target) }
    }

    /// Adds a hard-link entry to an earlier member (tar only).
    public func addHardlink(_ path: String, target: String) throws {
        try add(path, type: 0o100000, mode: 0o644, size: 0) { archive_entry_set_hardlink_utf8($0, target) }
    }

    private func add(_ path: String, type: UInt32, mode: Int, size: Int, configure: (OpaquePointer) -> Void) throws {
        try ArchiveLocale.run { try addEntry(path, type: type, mode: mode, size: size, configure: configure) }
    }

    private func addEntry(_ path: String, type: UInt32, mode: Int, size: Int, configure: (OpaquePointer) -> Void) throws {
        precondition(!finished, "ArchiveWriter used after finish()")
        if !allowUnsafePaths && ArchiveReader.isUnsafe(path) { throw ArchiveError.unsafePath(archive: name, member: path) }
        guard let entry = archive_entry_new() else { throw ArchiveError.writeFailed(archive: name, reason: "out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, path)
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_size(entry, Int64(size))
        archive_entry_set_mtime(entry, time_t(ArchiveWriter.fixedModificationTime), 0)
        configure(entry)
        guard archive_write_header(archive, entry) == ARCHIVE_OK else { throw failure("writing the header of \(path)") }
    }

    /// Completes the archive; a file destination is renamed into place.
    public func finish() throws {
        precondition(!finished, "ArchiveWriter.finish() called twice")
        guard ArchiveLocale.run({ archive_write_close(archive) }) == ARCHIVE_OK else { throw failure("closing") }
        finished = true
        if let temporaryPath, let destination {
            guard rename(temporaryPath, destination) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporaryPath)
                throw ArchiveError.writeFailed(archive: name, reason: "cannot move the finished file into place: \(reason)")
            }
        }
    }

    private func failure(_ what: String) -> ArchiveError {
        .writeFailed(archive: name, reason: "\(what): " + (archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"))
    }

    /// An in-memory archive of `files` (in order).
    public static func archive(_ format: Format, files: [(path: String, bytes: [UInt8])]) throws -> [UInt8] {
        let writer = try ArchiveWriter(format: format)
        for file in files { try writer.addFile(file.path, bytes: file.bytes) }
        try writer.finish()
        return writer.bytes
    }
}

/// Collects the output of an in-memory writer (libarchive write callback below).
final class MemorySink {
    var bytes: [UInt8] = []
}

func memorySinkWrite(_ archive: OpaquePointer?, _ context: UnsafeMutableRawPointer?,
                             _ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
    guard let context, let buffer else { return 0 }
    let sink = Unmanaged<MemorySink>.fromOpaque(context).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}
