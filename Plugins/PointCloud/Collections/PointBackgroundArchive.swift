// The archive `kd-tool dataset point-background` writes and the plugin reads back:
//
//     kd-point-background/README.txt            what the set is (SYNTHETIC background around real objects)
//     kd-point-background/manifest.json         settings, classes, sources, and every sample's provenance
//     kd-point-background/samples/<split>/NNNNNN.f32
//                                               (fg + bg)·3 float32, little-endian: the object's points
//                                               first, then the injected ones in manifest order
import Foundation
import KDCore
import KDDatasets

/// The manifest of a point-background archive.
public struct PointBackgroundManifest: Codable, Sendable, Equatable {
    public static let formatName = "kd-point-background/1"
    public static let folder = "kd-point-background"

    public struct Entry: Codable, Sendable, Equatable {
        /// The point file, relative to the archive root.
        public var file: String
        public var split: String
        public var className: String
        /// The object whose points come first.
        public var object: String
        /// Which sampling of the object (0 first; see `copies`).
        public var copy: Int
        public var foreground: Int
        public var background: [InjectedSource]
    }

    public var format: String = PointBackgroundManifest.formatName
    /// The dataset's name, saying it is synthetic.
    public var name: String
    public var note: String
    public var seed: UInt64
    public var points: Int
    public var background: Int
    public var backgroundClouds: Int
    public var testFraction: Double
    /// The share of the training split the student and the baseline train on (Method.md §7: 10 %).
    public var studentFraction: Double
    /// Samplings of each training object (1: each object once).
    public var copies: Int
    public var classes: [String]
    /// The source files with their SHA-256 sums.
    public var sources: [String]
    /// Objects left out (unreadable meshes, no other class to inject from), one line each; absent in
    /// archives written before it was recorded.
    public var skipped: [String]?
    public var samples: [Entry]
}

/// Reads a whole point-background archive into memory (small: 18 KB per sample of 1524 points).
public final class PointBackgroundArchive {
    public let path: String
    public let manifest: PointBackgroundManifest
    /// Points per sample, by manifest order.
    let data: [String: [Float]]

    public init(path: String) throws {
        self.path = path
        let reader: ArchiveReader
        do { reader = try ArchiveReader(path: path) } catch { throw PointCollectionError.unreadable(path: path, reason: "\(error)") }
        let manifestMember = PointBackgroundManifest.folder + "/manifest.json"
        var manifestBytes: [UInt8]? = nil
        var files: [String: [UInt8]] = [:]
        try reader.forEachEntry { m in
            guard m.entry.isFile else { return }
            if m.entry.path == manifestMember {
                guard (m.entry.size ?? 0) <= PointCollection.metadataLimit else {
                    throw PointCollectionError.badMetadata(path: path, member: manifestMember, line: nil, expected: "at most \(PointCollection.metadataLimit) bytes", found: "\(m.entry.size ?? 0)")
                }
                manifestBytes = try m.read()
            } else if m.entry.path.hasSuffix(".f32") {
                files[m.entry.path] = try m.read()
            }
        }
        guard let manifestBytes else {
            throw PointCollectionError.missingMember(path: path, member: manifestMember, hint: "Is this an archive written by `kd-tool dataset point-background`?")
        }
        let manifest: PointBackgroundManifest
        do { manifest = try JSONDecoder().decode(PointBackgroundManifest.self, from: Data(manifestBytes)) } catch {
            throw PointCollectionError.badMetadata(path: path, member: manifestMember, line: nil, expected: "the \(PointBackgroundManifest.formatName) manifest", found: "\(error)")
        }
        guard manifest.format == PointBackgroundManifest.formatName else {
            throw PointCollectionError.badMetadata(path: path, member: manifestMember, line: nil, expected: "format \(PointBackgroundManifest.formatName)", found: manifest.format)
        }
        // Each count checked on its own before they are added (two counts near Int.max would overflow).
        guard manifest.points >= 1, manifest.background >= 0, manifest.points <= 1 << 20, manifest.background <= 1 << 20,
              manifest.points + manifest.background <= 1 << 20 else {
            throw PointCollectionError.badMetadata(path: path, member: manifestMember, line: nil, expected: "1 ≤ points and 0 ≤ background, at most 2^20 in all", found: "points \(manifest.points), background \(manifest.background)")
        }
        let total = manifest.points + manifest.background
        var data: [String: [Float]] = [:]
        for entry in manifest.samples {
            let member = entry.file
            guard let bytes = files[member] else {
                throw PointCollectionError.missingMember(path: path, member: member, hint: "The manifest lists it; the archive is incomplete: rebuild it.")
            }
            guard bytes.count == 12 * total else {
                throw MeshError.countMismatch(file: "\(path):\(member)", what: "bytes (\(total) points × 3 float32)", declared: 12 * total, found: bytes.count)
            }
            guard entry.foreground == manifest.points, entry.background.reduce(0, { $0 + $1.points.count }) == manifest.background,
                  Split(rawValue: entry.split) != nil, manifest.classes.contains(entry.className) else {
                throw PointCollectionError.badMetadata(path: path, member: manifestMember, line: nil,
                                                       expected: "\(member): \(manifest.points) fg + \(manifest.background) bg points, a split and a listed class",
                                                       found: "\(entry.foreground) fg + \(entry.background.reduce(0) { $0 + $1.points.count }) bg, split \(entry.split), class \(entry.className)")
            }
            var points = [Float](repeating: 0, count: 3 * total)
            for k in 0..<(3 * total) {
                let raw = UInt32(bytes[4 * k]) | UInt32(bytes[4 * k + 1]) << 8 | UInt32(bytes[4 * k + 2]) << 16 | UInt32(bytes[4 * k + 3]) << 24
                let v = Float(bitPattern: raw)
                guard v.isFinite else { throw MeshError.nonFinite(file: "\(path):\(member)", line: nil, what: "coordinate of point \(k / 3)") }
                points[k] = v
            }
            data[member] = points
        }
        self.manifest = manifest
        self.data = data
    }

    /// The README every archive holds.
    static func readme(_ m: PointBackgroundManifest) -> String {
        """
        \(m.name)

        SYNTHETIC BACKGROUND AROUND REAL OBJECTS. Every sample is one real object (\(m.points) points sampled by
        area from its mesh and normalised to the unit sphere) with \(m.background) background points INJECTED from
        \(m.backgroundClouds) point clouds of objects of other classes (the protocol of the ModelNet40 experiment of
        Zhang, Cheng, Chen, Rao, "Explaining Knowledge Distillation by Quantifying the Knowledge", CVPR 2020).
        This is NOT ModelNet40. The background is not scenery: it is points of other objects, in the same frame.

        Classes: \(m.classes.joined(separator: ", ")).
        Samples: \(m.samples.filter { $0.split == "train" }.count) train, \(m.samples.filter { $0.split == "test" }.count) test (test fraction \(m.testFraction), seed \(m.seed)).
        Each training object appears \(m.copies) time(s), each a separate sampling of its surface with its own background;
        each test object once.
        Protocol: the teacher trains on the whole training split; student and baseline on a random \(Int((m.studentFraction * 100).rounded())) % of it.

        Files: manifest.json names every sample's object and, for every injected point, the object and
        point it was taken from. samples/<split>/NNNNNN.f32 holds (\(m.points) + \(m.background)) × 3 float32
        little-endian: the object's points first, then the injected points in manifest order.

        Sources:
        \(m.sources.map { "  " + $0 }.joined(separator: "\n"))

        Objects left out (\(m.skipped?.count ?? 0)):
        \((m.skipped ?? []).map { "  " + $0 }.joined(separator: "\n"))
        """
    }

    /// Writes `samples` as an archive at `output` (a .tgz, byte-identical for the same input).
    static func write(_ manifest: PointBackgroundManifest, points: [[Float]], to output: String) throws {
        let writer = try ArchiveWriter(path: output, format: .tarGzip)
        let folder = PointBackgroundManifest.folder
        try writer.addFile(folder + "/README.txt", bytes: Array(readme(manifest).utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writer.addFile(folder + "/manifest.json", bytes: Array(try encoder.encode(manifest)))
        for (entry, cloud) in zip(manifest.samples, points) {
            var bytes = [UInt8](repeating: 0, count: 4 * cloud.count)
            for (k, v) in cloud.enumerated() {
                let b = v.bitPattern
                bytes[4 * k] = UInt8(b & 0xFF); bytes[4 * k + 1] = UInt8((b >> 8) & 0xFF)
                bytes[4 * k + 2] = UInt8((b >> 16) & 0xFF); bytes[4 * k + 3] = UInt8(b >> 24)
            }
            try writer.addFile(entry.file, bytes: bytes)
        }
        try writer.finish()
    }
}
