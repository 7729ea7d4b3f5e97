// Writing a composite as a CUB-200-2011 archive (the layout of CUB_200_2011.tgz plus its
// segmentations), with a manifest and a README that say it is a composite.
//
// Members, in this order (ids are 1-based, boxes 0-based pixel floats as in CUB):
//
//     CUB_200_2011/README.txt                      "COMPOSITE dataset: … not CUB-200-2011"
//     CUB_200_2011/kd-composite.json               {"composite": true, sources with sha256, options}
//     CUB_200_2011/classes.txt                     <k> <NNN.Name>
//     CUB_200_2011/images.txt                      <id> <NNN.Name>/<Name>_<id>.jpg
//     CUB_200_2011/image_class_labels.txt          <id> <k>
//     CUB_200_2011/train_test_split.txt            <id> <1 train | 0 test>
//     CUB_200_2011/bounding_boxes.txt              <id> <x> <y> <width> <height>
//     CUB_200_2011/images/<NNN.Name>/<Name>_<id>.jpg
//     segmentations/<NNN.Name>/<Name>_<id>.png     grayscale, 0 background / 255 object
//
// Metadata comes first so a reader streaming the archive once knows every record before the images.
import Foundation

/// The `kd-composite.json` manifest.
struct CompositeManifest: Codable, Equatable {
    struct Objects: Codable, Equatable {
        let source: String
        let path: String?
        let files: [SourceDigest]
    }
    let composite: Bool
    let description: String
    let objects: Objects
    let backgrounds: [SourceDigest]
    let excludedBackgrounds: [String]
    let classes: [String]
    let seed: UInt64
    let perClass: Int
    let testPerClass: Int
    let size: Int
    let testFraction: Double
    let objectScale: [Double]
    let images: Int
    let jpegQuality: Int
    let kdToolVersion: String

    enum CodingKeys: String, CodingKey {
        case composite, description, objects, backgrounds, classes, seed, size, images
        case excludedBackgrounds = "excluded_backgrounds", perClass = "per_class", testPerClass = "test_per_class"
        case testFraction = "test_fraction", objectScale = "object_scale", jpegQuality = "jpeg_quality"
        case kdToolVersion = "kd_tool_version"
    }

    init(options: CompositeOptions, source: ObjectSource, classes: [String], objectFiles: [SourceDigest],
         backgrounds: [SourceDigest], images: Int) {
        composite = true
        description = CompositeManifest.describe(options.objects)
        objects = Objects(source: options.objects.rawValue, path: options.resolvedObjectsPath, files: objectFiles)
        self.backgrounds = backgrounds
        excludedBackgrounds = options.excludedBackgrounds
        self.classes = classes
        seed = options.seed
        perClass = options.perClass
        testPerClass = options.testPerClass
        size = options.size
        testFraction = options.testFraction
        objectScale = [options.scaleMin, options.scaleMax]
        self.images = images
        jpegQuality = CompositeBuilder.jpegQuality
        kdToolVersion = CompositeBuilder.toolVersion
    }

    /// The one-sentence description every output carries.
    static func describe(_ kind: CompositeOptions.ObjectKind) -> String {
        let objects: String
        switch kind {
        case .fashionMNIST: objects = "Fashion-MNIST items (tinted with random colours)"
        case .animalMNIST: objects = "Animal-MNIST silhouettes (filled with photo textures)"
        case .clipart: objects = "clip-art cut-outs"
        }
        return "COMPOSITE dataset: \(objects) pasted on crops of real photographs; not CUB-200-2011"
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    var readme: String {
        """
        \(description).

        This archive has the layout of CUB-200-2011 (CUB_200_2011/images.txt, classes.txt,
        image_class_labels.txt, train_test_split.txt, bounding_boxes.txt, images/, and masks in
        segmentations/) so that readers of CUB read it unchanged, but it is NOT the Caltech-UCSD
        Birds dataset. kd-tool \(kdToolVersion) built it: each image is a crop of a real photograph
        (Debian mate-backgrounds or the photos listed in kd-composite.json, photos showing animals
        left out) with one object pasted at a random scale and position. The mask is exactly the set
        of pixels replaced by the object; the box is the mask's tight box.

        Objects: \(objects.source)\(objects.path.map { " from " + $0 } ?? "").
        Classes: \(classes.count); images: \(images) (\(perClass) per class, \(testPerClass) of them test).
        Image size: \(size)×\(size); seed: \(seed). Source files and their SHA-256 sums are in
        kd-composite.json; the same options and sources give a byte-identical archive.

        """
    }
}

/// Writes the archive of a composite.
enum CompositeArchive {
    static let root = "CUB_200_2011"

    static func write(images: [RenderedImage], classes: [String], manifest: CompositeManifest, to path: String) throws {
        // ArchiveWriter writes atomically and leaves no time stamp, so the same inputs give the same bytes.
        let writer = try ArchiveWriter(path: path, format: .tarGzip)
        func text(_ lines: [String]) -> [UInt8] { Array(lines.map { $0 + "\n" }.joined().utf8) }
        try writer.addDirectory(root)
        try writer.addFile("\(root)/README.txt", bytes: Array(manifest.readme.utf8))
        try writer.addFile("\(root)/kd-composite.json", bytes: try manifest.encoded())
        try writer.addFile("\(root)/classes.txt", bytes: text(classes.enumerated().map { "\($0.offset + 1) \($0.element)" }))
        try writer.addFile("\(root)/images.txt", bytes: text(images.map { "\($0.id) \($0.directory)/\($0.fileStem).jpg" }))
        try writer.addFile("\(root)/image_class_labels.txt", bytes: text(images.map { "\($0.id) \($0.classIndex)" }))
        try writer.addFile("\(root)/train_test_split.txt", bytes: text(images.map { "\($0.id) \($0.isTrain ? 1 : 0)" }))
        try writer.addFile("\(root)/bounding_boxes.txt", bytes: text(images.map {
            String(format: "%d %.1f %.1f %.1f %.1f", $0.id, Double($0.box.x), Double($0.box.y), Double($0.box.width), Double($0.box.height))
        }))
        try writer.addDirectory("\(root)/images")
        for directory in classes {
            try writer.addDirectory("\(root)/images/\(directory)")
            for image in images where image.directory == directory {
                try writer.addFile("\(root)/images/\(directory)/\(image.fileStem).jpg", bytes: image.jpeg)
            }
        }
        try writer.addDirectory("segmentations")
        for directory in classes {
            try writer.addDirectory("segmentations/\(directory)")
            for image in images where image.directory == directory {
                try writer.addFile("segmentations/\(directory)/\(image.fileStem).png", bytes: image.maskPNG)
            }
        }
        try writer.finish()
    }
}
