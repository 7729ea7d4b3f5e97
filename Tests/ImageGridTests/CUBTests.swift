import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct CUBTests {
    /// |a − b| per channel, at most `tolerance` (JPEG at quality 95 on flat colours).
    func expectColour(_ image: RGBImage, _ x: Int, _ y: Int, _ colour: [UInt8], tolerance: Int = 40,
                      _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let got = (0..<3).map { Int(image[x: x, y: y, c: $0]) }
        #expect(zip(got, colour).allSatisfy { abs($0 - Int($1)) <= tolerance }, "\(what): \(got) vs \(colour)",
                sourceLocation: sourceLocation)
    }

    @Test func readsRecordsCropsAndMasks() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/CUB_200_2011.tgz"
        let objects = try Fixtures.cubArchive(at: path, classes: ["Cardinal", "Blue_Jay"], perClass: 3, size: 48)
        var options = ImageOptions()
        options.imageSize = 32
        options.grid = 8
        let dataset = try openImageCollection(path, options: options)

        #expect(dataset.format == "CUB-200-2011" && !dataset.isComposite && !dataset.name.hasPrefix("COMPOSITE"))
        #expect(dataset.classNames == ["Cardinal", "Blue_Jay"])
        #expect(dataset.count(.train) == 4 && dataset.count(.test) == 2)
        #expect(dataset.skipped.isEmpty, "\(dataset.skipped)")
        #expect(dataset.sampleShape == [32, 32, 3] && dataset.units.unitCount == 64)
        #expect(dataset.settings["fg-source"]?.hasPrefix("mask") == true, "\(dataset.settings)")
        #expect(dataset.settings["grid"] == "8" && dataset.settings["fg-rule"] == "majority" && dataset.settings["format"] == "CUB-200-2011")

        var fractions: [Double] = []
        for split in Split.allCases {
            for i in 0..<dataset.count(split) {
                let record = dataset.record(split, i)
                let object = try #require(objects.first { $0.member == record.imageMember })
                #expect(record.id == "CUB_200_2011.tgz:\(object.member)#0")
                #expect(record.split == split && record.label == object.label && record.cropScale == 1)
                #expect(record.box == ObjectBox(x0: Double(object.box.x), y0: Double(object.box.y),
                                                x1: Double(object.box.x1), y1: Double(object.box.y1)))
                #expect(record.mask == .grayscale(archive: path, member: object.maskMember!))

                // The crop is the box: the object's colour at the centre, background at the corners
                // (outside the inscribed ellipse).
                let display = dataset.displayImage(split, i)
                #expect(display.width == 32 && display.height == 32 && display.channels == 3)
                expectColour(display, 16, 16, object.colour, "centre of \(record.id)")
                for (x, y) in [(0, 0), (31, 0), (0, 31), (31, 31)] {
                    let px = (0..<3).map { Int(display[x: x, y: y, c: $0]) }
                    #expect(px.max()! - px.min()! < 30 && px[0] >= 40 && px[0] <= 150, "corner \(x),\(y) of \(record.id) is gray: \(px)")
                }
                // The mask is the ellipse inscribed in the crop: area π/4.
                let mask = dataset.mask(split, i)
                #expect(mask.count == 32 * 32 && mask[16 * 32 + 16] == 1 && mask[0] == 0 && mask[31 * 32 + 31] == 0)
                let fraction = Double(mask.reduce(0) { $0 + Int($1) }) / 1024
                fractions.append(fraction)
                #expect(abs(fraction - Double.pi / 4) < 0.04, "mask area \(fraction)")
                // Majority cells: the 4 central cells are inside the ellipse, the 4 corner cells outside.
                let fg = dataset.foreground(split, i)
                for cell in [27, 28, 35, 36] { #expect(fg[cell]) }
                for cell in [0, 7, 56, 63] { #expect(!fg[cell]) }

                let sample = try dataset.sample(split, i)
                #expect(sample.id == record.id && sample.label == record.label && sample.foreground == fg)
                #expect(sample.input.shape == [32, 32, 3] && sample.units == dataset.units)
                let n = Normalization.imageNet
                for c in 0..<3 {
                    let expected = (Float(display[x: 5, y: 7, c: c]) / 255 - n.mean[c]) / n.std[c]
                    #expect(abs(sample.input.data[(7 * 32 + 5) * 3 + c] - expected) < 1e-5)
                }
            }
        }
        let beyond = try #require(throws: ImageCollectionError.self) { try dataset.sample(.test, 2) }
        #expect(beyond == .noSample(path: path, split: "test", index: 2, count: 2))
        #expect(throws: ImageCollectionError.self) { try dataset.sample(.train, -1) }
        print("CUB fixture: mask areas", fractions.map { String(format: "%.3f", $0) }, "(π/4 = 0.785)")
    }

    /// A crop the size of the input (no resampling) with a hand-drawn mask: both fg rules by hand.
    @Test func foregroundRulesOnAHandComputedMask() throws {
        let dir = try Fixtures.temporaryFolder()
        var cub = try Fixtures.cub(classes: ["A"], perClass: 1, size: 16)
        cub.archive.replaceText("CUB_200_2011/bounding_boxes.txt") { _ in "1 4.0 4.0 8.0 8.0\n" }
        // 8×8 mask in the crop; 2×2-pixel cells (S = 8, G = 4). 1 is written as 200 or 128, 0 as 100 or 127.
        let hand: [[UInt8]] = [
            [1, 0, 0, 1, 0, 0, 1, 1],
            [0, 0, 0, 1, 0, 0, 1, 1],
            [1, 1, 0, 0, 0, 1, 1, 0],
            [1, 1, 0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 0, 1, 1],
        ]
        var maskImage = RGBImage(width: 16, height: 16, channels: 1, repeating: 0)
        for y in 0..<8 { for x in 0..<8 { maskImage[x: x + 4, y: y + 4, c: 0] = hand[y][x] == 1 ? ((x + y) % 2 == 0 ? 200 : 128) : ((x + y) % 2 == 0 ? 100 : 127) } }
        let maskMember = try #require(cub.objects[0].maskMember)
        cub.archive.replace(maskMember, with: try maskImage.encodePNG())
        let path = dir + "/cub.tgz"
        try cub.archive.write(to: path)

        let majority: [Bool] = [false, true, false, true,
                                true, false, true, false,
                                false, false, false, false,
                                false, false, false, true]
        let corner: [Bool] = [true, false, false, true,
                              true, false, false, true,
                              false, false, false, false,
                              false, false, false, true]
        for (rule, expected) in [(ForegroundRule.majority, majority), (.corner, corner)] {
            var options = ImageOptions()
            options.imageSize = 8
            options.grid = 4
            options.fgRule = rule
            let dataset = try openImageCollection(path, options: options)
            #expect(dataset.count(.train) == 1 && dataset.skipped.isEmpty)
            #expect(dataset.foreground(.train, 0) == expected, "\(rule)")
            #expect(dataset.mask(.train, 0) == hand.flatMap { $0 })
            #expect(dataset.settings["fg-rule"] == rule.rawValue)
            // No resampling: the displayed crop is exactly the decoded image's box.
            let decoded = try RGBImage.decode(bytes: cub.archive.bytes(cub.objects[0].member), name: "fixture")
            let crop = try #require(decoded.cropped(to: PixelBox(x: 4, y: 4, width: 8, height: 8)))
            #expect(dataset.displayImage(.train, 0) == crop.image)
        }
    }

    @Test func masksFromASeparateArchiveInAnyOrderOrFromTheBox() throws {
        let dir = try Fixtures.temporaryFolder()
        var options = ImageOptions()
        options.imageSize = 24
        options.grid = 6

        let separate = try Fixtures.cub(classes: ["Cardinal", "Blue_Jay"], perClass: 3, size: 40, masks: .separate)
        try separate.archive.write(to: dir + "/CUB_200_2011.tgz")
        try separate.masks.write(to: dir + "/segmentations.tgz")
        options.masks = dir + "/segmentations.tgz"
        let fromSeparate = try openImageCollection(dir + "/CUB_200_2011.tgz", options: options)
        #expect(fromSeparate.settings["fg-source"] == "mask (segmentations from \(dir)/segmentations.tgz)")
        #expect(fromSeparate.settings["masks"] == dir + "/segmentations.tgz")

        // The same masks inside the archive, written before the images (the reader must wait for them).
        var inside = try Fixtures.cub(classes: ["Cardinal", "Blue_Jay"], perClass: 3, size: 40, masks: .inArchive)
        inside.archive.files.sort { ($0.path.hasPrefix("segmentations/") ? 0 : 1) < ($1.path.hasPrefix("segmentations/") ? 0 : 1) }
        #expect(inside.archive.files[0].path.hasPrefix("segmentations/"))
        try inside.archive.write(to: dir + "/masks-first.tgz")
        options.masks = nil
        let fromInside = try openImageCollection(dir + "/masks-first.tgz", options: options)
        #expect(fromInside.settings["fg-source"] == "mask (segmentations/ members of the archive)")
        for split in Split.allCases {
            #expect(fromInside.count(split) == fromSeparate.count(split) && fromInside.count(split) > 0)
            for i in 0..<fromInside.count(split) {
                #expect(fromInside.mask(split, i) == fromSeparate.mask(split, i))
                #expect(fromInside.foreground(split, i) == fromSeparate.foreground(split, i))
                #expect(fromInside.displayImage(split, i) == fromSeparate.displayImage(split, i))
            }
        }

        // Without masks the box is the foreground; the crop is the box, so every cell is fg.
        let boxes = try Fixtures.cub(classes: ["Cardinal"], perClass: 2, size: 40, masks: .none)
        try boxes.archive.write(to: dir + "/boxes.tgz")
        let fromBoxes = try openImageCollection(dir + "/boxes.tgz", options: options)
        #expect(fromBoxes.settings["fg-source"]?.hasPrefix("box") == true)
        #expect(fromBoxes.name.contains("fg from boxes"))
        #expect(fromBoxes.record(.train, 0).mask == .box)
        #expect(fromBoxes.foreground(.train, 0).allSatisfy { $0 } && fromBoxes.mask(.train, 0).allSatisfy { $0 == 1 })
    }

    @Test func compositeManifestMarksTheDataset() throws {
        let dir = try Fixtures.temporaryFolder()
        try Fixtures.cubArchive(at: dir + "/composite.tgz", classes: ["Shirt", "Bag"], perClass: 2, size: 32, composite: true)
        var options = ImageOptions()
        options.imageSize = 16
        options.grid = 4
        let dataset = try openImageCollection(dir + "/composite.tgz", options: options)
        #expect(dataset.isComposite)
        #expect(dataset.name.hasPrefix("COMPOSITE: test objects pasted on crops of real photographs; not CUB-200-2011 (CUB-200-2011 layout"),
                "\(dataset.name)")
        #expect(dataset.settings["composite-description"]?.hasPrefix("COMPOSITE dataset: test objects") == true)
        #expect(dataset.settings["composite"] == "true")
        #expect(dataset.classNames == ["Shirt", "Bag"] && dataset.count(.train) == 4)
    }

    @Test func recognisedByContentNotName() throws {
        let dir = try Fixtures.temporaryFolder()
        let cub = try Fixtures.cub(classes: ["A", "B"], perClass: 1, size: 16, masks: .none)
        try cub.archive.write(to: dir + "/renamed.zip")                       // a tgz named .zip
        try cub.archive.write(to: dir + "/CUB_200_2011.tgz", format: .zip)    // a zip named .tgz
        #expect(recogniseImageCollection(dir + "/renamed.zip") == "CUB-200-2011")
        #expect(recogniseImageCollection(dir + "/CUB_200_2011.tgz") == "CUB-200-2011")
        var options = ImageOptions()
        options.imageSize = 8
        options.grid = 2
        #expect(try openImageCollection(dir + "/CUB_200_2011.tgz", options: options).count(.train) == 2)

        var other = ArchiveFixture()
        other.add("notes/a.txt", text: "hello\n")
        other.add("notes/b.jpg", try Fixtures.background(width: 8, height: 8).encodeJPEG())
        try other.write(to: dir + "/CUB_200_2011_random.tgz")
        #expect(recogniseImageCollection(dir + "/CUB_200_2011_random.tgz") == nil)
        try Data("just text\n".utf8).write(to: URL(fileURLWithPath: dir + "/text.tgz"))
        #expect(recogniseImageCollection(dir + "/text.tgz") == nil)
        #expect(recogniseImageCollection(dir + "/missing.tgz") == nil)
        #expect(recogniseImageCollection(dir) == nil)

        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/CUB_200_2011_random.tgz") }
        print(error.description)
        #expect(error.description.contains("CUB_200_2011_random.tgz") && error.description.contains("notes/a.txt"))
        #expect(error.description.contains("CUB-200-2011"))
    }

    @Test func classesAndSeededSubsets() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/CUB_200_2011.tgz"
        try Fixtures.cub(classes: ["Cardinal", "Blue_Jay", "Crow"], perClass: 6, size: 24, masks: .none).archive.write(to: path)
        var options = ImageOptions()
        options.imageSize = 8
        options.grid = 2
        options.classes = ["003.Crow", "Cardinal"]
        let restricted = try openImageCollection(path, options: options)
        #expect(restricted.classNames == ["Cardinal", "Crow"])
        #expect(restricted.count(.train) == 8 && restricted.count(.test) == 4)
        #expect(Set((0..<8).map { restricted.record(.train, $0).label }) == [0, 1])
        #expect((0..<8).allSatisfy { restricted.record(.train, $0).imageMember.contains("Crow") == (restricted.record(.train, $0).label == 1) })

        options.classes = ["Sparrow"]
        let unknown = try #require(throws: ImageCollectionError.self) { try openImageCollection(path, options: options) }
        #expect(unknown == .unknownClass(path: path, name: "Sparrow", known: ["Cardinal", "Blue_Jay", "Crow"]))

        options.classes = nil
        options.maxPerSplit = 3
        var chosen: [[String]] = []
        for seed: UInt64 in 0..<6 {
            options.seed = seed
            let a = try openImageCollection(path, options: options)
            let b = try openImageCollection(path, options: options)
            #expect(a.count(.train) == 3 && a.count(.test) == 3)
            let ids = (0..<3).map { a.record(.train, $0).id }
            #expect(ids == (0..<3).map { b.record(.train, $0).id }, "same seed, same subset")
            chosen.append(ids)
        }
        #expect(Set(chosen).count > 1, "different seeds choose different subsets")
    }
}
