// `kd-tool dataset point-background`: real objects with background points injected from other objects,
// written as an archive the plugin reads back (PointBackgroundArchive.swift).
import Foundation
import KDCore
import KDDatasets

/// Settings of a background set.
public struct PointBackgroundOptions: Sendable, Equatable {
    /// Debian sweethome3d-furniture's catalogues.
    public static let defaultSourceFolder = "/usr/share/sweethome3d/furniture"
    public var sources: [String] = []
    public var points = 1024
    public var background = 500
    public var backgroundClouds = 5
    public var testFraction = 0.25
    public var seed: UInt64 = 0
    public var studentFraction = 0.1
    /// Classes to keep; nil: every class with at least `minPerClass` objects.
    public var classes: [String]? = nil
    public var minPerClass = 15
    /// Samplings of every training object (each with its own surface points and injected background),
    /// so a small catalogue gives more training samples; test objects are sampled once.
    public var copies = 1
    public init() {}

    /// The .sh3f files of the default folder, sorted.
    public static func defaultSources() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: defaultSourceFolder)) ?? []
        return names.filter { $0.hasSuffix(".sh3f") }.sorted().map { defaultSourceFolder + "/" + $0 }
    }
}

public enum PointBackgroundBuilder {
    /// What a build produced.
    public struct Summary {
        public var path: String
        public var manifest: PointBackgroundManifest
        public var skipped: [String]
    }

    public static func build(_ o: PointBackgroundOptions, to output: String, log: (String) -> Void = { _ in }) throws -> Summary {
        let sources = o.sources.isEmpty ? PointBackgroundOptions.defaultSources() : o.sources
        guard !sources.isEmpty else {
            throw PointCollectionError.tooFew(path: PointBackgroundOptions.defaultSourceFolder,
                                              what: "no .sh3f catalogue found: install Debian's sweethome3d-furniture (apt-get install sweethome3d-furniture) or pass sources=FILE,…")
        }
        var collections: [PointCollection] = []
        var objects: [(collection: Int, object: PointObject)] = []
        var skipped: [String] = []
        var sourceLines: [String] = []
        for path in sources {
            let c = try PointCollection(path: path, testFraction: o.testFraction, seed: o.seed)
            guard c.format != .pointBackground else {
                throw PointCollectionError.badOption(name: "sources", value: path, expected: "a mesh or point collection, not a point-background archive")
            }
            skipped += c.problems
            collections.append(c)
            for obj in c.objects { objects.append((collections.count - 1, obj)) }
            sourceLines.append("\(URL(fileURLWithPath: path).lastPathComponent) sha256 \(try sha256(path)) (\(c.format.rawValue), \(c.objects.count) objects of the listed classes)")
            log("  \(path): \(c.objects.count) objects")
        }
        var counts: [String: Int] = [:]
        for (_, obj) in objects { counts[obj.className, default: 0] += 1 }
        let classes: [String]
        if let wanted = o.classes {
            for c in wanted where counts[c] == nil {
                throw PointCollectionError.badOption(name: "classes", value: c, expected: "one of \(counts.keys.sorted().joined(separator: ", "))")
            }
            classes = wanted.sorted()
        } else {
            classes = counts.filter { $0.value >= o.minPerClass }.keys.sorted()
        }
        guard classes.count >= 2 else {
            throw PointCollectionError.tooFew(path: sources.joined(separator: ", "), what: "\(classes.count) class(es) with at least \(o.minPerClass) objects (\(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); background injection needs two or more")
        }
        objects = objects.filter { classes.contains($0.object.className) }
        let pool = ObjectPool(objects: objects.map(\.object), points: o.points, seed: o.seed) { i in
            try collections[objects[i].collection].cloud(objects[i].object, count: o.points, seed: o.seed)
        }
        // Copy c > 0 of a training object: the same object sampled with another seed (surface points and
        // background), drawing its background from the copy-c pool of other objects.
        var pools = [pool]
        for c in 1..<max(o.copies, 1) {
            pools.append(ObjectPool(objects: objects.map(\.object), points: o.points, seed: o.seed &+ UInt64(c) &* 0x9E37_79B9) { i in
                try collections[objects[i].collection].cloud(objects[i].object, count: o.points, seed: o.seed &+ UInt64(c) &* 0x9E37_79B9)
            })
        }
        var entries: [PointBackgroundManifest.Entry] = []
        var clouds: [[Float]] = []
        var next: [Split: Int] = [.train: 0, .test: 0]
        let started = Date()
        for i in objects.indices {
          for (c, pool) in pools.enumerated() {
            let obj = objects[i].object
            if c > 0 && obj.split == .test { continue }
            let injected: InjectedObject
            do { injected = try pool.inject(i, background: o.background, clouds: o.backgroundClouds) } catch {
                if c == 0 { skipped.append("\(obj.id): \(error)") }
                continue
            }
            let number = next[obj.split]!
            next[obj.split] = number + 1
            let file = PointBackgroundManifest.folder + "/samples/\(obj.split.rawValue)/" + String(format: "%06d.f32", number)
            entries.append(.init(file: file, split: obj.split.rawValue, className: obj.className, object: obj.id,
                                 copy: c, foreground: injected.foregroundCount, background: injected.sources))
            clouds.append(injected.points)
          }
            if (i + 1) % 25 == 0 || i + 1 == objects.count {
                log(String(format: "  %d/%d objects sampled (%.0f s)", i + 1, objects.count, Date().timeIntervalSince(started)))
            }
        }
        skipped += pool.problems.filter { p in !skipped.contains { $0.hasPrefix(p.prefix(60)) } }
        let manifest = PointBackgroundManifest(
            name: "Sweet Home 3D objects with SYNTHETIC background (\(o.background) points injected from \(o.backgroundClouds) objects of other classes)",
            note: "Synthetic background around real objects: each sample's background points are points of other objects (injected), not scenery. Not ModelNet40.",
            seed: o.seed, points: o.points, background: o.background, backgroundClouds: o.backgroundClouds,
            testFraction: o.testFraction, studentFraction: o.studentFraction, copies: max(o.copies, 1), classes: classes,
            sources: sourceLines, skipped: skipped, samples: entries)
        guard next[.train]! > 0, next[.test]! > 0 else {
            throw PointCollectionError.tooFew(path: output, what: "the build left \(next[.train]!) train and \(next[.test]!) test samples; lower test-fraction or add sources")
        }
        try PointBackgroundArchive.write(manifest, points: clouds, to: output)
        return Summary(path: output, manifest: manifest, skipped: skipped)
    }

    static func sha256(_ path: String) throws -> String { try FileDigest.sha256Hex(ofFile: path) }

    /// The command-line face of the builder.
    static var command: DatasetBuilder {
        DatasetBuilder(
            name: "point-background",
            summary: "Sample real objects' meshes into point clouds and inject background points from other objects (the paper's ModelNet40 protocol), as an archive.",
            discussion: """
            Each object (a Sweet Home 3D furniture model by default: Debian's sweethome3d-furniture in \
            \(PointBackgroundOptions.defaultSourceFolder), classes mapped from item names as in \
            Docs/PointClouds.md) is sampled by triangle area into `points` points normalised to the unit sphere; \
            then `background` points picked at random from `background-clouds` clouds of objects of OTHER classes \
            in the same split are attached to it and labelled background, each with its provenance (source object \
            and point). This is SYNTHETIC background around real objects, not ModelNet40: the archive's name, \
            README.txt and manifest.json say so. The teacher trains on the whole training split, student and \
            baseline on `student-fraction` of it (recorded). The same options and sources give a byte-identical archive.
            """,
            options: [
                PluginOption("sources", default: "", help: "Comma-separated collections to take objects from (.sh3f catalogues, ModelNet zips); default every .sh3f in \(PointBackgroundOptions.defaultSourceFolder)."),
                PluginOption("points", default: "1024", help: "Points per object."),
                PluginOption("background", default: "500", help: "Background points injected per object."),
                PluginOption("background-clouds", default: "5", help: "Clouds of other classes the background points are picked from."),
                PluginOption("test-fraction", default: "0.25", help: "Share of each class in the test split (catalogues have no split)."),
                PluginOption("seed", default: "0", help: "Seed of the sampling, the split and the injection."),
                PluginOption("student-fraction", default: "0.1", help: "Share of the training split for student and baseline (recorded; Method.md §7: 10 %)."),
                PluginOption("classes", default: "", help: "Comma-separated classes (table, chair, person, sofa, lamp, door, window, plant, bed, car, desk, bottle); default those with at least min-per-class objects."),
                PluginOption("min-per-class", default: "15", help: "Fewest objects a class needs to be kept when classes is not given."),
                PluginOption("copies", default: "1", help: "Samplings of every training object, each with its own points and background (test objects: one)."),
            ],
            build: { given, output, log in
                let o = try parse(given)
                log("building a point-background set (SYNTHETIC background injected from other objects) at \(output) …")
                let s = try build(o, to: output, log: log)
                for line in s.skipped.prefix(20) { log("warning: skipped \(line)") }
                let m = s.manifest
                var lines = ["Wrote \(output): \(m.name).",
                             "\(m.classes.count) classes, \(m.samples.filter { $0.split == "train" }.count) train and \(m.samples.filter { $0.split == "test" }.count) test samples of \(m.points) + \(m.background) points; seed \(m.seed); student fraction \(m.studentFraction)."]
                for c in m.classes {
                    lines.append("  \(c): \(m.samples.filter { $0.className == c && $0.split == "train" }.count) train, \(m.samples.filter { $0.className == c && $0.split == "test" }.count) test")
                }
                if !s.skipped.isEmpty { lines.append("\(s.skipped.count) objects skipped (listed above).") }
                return lines
            })
    }

    static func parse(_ g: [String: String]) throws -> PointBackgroundOptions {
        var o = PointBackgroundOptions()
        func bad(_ n: String, _ e: String) -> PluginError { .badOption(n, plugin: "dataset point-background", value: g[n] ?? "", expected: e) }
        func int(_ n: String, _ r: ClosedRange<Int>) throws -> Int {
            guard let v = Int(g[n] ?? ""), r.contains(v) else { throw bad(n, "an integer in \(r.lowerBound)…\(r.upperBound)") }
            return v
        }
        o.sources = (g["sources"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        o.points = try int("points", 16...65_536)
        o.background = try int("background", 0...65_536)
        o.backgroundClouds = try int("background-clouds", 1...64)
        o.minPerClass = try int("min-per-class", 1...1_000_000)
        o.copies = try int("copies", 1...1000)
        guard let t = Double(g["test-fraction"] ?? ""), t > 0, t < 1 else { throw bad("test-fraction", "a number between 0 and 1 (exclusive)") }
        o.testFraction = t
        guard let s = Double(g["student-fraction"] ?? ""), s > 0, s <= 1 else { throw bad("student-fraction", "a number in (0, 1]") }
        o.studentFraction = s
        guard let seed = UInt64(g["seed"] ?? "") else { throw bad("seed", "a non-negative integer") }
        o.seed = seed
        let c = (g["classes"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        o.classes = c.isEmpty ? nil : c
        return o
    }
}
