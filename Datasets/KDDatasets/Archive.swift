// Reading archives in place with libarchive: tar, tar.gz/.tgz, tar.xz, tar.bz2, tar.zst, zip, ar (.deb)
// and single compressed files (gzip, xz, ...), from a file or from bytes (nested archives).
//
// How to use:
//
//     let archive = try ArchiveReader(path: "CUB_200_2011.tgz")          // format read from the content
//     let list = try archive.read("CUB_200_2011/images.txt")              // one member, by name
//     try archive.forEachEntry { member in                                 // one streaming pass
//         guard member.entry.isFile, member.entry.path.hasSuffix(".jpg") else { return }
//         let image = try RGBImage.decode(bytes: try member.read(), name: archive.name + ":" + member.entry.path)
//     }
//     let deb = try ArchiveReader(path: "x.deb")                           // nested: ar → tar.xz → zip
//     let sh3f = try deb.nestedReader("data.tar.xz").nestedReader("usr/share/.../contributions.sh3f")
//
// Fetching by name builds a path index in one pass, then walks to the member; members fetched in
// archive order reuse one open stream, so reading a whole tar.gz member by member stays one pass.
// Out-of-order fetches reopen the archive (cheap for tar and zip, a re-decompression for tar.gz).
// A reader is not thread-safe: use one per thread.
//
// Limits (see Data.md, "Reading untrusted archives"): member and total decompressed sizes and the
// entry count are capped; member paths with `..` or a leading `/` are refused; links are listed as
// links and reading them is an error; truncated or damaged data is an `ArchiveError.corrupt` naming
// the member.
import _CArchive
import Foundation

/// Caps applied while reading one archive.
public struct ArchiveLimits: Sendable, Equatable {
    /// Largest decompressed size of one member read into memory. 512 MiB holds the biggest member
    /// any supported dataset needs (a 120 MB .sh3f inside a .deb, Fashion-MNIST's 47 MB image file)
    /// with room to spare, and refuses a decompression bomb before it exhausts memory.
    public var maxMemberBytes: Int
    /// Largest total decompressed size of the members seen in one pass (declared sizes, or bytes read
    /// when the format declares none). 256 GiB is five times ILSVRC-2013 DET's training tar.
    public var maxTotalBytes: Int
    /// Most entries in one archive. 4 million is ten times the entry count of the largest supported
    /// dataset (ILSVRC DET, ~400k images).
    public var maxEntries: Int
    /// Largest sum of member bytes that the code reading one archive keeps in memory at once
    /// (metadata members, masks waiting for their image). The per-member cap does not bound the
    /// sum: a hundred members of 512 MiB each would. 2 GiB is forty times the largest metadata any
    /// supported dataset holds (Fashion-MNIST's four files, 55 MB decompressed).
    public var maxHeldBytes: Int

    public init(maxMemberBytes: Int = 512 << 20, maxTotalBytes: Int = 256 << 30, maxEntries: Int = 4_000_000,
                maxHeldBytes: Int = 2 << 30) {
        self.maxMemberBytes = maxMemberBytes
        self.maxTotalBytes = maxTotalBytes
        self.maxEntries = maxEntries
        self.maxHeldBytes = maxHeldBytes
    }
}

/// One entry of an archive as listed by its header.
public struct ArchiveEntry: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case file
        case directory
        /// A symbolic link; its target is listed, never followed.
        case symlink(target: String)
        /// A hard link to an earlier member; never followed.
        case hardlink(target: String)
        /// Devices, FIFOs, sockets.
        case other
    }

    /// The member path as stored, with a leading "./" and trailing "/" removed.
    public let path: String
    /// The decompressed size the header declares, or nil when the format records none (a single
    /// compressed file).
    public let size: Int?
    public let kind: Kind
    /// Position in archive order (0-based, counting every entry).
    public let ordinal: Int

    public var isFile: Bool { kind == .file }
}

/// Where archive bytes come from. Memory is copied once into a block that every open stream retains.
enum ArchiveSource {
    case file(String)
    case memory(MemoryBlock)
}

final class MemoryBlock {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ bytes: [UInt8]) {
        count = bytes.count
        base = .allocate(byteCount: max(count, 1), alignment: 16)
        bytes.withUnsafeBytes { if count > 0 { base.copyMemory(from: $0.baseAddress!, byteCount: count) } }
    }

    deinit { base.deallocate() }

    var prefix: [UInt8] {
        Array(UnsafeRawBufferPointer(start: base, count: min(count, FormatSniffer.prefixLength)))
    }
}

/// Reads the members of one archive (or the content of one compressed file).
public final class ArchiveReader {
    /// The archive's name in messages: its path, or "outer:member" for a nested archive.
    public let name: String
    public let format: ArchiveFormat
    public let limits: ArchiveLimits
    let source: ArchiveSource
    private var entryList: [ArchiveEntry]?
    private var pathIndex: [String: ArchiveEntry]?
    /// An open stream reused while members are fetched in archive order.
    private var cursor: ArchiveStream?

    /// Opens an archive file; the format is detected from its content.
    public convenience init(path: String, limits: ArchiveLimits = ArchiveLimits()) throws {
        let format = try ArchiveReader.detectFormat(path: path)
        self.init(source: .file(path), name: path, format: format, limits: limits)
    }

    /// Opens an archive held in memory (e.g. a member of another archive). `name` is used in messages.
    public convenience init(bytes: [UInt8], name: String, limits: ArchiveLimits = ArchiveLimits()) throws {
        let block = MemoryBlock(bytes)
        let format = try ArchiveReader.detect(prefix: block.prefix, source: .memory(block), name: name)
        self.init(source: .memory(block), name: name, format: format, limits: limits)
    }

    init(source: ArchiveSource, name: String, format: ArchiveFormat, limits: ArchiveLimits) {
        self.source = source
        self.name = name
        self.format = format
        self.limits = limits
    }

    // MARK: Format detection

    /// The format of a file, from its content (magic bytes; for compressed streams, whether the first
    /// decompressed block is a tar header). Throws ``ArchiveError/notAnArchive(archive:found:)``
    /// describing the content when it is none of the supported formats.
    public static func detectFormat(path: String) throws -> ArchiveFormat {
        try detect(prefix: LocalFile.readPrefix(path, count: FormatSniffer.prefixLength), source: .file(path), name: path)
    }

    /// The format of in-memory bytes; see ``detectFormat(path:)``.
    public static func detectFormat(bytes: [UInt8], name: String) throws -> ArchiveFormat {
        let block = MemoryBlock(bytes)
        return try detect(prefix: block.prefix, source: .memory(block), name: name)
    }

    static func detect(prefix: [UInt8], source: ArchiveSource, name: String) throws -> ArchiveFormat {
        guard let format = FormatSniffer.sniff(prefix) else {
            throw ArchiveError.notAnArchive(archive: name, found: FormatSniffer.describe(prefix))
        }
        guard format.isCompressedStream else { return format }
        let stream = try ArchiveStream(source: source, format: format, name: name, limits: ArchiveLimits(),
                                       streamMemberName: "the decompressed stream")
        guard try stream.next() != nil else { return format }
        let inner = try stream.readPrefix(FormatSniffer.prefixLength)
        return format.withTar(FormatSniffer.isTarHeader(inner))
    }

    // MARK: Diagnosis

    /// Why the file at `path` is not a readable archive, or nil when it is one that reads to its
    /// end: a missing or special file, an empty or truncated file, content of another kind, a
    /// damaged header or member, a gzip member whose CRC-32 or length is wrong. Reads the whole
    /// archive (each member's data is decompressed and skipped), so call it once a file was not
    /// recognised, to tell the user what is wrong with it rather than that nothing recognises it.
    public static func diagnose(path: String, limits: ArchiveLimits = ArchiveLimits()) -> ArchiveError? {
        var info = stat()
        guard stat(path, &info) == 0 else { return .unreadable(archive: path, reason: String(cString: strerror(errno))) }
        if (info.st_mode & S_IFMT) == S_IFDIR { return nil }   // folders are read by name, not as archives
        do {
            let reader = try ArchiveReader(path: path, limits: limits)
            try reader.forEachEntry { member in
                if member.entry.isFile, member.entry.size == nil { _ = try member.read() }   // raw streams: read to check
            }
            return nil
        } catch let error as ArchiveError {
            return error
        } catch {
            return .unreadable(archive: path, reason: String(describing: error))
        }
    }

    // MARK: Listing and streaming

    /// Calls `body` for every entry in archive order, in one pass. Read a member's bytes with
    /// ``ArchiveMember/read()`` inside `body`; call ``ArchiveMember/stop()`` to end the pass early.
    public func forEachEntry(_ body: (ArchiveMember) throws -> Void) throws {
        let stream = try openStream()
        var seen: [ArchiveEntry] = []
        while let entry = try stream.next() {
            seen.append(entry)
            let member = ArchiveMember(entry: entry, stream: stream)
            defer { member.stream = nil }
            try body(member)
            if member.stopRequested { return }
        }
        if entryList == nil { cacheEntries(seen) }
    }

    /// Every entry, in archive order (one pass, then cached).
    public func entries() throws -> [ArchiveEntry] {
        if let list = entryList { return list }
        try forEachEntry { _ in }
        return entryList ?? []
    }

    /// Entries by path. When a path occurs twice (an appended tar), the later entry wins, as in tar.
    public func index() throws -> [String: ArchiveEntry] {
        if let index = pathIndex { return index }
        _ = try entries()
        return pathIndex ?? [:]
    }

    /// The entry at `path` ("./" prefixes and trailing "/" ignored), or nil.
    public func entry(_ path: String) throws -> ArchiveEntry? {
        try index()[ArchiveReader.normalize(path)]
    }

    private func cacheEntries(_ list: [ArchiveEntry]) {
        entryList = list
        var index: [String: ArchiveEntry] = [:]
        index.reserveCapacity(list.count)
        for entry in list { index[entry.path] = entry }
        pathIndex = index
    }

    // MARK: Reading members

    /// The bytes of the regular file at `path`.
    public func read(_ path: String) throws -> [UInt8] {
        guard let entry = try entry(path) else {
            throw ArchiveError.missingMember(archive: name, member: path, memberCount: entryList?.count ?? 0)
        }
        return try read(entry)
    }

    /// The bytes of `entry` (from ``entries()`` of this reader).
    public func read(_ entry: ArchiveEntry) throws -> [UInt8] {
        try ArchiveStream.checkReadable(entry, archive: name)
        do {
            let stream = try stream(at: entry.ordinal)
            guard stream.current?.path == entry.path else {
                throw ArchiveError.corrupt(archive: name, member: entry.path,
                                           reason: "entry \(entry.ordinal) is now \(stream.current?.path ?? "missing"); the file changed while it was read")
            }
            return try stream.readCurrent()
        } catch {
            cursor = nil   // the stream's position is unknown after an error
            throw error
        }
    }

    /// A reader for an archive stored as a member of this one (a .deb's data.tar.xz, a zip in a tar).
    public func nestedReader(_ path: String) throws -> ArchiveReader {
        let bytes = try read(path)
        return try ArchiveReader(bytes: bytes, name: "\(name):\(ArchiveReader.normalize(path))", limits: limits)
    }

    /// A stream positioned on entry `ordinal`, reusing the cursor when it has not passed it.
    private func stream(at ordinal: Int) throws -> ArchiveStream {
        let stream: ArchiveStream
        if let cursor, cursor.ordinal < ordinal || (cursor.ordinal == ordinal && !cursor.currentConsumed) {
            stream = cursor
        } else {
            stream = try openStream()
            cursor = stream
        }
        while stream.ordinal < ordinal {
            guard try stream.next() != nil else {
                throw ArchiveError.corrupt(archive: name, member: "entry \(ordinal)",
                                           reason: "the archive ended after \(stream.ordinal + 1) entries; the file changed while it was read")
            }
        }
        return stream
    }

    private func openStream() throws -> ArchiveStream {
        try ArchiveStream(source: source, format: format, name: name, limits: limits,
                          streamMemberName: ArchiveReader.streamMemberName(for: name))
    }

    // MARK: Paths

    /// The member name given to the content of a single compressed file: the file name without its
    /// compression suffix ("train-images-idx3-ubyte.gz" → "train-images-idx3-ubyte"), else "data".
    static func streamMemberName(for archiveName: String) -> String {
        let last = archiveName.split(separator: "/").last.map(String.init) ?? archiveName
        for suffix in [".gz", ".xz", ".bz2", ".zst"] where last.hasSuffix(suffix) && last.count > suffix.count {
            return String(last.dropLast(suffix.count))
        }
        return "data"
    }

    /// Removes trailing "/" and leading "./" ("./a/b/" → "a/b"; "./" → ".").
    static func normalize(_ raw: String) -> String {
        var path = Substring(raw)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        return String(path)
    }

    /// True for a path that could escape its folder: a leading "/" or a ".." component ("\" counts
    /// as a separator too, for zips written on Windows).
    static func isUnsafe(_ raw: String) -> Bool {
        if raw.hasPrefix("/") || raw.hasPrefix("\\") { return true }
        return raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains("..")
    }
}

/// One entry during ``ArchiveReader/forEachEntry(_:)``. Valid only inside that call's body.
public final class ArchiveMember {
    public let entry: ArchiveEntry
    fileprivate var stream: ArchiveStream?
    fileprivate var stopRequested = false
    private var bytes: [UInt8]?

    fileprivate init(entry: ArchiveEntry, stream: ArchiveStream) {
        self.entry = entry
        self.stream = stream
    }

    /// The member's bytes (read once; later calls return the same bytes). Throws for links,
    /// directories, oversize or damaged members.
    public func read() throws -> [UInt8] {
        if let bytes { return bytes }
        guard let stream else { preconditionFailure("ArchiveMember.read() called outside its forEachEntry step") }
        try ArchiveStream.checkReadable(entry, archive: stream.name)
        let data = try stream.readCurrent()
        bytes = data
        return data
    }

    /// Ends the pass after this entry.
    public func stop() { stopRequested = true }
}
