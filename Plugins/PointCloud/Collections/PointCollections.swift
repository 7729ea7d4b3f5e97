// Point-cloud collections recognised by the members they hold (never by the file name):
//
// - ModelNet40 / ModelNet10 meshes: `ModelNet40/<class>/{train,test}/<class>_NNNN.off` in a zip.
// - ModelNet40 resampled (PointNet++'s `modelnet40_normal_resampled`): `<root>/modelnet40_shape_names.txt`,
//   `modelnet40_train.txt`, `modelnet40_test.txt` and `<root>/<class>/<class>_NNNN.txt` (x,y,z,nx,ny,nz lines).
// - Sweet Home 3D catalogues (.sh3f): `PluginFurnitureCatalog.properties` and OBJ models.
// - kd-tool's point-background archives: `kd-point-background/manifest.json` and one point file per sample.
import Foundation
import KDCore
import KDDatasets

/// The layouts the point-cloud plugin reads.
public enum PointFormat: String, Sendable, CaseIterable {
    case modelNetMeshes = "ModelNet (OFF meshes)"
    case modelNetResampled = "ModelNet40 resampled (modelnet40_normal_resampled)"
    case sweetHome3D = "Sweet Home 3D furniture catalogue (.sh3f)"
    case pointBackground = "kd-tool point-background (SYNTHETIC background injected from other objects)"

    /// The format a member path is typical of, or nil.
    static func signature(_ path: String) -> PointFormat? {
        let parts = path.split(separator: "/")
        guard let last = parts.last else { return nil }
        // macOS resource forks zipped along (ModelNet10.zip holds __MACOSX/…/._chair_0001.off).
        if parts.contains("__MACOSX") || last.hasPrefix("._") { return nil }
        if path == "PluginFurnitureCatalog.properties" { return .sweetHome3D }
        if path.hasSuffix("kd-point-background/manifest.json") && parts.count <= 2 { return .pointBackground }
        if last.hasPrefix("modelnet"), last.hasSuffix("_shape_names.txt") { return .modelNetResampled }
        if parts.count >= 3, last.lowercased().hasSuffix(".off"), parts[parts.count - 2] == "train" || parts[parts.count - 2] == "test" {
            return .modelNetMeshes
        }
        return nil
    }
}

/// One object of a collection.
public struct PointObject: Sendable, Equatable {
    /// "archive-file-name:member", stable and unique within the collection.
    public var id: String
    public var member: String
    public var className: String
    public var split: Split
    /// Mesh (sampled by area) or a list of points (the first N rows used).
    public var isMesh: Bool
}

/// Errors about a collection as a whole (bad single objects are ``MeshError``s naming their member).
public enum PointCollectionError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case unrecognised(path: String, found: String)
    case missingMember(path: String, member: String, hint: String)
    case badMetadata(path: String, member: String, line: Int?, expected: String, found: String)
    case badOption(name: String, value: String, expected: String)
    case tooFew(path: String, what: String)
    case noSample(path: String, split: String, index: Int, count: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read it as a point-cloud collection: \(reason)."
        case let .unrecognised(path, found):
            return "\(path): expected one of \(PointFormat.allCases.map(\.rawValue).joined(separator: "; ")) (recognised by the members present), found \(found)."
        case let .missingMember(path, member, hint): return "\(path): no member \(member). \(hint)"
        case let .badMetadata(path, member, line, expected, found):
            return "\(path): \(member)\(line.map { " line \($0)" } ?? ""): expected \(expected), found \(found). Re-download or rebuild the archive."
        case let .badOption(name, value, expected): return "option \(name)=\(value) is not valid: expected \(expected)."
        case let .tooFew(path, what): return "\(path): \(what)."
        case let .noSample(path, split, index, count): return "\(path): no \(split) sample \(index): the split has \(count) (indices 0..<\(count))."
        }
    }
}

/// An opened archive of objects: the listing, and clouds read on demand.
public final class PointCollection {
    public let path: String
    public let format: PointFormat
    public private(set) var objects: [PointObject] = []
    /// Records left out while listing, one line each.
    public private(set) var problems: [String] = []
    let reader: ArchiveReader
    let fileName: String
    private let lock = NSLock()

    /// Most entries looked at while recognising.
    static let recognitionBudget = 200_000
    /// Largest metadata member read (properties, lists, manifests): far above any real one.
    static let metadataLimit = 64 << 20

    /// The format of the archive at `path`, or nil. Never throws.
    public static func recognise(_ path: String) -> PointFormat? {
        guard let reader = try? ArchiveReader(path: path), reader.format.isArchive else { return nil }
        return try? recognise(reader)
    }

    static func recognise(_ reader: ArchiveReader) throws -> PointFormat? {
        var found: PointFormat?, seen = 0
        try reader.forEachEntry { m in
            seen += 1
            if let f = PointFormat.signature(m.entry.path) { found = f; m.stop() } else if seen >= recognitionBudget { m.stop() }
        }
        return found
    }

    /// Opens and lists a collection. `testFraction` and `seed` split catalogues that have no split.
    public init(path: String, testFraction: Double = 0.2, seed: UInt64 = 0) throws {
        self.path = path
        fileName = URL(fileURLWithPath: path).lastPathComponent
        do { reader = try ArchiveReader(path: path) } catch let e as ArchiveError {
            if case let .notAnArchive(_, found) = e { throw PointCollectionError.unrecognised(path: path, found: found) }
            throw PointCollectionError.unreadable(path: path, reason: e.description)
        }
        guard reader.format.isArchive else {
            throw PointCollectionError.unrecognised(path: path, found: "a single \(reader.format), not an archive of members")
        }
        guard let f = try PointCollection.recognise(reader) else {
            var names: [String] = []
            try? reader.forEachEntry { m in if m.entry.isFile { names.append(m.entry.path) }; if names.count >= 5 { m.stop() } }
            throw PointCollectionError.unrecognised(path: path, found: names.isEmpty ? "an empty archive" : "members such as " + names.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        format = f
        switch f {
        case .modelNetMeshes: try listModelNet()
        case .modelNetResampled: try listResampled()
        case .sweetHome3D: try listCatalogue(testFraction: testFraction, seed: seed)
        case .pointBackground: break   // read by PointBackgroundArchive
        }
    }

    private func listModelNet() throws {
        for entry in try reader.entries() where entry.isFile {
            let parts = entry.path.split(separator: "/").map(String.init)
            guard PointFormat.signature(entry.path) == .modelNetMeshes else { continue }
            let className = parts[parts.count - 3]
            objects.append(PointObject(id: "\(fileName):\(entry.path)", member: entry.path, className: className,
                                       split: parts[parts.count - 2] == "train" ? .train : .test, isMesh: true))
        }
        objects.sort { $0.member < $1.member }
    }

    private func listResampled() throws {
        let index = try reader.index()
        guard let names = index.keys.sorted().first(where: { PointFormat.signature($0) == .modelNetResampled }) else { return }
        let folder = names.contains("/") ? String(names[..<names.lastIndex(of: "/")!]) + "/" : ""
        let stem = String(names.split(separator: "/").last!.dropLast("_shape_names.txt".count))   // "modelnet40"
        let shapeNames = try lines(names)
        let known = Set(shapeNames.map(\.text))
        for split in Split.allCases {
            let list = folder + "\(stem)_\(split.rawValue).txt"
            guard index[list] != nil else {
                throw PointCollectionError.missingMember(path: path, member: list, hint: "modelnet40_normal_resampled lists its splits in \(stem)_train.txt and \(stem)_test.txt.")
            }
            for (number, line) in try lines(list) {
                guard let underscore = line.lastIndex(of: "_") else {
                    throw PointCollectionError.badMetadata(path: path, member: list, line: number, expected: "an object name such as airplane_0001", found: "\"\(line.prefix(40))\"")
                }
                let className = String(line[..<underscore])
                guard known.contains(className) else {
                    problems.append("\(path): \(list) line \(number): class \(className) is not in \(names); skipped")
                    continue
                }
                let member = folder + "\(className)/\(line).txt"
                guard index[member] != nil else {
                    problems.append("\(path): \(list) line \(number): no member \(member); skipped")
                    continue
                }
                objects.append(PointObject(id: "\(fileName):\(member)", member: member, className: className, split: split, isMesh: false))
            }
        }
    }

    private func listCatalogue(testFraction: Double, seed: UInt64) throws {
        let properties = JavaProperties.parse(try readMetadata("PluginFurnitureCatalog.properties"))
        let index = try reader.index()
        var byClass: [String: [PointObject]] = [:]
        for item in SweetHome3DClasses.items(properties) {
            guard let c = item.className else { continue }
            guard index[item.model] != nil else {
                problems.append("\(path): item \(item.index) (\(item.name)) names model \(item.model), which the archive does not hold; skipped")
                continue
            }
            byClass[c, default: []].append(PointObject(id: "\(fileName):\(item.model)", member: item.model, className: c, split: .train, isMesh: true))
        }
        // Per class, a fixed share goes to the test split, chosen by a seeded hash of the id.
        for c in byClass.keys.sorted() {
            var list = byClass[c]!.sorted { SplitMix.hash($0.id, seed) < SplitMix.hash($1.id, seed) }
            let tests = list.count < 2 ? 0 : min(list.count - 1, Int((Double(list.count) * testFraction).rounded()))
            for k in 0..<tests { list[k].split = .test }
            objects += list
        }
        objects.sort { ($0.className, $0.member) < ($1.className, $1.member) }
    }

    func readMetadata(_ member: String) throws -> [UInt8] {
        guard let entry = try reader.entry(member) else {
            throw PointCollectionError.missingMember(path: path, member: member, hint: "")
        }
        if let size = entry.size, size > PointCollection.metadataLimit {
            throw PointCollectionError.badMetadata(path: path, member: member, line: nil, expected: "at most \(PointCollection.metadataLimit) bytes", found: "\(size)")
        }
        return try reader.read(entry)
    }

    /// Non-empty trimmed lines with their 1-based numbers.
    func lines(_ member: String) throws -> [(number: Int, text: String)] {
        let text = String(decoding: try readMetadata(member), as: UTF8.self)
        return text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated().compactMap {
            let t = $0.element.trimmingCharacters(in: .whitespacesAndNewlines)
            return t.isEmpty ? nil : ($0.offset + 1, t)
        }
    }

    /// Raw bytes of a member (one reader, so calls are serialised).
    func read(_ member: String) throws -> [UInt8] {
        lock.lock(); defer { lock.unlock() }
        return try reader.read(member)
    }

    /// `count` points of `object`, normalised to the unit sphere: sampled by area from a mesh (seeded by
    /// the object's id and `seed`), or the first `count` rows of a point list.
    public func cloud(_ object: PointObject, count: Int, seed: UInt64) throws -> SampledCloud {
        var bytes = try read(object.member)
        var name = object.id
        if object.member.lowercased().hasSuffix(".zip") {
            // Older catalogues name a zip holding the model: read its first OBJ (or other mesh) member.
            let inner = try ArchiveReader(bytes: bytes, name: object.id)
            let meshes = [".obj", ".off", ".ply", ".stl"]
            guard let entry = try inner.entries().first(where: { e in e.isFile && meshes.contains { e.path.lowercased().hasSuffix($0) } }) else {
                throw MeshError.unknownFormat(file: object.id, found: "a zip without an OBJ, OFF, PLY or STL member")
            }
            bytes = try inner.read(entry)
            name = object.id + ":" + entry.path
        }
        if object.isMesh {
            // Catalogue models may hold two-vertex `f` lines (edges): passed over, see MeshLimits.skipShortFaces.
            let mesh = try MeshReader.read(bytes, name: name, limits: MeshLimits(skipShortFaces: format == .sweetHome3D))
            return try SurfaceSampler.sample(mesh, count: count, seed: SplitMix.hash(object.id, seed), name: name)
        }
        var points = try PointListReader.read(bytes, name: name, count: count)
        SurfaceSampler.normalise(&points)
        return SampledCloud(points: points, degenerateTriangles: 0)
    }
}

/// Text point lists: one point per line, x y z then any further values (normals), separated by commas
/// or white space (ModelNet40 resampled: `x,y,z,nx,ny,nz`).
public enum PointListReader {
    /// The first `count` points.
    public static func read(_ bytes: [UInt8], name: String, count: Int) throws -> [Float] {
        var s = TextScanner(bytes, name: name)
        var points: [Float] = []
        points.reserveCapacity(3 * count)
        while points.count < 3 * count {
            s.skipSpaceAndLines()
            guard !s.atEnd else { throw MeshError.countMismatch(file: name, what: "points (at least, for this many points per object)", declared: count, found: points.count / 3) }
            let line = s.line
            for axis in 0..<3 {
                guard let t = s.tokenOnLine(commas: true) else {
                    throw MeshError.malformed(file: name, line: line, expected: "x,y,z[,nx,ny,nz]", found: "\(axis) value\(axis == 1 ? "" : "s")")
                }
                guard let v = s.number(t) else { throw MeshError.malformed(file: name, line: line, expected: "a number", found: s.text(t)) }
                guard v.isFinite, abs(v) < 1e30 else { throw MeshError.nonFinite(file: name, line: line, what: "coordinate") }
                points.append(Float(v))
            }
            s.skipLine()
        }
        return points
    }
}
