// A point-cloud collection as the engine sees it: samples (N_total, 3) with one unit per point, the
// object's points foreground and injected points background (Method.md §1, §7).
import Foundation
import KDCore

/// An opened point-cloud dataset.
public final class PointDataset: DatasetSource {
    public let name: String
    /// True: background points are injected from other objects (synthetic background around real objects).
    public let isComposite: Bool
    public let classNames: [String]
    public let sampleShape: [Int]
    public let settings: [String: String]
    public let format: PointFormat
    public let path: String
    public let foregroundPoints: Int

    enum Backing {
        case pool(ObjectPool, background: Int, clouds: Int)
        case baked(PointBackgroundArchive)
    }
    let backing: Backing
    /// Per split, indices into the pool's objects or the manifest's samples.
    let members: [Split: [Int]]
    private let listingProblems: [String]

    public var problems: [String] {
        if case let .pool(pool, _, _) = backing { return listingProblems + pool.problems }
        return listingProblems
    }

    public init(path: String, options: PointOptions) throws {
        self.path = path
        guard let format = PointCollection.recognise(path) else {
            _ = try PointCollection(path: path)   // throws the descriptive error
            throw PointCollectionError.unrecognised(path: path, found: "no known layout")
        }
        self.format = format
        var settings = [
            "format": format.rawValue, "seed": String(options.seed),
            "units": "one point (x, y, z) per unit", "normalisation": "per object: centred at the mean, farthest point at distance 1",
        ]
        var problems: [String] = []
        let keep = options.classes.map(Set.init)
        if format == .pointBackground {
            let archive = try PointBackgroundArchive(path: path)
            let m = archive.manifest
            if let keep, let unknown = keep.first(where: { !m.classes.contains($0) }) {
                throw PointCollectionError.badOption(name: "classes", value: unknown, expected: "one of \(m.classes.joined(separator: ", "))")
            }
            classNames = m.classes.filter { keep?.contains($0) ?? true }
            var members: [Split: [Int]] = [.train: [], .test: []]
            for (k, e) in m.samples.enumerated() where keep?.contains(e.className) ?? true {
                let split = Split(rawValue: e.split)!
                if options.maxPerSplit == 0 || members[split]!.count < options.maxPerSplit { members[split]!.append(k) }
            }
            self.members = members
            backing = .baked(archive)
            sampleShape = [m.points + m.background, 3]
            foregroundPoints = m.points
            name = m.name
            isComposite = m.background > 0
            settings["points"] = String(m.points); settings["background"] = String(m.background)
            settings["background-clouds"] = String(m.backgroundClouds)
            settings["student-fraction (archive's protocol)"] = String(m.studentFraction)
            settings["copies of each training object"] = String(m.copies)
            settings["note"] = "counts, split and seed come from the archive's manifest (options points, background, background-clouds, test-fraction and seed are not used)"
            settings["seed"] = String(m.seed)
        } else {
            let collection = try PointCollection(path: path, testFraction: options.testFraction, seed: options.seed)
            problems += collection.problems
            var objects = collection.objects
            let all = Set(objects.map(\.className))
            if let keep, let unknown = keep.first(where: { !all.contains($0) }) {
                throw PointCollectionError.badOption(name: "classes", value: unknown, expected: "one of \(all.sorted().joined(separator: ", "))")
            }
            objects = objects.filter { keep?.contains($0.className) ?? true }
            if options.maxPerSplit > 0 {
                var seen: [Split: Int] = [:]
                objects = objects.filter { o in seen[o.split, default: 0] += 1; return seen[o.split]! <= options.maxPerSplit }
            }
            guard !objects.isEmpty else { throw PointCollectionError.tooFew(path: path, what: "no object is left to read (\(collection.objects.count) listed)") }
            classNames = Set(objects.map(\.className)).sorted()
            let pool = ObjectPool(objects: objects, points: options.points, seed: options.seed) { i in
                try collection.cloud(objects[i], count: options.points, seed: options.seed)
            }
            backing = .pool(pool, background: options.background, clouds: options.backgroundClouds)
            members = [.train: objects.indices.filter { objects[$0].split == .train }, .test: objects.indices.filter { objects[$0].split == .test }]
            sampleShape = [options.points + options.background, 3]
            foregroundPoints = options.points
            isComposite = options.background > 0
            let base = URL(fileURLWithPath: path).lastPathComponent
            name = options.background > 0
                ? "\(base) (\(format.rawValue)) with SYNTHETIC background: \(options.background) points injected from \(options.backgroundClouds) objects of other classes"
                : "\(base) (\(format.rawValue)), no background"
            settings["points"] = String(options.points); settings["background"] = String(options.background)
            settings["background-clouds"] = String(options.backgroundClouds)
            if format == .sweetHome3D { settings["test-fraction"] = String(options.testFraction) }
            if format != .modelNetResampled { settings["sampling"] = "uniform by triangle area (polygons as fans; zero-area triangles skipped)" }
            else { settings["sampling"] = "the first \(options.points) rows of each resampled file" }
        }
        if let keep { settings["classes"] = keep.sorted().joined(separator: ",") }
        if options.maxPerSplit > 0 { settings["max-per-split"] = String(options.maxPerSplit) }
        settings["roles"] = "fg = the object's points, bg = injected points"
        self.settings = settings
        listingProblems = problems
    }

    public func count(_ split: Split) -> Int { members[split]?.count ?? 0 }

    public func sample(_ split: Split, _ index: Int) throws -> Sample {
        let list = members[split] ?? []
        guard index >= 0 && index < list.count else {
            throw PointCollectionError.noSample(path: path, split: split.rawValue, index: index, count: list.count)
        }
        let points: [Float], foreground: Int, id: String, label: Int, provenance: [String]
        switch backing {
        case let .baked(archive):
            let e = archive.manifest.samples[list[index]]
            points = archive.data[e.file]!
            foreground = e.foreground
            id = "\(URL(fileURLWithPath: path).lastPathComponent):\(e.file)"
            label = classNames.firstIndex(of: e.className)!
            let injected = InjectedObject(object: PointObject(id: e.object, member: "", className: e.className, split: split, isMesh: true),
                                          points: points, foregroundCount: e.foreground, sources: e.background)
            provenance = injected.provenance
        case let .pool(pool, background, clouds):
            let injected = try pool.inject(list[index], background: background, clouds: clouds)
            points = injected.points
            foreground = injected.foregroundCount
            id = injected.object.id
            label = classNames.firstIndex(of: injected.object.className)!
            provenance = injected.provenance
        }
        let n = points.count / 3
        precondition(n == sampleShape[0], "sample \(id) has \(n) points, the dataset \(sampleShape[0])")
        return Sample(id: id, input: Tensor(shape: sampleShape, values: points), units: .rows(n, width: 3),
                      roles: (0..<n).map { $0 < foreground ? .foreground : .background },
                      target: .label(label), provenance: provenance)
    }

    /// The split and index of the sample with `id`, or nil.
    public func position(of id: String) -> (Split, Int)? {
        for split in Split.allCases {
            for k in 0..<count(split) where (try? sampleID(split, k)) == id { return (split, k) }
        }
        return nil
    }

    func sampleID(_ split: Split, _ k: Int) throws -> String {
        switch backing {
        case let .baked(archive): return "\(URL(fileURLWithPath: path).lastPathComponent):\(archive.manifest.samples[members[split]![k]].file)"
        case let .pool(pool, _, _): return pool.objects[members[split]![k]].id
        }
    }
}
