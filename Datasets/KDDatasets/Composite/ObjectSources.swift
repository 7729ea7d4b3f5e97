// The objects a composite pastes: Fashion-MNIST items, Animal-MNIST silhouettes, clip-art cut-outs.
//
// Each source lists candidates per class (in a fixed order) and turns one into an ``ObjectCutout``:
// the object cut to the tight box of its mask, premultiplied by its coverage so that resizing never
// mixes in the colour of what lies outside the mask. Masks follow Data.md: MNIST-style images use
// pixel > 0 with holes filled (flood fill of the background from the border); clip-art uses
// alpha ≥ 128.
import Foundation
import KDCore

/// One object at source resolution, cut to the tight box of its mask, premultiplied:
/// `values = (v₁·m, …, v_c·m, m)` with m ∈ [0, 1] the coverage. `v` is RGB (clip-art) or one
/// intensity (MNIST-style sources, coloured after resizing by a tint or a texture).
struct ObjectCutout {
    /// `channels` = 4 (RGB + coverage) or 2 (intensity + coverage).
    var image: FloatImage
    /// Where it came from, e.g. "train-images-idx3-ubyte.gz#1234".
    let label: String
    /// The file it was read from when each object is its own file (clip-art), for the manifest.
    var file: String? = nil
}

/// What happens to a candidate: it is used, or it is passed over with a reason.
enum CutoutOutcome {
    case usable(ObjectCutout)
    case skipped(String)
}

/// A reference to one candidate object of a source.
struct ObjectReference: Hashable {
    /// Which array or file list (Fashion-MNIST: 0 train file, 1 test file).
    let pool: Int
    let index: Int
}

/// How the colour of an intensity-only cutout is made after resizing.
enum ObjectFill {
    /// Clip-art: the cutout's own RGB.
    case own
    /// Fashion-MNIST: intensity × a random colour.
    case tint
    /// Animal-MNIST: intensity × a crop of a photograph.
    case texture
}

/// A source of objects in classes.
protocol ObjectSource: AnyObject {
    /// A short name for messages and the manifest ("Fashion-MNIST").
    var name: String { get }
    /// Class names in the source's order.
    var classNames: [String] { get }
    /// The files the objects are read from with their sha256, for the manifest; empty when each
    /// object is its own file (clip-art), whose used files are hashed instead.
    var sourceDigests: [SourceDigest] { get }
    var fill: ObjectFill { get }
    /// When true, train and test draw from one shuffled list (train first), so they never share an
    /// object; when false the source has separate train and test objects.
    var sharedPool: Bool { get }
    /// Candidates of class `classIndex` for one split (both splits alike when ``sharedPool``).
    func candidates(classIndex: Int, train: Bool) -> [ObjectReference]
    func cutout(_ reference: ObjectReference) -> CutoutOutcome
}

// MARK: - MNIST-style sources (28×28 intensities, object on black)

/// Intensity images on black, shared by Fashion-MNIST and Animal-MNIST.
enum MNISTStyle {
    /// The cutout of a `width`×`height` intensity image: mask = pixel > 0 with enclosed holes filled,
    /// cut to the mask's tight box; nil when no pixel is above 0.
    static func cutout(pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, label: String) -> ObjectCutout? {
        let mask = CompositeMasks.filledMask(pixels, width: width, height: height)
        guard let box = CompositeMasks.tightBox(mask, width: width, height: height) else { return nil }
        var values = [Float](repeating: 0, count: box.width * box.height * 2)
        mask.withUnsafeBufferPointer { m in
            values.withUnsafeMutableBufferPointer { out in
                for y in 0..<box.height {
                    for x in 0..<box.width {
                        let source = (box.y + y) * width + box.x + x
                        let coverage: Float = m[source] != 0 ? 1 : 0
                        out[2 * (y * box.width + x)] = Float(pixels[source]) / 255 * coverage
                        out[2 * (y * box.width + x) + 1] = coverage
                    }
                }
            }
        }
        return ObjectCutout(image: FloatImage(width: box.width, height: box.height, channels: 2, values: values), label: label)
    }
}

/// Fashion-MNIST: `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` in a folder (Debian's
/// `/usr/share/datasets/fashion-mnist`) or inside an archive. Train objects come from the 60k
/// training images and test objects from the 10k test images, so no item appears in both splits.
final class FashionMNISTSource: ObjectSource {
    static let allClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let fileNames = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    let name = "Fashion-MNIST"
    let classNames = FashionMNISTSource.allClassNames
    let fill = ObjectFill.tint
    let sharedPool = false
    let sourceDigests: [SourceDigest]
    private let sourceFiles: [String]
    private let images: [IDXArray]      // [train, test], (N, 28, 28)
    private let byClass: [[[Int]]]      // [split][class] → item indices

    init(path: String) throws {
        let hint = "install Debian's dataset-fashion-mnist or pass --objects-path PATH (a folder or archive holding "
            + FashionMNISTSource.fileNames.joined(separator: ", ") + ")"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CompositeError.missingSource(path: path, what: "the Fashion-MNIST folder", hint: hint)
        }
        var files: [String] = [], bytes: [[UInt8]] = []
        if isDirectory.boolValue {
            for file in FashionMNISTSource.fileNames {
                let full = URL(fileURLWithPath: path).appendingPathComponent(file).path
                guard FileManager.default.fileExists(atPath: full) else {
                    throw CompositeError.missingSource(path: full, what: "the Fashion-MNIST file \(file)", hint: hint)
                }
                files.append(full)
                bytes.append(try LocalFile.read(full, limit: IDX.defaultLimit))
            }
        } else {
            let archive = try ArchiveReader(path: path)
            let entries = try archive.entries()
            for file in FashionMNISTSource.fileNames {
                let plain = String(file.dropLast(3))
                guard let entry = entries.first(where: { $0.isFile && ($0.path as NSString).lastPathComponent == file })
                        ?? entries.first(where: { $0.isFile && ($0.path as NSString).lastPathComponent == plain }) else {
                    throw CompositeError.missingSource(path: path, what: "a member named \(file)", hint: hint)
                }
                files.append(path + ":" + entry.path)
                bytes.append(try archive.read(entry.path))
            }
        }
        sourceFiles = files
        sourceDigests = zip(files, bytes).map { SourceDigest(file: $0.0, sha256: SHA256.hex(of: $0.1)) }
        var images: [IDXArray] = [], byClass: [[[Int]]] = []
        for split in 0..<2 {
            let pixels = try IDX.parse(bytes: bytes[2 * split], name: files[2 * split], expectedRank: 3)
            let labels = try IDX.parse(bytes: bytes[2 * split + 1], name: files[2 * split + 1], expectedRank: 1)
            guard pixels.dimensions.count == 3, pixels.dimensions[1] > 0, pixels.dimensions[2] > 0 else {
                throw CompositeError.badSource(path: files[2 * split], expected: "images of shape (N, rows, columns)",
                                               found: "dimensions \(pixels.dimensions)")
            }
            guard labels.count == pixels.count else {
                throw CompositeError.badSource(path: files[2 * split + 1], expected: "\(pixels.count) labels, one per image of \(files[2 * split])",
                                               found: "\(labels.count) labels")
            }
            var lists = [[Int]](repeating: [], count: 10)
            for (i, label) in labels.values.enumerated() {
                guard label < 10 else {
                    throw CompositeError.badSource(path: files[2 * split + 1], expected: "labels 0…9", found: "label \(label) at item \(i)")
                }
                lists[Int(label)].append(i)
            }
            images.append(pixels)
            byClass.append(lists)
        }
        self.images = images
        self.byClass = byClass
    }

    func candidates(classIndex: Int, train: Bool) -> [ObjectReference] {
        let split = train ? 0 : 1
        return byClass[split][classIndex].map { ObjectReference(pool: split, index: $0) }
    }

    func cutout(_ reference: ObjectReference) -> CutoutOutcome {
        let array = images[reference.pool]
        let rows = array.dimensions[1], columns = array.dimensions[2]
        let label = (sourceFiles[2 * reference.pool] as NSString).lastPathComponent + "#\(reference.index)"
        let cut = array.values.withUnsafeBufferPointer { all in
            MNISTStyle.cutout(pixels: UnsafeBufferPointer(rebasing: all[(reference.index * rows * columns)..<((reference.index + 1) * rows * columns)]),
                              width: columns, height: rows, label: label)
        }
        return cut.map { .usable($0) } ?? .skipped("\(label): blank image")
    }
}

/// Animal-MNIST silhouettes from the `animal_mnist-0.4` wheel: gzipped numpy pickles of uint8
/// (10000, 28, 28) images and int64 labels. The class order (bear, bird, cat, cow, dog, elephant,
/// giraffe, horse, sheep, zebra) is the alphabetical list of the package's description; it was
/// checked by looking at the silhouettes of each label. One pool per class, split by the builder.
final class AnimalMNISTSource: ObjectSource {
    static let allClassNames = ["Bear", "Bird", "Cat", "Cow", "Dog", "Elephant", "Giraffe", "Horse", "Sheep", "Zebra"]
    static let dataMember = "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
    static let labelMember = "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz"

    let name = "Animal-MNIST"
    let classNames = AnimalMNISTSource.allClassNames
    let fill = ObjectFill.texture
    let sharedPool = true
    let sourceDigests: [SourceDigest]
    private let pixels: [UInt8]
    private let rows: Int, columns: Int
    private let byClass: [[Int]]

    init(path: String?) throws {
        let hint = "download it with `pip download --no-deps animal-mnist==0.4` and pass --objects-path animal_mnist-0.4-py3-none-any.whl"
        guard let path else {
            throw CompositeError.missingSource(path: "(no path given)", what: "the Animal-MNIST wheel", hint: hint)
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CompositeError.missingSource(path: path, what: "the Animal-MNIST wheel", hint: hint)
        }
        let wheelBytes = try LocalFile.read(path, limit: 1 << 30)
        sourceDigests = [SourceDigest(file: path, sha256: SHA256.hex(of: wheelBytes))]
        let wheel = try ArchiveReader(bytes: wheelBytes, name: path)
        let entries = try wheel.index()
        for member in [AnimalMNISTSource.dataMember, AnimalMNISTSource.labelMember] where entries[member] == nil {
            throw CompositeError.badSource(path: path, expected: "the animal_mnist wheel with member \(member)",
                                           found: "\(entries.count) members without it")
        }
        let images = try NumpyPickle.parse(bytes: wheel.read(AnimalMNISTSource.dataMember), name: path + ":" + AnimalMNISTSource.dataMember)
        let labelName = path + ":" + AnimalMNISTSource.labelMember
        let labels = try NumpyPickle.parse(bytes: wheel.read(AnimalMNISTSource.labelMember), name: labelName).integers(name: labelName)
        guard images.shape.count == 3, images.descr.hasSuffix("u1"), images.shape[1] > 0, images.shape[2] > 0 else {
            throw CompositeError.badSource(path: path + ":" + AnimalMNISTSource.dataMember, expected: "uint8 images of shape (N, 28, 28)",
                                           found: "\(images.descr) of shape \(images.shape)")
        }
        guard labels.count == images.shape[0] else {
            throw CompositeError.badSource(path: labelName, expected: "\(images.shape[0]) labels", found: "\(labels.count)")
        }
        var lists = [[Int]](repeating: [], count: 10)
        for (i, label) in labels.enumerated() {
            guard (0..<10).contains(label) else { throw CompositeError.badSource(path: labelName, expected: "labels 0…9", found: "\(label) at item \(i)") }
            lists[label].append(i)
        }
        pixels = images.data
        rows = images.shape[1]; columns = images.shape[2]
        byClass = lists
    }

    func candidates(classIndex: Int, train: Bool) -> [ObjectReference] {
        byClass[classIndex].map { ObjectReference(pool: 0, index: $0) }
    }

    func cutout(_ reference: ObjectReference) -> CutoutOutcome {
        let label = "animal_data_version_3#\(reference.index)"
        let size = rows * columns
        let cut = pixels.withUnsafeBufferPointer { all in
            MNISTStyle.cutout(pixels: UnsafeBufferPointer(rebasing: all[(reference.index * size)..<((reference.index + 1) * size)]),
                              width: columns, height: rows, label: label)
        }
        return cut.map { .usable($0) } ?? .skipped("\(label): blank image")
    }
}
