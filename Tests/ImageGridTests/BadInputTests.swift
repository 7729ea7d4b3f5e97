import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

/// Users' downloads can be truncated or edited: bad records are reported with their file and member and
/// the rest goes on; a file that cannot be used at all throws a typed error that says what to do.
@Suite struct BadInputTests {
    func small() -> ImageOptions {
        var o = ImageOptions()
        o.imageSize = 16
        o.grid = 4
        return o
    }

    /// Opens `fixture` written at `dir/name` and returns the dataset.
    func open(_ fixture: ArchiveFixture, _ dir: String, _ name: String = "CUB_200_2011.tgz",
              _ options: ImageOptions? = nil) throws -> ImageDataset {
        try fixture.write(to: dir + "/" + name)
        return try openImageCollection(dir + "/" + name, options: options ?? small())
    }

    @Test func damagedMembersAreSkippedWithFileAndMember() throws {
        let dir = try Fixtures.temporaryFolder()
        var cub = try Fixtures.cub(classes: ["Cardinal", "Blue_Jay"], perClass: 3, size: 32)
        let o = cub.objects
        // 1: a truncated JPEG; 2: a truncated mask PNG; 3: a box outside the image; 4: a mask of the
        // wrong size; 5: an image listed but absent.
        cub.archive.replace(o[0].member, with: Array(cub.archive.bytes(o[0].member).prefix(300)))
        cub.archive.replace(o[1].maskMember!, with: Array(cub.archive.bytes(o[1].maskMember!).prefix(60)))
        cub.archive.replaceText("CUB_200_2011/bounding_boxes.txt") { text in
            var lines = text.split(separator: "\n").map(String.init)
            lines[2] = "3 500.0 400.0 20.0 20.0"
            return lines.joined(separator: "\n") + "\n"
        }
        cub.archive.replace(o[3].maskMember!, with: try RGBImage(width: 10, height: 12, channels: 1, repeating: 255).encodePNG())
        cub.archive.remove(o[4].member)
        let dataset = try open(cub.archive, dir)
        let path = dir + "/CUB_200_2011.tgz"

        #expect(dataset.count(.train) + dataset.count(.test) == 1)
        #expect(dataset.skipped.count == 5)
        for s in dataset.skipped { print(s.description) }
        func skipped(_ object: FixtureObject) throws -> SkippedRecord {
            try #require(dataset.skipped.first { $0.id == "CUB_200_2011.tgz:\(object.member)#0" })
        }
        let jpeg = try skipped(o[0])
        #expect(jpeg.archive == path && jpeg.member == o[0].member && jpeg.reason.contains("JPEG"))
        let png = try skipped(o[1])
        #expect(png.archive == path && png.member == o[1].maskMember && png.reason.contains("PNG"))
        let box = try skipped(o[2])
        #expect(box.member == o[2].member && box.reason.contains("outside the \(o[2].imageWidth)×32 image"))
        let size = try skipped(o[3])
        #expect(size.member == o[3].maskMember && size.reason == "the mask is 10×12 but its image is \(o[3].imageWidth)×32")
        let missing = try skipped(o[4])
        #expect(missing.member == o[4].member && missing.reason == "no such member in the archive")
        #expect(dataset.settings["records-skipped"] == "5")
    }

    /// A truncated separate mask archive: the masks before the damage are used, the records whose
    /// masks were never reached are reported, and the rest goes on.
    @Test func truncatedMaskArchive() throws {
        let dir = try Fixtures.temporaryFolder()
        let cub = try Fixtures.cub(classes: ["A", "B"], perClass: 6, size: 32, masks: .separate)
        try cub.archive.write(to: dir + "/cub.tgz")
        try cub.masks.write(to: dir + "/segmentations.tar", format: .tar)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/segmentations.tar"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir + "/segmentations-cut.tar"))
        var o = small()
        o.masks = dir + "/segmentations-cut.tar"
        let dataset = try openImageCollection(dir + "/cub.tgz", options: o)
        let kept = dataset.count(.train) + dataset.count(.test)
        print("truncated mask archive: \(kept) kept, \(dataset.skipped.count) skipped;", dataset.skipped.last?.description ?? "")
        #expect(kept > 0 && dataset.skipped.count > 0 && kept + dataset.skipped.count == 12)
        #expect(dataset.skipped.allSatisfy { $0.archive == dir + "/segmentations-cut.tar" && $0.member.hasPrefix("segmentations/") })
        #expect(dataset.skipped.contains { $0.reason.contains("never reached") })
    }

    @Test func missingMetadataLinesSkipTheirImage() throws {
        let dir = try Fixtures.temporaryFolder()
        var cub = try Fixtures.cub(classes: ["A"], perClass: 3, size: 24, masks: .none)
        cub.archive.replaceText("CUB_200_2011/bounding_boxes.txt") { $0.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n" }
        let dataset = try open(cub.archive, dir)
        #expect(dataset.count(.train) + dataset.count(.test) == 2)
        let s = try #require(dataset.skipped.first)
        #expect(s.member == "CUB_200_2011/bounding_boxes.txt" && s.reason == "no bounding box for image 1")
    }

    @Test func vocDamagedSegmentAndAnnotation() throws {
        let dir = try Fixtures.temporaryFolder()
        var voc = try Fixtures.voc().archive
        let segment = "VOCdevkit/VOC2012/SegmentationObject/2008_000002.png"
        voc.replace(segment, with: Array(voc.bytes(segment).prefix(100)))
        voc.replace("VOCdevkit/VOC2012/Annotations/2008_000001.xml", with: Array("<annotation><object><name>cat</name>".utf8))
        var o = small()
        o.imageSize = 24
        let dataset = try open(voc, dir, "voc.tar", o)
        for s in dataset.skipped { print(s.description) }
        // Both objects of image 2 lose their shared segment; image 1's annotation is unreadable; the
        // unicorn of image 4 is not a VOC class. Images 3 and 4's cat remain.
        #expect(dataset.count(.train) == 0 && dataset.count(.test) == 2)
        #expect(dataset.skipped.filter { $0.member == segment }.count == 2)
        let xml = try #require(dataset.skipped.first { $0.member.hasSuffix("2008_000001.xml") })
        #expect(xml.reason.contains("cannot be read") && xml.id.hasSuffix("#*"))
    }

    @Test func emptyClassesAndNothingLeftThrow() throws {
        let dir = try Fixtures.temporaryFolder()
        // 24 pixels: the fixture's boxes lie inside the image (at 16 they overhang it by 2 rows, which
        // is now refused as an annotation that does not match its image).
        var cub = try Fixtures.cub(classes: ["Cardinal", "Blue_Jay"], perClass: 2, size: 24, masks: .none)
        cub.archive.replaceText("CUB_200_2011/classes.txt") { $0 + "3 003.Crow\n" }
        try cub.archive.write(to: dir + "/cub.tgz")
        var o = small()
        o.classes = ["Cardinal", "Crow"]
        let noRecords = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/cub.tgz", options: o) }
        print(noRecords.description)
        #expect(noRecords == .emptyClass(path: dir + "/cub.tgz", name: "Crow"))

        // Every Blue_Jay image damaged: the class is empty after skipping.
        var damaged = cub
        for object in cub.objects where object.label == 1 {
            damaged.archive.replace(object.member, with: Array(cub.archive.bytes(object.member).prefix(100)))
        }
        try damaged.archive.write(to: dir + "/damaged.tgz")
        o.classes = ["Cardinal", "Blue_Jay"]
        let emptied = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/damaged.tgz", options: o) }
        #expect(emptied == .emptyClass(path: dir + "/damaged.tgz", name: "Blue_Jay"))
        o.classes = nil
        #expect(try openImageCollection(dir + "/damaged.tgz", options: o).count(.train) == 2)

        // Everything damaged: nothing left, with examples.
        for object in cub.objects { damaged.archive.replace(object.member, with: Array("not an image".utf8)) }
        try damaged.archive.write(to: dir + "/all.tgz")
        let none = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/all.tgz", options: o) }
        print(none.description)
        guard case let .nothingLeft(path, count, examples) = none else { Issue.record("\(none)"); return }
        #expect(path == dir + "/all.tgz" && count == 4 && examples.count == 3 && examples[0].contains("not a JPEG or PNG"))
    }

    @Test func corruptArchivesThrow() throws {
        let dir = try Fixtures.temporaryFolder()
        let cub = try Fixtures.cub(classes: ["A", "B"], perClass: 3, size: 32)
        try cub.archive.write(to: dir + "/full.tgz")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.tgz"))
        // Truncated in the middle of the gzip stream.
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/truncated.tgz"))
        let truncated = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/truncated.tgz", options: small()) }
        print(truncated.description)
        guard case .damaged(let path, _) = truncated else { Issue.record("\(truncated)"); return }
        #expect(path == dir + "/truncated.tgz" && truncated.description.contains("Re-download"))

        // Garbage, and an HTML page saved under the archive's name.
        var garbage = Data(count: 4096)
        for i in 0..<4096 { garbage[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try garbage.write(to: URL(fileURLWithPath: dir + "/garbage.tgz"))
        try Data("<!DOCTYPE html><html><body>Sign in</body></html>".utf8).write(to: URL(fileURLWithPath: dir + "/CUB_200_2011.tgz"))
        for name in ["garbage.tgz", "CUB_200_2011.tgz"] {
            let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/" + name, options: small()) }
            print(error.description)
            guard case .unrecognised(let path, _) = error else { Issue.record("\(error)"); continue }
            #expect(path == dir + "/" + name)
        }
        let html = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/CUB_200_2011.tgz", options: small()) }
        #expect(html.description.contains("HTML page"))
        let missing = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/nowhere.tgz", options: small()) }
        #expect(missing.description.contains("nowhere.tgz"))
    }

    @Test func archivesOfAnotherKindThrowWithAHint() throws {
        let dir = try Fixtures.temporaryFolder()
        // A single gzip file (one of Fashion-MNIST's) is not a collection: pass the folder.
        let files = try Fixtures.fashionMNISTFiles(train: 2, test: 1)
        try Data(files[0].bytes).write(to: URL(fileURLWithPath: dir + "/train-images-idx3-ubyte.gz"))
        let single = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/train-images-idx3-ubyte.gz") }
        print(single.description)
        #expect(single.description.contains("pass the folder"))
        #expect(recogniseImageCollection(dir + "/train-images-idx3-ubyte.gz") == nil)

        // A VOC tar given as CUB's masks.
        let cub = try Fixtures.cub(classes: ["A"], perClass: 1, size: 16, masks: .none)
        try cub.archive.write(to: dir + "/cub.tgz")
        try Fixtures.voc().archive.write(to: dir + "/voc.tar", format: .tar)
        var o = small()
        o.masks = dir + "/voc.tar"
        let masks = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/cub.tgz", options: o) }
        print(masks.description)
        guard case .badMaskArchive(let path, _, let found) = masks else { Issue.record("\(masks)"); return }
        #expect(path == dir + "/voc.tar" && found.contains("VOCdevkit/VOC2012/") && masks.description.contains("segmentations.tgz"))

        // masks= belongs to CUB.
        var vocMasks = small()
        vocMasks.masks = dir + "/cub.tgz"
        let notCUB = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/voc.tar", options: vocMasks) }
        #expect(notCUB.description.contains("Pascal VOC 2012") && notCUB.description.contains("masks"))

        // A CUB archive without its metadata files is not silently read.
        var headless = cub.archive
        headless.remove("CUB_200_2011/train_test_split.txt")
        try headless.write(to: dir + "/headless.tgz")
        let meta = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/headless.tgz", options: small()) }
        print(meta.description)
        #expect(meta.description.contains("CUB_200_2011/train_test_split.txt") && meta.description.contains("CUB-200-2011"))

        // A malformed metadata line names the file and line.
        var edited = cub.archive
        edited.replaceText("CUB_200_2011/train_test_split.txt") { _ in "1 maybe\n" }
        try edited.write(to: dir + "/edited.tgz")
        let line = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/edited.tgz", options: small()) }
        #expect(line == .badMetadata(path: dir + "/edited.tgz", member: "CUB_200_2011/train_test_split.txt", line: 1,
                                     expected: "1 (train) or 0 (test)", found: "\"maybe\""))

        // Options that cannot work.
        #expect(throws: ImageCollectionError.self) { try ImageOptions(parsing: ["grid": "80", "image-size": "64"]) }
        #expect(throws: ImageCollectionError.self) { try ImageOptions(parsing: ["fg-rule": "centre"]) }
        #expect(throws: ImageCollectionError.self) { try ImageOptions(parsing: ["gird": "8"]) }
    }
}
