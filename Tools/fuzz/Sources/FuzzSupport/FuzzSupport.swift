// Helpers shared by the fuzzers: the input as bytes, split into members, written to a scratch file.
import Foundation
@_exported import KDCore
@_exported import KDDatasets
@_exported import ImageGrid
@_exported import PointCloud
@_exported import TokenEmbedding
@_exported import FuzzDriver

/// The fuzzer's input as an array.
public func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// The input cut at each 0x1E (ASCII record separator) into at most `count` parts, padded with empty parts:
/// one part per metadata member of an archive layout, so a seed is the members joined by 0x1E.
public func parts(_ input: [UInt8], _ count: Int) -> [[UInt8]] {
    var out = input.split(separator: 0x1E, maxSplits: count - 1, omittingEmptySubsequences: false).map(Array.init)
    while out.count < count { out.append([]) }
    return out
}

/// A scratch file of this process, rewritten for every input.
public func scratch(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("kd-fuzz-\(getpid())\(suffix)").path
}

/// A small valid JPEG (16×16, RGB), for image members the metadata refers to.
public let tinyJPEG: [UInt8] = {
    var image = RGBImage(width: 16, height: 16, channels: 3, repeating: 90)
    for y in 4..<12 { for x in 4..<12 { image[x: x, y: y, c: 0] = 230 } }
    return (try? image.encodeJPEG()) ?? []
}()

/// Writes a tar archive of `members` (path, bytes; parent folders added) to this process's scratch file and
/// returns its path, or nil when the members cannot be archived.
public func tarFile(_ members: [(String, [UInt8])]) -> String? {
    let path = scratch(".tar")
    do {
        let writer = try ArchiveWriter(format: .tar)
        var folders: Set<String> = []
        for (member, data) in members {
            var parts = member.split(separator: "/").dropLast()
            var prefixes: [String] = []
            while !parts.isEmpty { prefixes.insert(parts.joined(separator: "/"), at: 0); parts = parts.dropLast() }
            for f in prefixes where !folders.contains(f) { folders.insert(f); try writer.addDirectory(f) }
            try writer.addFile(member, bytes: data)
        }
        try writer.finish()
        guard FileManager.default.createFile(atPath: path, contents: Data(writer.bytes)) else { return nil }
    } catch { return nil }
    return path
}

/// Builds a tar archive of `members` (path, bytes) in memory, writes it to the scratch file and opens it as an image collection,
/// reading every sample; errors are the expected outcome of most inputs and are ignored.
public func openCollection(_ members: [(String, [UInt8])], options: [String: String] = [:]) {
    guard let path = tarFile(members) else { return }
    defer { unlink(path) }
    let plugin = ImageGridPlugin()
    guard let source = try? plugin.open(path, options: ["image-size": "16", "grid": "4"].merging(options) { $1 }) else { return }
    for split in Split.allCases {
        for i in 0..<source.count(split) { _ = try? source.sample(split, i) }
    }
    _ = source.problems
}

/// Reads a mesh with `read` (the format's reader), then through the content detection, and samples 64
/// points from every mesh read (the sampler indexes vertices by the triangles the reader returned).
public func readMesh(_ input: [UInt8], limits: MeshLimits = MeshLimits(), _ read: ([UInt8], MeshLimits) throws -> Mesh) {
    if let mesh = try? read(input, limits) { _ = try? SurfaceSampler.sample(mesh, count: 64, seed: 1, name: "fuzz") }
    if let mesh = try? MeshReader.read(input, name: "fuzz", limits: limits) {
        _ = try? SurfaceSampler.sample(mesh, count: 16, seed: 2, name: "fuzz")
    }
}

/// A small uncased WordPiece vocabulary (BERT's special tokens, letters, a few words and continuations).
public let smallVocabulary: WordPieceVocabulary = {
    var tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-()".map { String($0) }
    tokens += "abcdefghijklmnopqrstuvwxyz".map { "##" + String($0) }
    tokens += ["the", "film", "good", "bad", "not", "very", "great", "movie", "un", "##believ", "##able", "what", "is",
               "paris", "capital", "of", "france", "é", "中", "##ing", "##ed"]
    return try! WordPieceVocabulary(text: tokens.joined(separator: "\n") + "\n", source: "fuzz-vocab.txt")
}()

/// A small VADER lexicon for the sentiment foreground.
public let smallLexicon: [String: Double] = ["good": 1.9, "great": 3.1, "bad": -2.5, "boring": -1.3, "fine": 0.8]
