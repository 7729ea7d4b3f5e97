import Foundation
import KDCore
import KDDatasets
import KDPluginTesting
import Testing
import _TestSupport
@testable import PointCloud

@Suite struct PointCloudPluginTests {
    static let small = ["points": "64", "background": "32"]

    @Test func passesConformanceOnAModelNetZip() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.modelNet(at: dir + "/ModelNet40.zip")
        try PointFixtures.notAnArchive(at: dir + "/junk.tgz")
        try PluginConformance.check(PointCloudPlugin(), archive: dir + "/ModelNet40.zip", notAnArchive: dir + "/junk.tgz", options: Self.small)
    }

    @Test func passesConformanceOnTheResampledLayout() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.resampled(at: dir + "/modelnet40_normal_resampled.zip")
        try PointFixtures.notAnArchive(at: dir + "/junk.tgz")
        try PluginConformance.check(PointCloudPlugin(), archive: dir + "/modelnet40_normal_resampled.zip", notAnArchive: dir + "/junk.tgz", options: Self.small)
    }

    @Test func passesConformanceOnASweetHome3DCatalogue() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.sh3f(at: dir + "/Test.sh3f")
        try PointFixtures.notAnArchive(at: dir + "/junk.tgz")
        try PluginConformance.check(PointCloudPlugin(), archive: dir + "/Test.sh3f", notAnArchive: dir + "/junk.tgz", options: Self.small)
    }

    @Test func buildsAByteIdenticalBackgroundArchiveAndReadsItBack() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.sh3f(at: dir + "/A.sh3f", perClass: 4)
        try PointFixtures.notAnArchive(at: dir + "/junk.tgz")
        let builder = try #require(PointCloudPlugin().datasetBuilders.first { $0.name == "point-background" })
        let options = try builder.resolve(["sources": dir + "/A.sh3f", "points": "64", "background": "20", "min-per-class": "2", "seed": "3"])
        let lines = try builder.build(options, dir + "/one.tgz", { _ in })
        _ = try builder.build(options, dir + "/two.tgz", { _ in })
        #expect(lines.first?.contains("SYNTHETIC") == true)
        let one = try Data(contentsOf: URL(fileURLWithPath: dir + "/one.tgz")), two = try Data(contentsOf: URL(fileURLWithPath: dir + "/two.tgz"))
        #expect(one == two, "the same seed gives a byte-identical archive")
        let reader = try ArchiveReader(path: dir + "/one.tgz")
        let readme = String(decoding: try reader.read("kd-point-background/README.txt"), as: UTF8.self)
        #expect(readme.contains("SYNTHETIC BACKGROUND") && readme.contains("INJECTED") && readme.contains("10 %"))
        #expect(readme.contains("Objects left out (0)"))
        let manifest = try JSONDecoder().decode(PointBackgroundManifest.self, from: Data(try reader.read("kd-point-background/manifest.json")))
        #expect(manifest.studentFraction == 0.1 && manifest.name.contains("SYNTHETIC"))
        #expect(manifest.samples.allSatisfy { e in e.background.allSatisfy { $0.className != e.className } })

        #expect(PointCloudPlugin().recognise(dir + "/one.tgz") == PointFormat.pointBackground.rawValue)
        let data = try PointCloudPlugin().open(dir + "/one.tgz", options: [:])
        #expect(data.sampleShape == [84, 3] && data.isComposite && data.name.contains("SYNTHETIC"))
        let s = try data.sample(.train, 0)
        #expect(s.roles.filter { $0 == .background }.count == 20)
        #expect(s.provenance?[70].contains("#") == true)
        try PluginConformance.check(PointCloudPlugin(), archive: dir + "/one.tgz", notAnArchive: dir + "/junk.tgz")

        let other = try builder.resolve(["sources": dir + "/A.sh3f", "points": "64", "background": "20", "min-per-class": "2", "seed": "4"])
        _ = try builder.build(other, dir + "/three.tgz", { _ in })
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/three.tgz")) != one)
        #expect(throws: PluginError.self) { try builder.resolve(["no-such": "1"]) }
    }

    /// `copies` samples every training object several times (own points, own background), test objects once.
    @Test func copiesResampleTrainingObjectsOnly() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.sh3f(at: dir + "/A.sh3f", perClass: 4)
        var o = PointBackgroundOptions(); o.sources = [dir + "/A.sh3f"]; o.points = 32; o.background = 8; o.minPerClass = 2
        let one = try PointBackgroundBuilder.build(o, to: dir + "/one.tgz").manifest
        o.copies = 3
        let three = try PointBackgroundBuilder.build(o, to: dir + "/three.tgz").manifest
        #expect(three.copies == 3)
        #expect(three.samples.filter { $0.split == "train" }.count == 3 * one.samples.filter { $0.split == "train" }.count)
        #expect(three.samples.filter { $0.split == "test" }.count == one.samples.filter { $0.split == "test" }.count)
        let data = try PointCloudPlugin().open(dir + "/three.tgz", options: [:])
        let a = try data.sample(.train, 0), b = try data.sample(.train, 1)
        #expect(three.samples[0].object == three.samples[1].object && three.samples[1].copy == 1)
        #expect(a.input.array != b.input.array, "each copy is its own sampling")
        #expect(a.label == b.label)
    }

    @Test func refusesADamagedBackgroundArchive() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.sh3f(at: dir + "/A.sh3f", perClass: 4)
        var o = PointBackgroundOptions(); o.sources = [dir + "/A.sh3f"]; o.points = 32; o.background = 8; o.minPerClass = 2
        _ = try PointBackgroundBuilder.build(o, to: dir + "/good.tgz")
        let reader = try ArchiveReader(path: dir + "/good.tgz")
        var files: [(String, [UInt8])] = []
        for e in try reader.entries() where e.isFile { files.append((e.path, try reader.read(e))) }
        let k = files.firstIndex { $0.0.hasSuffix(".f32") }!
        files[k].1 = Array(files[k].1.prefix(100))
        try PointFixtures.write(files, to: dir + "/bad.tgz", format: .tarGzip)
        #expect(throws: MeshError.countMismatch(file: dir + "/bad.tgz:" + files[k].0, what: "bytes (40 points × 3 float32)", declared: 480, found: 100)) {
            try PointCloudPlugin().open(dir + "/bad.tgz", options: [:])
        }
    }

    @Test func pointNetBuildsAtSeveralWidthsWithTheSameFC1() throws {
        let f = try PointCloudPlugin().family("pointnet-s")
        #expect(f.threshold == 0.5 && f.taps.first == "relu_fc1")
        for width in [1.0, 0.5] {
            let m = try f.build([100, 3], 4, width, 1)
            for tap in f.taps { #expect(m.layerNames.contains(tap)) }
            let y = m.forward(randomTensor([2, 100, 3], seed: 1), m.makeContext())
            #expect(y.shape == [2, 4])
            #expect(m.outputShape(batch: 1, through: try m.layerIndex("relu_fc1")) == [1, PointFamilies.fc1Width])
        }
        #expect(throws: PointFamilyError.unsupportedInput([32, 32, 3])) { try f.build([32, 32, 3], 4, 1, 1) }
        // Permutation invariance: the max over points does not care about the order.
        let m = try f.build([50, 3], 3, 1, 2)
        let x = randomTensor([1, 50, 3], seed: 5)
        let y1 = m.forward(x, m.makeContext()).array
        var rows = (0..<50).map { Array(x.array[(3 * $0)..<(3 * $0 + 3)]) }
        rows.reverse()
        let y2 = m.forward(Tensor(shape: [1, 50, 3], values: rows.flatMap { $0 }), m.makeContext()).array
        expectClose(y1, y2, rtol: 1e-5, atol: 1e-6)
    }

    @Test func augmentationRotatesAboutTheUpAxisAndJitters() throws {
        let p = PointCloudPlugin()
        #expect(try p.augmentation(p.resolveOptions([:])) == nil, "off by default")
        #expect(throws: PluginError.self) { try p.augmentation(["augment-rotate": "x"]) }
        let a = try #require(try p.augmentation(["augment-rotate": "y", "augment-jitter": "0"]))
        #expect(a.description.contains("rotate-up(y"))
        let x = randomTensor([2, 30, 3], seed: 9)
        let before = x.array
        var g = SeededGenerator(seed: 1)
        a.apply(x, nil, &g)
        let after = x.array
        for i in 0..<60 {
            #expect(before[3 * i + 1] == after[3 * i + 1], "the up coordinate is unchanged")
            let r0 = before[3 * i] * before[3 * i] + before[3 * i + 2] * before[3 * i + 2]
            let r1 = after[3 * i] * after[3 * i] + after[3 * i + 2] * after[3 * i + 2]
            #expect(abs(r0 - r1) < 1e-4, "distance to the axis is kept")
        }
        let j = try #require(try p.augmentation(["augment-rotate": "none", "augment-jitter": "0.01"]))
        let y = Tensor(shape: [1, 100, 3])
        j.apply(y, nil, &g)
        #expect(y.array.allSatisfy { abs($0) <= 0.05 + 1e-7 } && y.array.contains { $0 != 0 })
    }

    @Test func drawsPicturesWithBackgroundAndKnowledgePoints() throws {
        let dir = try PointFixtures.temporaryFolder()
        try PointFixtures.modelNet(at: dir + "/ModelNet40.zip")
        let plugin = PointCloudPlugin()
        let data = try plugin.open(dir + "/ModelNet40.zip", options: Self.small)
        let s = try data.sample(.test, 0)
        let h = (0..<96).map { Float($0 % 7) * -0.3 }
        let panels = [ResultPanel(title: "S", entropies: h, knowledgePoints: h.map { $0 < -1.5 }),
                      ResultPanel(title: "B", entropies: h.reversed(), knowledgePoints: [Bool](repeating: false, count: 96))]
        let png = try plugin.picture(of: s, from: data, panels: panels)
        let image = try RGBImage.decodePNG(bytes: png, name: "picture")
        #expect(image.width == 3 * 160 + 4 * 4 && image.height == 3 * 160 + 4 * 4)
        // Red rims of knowledge points and grey rims of background points are present.
        var red = 0, grey = 0
        for k in stride(from: 0, to: image.pixels.count, by: 3) {
            let (r, g, b) = (image.pixels[k], image.pixels[k + 1], image.pixels[k + 2])
            if r == 220 && g == 0 && b == 0 { red += 1 }
            if r == 150 && g == 150 && b == 150 { grey += 1 }
        }
        #expect(red > 0 && grey > 0)
    }

    @Test func defaultRunRecordsTheTenPercentStudentSubset() {
        let run = PointCloudPlugin().defaultRuns[0]
        #expect(run.name == "points" && run.family == "pointnet-s")
        var c = StudyConfig(family: "pointnet-s", tap: "fc1")
        run.configure(&c)
        #expect(c.studentDataFraction == 0.1 && c.tap == "relu_fc1" && c.analysedInputs >= 24 && c.metrics.threshold == 0.5)
    }
}
