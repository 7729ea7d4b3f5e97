// The composite dataset builder: objects pasted on crops of real photographs, written as a CUB-200-2011
// archive with exact masks and boxes. Data.md ("Images") is the specification.
//
// How to use:
//
//     var options = CompositeOptions(objects: .fashionMNIST, perClass: 30, seed: 1)
//     let summary = try CompositeBuilder.build(options, to: "fashion-composite.tgz") { progress in
//         FileHandle.standardError.write(Data("\(progress)\n".utf8))
//     }
//     // summary.records[i].box is the tight box of image i's mask
//
// For each image (drawn from a generator seeded by (seed, image id), so images do not depend on
// each other):
//
//     photo  ← uniform over the background photos;  crop ← a random square, side ≥ ¼ shorter side
//     scale  ← U(scaleMin, scaleMax);  the object's longer side = round(scale · size)
//     object ← premultiplied bilinear resize of (colour · m, m);  mask = m ≥ ½
//     place  ← uniform over the positions where the object lies fully inside
//     pixel  = mask ? colour : background;   box = tight box of mask
//
// so the mask is exactly the set of pixels replaced. Fashion-MNIST's gray items become
// intensity × a random tint; Animal-MNIST's silhouettes intensity × a crop of another photograph.
import Foundation
import KDCore

/// Builds composite "object on cluttered real background" datasets in CUB-200-2011's layout.
public enum CompositeBuilder {
    public static let toolVersion = "0.1"
    /// JPEG quality of the images: high enough that compression artefacts stay small next to the
    /// photographs' own texture, as in CUB's JPEGs.
    public static let jpegQuality = 92

    /// Builds the dataset described by `options` and writes it atomically to `path` (a .tgz).
    @discardableResult
    public static func build(_ options: CompositeOptions, to path: String,
                             progress: (CompositeProgress) -> Void = { _ in }) throws -> CompositeSummary {
        try options.validate()
        progress(CompositeProgress(stage: .objects, done: 0, total: 0))
        let source = try makeSource(options)
        let selected = try selectClasses(options.classes, of: source)
        let pool = try BackgroundPool(paths: options.backgrounds, excluded: options.excludedBackgrounds, outputSize: options.size) {
            progress(CompositeProgress(stage: .backgrounds, done: $0, total: $1))
        }

        let nTest = options.testPerClass, nTrain = options.perClass - nTest
        var images: [RenderedImage] = []
        var classCounts: [CompositeSummary.ClassCount] = []
        var skippedObjects: [String] = []
        let total = selected.count * options.perClass
        for (k, classIndex) in selected.enumerated() {
            let className = source.classNames[classIndex]
            let directory = String(format: "%03d.", k + 1) + directoryName(className)
            var shuffler = SeededGenerator(seed: options.seed, stream: 0x1_0000_0000 + UInt64(classIndex))
            var trainCandidates = source.candidates(classIndex: classIndex, train: true)
            CompositeRandom.shuffle(&trainCandidates, using: &shuffler)
            var testCandidates: [ObjectReference] = []
            if !source.sharedPool {
                testCandidates = source.candidates(classIndex: classIndex, train: false)
                CompositeRandom.shuffle(&testCandidates, using: &shuffler)
            }
            var cursors = [0, 0]
            for slot in 0..<options.perClass {
                let isTrain = slot < nTrain
                let id = images.count + 1
                var generator = SeededGenerator(seed: options.seed, stream: UInt64(id))
                let list = (isTrain || source.sharedPool) ? trainCandidates : testCandidates
                let which = source.sharedPool ? 0 : (isTrain ? 0 : 1)
                var rendered: RenderedImage? = nil
                while rendered == nil {
                    guard cursors[which] < list.count else {
                        let needed = source.sharedPool ? options.perClass : (isTrain ? nTrain : nTest)
                        let found = images.filter { $0.classIndex == k + 1 && (source.sharedPool || $0.isTrain == isTrain) }.count
                        throw CompositeError.notEnoughObjects(className: className, needed: needed, found: found,
                                                              source: source.name + (source.sharedPool ? "" : isTrain ? " (train)" : " (test)"))
                    }
                    let reference = list[cursors[which]]
                    cursors[which] += 1
                    switch source.cutout(reference) {
                    case let .skipped(reason): skippedObjects.append(reason)
                    case let .usable(cutout):
                        rendered = try render(cutout, fill: source.fill, pool: pool, options: options, generator: &generator)
                        if rendered == nil { skippedObjects.append("\(cutout.label): vanishes at the drawn scale") }
                    }
                }
                var image = rendered!
                image.id = id
                image.classIndex = k + 1
                image.directory = directory
                image.fileStem = directoryName(className) + "_\(id)"
                image.isTrain = isTrain
                images.append(image)
                progress(CompositeProgress(stage: .rendering, done: images.count, total: total))
            }
            classCounts.append(.init(directory: directory, train: nTrain, test: nTest))
        }

        progress(CompositeProgress(stage: .hashing, done: 0, total: 0))
        var objectDigests = source.sourceDigests
        if objectDigests.isEmpty {
            var seen = Set<String>()
            for image in images { if let file = image.objectFile, seen.insert(file).inserted {
                objectDigests.append(SourceDigest(file: file, sha256: try SHA256.hex(ofFile: file)))
            } }
        }
        let usedPhotos = Set(images.map(\.backgroundPhoto) + images.compactMap(\.texturePhoto))
        let backgroundDigests = pool.digests.enumerated().filter { usedPhotos.contains($0.offset) }.map(\.element)
        let manifest = CompositeManifest(options: options, source: source, classes: classCounts.map(\.directory),
                                         objectFiles: objectDigests, backgrounds: backgroundDigests, images: images.count)
        progress(CompositeProgress(stage: .writing, done: 0, total: images.count))
        try CompositeArchive.write(images: images, classes: classCounts.map(\.directory), manifest: manifest, to: path)
        progress(CompositeProgress(stage: .writing, done: images.count, total: images.count))

        let records = images.map {
            CompositeSummary.Record(id: $0.id, file: $0.directory + "/" + $0.fileStem + ".jpg", classIndex: $0.classIndex,
                                    isTrain: $0.isTrain, background: pool.photos[$0.backgroundPhoto].file,
                                    backgroundCrop: $0.backgroundCrop, object: $0.objectLabel, box: $0.box, maskPixels: $0.maskPixels)
        }
        return CompositeSummary(path: path, classes: classCounts, records: records,
                                backgrounds: backgroundDigests.map(\.file), skippedBackgrounds: pool.skipped,
                                excludedBackgrounds: pool.excluded,
                                skippedObjects: skippedObjects)
    }

    // MARK: Sources and classes

    static func makeSource(_ options: CompositeOptions) throws -> ObjectSource {
        switch options.objects {
        case .fashionMNIST: return try FashionMNISTSource(path: options.resolvedObjectsPath!)
        case .animalMNIST: return try AnimalMNISTSource(path: options.resolvedObjectsPath)
        case .clipart: return try ClipArtSource(path: options.resolvedObjectsPath!, maxSide: 2 * options.size)
        }
    }

    /// Indices (in the source's order) of the classes named, matched by ``classKey(_:)``.
    static func selectClasses(_ names: [String]?, of source: ObjectSource) throws -> [Int] {
        guard let names else { return Array(source.classNames.indices) }
        let keys = source.classNames.map(classKey)
        var chosen = Set<Int>()
        for name in names {
            guard let index = keys.firstIndex(of: classKey(name)) else {
                throw CompositeError.unknownClass(name: name, known: source.classNames)
            }
            chosen.insert(index)
        }
        return chosen.sorted()
    }

    /// A class name reduced to lowercase letters and digits, so "T-shirt/top", "t_shirt_top" and
    /// "TShirtTop" are the same class.
    public static func classKey(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    /// A class name as a CUB-style folder name: characters other than ASCII letters, digits and '-'
    /// become '_' ("T-shirt/top" → "T-shirt_top", "Ankle boot" → "Ankle_boot").
    public static func directoryName(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-") ? Character(scalar) : "_"
        })
    }
}

/// One finished image with everything the archive and the summary need.
struct RenderedImage {
    var jpeg: [UInt8]
    var maskPNG: [UInt8]
    var box: PixelBox
    var maskPixels: Int
    var backgroundPhoto: Int
    var backgroundCrop: PixelBox
    var texturePhoto: Int?
    var objectLabel: String
    var objectFile: String?
    var id = 0
    var classIndex = 0
    var directory = ""
    var fileStem = ""
    var isTrain = true

    init(jpeg: [UInt8], maskPNG: [UInt8], box: PixelBox, maskPixels: Int, backgroundPhoto: Int, backgroundCrop: PixelBox,
         texturePhoto: Int?, objectLabel: String, objectFile: String?) {
        self.jpeg = jpeg; self.maskPNG = maskPNG; self.box = box; self.maskPixels = maskPixels
        self.backgroundPhoto = backgroundPhoto; self.backgroundCrop = backgroundCrop; self.texturePhoto = texturePhoto
        self.objectLabel = objectLabel; self.objectFile = objectFile
    }
}
