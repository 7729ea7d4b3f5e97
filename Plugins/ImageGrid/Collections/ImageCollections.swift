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
struct MetadataScan {
    var entries: [ArchiveEntry] = []
    var files: [String: [UInt8]] = [:]

    /// The paths of regular files.
    var filePaths: Set<String> { Set(entries.lazy.filter(\.isFile).map(\.path)) }

    init(_ reader: ArchiveReader, path: String, want: (String) -> Bool) throws {
        do {
            try reader.forEachEntry { member in
                entries.append(member.entry)
                if member.entry.isFile && want(member.entry.path) { files[member.entry.path] = try member.read() }
            }
        } catch let error as ArchiveError {
            throw ImageCollectionError.damaged(path: path, reason: archiveReason(error))
        }
    }
}

/// Metadata text: lines split on whitespace, blank lines dropped, CRLF and a UTF-8 BOM tolerated.
struct MetadataText {
    let path: String
    let member: String
    /// (1-based line number, fields).
    let lines: [(number: Int, fields: [Substring])]

    init(_ bytes: [UInt8], path: String, member: String, separators: Set<Character> = [" ", "\t"]) {
        self.path = path
        self.member = member
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var out: [(Int, [Substring])] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let fields = line.split(whereSeparator: { separators.contains($0) })
            if !fields.isEmpty { out.append((i + 1, fields)) }
        }
        lines = out
    }

    func bad(_ line: Int, _ expected: String, _ found: some StringProtocol) -> ImageCollectionError {
        .badMetadata(path: path, member: member, line: line, expected: expected, found: "\"\(found.prefix(120))\"")
    }

    func int(_ field: Substring, line: Int, _ what: String) throws -> Int {
        guard let v = Int(field) else { throw bad(line, what, field) }
        return v
    }

    func double(_ field: Substring, line: Int, _ what: String) throws -> Double {
        guard let v = Double(field), v.isFinite else { throw bad(line, what + " (a finite number)", field) }
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
