import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct TinyImageNetTests {
    @Test func boxesSplitsAndNames() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/tiny-imagenet-200.zip"
        try Fixtures.tinyImageNet(perClass: 2, val: 3).write(to: path, format: .zip)
        #expect(recogniseImageCollection(path) == "Tiny-ImageNet")
        var options = ImageOptions()
        options.imageSize = 32
        options.grid = 4
        let dataset = try openImageCollection(path, options: options)
        #expect(dataset.classNames == ["dog", "domestic cat"])   // wnids.txt order, first synonym in words.txt
        #expect(dataset.count(.train) == 4 && dataset.count(.test) == 3 && dataset.skipped.isEmpty)
        let first = dataset.record(.train, 0)
        #expect(first.id == "tiny-imagenet-200.zip:tiny-imagenet-200/train/n02084071/images/n02084071_0.JPEG#0")
        // "8 8 39 39" inclusive is 8 ..< 40: a 32-pixel crop, not resampled at S = 32.
        #expect(first.box == ObjectBox(x0: 8, y0: 8, x1: 40, y1: 40) && first.cropScale == 1 && first.mask == .box)
        let second = dataset.record(.train, 1)
        #expect(second.box == ObjectBox(x0: 12, y0: 10, x1: 44, y1: 42))
        let val = (0..<3).map { dataset.record(.test, $0) }
        #expect(val.map(\.label) == [0, 1, 0] && val[2].imageMember == "tiny-imagenet-200/val/images/val_2.JPEG")
        for split in Split.allCases {
            for i in 0..<dataset.count(split) {
                // The ellipse inscribed in the box: object colour at the centre, background in the corners,
                // and fg = the whole box = every cell.
                let display = dataset.displayImage(split, i)
                let colour = Fixtures.colours[dataset.record(split, i).label]
                #expect((0..<3).allSatisfy { abs(Int(display[x: 16, y: 16, c: $0]) - Int(colour[$0])) < 40 })
                #expect(abs(Int(display[x: 0, y: 0, c: 0]) - Int(display[x: 0, y: 0, c: 2])) < 20)
                #expect(dataset.foreground(split, i).allSatisfy { $0 } && dataset.mask(split, i).allSatisfy { $0 == 1 })
            }
        }
    }

    @Test func unknownValidationSynsetIsSkipped() throws {
        let dir = try Fixtures.temporaryFolder()
        var archive = try Fixtures.tinyImageNet(perClass: 1, val: 2)
        archive.replaceText("tiny-imagenet-200/val/val_annotations.txt") { $0.replacingOccurrences(of: "val_1.JPEG\t\(Fixtures.catSynset)", with: "val_1.JPEG\tn99999999") }
        try archive.write(to: dir + "/tiny.zip", format: .zip)
        var options = ImageOptions()
        options.imageSize = 16
        options.grid = 4
        let dataset = try openImageCollection(dir + "/tiny.zip", options: options)
        #expect(dataset.count(.test) == 1 && dataset.skipped.count == 1)
        let s = try #require(dataset.skipped.first)
        print(s.description)
        #expect(s.member == "tiny-imagenet-200/val/val_annotations.txt" && s.reason.contains("n99999999"))
    }
}
