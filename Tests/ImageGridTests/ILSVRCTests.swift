import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct ILSVRCTests {
    func options() -> ImageOptions {
        var o = ImageOptions()
        o.imageSize = 24
        o.grid = 6
        return o
    }

    @Test func objectsCropsAndClassNames() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/ILSVRC2013_DET.tar.gz"
        try Fixtures.ilsvrc().write(to: path)
        #expect(recogniseImageCollection(path) == "ILSVRC DET")
        let dataset = try openImageCollection(path, options: options())
        // Sorted synset ids: n02084071 (dog) then n02121808 (domestic_cat), named by map_det.txt.
        #expect(dataset.classNames == ["dog", "domestic_cat"])
        #expect(dataset.settings["class-names"] == "ILSVRC/devkit/data/map_det.txt")
        #expect(dataset.count(.train) == 3 && dataset.count(.test) == 1 && dataset.skipped.isEmpty)

        // 0-based inclusive xmin 10 … xmax 25 is 10 ..< 26; 1.5× about the centre 18 is 6 ..< 30 (24 px, no
        // resampling): the object fills columns 4 ..< 20 and rows 4 ..< 20 of the input.
        let dog = dataset.record(.train, 0)
        #expect(dog.id == "ILSVRC2013_DET.tar.gz:ILSVRC/Data/DET/train/ILSVRC2013_train/n02084071/n02084071_1.JPEG#0")
        #expect(dog.box == ObjectBox(x0: 10, y0: 12, x1: 26, y1: 28) && dog.cropScale == 1.5 && dog.mask == .box && dog.label == 0)
        let display = dataset.displayImage(.train, 0)
        for x in 0..<24 {
            let blue = Int(display[x: x, y: 12, c: 2]), red = Int(display[x: x, y: 12, c: 0])
            #expect((blue > 150 && red < 90) == (4..<20).contains(x), "column \(x): \(red), \(blue)")
        }
        // fg = the box: 4-pixel cells 1…4 along each axis.
        #expect(dataset.mask(.train, 0) == (0..<576).map { UInt8((4..<20).contains($0 / 24) && (4..<20).contains($0 % 24) ? 1 : 0) })
        #expect(dataset.foreground(.train, 0) == (0..<36).map { (1...4).contains($0 / 6) && (1...4).contains($0 % 6) })

        // The validation cat touches the left edge: its crop is clamped to the image (−4 → 0), so the
        // box (0 ..< 16 of a 20-wide crop) fills the left 4/5 of the input: bilinear value 16.5 − u at
        // u = (j + ½)·20/24 is ≥ ½ up to j = 18.
        let cat = dataset.record(.test, 0)
        #expect(cat.label == 1 && cat.split == .test)
        let columns = (0..<24).filter { dataset.mask(.test, 0)[12 * 24 + $0] == 1 }
        #expect(columns == Array(0..<19), "\(columns)")
    }

    @Test func namesFromWordsOrSynsetIDs() throws {
        let dir = try Fixtures.temporaryFolder()
        try Fixtures.ilsvrc(names: "words").write(to: dir + "/words.tgz")
        try Fixtures.ilsvrc(names: "none").write(to: dir + "/bare.tgz", format: .zip)
        var o = options()
        let words = try openImageCollection(dir + "/words.tgz", options: o)
        #expect(words.classNames == ["dog", "domestic cat"] && words.settings["class-names"] == "ILSVRC/words.txt")
        o.classes = [Fixtures.catSynset]   // synset ids are accepted too
        let bare = try openImageCollection(dir + "/bare.tgz", options: o)
        #expect(bare.classNames == [Fixtures.catSynset] && bare.count(.train) == 1 && bare.count(.test) == 1)
        #expect(bare.settings["class-names"]?.hasPrefix("synset ids") == true)
    }
}
