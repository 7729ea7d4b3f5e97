// Test fixtures: small archives in the exact layouts users download (CUB, VOC, ILSVRC DET,
// Tiny-ImageNet, Fashion-MNIST, Animal-MNIST), with real JPEG/PNG encodings, real XML and IDX bytes.
//
// How to use:
//
//     let objects = try Fixtures.cubArchive(at: dir + "/CUB_200_2011.tgz", classes: ["Cardinal", "Blue_Jay"],
//                                           perClass: 3, size: 48)                  // masks in the archive
//     var cub = try Fixtures.cub(classes: ["Cardinal"], perClass: 2, size: 32)       // edit before writing
//     cub.archive.replace(cub.objects[0].member, with: Array(jpeg.prefix(200)))
//     try cub.archive.write(to: path)
//
// Every scene is a coloured object (an ellipse inscribed in its box, or the whole box) on a gentle
// gray gradient, so crops, masks and boxes can be checked pixel by pixel.
import Foundation
import KDCore
import KDDatasets
@testable import ImageGrid

/// The folder holding this test process's temporary files.
let testFolder = NSTemporaryDirectory() + "kd-imagegrid-tests-\(getpid())"

/// Registers (once) the removal of ``testFolder`` at exit.
let removeTestFolderAtExit: Void = {
    atexit { try? FileManager.default.removeItem(atPath: testFolder) }
}()

/// An archive's members in order, editable before it is written.
struct ArchiveFixture {
    var files: [(path: String, bytes: [UInt8])] = []

    mutating func add(_ path: String, _ bytes: [UInt8]) { files.append((path, bytes)) }
    mutating func add(_ path: String, text: String) { files.append((path, Array(text.utf8))) }

    mutating func replace(_ path: String, with bytes: [UInt8]) {
        guard let i = files.firstIndex(where: { $0.path == path }) else { preconditionFailure("no fixture member \(path)") }
        files[i].bytes = bytes
    }

    mutating func remove(_ path: String) { files.removeAll { $0.path == path } }

    func bytes(_ path: String) -> [UInt8] {
        guard let f = files.first(where: { $0.path == path }) else { preconditionFailure("no fixture member \(path)") }
        return f.bytes
    }

    func text(_ path: String) -> String { String(decoding: bytes(path), as: UTF8.self) }

    mutating func replaceText(_ path: String, _ transform: (String) -> String) {
        replace(path, with: Array(transform(text(path)).utf8))
    }

    func write(to path: String, format: ArchiveWriter.Format = .tarGzip) throws {
        let writer = try ArchiveWriter(path: path, format: format)
        for f in files { try writer.addFile(f.path, bytes: f.bytes) }
        try writer.finish()
    }
}

/// One object drawn into a fixture image.
struct FixtureObject {
    var member: String
    var label: Int
    var split: Split
    /// Half-open pixel box of the object.
    var box: PixelBox
    var imageWidth: Int
    var imageHeight: Int
    var colour: [UInt8]
    /// True when the object is an ellipse inscribed in the box, false when it fills the box.
    var ellipse: Bool
    /// The member holding its mask, if any.
    var maskMember: String?
}

enum Fixtures {
    /// Distinct, saturated object colours by class.
    static let colours: [[UInt8]] = [[220, 30, 30], [30, 60, 220], [30, 200, 60], [230, 200, 20], [200, 40, 200]]

    // MARK: Scenes

    /// The background: a gray gradient from 50 to about 130, smooth enough that JPEG keeps it.
    static func background(width: Int, height: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height, channels: 3, repeating: 0)
        for y in 0..<height {
            for x in 0..<width {
                let v = UInt8(50 + (40 * x) / max(1, width) + (40 * y) / max(1, height))
                for c in 0..<3 { image[x: x, y: y, c: c] = v }
            }
        }
        return image
    }

    /// True when pixel (x, y) belongs to an object in `box`: its centre inside the inscribed ellipse,
    /// or anywhere in the box.
    static func inside(_ x: Int, _ y: Int, _ box: PixelBox, ellipse: Bool) -> Bool {
        guard x >= box.x && x < box.x1 && y >= box.y && y < box.y1 else { return false }
        guard ellipse else { return true }
        let cx = Double(box.x) + Double(box.width) / 2, cy = Double(box.y) + Double(box.height) / 2
        let dx = (Double(x) + 0.5 - cx) / (Double(box.width) / 2), dy = (Double(y) + 0.5 - cy) / (Double(box.height) / 2)
        return dx * dx + dy * dy <= 1
    }

    /// Draws objects (box, colour) onto the background; returns the image and, per object, its
    /// 0/255 mask.
    static func scene(width: Int, height: Int, objects: [(box: PixelBox, colour: [UInt8])], ellipse: Bool = true)
        -> (image: RGBImage, masks: [RGBImage]) {
        var image = background(width: width, height: height)
        var masks: [RGBImage] = []
        for (box, colour) in objects {
            var mask = RGBImage(width: width, height: height, channels: 1, repeating: 0)
            for y in 0..<height {
                for x in 0..<width where inside(x, y, box, ellipse: ellipse) {
                    for c in 0..<3 { image[x: x, y: y, c: c] = colour[c] }
                    mask[x: x, y: y, c: 0] = 255
                }
            }
            masks.append(mask)
        }
        return (image, masks)
    }

    // MARK: CUB-200-2011

    enum MaskPlacement { case none, inArchive, separate }

    struct CUB {
        var archive: ArchiveFixture
        /// The separate segmentations.tgz members when masks were `.separate`.
        var masks: ArchiveFixture
        var objects: [FixtureObject]
    }

    /// A CUB-200-2011 archive in its exact layout: metadata, then images; masks (0/255 grayscale PNGs)
    /// as `segmentations/<class dir>/<name>.png` in the archive, in a separate fixture, or none.
    /// Image j of a class is a test image when j % 3 == 2, else a training image.
    static func cub(classes: [String] = ["Cardinal", "Blue_Jay"], perClass: Int = 3, size: Int = 48,
                    masks: MaskPlacement = .inArchive, composite: Bool = false) throws -> CUB {
        var archive = ArchiveFixture(), maskArchive = ArchiveFixture()
        var images = "", labels = "", split = "", boxes = "", classList = ""
        var objects: [FixtureObject] = []
        var payload: [(String, [UInt8])] = []
        var maskPayload: [(String, [UInt8])] = []
        var id = 0
        for (k, className) in classes.enumerated() {
            let folder = String(format: "%03d.%@", k + 1, className)
            classList += "\(k + 1) \(folder)\n"
            for j in 0..<perClass {
                id += 1
                let width = size + 8 * (j % 2), height = size
                let box = PixelBox(x: 4 + 2 * (j % 3), y: 5 + 3 * (j % 2), width: size / 2 + 4 * (j % 2), height: size / 2 + 2)
                let colour = colours[k % colours.count]
                let (image, mask) = scene(width: width, height: height, objects: [(box, colour)])
                let file = "\(className)_\(String(format: "%04d", id))_\(id).jpg"
                let member = "CUB_200_2011/images/\(folder)/\(file)"
                let maskMember = "segmentations/\(folder)/\(file.replacingExtension(with: "png"))"
                let s: Split = j % 3 == 2 ? .test : .train
                images += "\(id) \(folder)/\(file)\n"
                labels += "\(id) \(k + 1)\n"
                split += "\(id) \(s == .train ? 1 : 0)\n"
                boxes += "\(id) \(Double(box.x)) \(Double(box.y)) \(Double(box.width)) \(Double(box.height))\n"
                payload.append((member, try image.encodeJPEG(quality: 95)))
                if masks != .none { maskPayload.append((maskMember, try mask[0].encodePNG())) }
                objects.append(FixtureObject(member: member, label: k, split: s, box: box, imageWidth: width, imageHeight: height,
                                             colour: colour, ellipse: true, maskMember: masks == .none ? nil : maskMember))
            }
        }
        archive.add("CUB_200_2011/README", text: "CUB-200-2011 fixture\n")
        archive.add("CUB_200_2011/images.txt", text: images)
        archive.add("CUB_200_2011/classes.txt", text: classList)
        archive.add("CUB_200_2011/image_class_labels.txt", text: labels)
        archive.add("CUB_200_2011/train_test_split.txt", text: split)
        archive.add("CUB_200_2011/bounding_boxes.txt", text: boxes)
        if composite {
            archive.add("CUB_200_2011/kd-composite.json",
                        text: #"{"composite": true, "description": "COMPOSITE dataset: test objects pasted on crops of real photographs; not CUB-200-2011", "objects": {"source": "fixture"}, "backgrounds": [], "seed": 1}"#)
        }
        for (path, bytes) in payload { archive.add(path, bytes) }
        switch masks {
        case .none: break
        case .inArchive: for (path, bytes) in maskPayload { archive.add(path, bytes) }
        case .separate: for (path, bytes) in maskPayload { maskArchive.add(path, bytes) }
        }
        return CUB(archive: archive, masks: maskArchive, objects: objects)
    }

    /// Writes a CUB-layout `.tgz` (masks inside it, as the composite builder writes them) at `path`
    /// and returns its objects.
    @discardableResult
    static func cubArchive(at path: String, classes: [String] = ["Cardinal", "Blue_Jay"], perClass: Int = 3,
                           size: Int = 48, composite: Bool = false) throws -> [FixtureObject] {
        let fixture = try cub(classes: classes, perClass: perClass, size: size, masks: .inArchive, composite: composite)
        try fixture.archive.write(to: path)
        return fixture.objects
    }

    // MARK: Pascal VOC 2012

    struct VOCObject {
        var className: String
        /// Half-open pixel box (written to the XML 1-based and inclusive).
        var box: PixelBox
        var difficult = false
        var ellipse = false
    }

    struct VOCImage {
        var stem: String
        var width: Int
        var height: Int
        var objects: [VOCObject]
        var segmented: Bool
        /// nil: listed in neither train.txt nor val.txt.
        var split: Split?
    }

    struct VOC {
        var archive: ArchiveFixture
        /// Per image stem, the SegmentationObject plane written (0 background, k object, 255 void).
        var planes: [String: [UInt8]]
    }

    static let vocRoot = "VOCdevkit/VOC2012"

    /// The default VOC scenes: 20×20 boxes so a 1.2× crop is 24 pixels, the size tests use.
    static let vocImages: [VOCImage] = [
        VOCImage(stem: "2008_000001", width: 40, height: 40,
                 objects: [VOCObject(className: "cat", box: PixelBox(x0: 10, y0: 10, x1: 30, y1: 30))], segmented: true, split: .train),
        VOCImage(stem: "2008_000002", width: 70, height: 36,
                 objects: [VOCObject(className: "dog", box: PixelBox(x0: 4, y0: 6, x1: 24, y1: 26)),
                           VOCObject(className: "cat", box: PixelBox(x0: 26, y0: 6, x1: 46, y1: 26), difficult: true),
                           VOCObject(className: "dog", box: PixelBox(x0: 44, y0: 6, x1: 64, y1: 26), ellipse: true)],
                 segmented: true, split: .train),
        VOCImage(stem: "2008_000003", width: 40, height: 40,
                 objects: [VOCObject(className: "dog", box: PixelBox(x0: 8, y0: 12, x1: 28, y1: 32))], segmented: false, split: .test),
        VOCImage(stem: "2008_000004", width: 40, height: 40,
                 objects: [VOCObject(className: "cat", box: PixelBox(x0: 12, y0: 8, x1: 32, y1: 28)),
                           VOCObject(className: "unicorn", box: PixelBox(x0: 0, y0: 0, x1: 5, y1: 5))], segmented: true, split: .test),
        VOCImage(stem: "2008_000005", width: 40, height: 40,
                 objects: [VOCObject(className: "cat", box: PixelBox(x0: 10, y0: 10, x1: 30, y1: 30))], segmented: false, split: nil),
    ]

    /// A VOC annotation file as the VOC2012 devkit writes it.
    static func vocXML(_ image: VOCImage, folder: String = "VOC2012") -> String {
        var xml = "<annotation>\n\t<folder>\(folder)</folder>\n\t<filename>\(image.stem).jpg</filename>\n"
            + "\t<source>\n\t\t<database>The VOC2008 Database</database>\n\t</source>\n"
            + "\t<size>\n\t\t<width>\(image.width)</width>\n\t\t<height>\(image.height)</height>\n\t\t<depth>3</depth>\n\t</size>\n"
            + "\t<segmented>\(image.segmented ? 1 : 0)</segmented>\n"
        for o in image.objects {
            xml += "\t<object>\n\t\t<name>\(o.className)</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
                + "\t\t<difficult>\(o.difficult ? 1 : 0)</difficult>\n\t\t<bndbox>\n"
                + "\t\t\t<xmin>\(o.box.x + 1)</xmin>\n\t\t\t<ymin>\(o.box.y + 1)</ymin>\n"
                + "\t\t\t<xmax>\(o.box.x1)</xmax>\n\t\t\t<ymax>\(o.box.y1)</ymax>\n\t\t</bndbox>\n\t</object>\n"
        }
        return xml + "</annotation>\n"
    }

    /// A palette of 256 colours, VOC's void colour (224, 224, 192) at 255.
    static let vocPalette: [UInt8] = {
        var palette: [UInt8] = []
        for i in 0..<255 {
            let r = UInt8((i * 37) % 256), g = UInt8((i * 91) % 256), b = UInt8((i * 53) % 256)
            palette += [r, g, b]
        }
        return palette + [224, 224, 192]
    }()

    /// VOC's trainval tar layout: JPEG images with objects drawn in class colours (later objects on
    /// top), XML annotations, SegmentationObject palette PNGs (object k = index k, a 1-pixel void
    /// border of 255 around each object), ImageSets/Main/{train,val}.txt.
    static func voc(_ images: [VOCImage] = vocImages) throws -> VOC {
        var archive = ArchiveFixture()
        var planes: [String: [UInt8]] = [:]
        let classColour = ["cat": colours[0], "dog": colours[1], "unicorn": colours[2]]
        var train = "", val = ""
        var jpegs: [(String, [UInt8])] = [], pngs: [(String, [UInt8])] = []
        for image in images {
            var picture = background(width: image.width, height: image.height)
            var plane = [UInt8](repeating: 0, count: image.width * image.height)
            for (k, o) in image.objects.enumerated() {
                for y in 0..<image.height {
                    for x in 0..<image.width where inside(x, y, o.box, ellipse: o.ellipse) {
                        for c in 0..<3 { picture[x: x, y: y, c: c] = classColour[o.className]![c] }
                        plane[y * image.width + x] = UInt8(k + 1)
                    }
                }
            }
            var bordered = plane
            for y in 0..<image.height {
                for x in 0..<image.width where plane[y * image.width + x] == 0 {
                    func object(_ u: Int, _ v: Int) -> Bool {
                        u >= 0 && v >= 0 && u < image.width && v < image.height && plane[v * image.width + u] != 0
                    }
                    if object(x - 1, y) || object(x + 1, y) || object(x, y - 1) || object(x, y + 1) {
                        bordered[y * image.width + x] = 255
                    }
                }
            }
            planes[image.stem] = bordered
            archive.add("\(vocRoot)/Annotations/\(image.stem).xml", text: vocXML(image))
            jpegs.append(("\(vocRoot)/JPEGImages/\(image.stem).jpg", try picture.encodeJPEG(quality: 95)))
            if image.segmented {
                let png = try PaletteImage(width: image.width, height: image.height, indices: bordered, palette: vocPalette).encodePNG()
                pngs.append(("\(vocRoot)/SegmentationObject/\(image.stem).png", png))
            }
            switch image.split {
            case .train?: train += image.stem + "\n"
            case .test?: val += image.stem + "\n"
            case nil: break
            }
        }
        archive.add("\(vocRoot)/ImageSets/Main/train.txt", text: train)
        archive.add("\(vocRoot)/ImageSets/Main/val.txt", text: val)
        archive.add("\(vocRoot)/ImageSets/Main/cat_train.txt", text: "2008_000001  1\n")
        for (p, b) in jpegs { archive.add(p, b) }
        for (p, b) in pngs { archive.add(p, b) }
        return VOC(archive: archive, planes: planes)
    }

    // MARK: ILSVRC DET

    /// One ILSVRC DET image: its path below Annotations/DET and Data/DET without extension.
    struct ILSVRCImage {
        var relative: String
        var width: Int
        var height: Int
        /// (synset, half-open box); written 0-based inclusive (xmax = x1 − 1).
        var objects: [(synset: String, box: PixelBox)]
    }

    static let dogSynset = "n02084071", catSynset = "n02121808"

    /// Boxes 16 wide and high, so a 1.5× crop is 24 pixels; the last one is clamped by the image edge.
    static let ilsvrcImages: [ILSVRCImage] = [
        ILSVRCImage(relative: "train/ILSVRC2013_train/\(dogSynset)/\(dogSynset)_1", width: 40, height: 40,
                    objects: [(dogSynset, PixelBox(x0: 10, y0: 12, x1: 26, y1: 28))]),
        ILSVRCImage(relative: "train/ILSVRC2013_train/\(catSynset)/\(catSynset)_7", width: 48, height: 40,
                    objects: [(catSynset, PixelBox(x0: 6, y0: 6, x1: 22, y1: 22)), (dogSynset, PixelBox(x0: 26, y0: 16, x1: 42, y1: 32))]),
        ILSVRCImage(relative: "val/ILSVRC2012_val_00000001", width: 40, height: 40,
                    objects: [(catSynset, PixelBox(x0: 0, y0: 4, x1: 16, y1: 20))]),
    ]

    /// The ILSVRC DET devkit layout (ILSVRC/Annotations/DET, ILSVRC/Data/DET, map_det.txt or words.txt),
    /// objects drawn as filled boxes.
    static func ilsvrc(_ images: [ILSVRCImage] = ilsvrcImages, names: String = "map_det") throws -> ArchiveFixture {
        var archive = ArchiveFixture()
        switch names {
        case "map_det": archive.add("ILSVRC/devkit/data/map_det.txt", text: "\(dogSynset) 59 dog\n\(catSynset) 61 domestic_cat\n")
        case "words": archive.add("ILSVRC/words.txt", text: "\(dogSynset)\tdog, domestic dog, Canis familiaris\n\(catSynset)\tdomestic cat, house cat\n")
        default: break
        }
        for image in images {
            let (picture, _) = scene(width: image.width, height: image.height,
                                     objects: image.objects.map { ($0.box, $0.synset == dogSynset ? colours[1] : colours[0]) }, ellipse: false)
            var xml = "<annotation>\n\t<folder>\(image.relative.parentPath.lastComponent)</folder>\n\t<filename>\(image.relative.lastComponent)</filename>\n"
                + "\t<source>\n\t\t<database>ILSVRC_2013</database>\n\t</source>\n"
                + "\t<size>\n\t\t<width>\(image.width)</width>\n\t\t<height>\(image.height)</height>\n\t</size>\n"
            for o in image.objects {
                xml += "\t<object>\n\t\t<name>\(o.synset)</name>\n\t\t<bndbox>\n\t\t\t<xmin>\(o.box.x)</xmin>\n\t\t\t<xmax>\(o.box.x1 - 1)</xmax>\n"
                    + "\t\t\t<ymin>\(o.box.y)</ymin>\n\t\t\t<ymax>\(o.box.y1 - 1)</ymax>\n\t\t</bndbox>\n\t</object>\n"
            }
            archive.add("ILSVRC/Annotations/DET/\(image.relative).xml", text: xml + "</annotation>\n")
            archive.add("ILSVRC/Data/DET/\(image.relative).JPEG", try picture.encodeJPEG(quality: 95))
        }
        return archive
    }

    // MARK: Tiny-ImageNet

    /// tiny-imagenet-200.zip's layout: `perClass` training images per synset and `val` validation
    /// images, 64×64, each an ellipse in the box 8 …< 40 (written inclusive: 8 8 39 39) shifted by the
    /// image's index.
    static func tinyImageNet(synsets: [String] = [dogSynset, catSynset], perClass: Int = 2, val: Int = 2) throws -> ArchiveFixture {
        var archive = ArchiveFixture()
        let root = "tiny-imagenet-200"
        archive.add("\(root)/wnids.txt", text: synsets.joined(separator: "\n") + "\n")
        archive.add("\(root)/words.txt", text: "n00001740\tentity\n\(dogSynset)\tdog, domestic dog, Canis familiaris\n\(catSynset)\tdomestic cat, house cat\n")
        func box(_ i: Int) -> PixelBox { PixelBox(x: 8 + 4 * i, y: 8 + 2 * i, width: 32, height: 32) }
        func line(_ b: PixelBox) -> String { "\(b.x)\t\(b.y)\t\(b.x1 - 1)\t\(b.y1 - 1)" }
        var images: [(String, [UInt8])] = []
        for (k, synset) in synsets.enumerated() {
            var boxes = ""
            for i in 0..<perClass {
                let name = "\(synset)_\(i).JPEG"
                boxes += "\(name)\t\(line(box(i)))\n"
                images.append(("\(root)/train/\(synset)/images/\(name)",
                               try scene(width: 64, height: 64, objects: [(box(i), colours[k % colours.count])]).image.encodeJPEG(quality: 95)))
            }
            archive.add("\(root)/train/\(synset)/\(synset)_boxes.txt", text: boxes)
        }
        var annotations = ""
        for i in 0..<val {
            let k = i % synsets.count
            annotations += "val_\(i).JPEG\t\(synsets[k])\t\(line(box(i)))\n"
            images.append(("\(root)/val/images/val_\(i).JPEG",
                           try scene(width: 64, height: 64, objects: [(box(i), colours[k % colours.count])]).image.encodeJPEG(quality: 95)))
        }
        archive.add("\(root)/val/val_annotations.txt", text: annotations)
        for (p, b) in images { archive.add(p, b) }
        return archive
    }

    // MARK: Animal-MNIST

    /// A numpy array pickled as numpy does it (`ndarray.__reduce__`, protocol 3 opcodes):
    /// `_reconstruct(ndarray, (0,), b'b')` then BUILD with (1, shape, dtype(descr), False, data).
    static func numpyPickle(shape: [Int], descr: String, data: [UInt8]) -> [UInt8] {
        func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func unicode(_ s: String) -> [UInt8] { [0x58] + le32(s.utf8.count) + Array(s.utf8) }
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func int(_ v: Int) -> [UInt8] { [0x4A] + le32(v) }
        var p: [UInt8] = [0x80, 0x03]
        p += global("numpy.core.multiarray", "_reconstruct") + global("numpy", "ndarray")
        p += [0x4B, 0x00, 0x85, 0x43, 0x01, UInt8(ascii: "b"), 0x87, 0x52]
        p += [0x28] + int(1)
        p += [0x28] + shape.flatMap(int) + [0x74]
        p += global("numpy", "dtype") + unicode(String(descr.dropFirst())) + [0x89, 0x88, 0x87, 0x52]
        p += [0x28] + [0x4B, 0x03] + unicode(String(descr.prefix(1))) + [0x4E, 0x4E, 0x4E] + int(-1) + int(-1) + [0x4B, 0x00, 0x74, 0x62]
        p += [0x89, 0x42] + le32(data.count) + data
        p += [0x74, 0x62, 0x2E]
        return p
    }

    /// The animal_mnist wheel's members: `perClass` ring items per class (labels sorted, as in the
    /// real file), and METADATA naming the classes.
    static func animalMNISTWheel(classes: [String] = ["Bear", "Bird"], perClass: Int = 5) throws -> ArchiveFixture {
        let n = classes.count * perClass
        let images = (0..<n).flatMap { ringItem($0) }
        var labels: [UInt8] = []
        for i in 0..<n { labels += [UInt8(i / perClass), 0, 0, 0, 0, 0, 0, 0] }   // int64 little-endian
        var archive = ArchiveFixture()
        archive.add("animal_mnist/__init__.py", text: "")
        archive.add("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz",
                    try Gzip.compress(numpyPickle(shape: [n, 28, 28], descr: "|u1", data: images)))
        archive.add("animal_mnist/data/Animal_MNIST/animal_label_version_3.gz",
                    try Gzip.compress(numpyPickle(shape: [n], descr: "<i8", data: labels)))
        archive.add("animal_mnist-0.4.dist-info/METADATA",
                    text: "Metadata-Version: 2.4\nName: animal_mnist\nVersion: 0.4\n\nAnimal-Shape is a dataset of 28x28 grayscale images. "
                        + "There are \(classes.count) classes of animals (including \(classes.joined(separator: ", "))) each consisting of \(perClass) pictures.\n")
        return archive
    }

    // MARK: Fashion-MNIST

    /// A 28×28 item: a square ring (rows and columns 8 ..< 20, two pixels thick, value 90 + 10·k) whose
    /// hole is black, so "pixel > 0 with holes filled" is the full square.
    static func ringItem(_ k: Int) -> [UInt8] {
        var item = [UInt8](repeating: 0, count: 28 * 28)
        for y in 8..<20 {
            for x in 8..<20 where y < 10 || y >= 18 || x < 10 || x >= 18 { item[y * 28 + x] = UInt8(90 + 10 * (k % 16)) }
        }
        return item
    }

    /// Fashion-MNIST's four gzipped IDX files: `train` and `test` ring items with labels cycling
    /// through `labels`.
    static func fashionMNISTFiles(train: Int = 4, test: Int = 2, labels: [UInt8] = [0, 8]) throws -> [(name: String, bytes: [UInt8])] {
        func files(_ stem: String, _ n: Int) throws -> [(String, [UInt8])] {
            let images = IDXArray(dimensions: [n, 28, 28], values: (0..<n).flatMap { ringItem($0) })
            let labelArray = IDXArray(dimensions: [n], values: (0..<n).map { labels[$0 % labels.count] })
            return [("\(stem)-images-idx3-ubyte.gz", try Gzip.compress(IDX.encode(images))),
                    ("\(stem)-labels-idx1-ubyte.gz", try Gzip.compress(IDX.encode(labelArray)))]
        }
        return try files("train", train) + files("t10k", test)
    }

    // MARK: Helpers

    /// A fresh temporary folder for one test, inside one folder per test process that is removed
    /// when the process exits.
    static func temporaryFolder(_ name: String = #function) throws -> String {
        _ = removeTestFolderAtExit
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = testFolder + "/\(safe)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
