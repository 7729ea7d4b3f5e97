import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct VOCTests {
    /// S = 24 = 1.2 × the fixtures' 20-pixel boxes: the crop is not resampled.
    func options(grid: Int = 12) -> ImageOptions {
        var o = ImageOptions()
        o.imageSize = 24
        o.grid = grid
        return o
    }

    @Test func objectsBoxesCropsAndSegments() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/VOCtrainval_11-May-2012.tar"
        let voc = try Fixtures.voc()
        try voc.archive.write(to: path, format: .tar)
        #expect(recogniseImageCollection(path) == "Pascal VOC 2012")
        let dataset = try openImageCollection(path, options: options())
        #expect(dataset.classNames.count == 20 && dataset.classNames[7] == "cat" && dataset.classNames[11] == "dog")
        // train: image 1 (cat), image 2 (dogs 1 and 3; the difficult cat left out); val → test: images 3, 4.
        #expect(dataset.count(.train) == 3 && dataset.count(.test) == 2)
        #expect((0..<3).map { dataset.record(.train, $0).id } == [
            "VOCtrainval_11-May-2012.tar:VOCdevkit/VOC2012/JPEGImages/2008_000001.jpg#0",
            "VOCtrainval_11-May-2012.tar:VOCdevkit/VOC2012/JPEGImages/2008_000002.jpg#0",
            "VOCtrainval_11-May-2012.tar:VOCdevkit/VOC2012/JPEGImages/2008_000002.jpg#2"])
        #expect(dataset.settings["fg-source"] == "mask (SegmentationObject) for 4 of 5 objects, box for the rest")
        // The unicorn is reported with its annotation file, and the rest goes on.
        #expect(dataset.skipped.count == 1)
        let unicorn = try #require(dataset.skipped.first)
        print(unicorn.description)
        #expect(unicorn.member == "VOCdevkit/VOC2012/Annotations/2008_000004.xml" && unicorn.reason.contains("unicorn"))

        // Image 1: XML xmin 11 … xmax 30 is the half-open box 10 ..< 30; the 1.2× crop is 8 ..< 32, so the
        // object fills columns and rows 2 ..< 22 of the 24-pixel input.
        let cat = dataset.record(.train, 0)
        #expect(cat.box == ObjectBox(x0: 10, y0: 10, x1: 30, y1: 30) && cat.cropScale == 1.2 && cat.label == 7)
        #expect(cat.mask == .paletteObject(member: "VOCdevkit/VOC2012/SegmentationObject/2008_000001.png", index: 1))
        let display = dataset.displayImage(.train, 0)
        for x in 0..<24 {
            let red = Int(display[x: x, y: 12, c: 0]), blue = Int(display[x: x, y: 12, c: 2])
            let isObject = red > 150 && blue < 90
            #expect(isObject == (2..<22).contains(x), "column \(x): \(red), \(blue)")
        }
        let square = (0..<576).map { UInt8((2..<22).contains($0 / 24) && (2..<22).contains($0 % 24) ? 1 : 0) }
        #expect(dataset.mask(.train, 0) == square, "the void border (255) is not fg")
        // 2-pixel cells: cells 1…10 of each axis are inside.
        #expect(dataset.foreground(.train, 0) == (0..<144).map { (1...10).contains($0 / 12) && (1...10).contains($0 % 12) })

        // Image 2, object 3 (palette index 3): its crop (42 ..< 66) also shows the difficult cat, which
        // is not its segment; the mask is exactly the pixels of index 3.
        let dog = dataset.record(.train, 2)
        #expect(dog.mask == .paletteObject(member: "VOCdevkit/VOC2012/SegmentationObject/2008_000002.png", index: 3))
        let plane = try #require(voc.planes["2008_000002"])
        let expected = (0..<576).map { i -> UInt8 in plane[(4 + i / 24) * 70 + 42 + i % 24] == 3 ? 1 : 0 }
        #expect(dataset.mask(.train, 2) == expected)
        let catPixel = dataset.displayImage(.train, 2)
        #expect(catPixel[x: 1, y: 12, c: 0] > 150 && dataset.mask(.train, 2)[12 * 24 + 1] == 0)

        // Image 3 has no SegmentationObject PNG: the box is the foreground.
        let boxed = dataset.record(.test, 0)
        #expect(boxed.mask == .box && boxed.split == .test)
        #expect(dataset.mask(.test, 0) == square)
    }

    @Test func difficultObjectsOnRequest() throws {
        let dir = try Fixtures.temporaryFolder()
        try Fixtures.voc().archive.write(to: dir + "/voc.tar", format: .tar)
        var o = options(grid: 4)
        o.includeDifficult = true
        o.classes = ["cat"]
        let dataset = try openImageCollection(dir + "/voc.tar", options: o)
        #expect(dataset.classNames == ["cat"])
        #expect(dataset.count(.train) == 2 && dataset.count(.test) == 1)
        #expect(dataset.record(.train, 1).id.hasSuffix("2008_000002.jpg#1"))
        #expect(dataset.record(.train, 1).mask == .paletteObject(member: "VOCdevkit/VOC2012/SegmentationObject/2008_000002.png", index: 2))
        #expect(dataset.settings["include-difficult"] == "true")
    }

    @Test func missingSplitListsAreRefused() throws {
        let dir = try Fixtures.temporaryFolder()
        var voc = try Fixtures.voc().archive
        voc.remove("VOCdevkit/VOC2012/ImageSets/Main/val.txt")
        try voc.write(to: dir + "/voc.tar", format: .tar)
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/voc.tar", options: options()) }
        print(error.description)
        #expect(error == .missingMetadata(path: dir + "/voc.tar", format: "Pascal VOC 2012", member: "VOCdevkit/VOC2012/ImageSets/Main/val.txt",
                                          hint: "VOC's ImageSets/Main has train.txt and val.txt: is the download complete?"))
    }
}
