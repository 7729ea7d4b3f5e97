// Recognising an image collection by the members it holds (never by its file name), and opening it.
//
// How to use:
//
//     if let format = recogniseImageCollection(path) { print(format) }      // "CUB-200-2011", or nil
//     let dataset = try openImageCollection(path, options: ImageOptions())   // ImageDataset
//
// Recognition reads member headers only, and stops at the first member typical of a format, so it
// is cheap even on a 1 GB archive whose images come first. Opening lists the whole archive and reads
// the metadata in one pass, then decodes the images in a second (see ImageDataset+Reading.swift).
import Foundation
import KDCore
import KDDatasets

/// One supported layout: how to spot it and how to turn its metadata into records.
protocol CollectionFormat {
    /// The format's name, as ``recogniseImageCollection(_:)`` returns it.
    static var name: String { get }
    /// True for a member path only this format has (e.g. `CUB_200_2011/images.txt`).
    static func isSignature(_ memberPath: String) -> Bool
    /// The records of the archive at `path`.
    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing
}

/// The supported collections.
public enum ImageCollections {
    static let formats: [CollectionFormat.Type] = [
        CUBFormat.self, VOCFormat.self, ILSVRCFormat.self, TinyImageNetFormat.self,
        FashionMNISTFormat.self, AnimalMNISTFormat.self,
    ]

    /// Names of the recognised formats, for messages and help.
    public static var formatNames: [String] { formats.map { $0.name } }

    /// Most entries looked at while recognising before giving up: far more than any supported
    /// archive puts before its first typical member, few enough to stay quick on a random archive.
    static let recognitionBudget = 200_000

    /// The format whose signature member comes first in the archive, or nil.
    static func recogniseArchive(_ reader: ArchiveReader) throws -> CollectionFormat.Type? {
        var found: CollectionFormat.Type?
        var seen = 0
        try reader.forEachEntry { member in
            seen += 1
            if let f = formats.first(where: { $0.isSignature(member.entry.path) }) {
                found = f
                member.stop()
            } else if seen >= recognitionBudget {
                member.stop()
            }
        }
        return found
    }

    /// A few member paths, to say what an unrecognised archive holds.
    static func describeContent(_ reader: ArchiveReader) -> String {
        var paths: [String] = []
        var total = 0
        try? reader.forEachEntry { member in
            total += 1
            if paths.count < 5 && member.entry.isFile { paths.append(member.entry.path) }
            if total >= recognitionBudget { member.stop() }
        }
        if total == 0 { return "an empty \(reader.format)" }
        return "a \(reader.format) of \(total)\(total >= recognitionBudget ? "+" : "") entries such as "
            + paths.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

/// The name of the image collection at `path` (an archive, or a folder of Fashion-MNIST files),
/// recognised from its content, or nil. Never throws.
public func recogniseImageCollection(_ path: String) -> String? {
    if ImageCollections.isDirectory(path) {
        return FashionMNISTFormat.folderFiles(path) != nil ? FashionMNISTFormat.name : nil
    }
    guard let reader = try? ArchiveReader(path: path), reader.format.isArchive else { return nil }
    return (try? ImageCollections.recogniseArchive(reader))??.name
}

/// Opens the image collection at `path`: recognises it, reads its metadata, then crops, masks and
/// labels every selected object. Bad records are reported in ``ImageDataset/skipped``; a file that
/// cannot be used as a whole throws ``ImageCollectionError``.
public func openImageCollection(_ path: String, options: ImageOptions = ImageOptions()) throws -> ImageDataset {
    try options.validate()
    if ImageCollections.isDirectory(path) {
        guard FashionMNISTFormat.folderFiles(path) != nil else {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted().prefix(5) ?? []
            throw ImageCollectionError.unrecognised(
                path: path, found: "a folder holding " + (names.isEmpty ? "nothing" : names.joined(separator: ", "))
                    + " (a folder is read only when it holds Fashion-MNIST's {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz)")
        }
        try checkMasksOption(options, format: FashionMNISTFormat.name)
        let listing = try FashionMNISTFormat.listFolder(path: path, options: options)
        return try ImageDataset(listing: listing, options: options, reader: nil)
    }
    let reader: ArchiveReader
    do {
        reader = try ArchiveReader(path: path)
    } catch let error as ArchiveError {
        switch error {
        case .unreadable(_, let reason): throw ImageCollectionError.unreadable(path: path, reason: reason)
        case .notAnArchive(_, let found): throw ImageCollectionError.unrecognised(path: path, found: found)
        default: throw ImageCollectionError.damaged(path: path, reason: archiveReason(error))
        }
    }
    guard reader.format.isArchive else {
        throw ImageCollectionError.unrecognised(
            path: path, found: "a single \(reader.format) (one compressed file, not an archive of members); "
                + "for Fashion-MNIST pass the folder holding its four .gz files")
    }
    let format: CollectionFormat.Type?
    do {
        format = try ImageCollections.recogniseArchive(reader)
    } catch {
        throw ImageCollectionError.damaged(path: path, reason: archiveReason(error))
    }
    guard let format else {
        throw ImageCollectionError.unrecognised(path: path, found: ImageCollections.describeContent(reader))
    }
    try checkMasksOption(options, format: format.name)
    let listing = try format.list(path: path, reader: reader, options: options)
    return try ImageDataset(listing: listing, options: options, reader: reader)
}

/// `masks` names CUB's separate segmentation archive; any other format has its masks inside.
private func checkMasksOption(_ options: ImageOptions, format: String) throws {
    guard let masks = options.masks, format != CUBFormat.name else { return }
    throw ImageCollectionError.badOption(name: "masks", value: masks,
                                         expected: "no masks archive for \(format) (masks= is CUB-200-2011's segmentations.tgz)")
}

// MARK: - Shared metadata helpers

/// One pass over an archive: every entry, and the bytes of the members `want` selects.
///
/// Rules (Docs/Data.md, "Reading untrusted archives and files"):
/// - the sum of the bytes held is capped by ``ArchiveLimits/maxHeldBytes``, so a hundred members of
///   512 MiB each cannot exhaust memory; a `consume` closure may take a member's bytes as they pass
///   (parsing them into something small) instead of holding them;
/// - a path met twice is refused when the two members differ (which one is meant is unknowable);
/// - a wanted path that is a link, a directory or a special file is remembered, so that a missing
///   metadata file can be reported as what it is instead of as an incomplete download.
struct MetadataScan {
    var entries: [ArchiveEntry] = []
    var files: [String: [UInt8]] = [:]
    /// Wanted paths that are not regular files, with what they are.
    var notFiles: [String: String] = [:]
    private(set) var heldBytes = 0

    /// The paths of regular files.
    var filePaths: Set<String> { Set(entries.lazy.filter(\.isFile).map(\.path)) }

    init(_ reader: ArchiveReader, path: String, want: (String) -> Bool,
         consume: ((String, [UInt8]) throws -> Bool)? = nil) throws {
        var digests: [String: (count: Int, hash: Int)] = [:]
        let limit = reader.limits.maxHeldBytes
        do {
            try reader.forEachEntry { member in
                entries.append(member.entry)
                let p = member.entry.path
                guard want(p) else { return }
                guard member.entry.isFile else {
                    notFiles[p] = MetadataScan.describe(member.entry.kind)
                    return
                }
                let bytes = try member.read()
                let digest = (bytes.count, bytes.hashValue)
                if let earlier = digests[p] {
                    guard earlier == digest else {
                        throw ImageCollectionError.badMetadata(
                            path: path, member: p, line: nil, expected: "each member path once (or repeated with the same content)",
                            found: "two different members at this path (\(earlier.count) and \(bytes.count) bytes): which one is meant is unknown")
                    }
                    return
                }
                digests[p] = digest
                if let consume, try consume(p, bytes) { return }
                if bytes.count > limit - heldBytes {
                    throw ImageCollectionError.damaged(
                        path: path, reason: ArchiveError.tooMuchHeld(archive: path, what: "metadata members", limit: limit).description)
                }
                heldBytes += bytes.count
                files[p] = bytes
            }
        } catch let error as ArchiveError {
            throw ImageCollectionError.damaged(path: path, reason: archiveReason(error))
        }
    }

    static func describe(_ kind: ArchiveEntry.Kind) -> String {
        switch kind {
        case .file: return "a regular file"
        case .directory: return "a directory"
        case .symlink(let target): return "a symbolic link to \"\(FileNumbers.excerpt(target))\" (links are not followed)"
        case .hardlink(let target): return "a hard link to \"\(FileNumbers.excerpt(target))\" (links are not followed)"
        case .other: return "a special file (FIFO, device or socket)"
        }
    }

    /// The error for a metadata member that is absent: what stands at its path when something
    /// does (a link, a FIFO), else `missing`.
    func absent(_ member: String, path: String, _ missing: ImageCollectionError) -> ImageCollectionError {
        guard let what = notFiles[member] else { return missing }
        return .badMetadata(path: path, member: member, line: nil, expected: "a regular file",
                            found: what + "; re-pack the archive with the real file at this path")
    }
}

/// Metadata text: lines split on whitespace, blank lines dropped, CRLF and a UTF-8 BOM tolerated.
///
/// Lines are split on the byte 0x0A and a trailing 0x0D is dropped: a Swift `String` treats "\r\n"
/// as one Character, so splitting the text on "\n" would never split a CRLF file. Only the bytes
/// and 16 bytes per non-blank line are kept; the fields of a line are made when it is visited.
struct MetadataText {
    let path: String
    let member: String
    private let bytes: [UInt8]
    private let separators: [Bool]
    /// (1-based line number, byte offset of the line's start) of every non-blank line.
    private let starts: [(number: Int, start: Int)]

    init(_ bytes: [UInt8], path: String, member: String, separators: Set<Character> = [" ", "\t"]) {
        self.path = path
        self.member = member
        var table = [Bool](repeating: false, count: 256)
        for c in separators { if let a = c.asciiValue { table[Int(a)] = true } }
        table[0x0D] = true   // a CR is never part of a field
        self.separators = table
        var body = bytes
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body.removeFirst(3) }
        var starts: [(Int, Int)] = []
        var number = 1, lineStart = 0, blank = true
        for (i, b) in body.enumerated() {
            if b == 0x0A {
                if !blank { starts.append((number, lineStart)) }
                number += 1; lineStart = i + 1; blank = true
            } else if blank && !table[Int(b)] {
                blank = false
            }
        }
        if !blank { starts.append((number, lineStart)) }
        self.bytes = body
        self.starts = starts
    }

    /// The non-blank lines: (1-based line number, fields).
    var lines: LazyMapSequence<[(number: Int, start: Int)], (number: Int, fields: [Substring])> {
        starts.lazy.map { ($0.number, self.fields(at: $0.start)) }
    }

    var isEmpty: Bool { starts.isEmpty }

    private func fields(at start: Int) -> [Substring] {
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        var out: [Substring] = []
        var i = start
        while i < end {
            while i < end && separators[Int(bytes[i])] { i += 1 }
            let fieldStart = i
            while i < end && !separators[Int(bytes[i])] { i += 1 }
            if i > fieldStart { out.append(Substring(String(decoding: bytes[fieldStart..<i], as: UTF8.self))) }
        }
        return out
    }

    /// A refusal naming the member and line; `found` is quoted as a short excerpt.
    func bad(_ line: Int, _ expected: String, _ found: some StringProtocol) -> ImageCollectionError {
        .badMetadata(path: path, member: member, line: line, expected: expected, found: "\"\(FileNumbers.excerpt(found))\"")
    }

    func int(_ field: Substring, line: Int, _ what: String) throws -> Int {
        guard let v = Int(field) else { throw bad(line, what, field) }
        return v
    }

    /// A finite number of magnitude at most 10⁹ (pixel coordinates; no image is that large).
    func double(_ field: Substring, line: Int, _ what: String) throws -> Double {
        guard let v = Double(field), v.isFinite, abs(v) <= 1e9 else {
            throw bad(line, what + " (a finite number of magnitude at most 1e9)", field)
        }
        return v
    }
}

extension String {
    /// The path with its last extension replaced ("a/b.jpg" → "a/b.png").
    func replacingExtension(with ext: String) -> String {
        guard let dot = lastIndex(of: "."), !self[dot...].contains("/") else { return self + "." + ext }
        return String(self[..<dot]) + "." + ext
    }

    /// The name without its last extension ("b.jpg" → "b").
    var deletingExtension: String {
        guard let dot = lastIndex(of: "."), !self[dot...].contains("/") else { return self }
        return String(self[..<dot])
    }

    /// The folder part of a member path ("a/b/c.txt" → "a/b"; "c.txt" → "").
    var parentPath: String {
        guard let slash = lastIndex(of: "/") else { return "" }
        return String(self[..<slash])
    }

    var lastComponent: String {
        guard let slash = lastIndex(of: "/") else { return self }
        return String(self[index(after: slash)...])
    }
}

/// `root/name`, or `name` when the root is the archive's top.
func memberPath(_ root: String, _ name: String) -> String { root.isEmpty ? name : root + "/" + name }
