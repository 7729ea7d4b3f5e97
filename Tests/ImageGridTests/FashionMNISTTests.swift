import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct FashionMNISTTests {
    func folder(_ files: [(name: String, bytes: [UInt8])]) throws -> String {
        let dir = try Fixtures.temporaryFolder() + "/fashion-mnist"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in files { try Data(f.bytes).write(to: URL(fileURLWithPath: dir + "/" + f.name)) }
        return dir
    }

    @Test func folderOfIDXFiles() throws {
        let dir = try folder(try Fixtures.fashionMNISTFiles(train: 4, test: 2))
        #expect(recogniseImageCollection(dir) == "Fashion-MNIST")
        var options = ImageOptions()
        options.imageSize = 28
        options.grid = 7
        let dataset = try openImageCollection(dir, options: options)
        #expect(dataset.format == "Fashion-MNIST" && !dataset.isComposite)
        #expect(dataset.classNames.count == 10 && dataset.classNames[0] == "T-shirt/top" && dataset.classNames[8] == "Bag")
        #expect(dataset.count(.train) == 4 && dataset.count(.test) == 2 && dataset.skipped.isEmpty)
        #expect((0..<4).map { dataset.record(.train, $0).label } == [0, 8, 0, 8])
        #expect(dataset.record(.test, 1).id == "fashion-mnist:t10k-images-idx3-ubyte.gz#1")
        #expect(dataset.record(.train, 0).box == ObjectBox(x0: 0, y0: 0, x1: 28, y1: 28))

        // The ring's hole is filled: the mask is the whole square 8..<20, i.e. cells 2, 3, 4 of 4 px.
        var square = [UInt8](repeating: 0, count: 28 * 28)
        for y in 8..<20 { for x in 8..<20 { square[y * 28 + x] = 1 } }
        let cells = (0..<49).map { [2, 3, 4].contains($0 / 7) && [2, 3, 4].contains($0 % 7) }
        for i in 0..<4 {
            #expect(dataset.mask(.train, i) == square)
            #expect(dataset.foreground(.train, i) == cells)
        }
        // No resampling at S = 28: the gray item replicated to RGB, then normalised.
        let display = dataset.displayImage(.train, 1)
        #expect(display.channels == 3 && display[x: 8, y: 8, c: 0] == 100 && display[x: 8, y: 8, c: 2] == 100)
        #expect(display[x: 12, y: 12, c: 1] == 0)
        let sample = try dataset.sample(.train, 1)
        let n = Normalization.imageNet
        for c in 0..<3 { #expect(abs(sample.input.data[(8 * 28 + 8) * 3 + c] - (100 / 255 - n.mean[c]) / n.std[c]) < 1e-5) }

        // At the default S = 64 the filled square covers (12/28)² of the input.
        let resized = try openImageCollection(dir, options: ImageOptions())
        let area = Double(resized.mask(.train, 0).reduce(0) { $0 + Int($1) }) / 4096
        #expect(abs(area - 144.0 / 784) < 0.01, "\(area)")
        // Enlarging is plain bilinear interpolation: along an axis, output pixel j samples the 0/1 square
        // profile at p = (j + ½)·28/64 − ½ (in pixel-centre units), a(j) = clamp(min(p − 7, 20 − p), 0, 1);
        // mask = a(y)·a(x) ≥ ½ (pixels 18…45 along the middle, corners cut).
        func a(_ j: Int) -> Double { let p = (Double(j) + 0.5) * 28 / 64 - 0.5; return max(0, min(1, min(p - 7, 20 - p))) }
        let closedForm = (0..<4096).map { UInt8(a($0 / 64) * a($0 % 64) >= 0.5 ? 1 : 0) }
        #expect(resized.mask(.train, 0) == closedForm)
        // In 4-px cells, cells 5…10 are full and cells 4 and 11 half full along each axis: 8 × 8 cells
        // minus the 4 corners.
        #expect(resized.foreground(.train, 0).filter { $0 }.count == 60)
        #expect(!resized.foreground(.train, 0)[4 * 16 + 4] && resized.foreground(.train, 0)[4 * 16 + 5])
    }

    @Test func archiveHoldingTheFilesAndItsProblems() throws {
        let dir = try Fixtures.temporaryFolder()
        var archive = ArchiveFixture()
        for f in try Fixtures.fashionMNISTFiles(train: 3, test: 3) { archive.add("data/fashion/" + f.name, f.bytes) }
        try archive.write(to: dir + "/fashion.zip", format: .tarGzip)   // a tgz named .zip
        #expect(recogniseImageCollection(dir + "/fashion.zip") == "Fashion-MNIST")
        var options = ImageOptions()
        options.imageSize = 28
        options.grid = 4
        let dataset = try openImageCollection(dir + "/fashion.zip", options: options)
        #expect(dataset.count(.train) == 3 && dataset.count(.test) == 3)
        #expect(dataset.record(.train, 2).id == "fashion.zip:data/fashion/train-images-idx3-ubyte.gz#2")

        // A label outside 0…9 skips that item only, naming the labels file.
        var bad = archive
        let labels = IDXArray(dimensions: [3], values: [1, 12, 3])
        bad.replace("data/fashion/train-labels-idx1-ubyte.gz", with: try Gzip.compress(IDX.encode(labels)))
        try bad.write(to: dir + "/badlabel.tgz")
        let partial = try openImageCollection(dir + "/badlabel.tgz", options: options)
        #expect(partial.count(.train) == 2 && partial.skipped.count == 1)
        let skipped = try #require(partial.skipped.first)
        print(skipped.description)
        #expect(skipped.member == "data/fashion/train-labels-idx1-ubyte.gz" && skipped.id.hasSuffix("#1") && skipped.reason.contains("12"))

        // Labels that do not match the images, and a missing labels file, stop the reading.
        var mismatch = archive
        mismatch.replace("data/fashion/t10k-labels-idx1-ubyte.gz", with: try Gzip.compress(IDX.encode(IDXArray(dimensions: [2], values: [0, 1]))))
        try mismatch.write(to: dir + "/mismatch.tgz")
        let e1 = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/mismatch.tgz", options: options) }
        print(e1.description)
        #expect(e1.description.contains("t10k-labels-idx1-ubyte.gz") && e1.description.contains("2 labels"))
        var missing = archive
        missing.remove("data/fashion/train-labels-idx1-ubyte.gz")
        try missing.write(to: dir + "/missing.tgz")
        let e2 = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/missing.tgz", options: options) }
        print(e2.description)
        #expect(e2.description.contains("train-labels-idx1-ubyte.gz") && e2.description.contains("Fashion-MNIST"))
    }

    /// The real files from Debian's dataset-fashion-mnist, when installed.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")))
    func realDebianFiles() throws {
        var options = ImageOptions()
        options.maxPerSplit = 50
        options.imageSize = 32
        options.grid = 8
        let dataset = try openImageCollection("/usr/share/datasets/fashion-mnist", options: options)
        #expect(dataset.count(.train) == 50 && dataset.count(.test) == 50 && dataset.skipped.isEmpty)
        let fgShare = (0..<50).map { Double(dataset.foreground(.test, $0).filter { $0 }.count) / 64 }
        print("real Fashion-MNIST: fg share of cells, mean", fgShare.reduce(0, +) / 50)
        #expect(fgShare.allSatisfy { $0 > 0.05 && $0 < 1 })
    }
}
