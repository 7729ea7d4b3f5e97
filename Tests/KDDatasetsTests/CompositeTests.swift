import Foundation
import KDCore
@testable import KDDatasets
import Testing
import _TestSupport

/// Source files written by a test into a scratch folder: Fashion-MNIST-like IDX files (3 shapes
/// with stripes, one a ring whose hole must be filled), smooth background photos (JPEG), and
/// photos that must not be used (an excluded name, a truncated file).
final class CompositeFixture {
    let folder: String
    var fashion: String { folder + "/fashion" }
    var photos: String { folder + "/photos" }
    /// The bytes of every file written, by path.
    private(set) var written: [String: [UInt8]] = [:]

    /// Photo colour ranges: `dark` is far from every tint and texture used on objects.
    enum Palette { case dark, bright }

    init(photos palettes: [Palette] = [.dark, .dark]) throws {
        folder = NSTemporaryDirectory() + "kd-composite-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder + "/fashion", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder + "/photos", withIntermediateDirectories: true)
        // Train: 4 items of classes 0, 1, 2 and one of class 9; test: 2 of classes 0, 1, 2 and one of class 5.
        try writeIDX("train", labels: [0, 1, 2, 0, 1, 2, 9, 0, 1, 2, 0, 1, 2])
        try writeIDX("t10k", labels: [0, 1, 2, 5, 0, 1, 2])
        for (n, palette) in palettes.enumerated() {
            let size = n % 2 == 0 ? (120, 90) : (100, 140)
            try write(photos + "/photo\(n).jpg", CompositeFixture.photo(width: size.0, height: size.1, palette: palette, phase: n).encodeJPEG(quality: 95))
        }
        try write(photos + "/LadyBird.jpg", CompositeFixture.photo(width: 80, height: 80, palette: .bright, phase: 9).encodeJPEG(quality: 95))
        let good = try CompositeFixture.photo(width: 64, height: 64, palette: .dark, phase: 3).encodeJPEG(quality: 95)
        try write(photos + "/broken.jpg", Array(good.prefix(good.count / 2)))
        try write(photos + "/notes.txt", Array("not a photo".utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        written[path] = bytes
    }

    /// A two-way gradient with a ripple of period 11–14 pixels (amplitude 15 levels): smooth
    /// enough for JPEG to keep within a few levels, textured enough that a crop one or two pixels
    /// off is plainly different.
    static func photo(width: Int, height: Int, palette: Palette, phase: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height, channels: 3, repeating: 0)
        let (low, span): ([Double], Double) = palette == .dark ? ([25, 30, 45], 30) : ([195, 175, 20], 30)
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) / Double(width), v = Double(y) / Double(height)
                let ripple = 15 * sin(2 * Double.pi * Double(x + 3 * phase) / 14) * sin(2 * Double.pi * Double(y) / 11)
                let t = [u, v, 0.5 * (u + v) + 0.1 * Double(phase % 3)]
                for c in 0..<3 { image[x: x, y: y, c: c] = UInt8(low[c] + span * min(1, t[c]) + ripple) }
            }
        }
        return image
    }

    /// A 28×28 item of class `label`, shifted by `shift` pixels: 0 a striped square ring (hole
    /// 6×6), 1 a striped disc, anything else a striped "T". Intensities 230/250.
    static func item(label: Int, shift: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: 28 * 28)
        for y in 0..<28 {
            for x in 0..<28 {
                let (u, v) = (x - shift, y - shift)
                let inside: Bool
                switch label {
                case 0: inside = (6..<22).contains(u) && (6..<22).contains(v) && !((11..<17).contains(u) && (11..<17).contains(v))
                case 1: inside = (u - 13) * (u - 13) + (v - 13) * (v - 13) <= 81
                default: inside = ((5..<9).contains(v) && (4..<24).contains(u)) || ((9..<24).contains(v) && (11..<17).contains(u))
                }
                if inside { pixels[y * 28 + x] = (v / 2) % 2 == 0 ? 230 : 250 }
            }
        }
        return pixels
    }

    private func writeIDX(_ split: String, labels: [Int]) throws {
        var values: [UInt8] = []
        for (i, label) in labels.enumerated() { values += CompositeFixture.item(label: label, shift: i % 3) }
        try write(fashion + "/\(split)-images-idx3-ubyte.gz",
                  Gzip.compress(IDX.encode(IDXArray(dimensions: [labels.count, 28, 28], values: values))))
        try write(fashion + "/\(split)-labels-idx1-ubyte.gz",
                  Gzip.compress(IDX.encode(IDXArray(dimensions: [labels.count], values: labels.map(UInt8.init)))))
    }

    func options(classes: [String]? = ["T-shirt/top", "trouser", "PULLOVER"], perClass: Int = 4, seed: UInt64 = 5) -> CompositeOptions {
        CompositeOptions(objects: .fashionMNIST, objectsPath: fashion, backgrounds: [photos], classes: classes,
                         perClass: perClass, testFraction: 0.5, size: 48, seed: seed)
    }
}

/// A composite archive read back with ArchiveReader.
struct ReadComposite {
    let archive: ArchiveReader
    let lines: [String: [[String]]]
    let manifest: [String: Any]

    init(path: String) throws {
        archive = try ArchiveReader(path: path)
        var lines: [String: [[String]]] = [:]
        for name in ["classes", "images", "image_class_labels", "train_test_split", "bounding_boxes"] {
            let text = String(decoding: try archive.read("CUB_200_2011/\(name).txt"), as: UTF8.self)
            #expect(text.hasSuffix("\n"))
            lines[name] = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        }
        self.lines = lines
        manifest = try JSONSerialization.jsonObject(with: Data(try archive.read("CUB_200_2011/kd-composite.json"))) as! [String: Any]
    }
}

@Suite struct CompositeTests {
    /// Checks every image of a composite against its sources: metadata lines, mask values, box =
    /// tight box of the mask, pixels outside the mask = the background crop (JPEG tolerance),
    /// inside clearly different. Returns the worst figures for printing.
    @discardableResult
    static func checkImages(_ read: ReadComposite, _ summary: CompositeSummary, size: Int, photos: [String: RGBImage],
                            minimumInsideDifference: Double = 30) throws -> (outsideMean: Double, outsideTail: Double, insideMean: Double, shiftedMean: Double) {
        var worstOutsideMean = 0.0, worstTail = 0.0, smallestInside = Double.infinity, smallestShifted = Double.infinity
        for (n, record) in summary.records.enumerated() {
            let id = n + 1
            #expect(record.id == id)
            #expect(read.lines["images"]![n] == ["\(id)", record.file])
            #expect(read.lines["image_class_labels"]![n] == ["\(id)", "\(record.classIndex)"])
            #expect(read.lines["train_test_split"]![n] == ["\(id)", record.isTrain ? "1" : "0"])
            let image = try RGBImage.decode(bytes: read.archive.read("CUB_200_2011/images/" + record.file), name: record.file)
            let maskMember = "segmentations/" + record.file.dropLast(4) + ".png"
            let mask = try RGBImage.decodePNG(bytes: read.archive.read(maskMember), name: maskMember)
            #expect(image.width == size && image.height == size && image.channels == 3)
            #expect(mask.width == size && mask.height == size && mask.channels == 1)
            #expect(mask.pixels.allSatisfy { $0 == 0 || $0 == 255 }, "\(maskMember) is not 0/255")
            let box = try #require(CompositeMasks.tightBox(mask.pixels, width: size, height: size))
            #expect(box == record.box)
            #expect(read.lines["bounding_boxes"]![n] == ["\(id)", "\(box.x).0", "\(box.y).0", "\(box.width).0", "\(box.height).0"])
            #expect(mask.pixels.filter { $0 == 255 }.count == record.maskPixels)

            // The background crop, recomputed from the photo with ImageOps (the test photos are too
            // small to be reduced first).
            let photo = try #require(photos[record.background])
            let crop = try #require(photo.cropped(to: record.backgroundCrop))
            #expect(!crop.clipped && crop.box.width == crop.box.height && crop.box.width * 4 >= min(photo.width, photo.height))
            let expected = crop.image.resizedBilinear(width: size, height: size).values
            // Control: the same crop two photo pixels to the side must not match.
            var shiftedBox = record.backgroundCrop
            shiftedBox.x += shiftedBox.x + shiftedBox.width + 2 <= photo.width ? 2 : -2
            let shifted = try #require(photo.cropped(to: shiftedBox)).image.resizedBilinear(width: size, height: size).values
            var outside: [Double] = [], inside: [Double] = [], outsideShifted: [Double] = []
            for y in 0..<size {
                for x in 0..<size {
                    let p = y * size + x
                    let difference = (0..<3).map { abs(Double(image.pixels[3 * p + $0]) - Double(expected[3 * p + $0]) * 255) }.reduce(0, +)
                    if mask.pixels[p] == 255 { inside.append(difference); continue }
                    // Two pixels away from the object, past the sharpest JPEG ringing.
                    var near = false
                    for dy in -2...2 { for dx in -2...2 {
                        let (u, v) = (x + dx, y + dy)
                        if u >= 0 && v >= 0 && u < size && v < size && mask.pixels[v * size + u] == 255 { near = true }
                    } }
                    if !near {
                        outside.append(difference)
                        outsideShifted.append((0..<3).map { abs(Double(image.pixels[3 * p + $0]) - Double(shifted[3 * p + $0]) * 255) }.reduce(0, +))
                    }
                }
            }
            let outsideMean = outside.reduce(0, +) / Double(max(1, outside.count))
            let tail = Double(outside.filter { $0 > 30 }.count) / Double(max(1, outside.count))
            let insideMean = inside.reduce(0, +) / Double(inside.count)
            let shiftedMean = outsideShifted.reduce(0, +) / Double(max(1, outsideShifted.count))
            #expect(outsideMean < 10, "image \(id): outside the mask differs from the background crop by \(outsideMean) on average")
            #expect(tail < 0.02, "image \(id): \(tail * 100)% of the background differs by more than 30 levels")
            #expect(shiftedMean > 2 * outsideMean, "image \(id): the check cannot tell a crop 2 pixels off (\(shiftedMean) vs \(outsideMean))")
            #expect(insideMean > minimumInsideDifference, "image \(id): inside the mask differs from the background by only \(insideMean)")
            worstOutsideMean = max(worstOutsideMean, outsideMean); worstTail = max(worstTail, tail)
            smallestInside = min(smallestInside, insideMean); smallestShifted = min(smallestShifted, shiftedMean)
        }
        return (worstOutsideMean, worstTail, smallestInside, smallestShifted)
    }

    static func decodedPhotos(_ fixture: CompositeFixture) throws -> [String: RGBImage] {
        var photos: [String: RGBImage] = [:]
        for (path, bytes) in fixture.written where path.hasPrefix(fixture.photos) && path.hasSuffix(".jpg") {
            if let image = try? RGBImage.decode(bytes: bytes, name: path) { photos[path] = image.rgb }
        }
        return photos
    }

    @Test func fashionCompositeHasCUBLayoutExactMasksAndBoxes() throws {
        let fixture = try CompositeFixture()
        let path = fixture.folder + "/out.tgz"
        var stages: [CompositeProgress.Stage] = []
        let summary = try CompositeBuilder.build(fixture.options(), to: path) { stages.append($0.stage) }
        #expect(stages.first == .objects && stages.last == .writing && stages.contains(.rendering))
        let read = try ReadComposite(path: path)

        // Layout: exactly these members.
        let classes = ["001.T-shirt_top", "002.Trouser", "003.Pullover"]
        let stems = ["T-shirt_top", "Trouser", "Pullover"]
        var expected: Set<String> = ["CUB_200_2011", "CUB_200_2011/images", "segmentations"]
        for name in ["README.txt", "kd-composite.json", "classes.txt", "images.txt", "image_class_labels.txt",
                     "train_test_split.txt", "bounding_boxes.txt"] { expected.insert("CUB_200_2011/" + name) }
        for (k, directory) in classes.enumerated() {
            expected.insert("CUB_200_2011/images/" + directory); expected.insert("segmentations/" + directory)
            for id in (4 * k + 1)...(4 * k + 4) {
                expected.insert("CUB_200_2011/images/\(directory)/\(stems[k])_\(id).jpg")
                expected.insert("segmentations/\(directory)/\(stems[k])_\(id).png")
            }
        }
        let entries = try read.archive.entries()
        #expect(Set(entries.map(\.path)) == expected && entries.count == expected.count)
        #expect(entries.prefix(8).map(\.path).last == "CUB_200_2011/bounding_boxes.txt", "metadata precedes the images")

        // Metadata.
        #expect(read.lines["classes"]! == classes.enumerated().map { ["\($0.offset + 1)", $0.element] })
        #expect(read.lines["images"]!.count == 12)
        #expect(read.lines["train_test_split"]!.map { $0[1] } == ["1", "1", "0", "0", "1", "1", "0", "0", "1", "1", "0", "0"])
        #expect(read.lines["image_class_labels"]!.map { $0[1] } == ["1", "1", "1", "1", "2", "2", "2", "2", "3", "3", "3", "3"])
        #expect(summary.classes.map(\.directory) == classes && summary.trainCount == 6 && summary.testCount == 6)
        // Train objects come from the training file, test objects from the test file.
        for record in summary.records {
            #expect(record.object.hasPrefix(record.isTrain ? "train-images-idx3-ubyte.gz#" : "t10k-images-idx3-ubyte.gz#"))
        }

        // Backgrounds: the excluded photo and the truncated one are not used, and say why.
        #expect(Set(summary.records.map(\.background)).isSubset(of: [fixture.photos + "/photo0.jpg", fixture.photos + "/photo1.jpg"]))
        #expect(summary.excludedBackgrounds == [fixture.photos + "/LadyBird.jpg"])
        #expect(summary.skippedBackgrounds.count == 1 && summary.skippedBackgrounds[0].hasPrefix(fixture.photos + "/broken.jpg: "))

        let figures = try CompositeTests.checkImages(read, summary, size: 48, photos: CompositeTests.decodedPhotos(fixture))
        print("composite fashion: |Δ| in summed RGB levels vs the background crop: outside the mask worst mean \(figures.outsideMean), "
              + "worst share > 30: \(figures.outsideTail); crop shifted 2 px: smallest mean \(figures.shiftedMean); inside the mask smallest mean \(figures.insideMean)")

        // Holes are filled: the ring's mask has no hole, so it fills its box like the square it is.
        for record in summary.records where record.classIndex == 1 {
            let fill = Double(record.maskPixels) / Double(record.box.area)
            #expect(fill > 0.95, "ring \(record.id) fills \(fill) of its box: its hole was not filled")
        }
        // Objects keep a size within the scale range (the ring/disc/T's longer side).
        for record in summary.records {
            let longer = Double(max(record.box.width, record.box.height)) / 48
            #expect(longer >= 0.40 - 0.03 && longer <= 0.75 + 0.03, "object \(record.id) spans \(longer) of the side")
        }

        // Manifest and README say composite, with the sources' sha256.
        let manifest = read.manifest
        #expect(manifest["composite"] as? Bool == true)
        #expect((manifest["description"] as? String)?.hasPrefix("COMPOSITE dataset: Fashion-MNIST") == true)
        #expect((manifest["description"] as? String)?.hasSuffix("not CUB-200-2011") == true)
        #expect(manifest["seed"] as? Int == 5 && manifest["per_class"] as? Int == 4 && manifest["size"] as? Int == 48)
        #expect(manifest["test_fraction"] as? Double == 0.5 && manifest["kd_tool_version"] as? String == "0.1")
        let objects = try #require(manifest["objects"] as? [String: Any])
        #expect(objects["source"] as? String == "fashion-mnist")
        let objectFiles = try #require(objects["files"] as? [[String: String]])
        #expect(objectFiles.count == 4)
        for file in objectFiles { #expect(file["sha256"] == FileDigest.sha256Hex(of: try #require(fixture.written[file["file"]!]))) }
        let backgrounds = try #require(manifest["backgrounds"] as? [[String: String]])
        #expect(Set(backgrounds.map { $0["file"]! }) == Set(summary.records.map(\.background)))
        for file in backgrounds { #expect(file["sha256"] == FileDigest.sha256Hex(of: try #require(fixture.written[file["file"]!]))) }
        let readme = String(decoding: try read.archive.read("CUB_200_2011/README.txt"), as: UTF8.self)
        #expect(readme.hasPrefix("COMPOSITE dataset:") && readme.contains("NOT the Caltech-UCSD"))
    }

    @Test func sameSeedGivesByteIdenticalArchivesAnotherSeedDoesNot() throws {
        let fixture = try CompositeFixture()
        let options = fixture.options(classes: ["trouser", "pullover"], perClass: 2)
        try CompositeBuilder.build(options, to: fixture.folder + "/a.tgz")
        Thread.sleep(forTimeInterval: 1.1)   // a time stamp anywhere in the output would now differ
        try CompositeBuilder.build(options, to: fixture.folder + "/b.tgz")
        var other = options
        other.seed += 1
        try CompositeBuilder.build(other, to: fixture.folder + "/c.tgz")
        let a = try LocalFile.read(fixture.folder + "/a.tgz", limit: 1 << 26)
        #expect(a == (try LocalFile.read(fixture.folder + "/b.tgz", limit: 1 << 26)))
        #expect(a != (try LocalFile.read(fixture.folder + "/c.tgz", limit: 1 << 26)))
        // Nothing but the archives is left in the folder (the temporary file was renamed).
        let left = try FileManager.default.contentsOfDirectory(atPath: fixture.folder).filter { $0.hasSuffix(".tgz") || $0.contains("partial") }
        #expect(left.sorted() == ["a.tgz", "b.tgz", "c.tgz"])
    }

    @Test func fashionFilesAreReadFromAnArchiveToo() throws {
        let fixture = try CompositeFixture()
        let names = FashionMNISTSource.fileNames
        let archive = try ArchiveWriter.archive(.tarGzip, files: names.map { ("fashion-mnist/" + $0, fixture.written[fixture.fashion + "/" + $0]!) })
        try fixture.write(fixture.folder + "/fashion.tgz", archive)
        let fromFolder = try CompositeBuilder.build(fixture.options(perClass: 2), to: fixture.folder + "/a.tgz")
        var options = fixture.options(perClass: 2)
        options.objectsPath = fixture.folder + "/fashion.tgz"
        let fromArchive = try CompositeBuilder.build(options, to: fixture.folder + "/b.tgz")
        #expect(fromArchive.records == fromFolder.records)
        let manifest = try ReadComposite(path: fixture.folder + "/b.tgz").manifest
        let files = try #require((manifest["objects"] as? [String: Any])?["files"] as? [[String: String]])
        #expect(files.map { $0["file"]! } == names.map { fixture.folder + "/fashion.tgz:fashion-mnist/" + $0 })
        #expect(files.map { $0["sha256"]! } == names.map { FileDigest.sha256Hex(of: fixture.written[fixture.fashion + "/" + $0]!) })
    }

    @Test func animalSilhouettesAreFilledWithATextureFromAnotherPhoto() throws {
        let fixture = try CompositeFixture(photos: [.dark, .bright])
        // A wheel holding the two pickles: 4 birds (label 1), 4 zebras (label 9), 2 cats (label 2).
        let labels = [1, 9, 1, 9, 2, 1, 9, 1, 9, 2]
        var images: [UInt8] = []
        for (i, label) in labels.enumerated() { images += CompositeFixture.item(label: label == 1 ? 1 : 0, shift: i % 3) }
        let imagePickle = PickleBuilder.protocol4(shape: [labels.count, 28, 28], code: "u1", order: "|", data: images)
        let labelPickle = PickleBuilder.protocol4(shape: [labels.count], code: "i8", order: "<",
                                                  data: labels.flatMap { PickleBuilder.le($0, 8) })
        let wheel = try ArchiveWriter.archive(.zip, files: [
            ("animal_mnist/__init__.py", []),
            (AnimalMNISTSource.dataMember, try Gzip.compress(imagePickle)),
            (AnimalMNISTSource.labelMember, try Gzip.compress(labelPickle)),
        ])
        try fixture.write(fixture.folder + "/animal_mnist-0.4-py3-none-any.whl", wheel)
        var options = fixture.options(classes: ["zebra", "bird"], perClass: 4)
        options.objects = .animalMNIST
        options.objectsPath = fixture.folder + "/animal_mnist-0.4-py3-none-any.whl"
        let path = fixture.folder + "/animals.tgz"
        let summary = try CompositeBuilder.build(options, to: path)
        let read = try ReadComposite(path: path)
        #expect(read.lines["classes"]! == [["1", "001.Bird"], ["2", "002.Zebra"]])
        // One pool per class: the 4 birds are 4 different silhouettes, split 2/2.
        for k in 1...2 {
            let objects = summary.records.filter { $0.classIndex == k }.map(\.object)
            #expect(Set(objects).count == 4)
        }
        // The texture comes from the other photo: dark backgrounds get bright objects and back.
        let figures = try CompositeTests.checkImages(read, summary, size: 48, photos: CompositeTests.decodedPhotos(fixture),
                                                     minimumInsideDifference: 100)
        print("composite animal: worst outside mean |Δ| \(figures.outsideMean), shifted crop smallest \(figures.shiftedMean), smallest inside mean |Δ| \(figures.insideMean)")
        #expect((read.manifest["description"] as? String)?.contains("Animal-MNIST silhouettes") == true)
        let files = try #require((read.manifest["objects"] as? [String: Any])?["files"] as? [[String: String]])
        #expect(files.map { $0["sha256"]! } == [FileDigest.sha256Hex(of: wheel)])
        // Both photos are recorded: one as background, the other as texture.
        #expect((read.manifest["backgrounds"] as? [[String: String]])?.count == 2)
    }

    @Test func clipArtUsesAlphaMasksAndPassesOverPicturesThatAreNotCutOuts() throws {
        let fixture = try CompositeFixture()
        let root = fixture.folder + "/clipart"
        /// An RGBA ellipse of colour (200, 30, 30) in a transparent 60×40 frame.
        func ellipse(alphaOutside: UInt8 = 0) -> RGBImage {
            var image = RGBImage(width: 60, height: 40, channels: 4, repeating: 0)
            for y in 0..<40 { for x in 0..<60 {
                let u = (Double(x) + 0.5 - 30) / 25, v = (Double(y) + 0.5 - 20) / 15
                let inside = u * u + v * v <= 1
                for (c, value) in [200, 30, 30].enumerated() { image[x: x, y: y, c: c] = inside ? UInt8(value) : 90 }
                image[x: x, y: y, c: 3] = inside ? 255 : alphaOutside
            } }
            return image
        }
        for folder in ["cats", "dogs/big"] { try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true) }
        for n in 0..<3 { try fixture.write(root + "/cats/cat\(n).png", ellipse().encodePNG()) }
        for n in 0..<2 { try fixture.write(root + "/dogs/dog\(n).png", ellipse().encodePNG()) }
        try fixture.write(root + "/dogs/big/dog2.png", ellipse().encodePNG())
        try fixture.write(root + "/cats/full.png", ellipse(alphaOutside: 200).encodePNG())          // alpha ≥ 128 everywhere
        try fixture.write(root + "/cats/opaque.png", ellipse().rgb.encodePNG())                     // no alpha
        var framed = RGBImage(width: 50, height: 50, channels: 4, repeating: 0)                    // a picture with a margin
        for y in 5..<45 { for x in 5..<45 { for c in 0..<4 { framed[x: x, y: y, c: c] = 255 } } }
        try fixture.write(root + "/cats/framed.png", framed.encodePNG())
        try FileManager.default.createSymbolicLink(atPath: root + "/cats/link.png", withDestinationPath: "cat0.png")
        var options = fixture.options(classes: nil, perClass: 3)
        options.objects = .clipart
        options.objectsPath = root
        let path = fixture.folder + "/clipart.tgz"
        let summary = try CompositeBuilder.build(options, to: path)
        let read = try ReadComposite(path: path)
        #expect(read.lines["classes"]! == [["1", "001.cats"], ["2", "002.dogs"]])
        #expect(Set(summary.records.filter { $0.classIndex == 1 }.map(\.object)) == ["cats/cat0.png", "cats/cat1.png", "cats/cat2.png"])
        #expect(Set(summary.records.filter { $0.classIndex == 2 }.map(\.object)) == ["dogs/dog0.png", "dogs/dog1.png", "dogs/big/dog2.png"])
        // Every candidate's outcome: the three non-cut-outs are passed over with their reason, the link is not listed.
        let source = try ClipArtSource(path: root, maxSide: 96)
        var outcomes: [String: String] = [:]
        for reference in source.candidates(classIndex: 0, train: true) {
            switch source.cutout(reference) {
            case let .usable(cutout): outcomes[cutout.label] = "usable"
            case let .skipped(reason): outcomes[String(reason.prefix { $0 != ":" })] = reason
            }
        }
        #expect(outcomes == ["cats/cat0.png": "usable", "cats/cat1.png": "usable", "cats/cat2.png": "usable",
                             "cats/full.png": "cats/full.png: the alpha covers the whole frame",
                             "cats/opaque.png": "cats/opaque.png: no alpha channel",
                             "cats/framed.png": "cats/framed.png: the opaque part is a 40×40 rectangle, not a cut-out"])
        #expect(summary.skippedObjects.allSatisfy { outcomes[String($0.prefix { $0 != ":" })] == $0 })
        try CompositeTests.checkImages(read, summary, size: 48, photos: CompositeTests.decodedPhotos(fixture))
        // Premultiplied resizing: the object keeps its own colour up to its edge, never the grey
        // (90, 90, 90) of its transparent pixels. Checked one pixel inside the mask's border.
        for record in summary.records {
            let member = "CUB_200_2011/images/" + record.file
            let image = try RGBImage.decode(bytes: read.archive.read(member), name: member)
            let mask = try RGBImage.decodePNG(bytes: read.archive.read("segmentations/" + record.file.dropLast(4) + ".png"), name: "mask")
            var worst = 0
            for y in 1..<47 { for x in 1..<47 where [0, 1, -1].allSatisfy({ mask.pixels[(y + $0) * 48 + x] == 255 && mask.pixels[y * 48 + x + $0] == 255 }) {
                worst = max(worst, zip([200, 30, 30], 0..<3).map { abs(Int(image[x: x, y: y, c: $0.1]) - $0.0) }.max()!)
            } }
            #expect(worst <= 40, "image \(record.id): object colour off by \(worst) levels")
        }
        // The manifest lists the used PNGs with their sha256.
        let files = try #require((read.manifest["objects"] as? [String: Any])?["files"] as? [[String: String]])
        #expect(files.count == 6)
        for file in files { #expect(file["sha256"] == FileDigest.sha256Hex(of: try #require(fixture.written[file["file"]!]))) }
    }

    @Test func errorsNameTheFileAndWhatToDo() throws {
        let fixture = try CompositeFixture()
        var options = fixture.options()
        options.objectsPath = fixture.folder + "/nowhere"
        #expect(throws: CompositeError.self) { try CompositeBuilder.build(options, to: fixture.folder + "/x.tgz") }
        do { try CompositeBuilder.build(options, to: fixture.folder + "/x.tgz") } catch {
            #expect("\(error)".contains(fixture.folder + "/nowhere") && "\(error)".contains("install Debian's dataset-fashion-mnist or pass --objects"))
        }
        try FileManager.default.removeItem(atPath: fixture.fashion + "/t10k-labels-idx1-ubyte.gz")
        do { try CompositeBuilder.build(fixture.options(), to: fixture.folder + "/x.tgz"); Issue.record("built without test labels") } catch {
            #expect("\(error)".contains("t10k-labels-idx1-ubyte.gz") && "\(error)".contains("dataset-fashion-mnist"))
        }

        let healthy = try CompositeFixture()
        options = healthy.options()
        options.backgrounds = [healthy.folder + "/empty", healthy.fashion]
        try FileManager.default.createDirectory(atPath: healthy.folder + "/empty", withIntermediateDirectories: true)
        do { try CompositeBuilder.build(options, to: healthy.folder + "/x.tgz"); Issue.record("built without backgrounds") } catch {
            guard case let CompositeError.noBackgrounds(tried, _) = error else { Issue.record("\(error)"); return }
            #expect(tried == [healthy.folder + "/empty", healthy.fashion])
            #expect("\(error)".contains(healthy.folder + "/empty, " + healthy.fashion) && "\(error)".contains("mate-backgrounds"))
        }

        #expect(throws: CompositeError.unknownClass(name: "Hat", known: FashionMNISTSource.allClassNames)) {
            try CompositeBuilder.build(healthy.options(classes: ["Bag", "Hat"]), to: healthy.folder + "/x.tgz")
        }
        // The test file has 2 pullovers; 6 per class needs 3 in the test split.
        #expect(throws: CompositeError.notEnoughObjects(className: "Pullover", needed: 3, found: 2, source: "Fashion-MNIST (test)")) {
            try CompositeBuilder.build(healthy.options(classes: ["pullover"], perClass: 6), to: healthy.folder + "/x.tgz")
        }
        #expect(throws: CompositeError.self) { try CompositeBuilder.build(healthy.options(perClass: 0), to: healthy.folder + "/x.tgz") }
        // Nothing was written by the failed builds.
        #expect(!FileManager.default.fileExists(atPath: healthy.folder + "/x.tgz"))
    }

    @Test func masksFillHolesOnlyWhenEnclosed() {
        // A ring (hole enclosed) and a C (gap to the border) on a 7×5 image.
        let ring: [UInt8] = [0, 0, 0, 0, 0, 0, 0,
                             0, 9, 9, 9, 0, 0, 0,
                             0, 9, 0, 9, 0, 1, 0,
                             0, 9, 9, 9, 0, 0, 0,
                             0, 0, 0, 0, 0, 0, 0]
        #expect(CompositeMasks.filledMask(ring, width: 7, height: 5) == ring.enumerated().map { $0.offset == 16 || $0.element > 0 ? 1 : 0 })
        let open: [UInt8] = [0, 9, 9, 9, 0,
                             0, 9, 0, 0, 0,
                             0, 9, 9, 9, 0]
        #expect(CompositeMasks.filledMask(open, width: 5, height: 3) == open.map { $0 > 0 ? 1 : 0 })
        #expect(CompositeMasks.tightBox(CompositeMasks.filledMask(ring, width: 7, height: 5), width: 7, height: 5) == PixelBox(x0: 1, y0: 1, x1: 6, y1: 4))
        #expect(CompositeMasks.tightBox([UInt8](repeating: 0, count: 6), width: 3, height: 2) == nil)
    }

    @Test func sha256MatchesKnownDigests() {
        #expect(FileDigest.sha256Hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(FileDigest.sha256Hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 56 bytes: the padding needs a second block.
        #expect(FileDigest.sha256Hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Exactly one block of data, and 823 bytes (several blocks and a tail); digests from Python's hashlib.
        #expect(FileDigest.sha256Hex(of: (0..<64).map { UInt8($0 % 251) }) == "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108")
        #expect(FileDigest.sha256Hex(of: (0..<768).map { UInt8($0 % 256) } + [UInt8](repeating: 0x78, count: 55))
                == "1d099a857037971bbd4c2e0a22e35939ef393d1831523e67d125d194e77ee949")
    }

    @Test func classNamesMatchLooselyAndBecomeFolderNames() {
        #expect(CompositeBuilder.classKey("T-shirt/top") == CompositeBuilder.classKey("t_shirt TOP"))
        #expect(CompositeBuilder.directoryName("T-shirt/top") == "T-shirt_top")
        #expect(CompositeBuilder.directoryName("Ankle boot") == "Ankle_boot")
        #expect(CompositeManifest.describe(.clipart) == "COMPOSITE dataset: clip-art cut-outs pasted on crops of real photographs; not CUB-200-2011")
    }

    static let debianFashion = CompositeOptions.defaultFashionMNISTPath
    static let debianPhotos = CompositeOptions.defaultBackgrounds[0]

    /// The real sources, when installed (Debian dataset-fashion-mnist and mate-backgrounds).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: debianFashion + "/t10k-images-idx3-ubyte.gz")
                   && FileManager.default.fileExists(atPath: debianPhotos)))
    func realFashionMNISTOnMateBackgrounds() throws {
        let folder = NSTemporaryDirectory() + "kd-composite-real-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let start = Date()
        let summary = try CompositeBuilder.build(CompositeOptions(perClass: 2, seed: 1), to: folder + "/real.tgz")
        let seconds = Date().timeIntervalSince(start)
        let read = try ReadComposite(path: folder + "/real.tgz")
        #expect(read.lines["classes"]!.count == 10 && read.lines["images"]!.count == 20)
        #expect(read.lines["classes"]![0] == ["1", "001.T-shirt_top"] && read.lines["classes"]![9] == ["10", "010.Ankle_boot"])
        #expect(summary.trainCount == 10 && summary.testCount == 10)
        #expect(!summary.backgrounds.contains { $0.hasSuffix("LadyBird.jpg") || $0.hasSuffix("TwoWings.jpg") })
        #expect(summary.excludedBackgrounds.count == 2)
        for record in summary.records {
            let mask = try RGBImage.decodePNG(bytes: read.archive.read("segmentations/" + record.file.dropLast(4) + ".png"), name: record.file)
            #expect(CompositeMasks.tightBox(mask.pixels, width: 96, height: 96) == record.box && record.maskPixels > 100)
        }
        let files = try #require((read.manifest["objects"] as? [String: Any])?["files"] as? [[String: String]])
        #expect(files.count == 4 && files.allSatisfy { $0["sha256"]!.count == 64 })
        print("composite real: 20 images of Fashion-MNIST on \(summary.backgrounds.count) mate photos in \(String(format: "%.1f", seconds)) s")
    }
}
