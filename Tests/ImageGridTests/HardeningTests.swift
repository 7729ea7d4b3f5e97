import Foundation
import KDCore
import KDDatasets
import Testing
@testable import ImageGrid

/// One test per class of hostile or damaged collection input: it fails (crashes, hangs, passes the
/// damage unnoticed or refuses a valid file) without the rule it checks.
@Suite struct CollectionHardeningTests {
    func small() -> ImageOptions {
        var o = ImageOptions()
        o.imageSize = 16
        o.grid = 4
        return o
    }

    func crlf(_ fixture: inout ArchiveFixture, where wanted: (String) -> Bool) {
        for f in fixture.files where wanted(f.path) {
            fixture.replaceText(f.path) { $0.replacingOccurrences(of: "\n", with: "\r\n") }
        }
    }

    func counts(_ d: ImageDataset) -> [Int] { [d.count(.train), d.count(.test), d.skipped.count] }

    /// Metadata with CRLF line endings reads exactly like LF in every collection with text metadata.
    @Test func crlfMetadataIsReadInEveryCollection() throws {
        let dir = try Fixtures.temporaryFolder()
        var cub = try Fixtures.cub(classes: ["A", "B"], perClass: 3, size: 32, masks: .none).archive
        try cub.write(to: dir + "/lf.tgz")
        crlf(&cub) { $0.hasSuffix(".txt") }
        try cub.write(to: dir + "/crlf.tgz")
        #expect(counts(try openImageCollection(dir + "/crlf.tgz", options: small())) == counts(try openImageCollection(dir + "/lf.tgz", options: small())))

        var voc = try Fixtures.voc().archive
        try voc.write(to: dir + "/lf.tar", format: .tar)
        crlf(&voc) { $0.hasSuffix(".txt") || $0.hasSuffix(".xml") }
        try voc.write(to: dir + "/crlf.tar", format: .tar)
        #expect(counts(try openImageCollection(dir + "/crlf.tar", options: small())) == counts(try openImageCollection(dir + "/lf.tar", options: small())))

        for names in ["map_det", "words"] {
            var det = try Fixtures.ilsvrc(names: names)
            try det.write(to: dir + "/lf-\(names).tgz")
            crlf(&det) { $0.hasSuffix(".txt") || $0.hasSuffix(".xml") }
            try det.write(to: dir + "/crlf-\(names).tgz")
            let a = try openImageCollection(dir + "/lf-\(names).tgz", options: small())
            let b = try openImageCollection(dir + "/crlf-\(names).tgz", options: small())
            #expect(counts(a) == counts(b) && a.classNames == b.classNames, "\(names): \(b.classNames)")
        }

        var tiny = try Fixtures.tinyImageNet()
        try tiny.write(to: dir + "/lf.zip", format: .zip)
        crlf(&tiny) { $0.hasSuffix(".txt") }
        try tiny.write(to: dir + "/crlf.zip", format: .zip)
        let a = try openImageCollection(dir + "/lf.zip", options: small()), b = try openImageCollection(dir + "/crlf.zip", options: small())
        #expect(counts(a) == counts(b) && a.classNames == b.classNames)
    }

    /// A box with a huge finite coordinate (1e19 in VOC XML) or one outside its image is reported
    /// and skipped; it never reaches Int(Double). A CUB box of 1e300 is refused at its line.
    @Test func boxesOutsideTheirImageAreSkipped() throws {
        let dir = try Fixtures.temporaryFolder()
        var voc = try Fixtures.voc().archive
        let cat = "\(Fixtures.vocRoot)/Annotations/2008_000001.xml"
        voc.replaceText(cat) { $0.replacingOccurrences(of: "<xmax>30</xmax>", with: "<xmax>1e19</xmax>") }
        let dog = "\(Fixtures.vocRoot)/Annotations/2008_000003.xml"
        voc.replaceText(dog) { $0.replacingOccurrences(of: "<xmin>9</xmin>", with: "<xmin>-20</xmin>") }
        try voc.write(to: dir + "/voc.tar", format: .tar)
        let d = try openImageCollection(dir + "/voc.tar", options: small())
        for stem in ["2008_000001", "2008_000003"] {
            let s = try #require(d.skipped.first { $0.id.contains(stem) && $0.reason.contains("outside") }, "\(d.skipped)")
            #expect(s.reason.contains("40×40"))
        }

        var cub = try Fixtures.cub(classes: ["A"], perClass: 3, size: 32, masks: .none).archive
        cub.replaceText("CUB_200_2011/bounding_boxes.txt") { $0.replacingOccurrences(of: "1 4.0", with: "1 1e300") }
        try cub.write(to: dir + "/cub.tgz")
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/cub.tgz", options: small()) }
        guard case let .badMetadata(_, member, line, _, _) = error else { Issue.record("\(error)"); return }
        #expect(member == "CUB_200_2011/bounding_boxes.txt" && line == 1)
    }

    /// VOC consistency: a segmentation index that names no object, an image-set line with extra
    /// columns, an image set listing an image the archive lacks, an annotation that is not UTF-8.
    @Test func vocInconsistenciesAreReported() throws {
        let dir = try Fixtures.temporaryFolder()
        let fixture = try Fixtures.voc()
        var voc = fixture.archive
        // 2008_000001 has one object; its segmentation now also holds index 7.
        let segment = "\(Fixtures.vocRoot)/SegmentationObject/2008_000001.png"
        var plane = fixture.planes["2008_000001"]!
        plane[0] = 7
        voc.replace(segment, with: try PaletteImage(width: 40, height: 40, indices: plane, palette: Fixtures.vocPalette).encodePNG())
        // 2008_000004's annotation gets a Latin-1 byte.
        let latin = "\(Fixtures.vocRoot)/Annotations/2008_000004.xml"
        voc.replace(latin, with: Array(voc.text(latin).replacingOccurrences(of: "VOC2008", with: "VOC2008 caf").utf8) + [0xE9])
        voc.replaceText("\(Fixtures.vocRoot)/ImageSets/Main/val.txt") { $0 + "2009_999999\n" }
        try voc.write(to: dir + "/voc.tar", format: .tar)
        let d = try openImageCollection(dir + "/voc.tar", options: small())
        #expect(d.skipped.contains { $0.id.contains("2008_000001") && $0.reason.contains("object index 7") }, "\(d.skipped)")
        #expect(d.skipped.contains { $0.member.hasSuffix("2008_000004.xml") && $0.reason.contains("UTF-8") })
        #expect(d.skipped.contains { $0.member.hasSuffix("val.txt") && $0.reason.contains("2009_999999") })

        var extra = fixture.archive
        extra.replaceText("\(Fixtures.vocRoot)/ImageSets/Main/train.txt") { $0 + "2008_000009 1\n" }
        try extra.write(to: dir + "/extra.tar", format: .tar)
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/extra.tar", options: small()) }
        guard case let .badMetadata(_, member, line, _, _) = error else { Issue.record("\(error)"); return }
        #expect(member.hasSuffix("ImageSets/Main/train.txt") && line == 3)
    }

    /// A link where a metadata file should be is named as a link, not as an incomplete download.
    @Test func aLinkAtAMetadataPathIsNamed() throws {
        let dir = try Fixtures.temporaryFolder()
        let cub = try Fixtures.cub(classes: ["A"], perClass: 1, size: 32, masks: .none).archive
        let writer = try ArchiveWriter(path: dir + "/cub.tgz", format: .tarGzip)
        for f in cub.files {
            if f.path == "CUB_200_2011/classes.txt" { try writer.addSymlink(f.path, target: "/etc/passwd") }
            else { try writer.addFile(f.path, bytes: f.bytes) }
        }
        try writer.finish()
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/cub.tgz", options: small()) }
        #expect(error.description.contains("symbolic link") && !error.description.contains("download complete"), "\(error)")
    }

    /// Two different members at one path: metadata is refused, an image's records are skipped.
    @Test func duplicateMembersWithDifferentContentAreNotSilentlyResolved() throws {
        let dir = try Fixtures.temporaryFolder()
        let base = try Fixtures.cub(classes: ["A"], perClass: 3, size: 32, masks: .none)
        var meta = base.archive
        meta.add("CUB_200_2011/classes.txt", text: "1 001.B\n")
        try meta.write(to: dir + "/meta.tgz")
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/meta.tgz", options: small()) }
        #expect(error.description.contains("two different members"))

        var same = base.archive
        same.add("CUB_200_2011/classes.txt", same.bytes("CUB_200_2011/classes.txt"))   // identical: fine
        let image = base.objects[0].member
        same.add(image, try RGBImage(width: 32, height: 32, channels: 3, repeating: 9).encodeJPEG())
        try same.write(to: dir + "/same.tgz")
        let d = try openImageCollection(dir + "/same.tgz", options: small())
        #expect(d.skipped.contains { $0.member == image && $0.reason.contains("two different members") }, "\(d.skipped)")
        #expect(d.count(.train) + d.count(.test) == 2)
    }

    /// The bytes held from one archive are capped as a sum, not only per member.
    @Test func heldMetadataBytesAreCappedAsASum() throws {
        var fixture = ArchiveFixture()
        for i in 0..<8 { fixture.add("CUB_200_2011/x\(i)/images.txt", [UInt8](repeating: 0x31, count: 100_000)) }
        let bytes = try ArchiveWriter.archive(.tarGzip, files: fixture.files)
        let reader = try ArchiveReader(bytes: bytes, name: "big.tgz", limits: ArchiveLimits(maxHeldBytes: 350_000))
        let error = try #require(throws: ImageCollectionError.self) {
            _ = try MetadataScan(reader, path: "big.tgz") { $0.hasSuffix("images.txt") }
        }
        #expect(error.description.contains("350000") && error.description.contains("maxHeldBytes"))
    }

    /// 100,000 synset ids are checked for duplicates in linear time.
    @Test func manySynsetIdsAreReadInLinearTime() throws {
        let dir = try Fixtures.temporaryFolder()
        var tiny = try Fixtures.tinyImageNet()
        tiny.replaceText("tiny-imagenet-200/wnids.txt") { text in
            text + (0..<100_000).map { "n9\(String(format: "%07d", $0))" }.joined(separator: "\n") + "\n"
        }
        try tiny.write(to: dir + "/tiny.zip", format: .zip)
        let start = Date()
        let d = try openImageCollection(dir + "/tiny.zip", options: small())
        print("100,002 wnids: \(Date().timeIntervalSince(start)) s")
        #expect(d.classNames.count == 100_002)
        #expect(Date().timeIntervalSince(start) < 30)
    }

    /// A 4 MiB line is quoted as a short excerpt, and no message ends a clause in "..".
    @Test func longLinesAreQuotedAsExcerpts() throws {
        let dir = try Fixtures.temporaryFolder()
        var cub = try Fixtures.cub(classes: ["A"], perClass: 1, size: 32, masks: .none).archive
        cub.replaceText("CUB_200_2011/classes.txt") { $0 + "2 " + String(repeating: "y", count: 4 << 20) + " z\n" }
        try cub.write(to: dir + "/cub.tgz")
        let error = try #require(throws: ImageCollectionError.self) { try openImageCollection(dir + "/cub.tgz", options: small()) }
        #expect(error.description.count < 600, "\(error.description.count) characters")
        #expect(!error.description.contains(".."))
    }
}
