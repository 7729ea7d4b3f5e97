// Options, progress, summary and errors of the composite dataset builder (CompositeBuilder.swift).
//
// How to use:
//
//     var options = CompositeOptions()                 // Fashion-MNIST on Debian's mate nature photos
//     options.perClass = 20; options.seed = 7
//     options.classes = ["Trouser", "Bag", "Sneaker"]
//     let summary = try CompositeBuilder.build(options, to: "fashion-composite.tgz") { print($0) }
import Foundation

/// Everything that determines a composite dataset: the same options give a byte-identical archive.
public struct CompositeOptions: Codable, Equatable, Sendable {
    /// Where the pasted objects come from.
    public enum ObjectKind: String, Codable, CaseIterable, Sendable {
        /// Fashion-MNIST items (IDX .gz files), tinted with a random colour.
        case fashionMNIST = "fashion-mnist"
        /// Animal-MNIST silhouettes (from the `animal_mnist-0.4` wheel), filled with a photo texture.
        case animalMNIST = "animal-mnist"
        /// Clip-art cut-outs: RGBA PNGs in one sub-folder per class (Debian openclipart-png's layout).
        case clipart
    }

    /// Debian `dataset-fashion-mnist`'s folder.
    public static let defaultFashionMNISTPath = "/usr/share/datasets/fashion-mnist"
    /// Debian `openclipart-png`'s folder of category folders.
    public static let defaultClipartPath = "/usr/share/openclipart/png"
    /// Debian `mate-backgrounds`' nature photographs.
    public static let defaultBackgrounds = ["/usr/share/backgrounds/mate/nature"]
    /// Photos of `mate-backgrounds` that show animals (a ladybird, a butterfly): an animal in the
    /// background would be an unlabelled object, so they are left out by name in every folder.
    public static let defaultExcludedBackgrounds = ["LadyBird.jpg", "TwoWings.jpg"]

    public var objects: ObjectKind
    /// The Fashion-MNIST folder (or archive), the Animal-MNIST wheel, or the clip-art folder; nil
    /// means the kind's default (Animal-MNIST has none: its wheel must be given).
    public var objectsPath: String?
    /// Photo files and folders of photos (JPEG or PNG, read non-recursively, in name order).
    public var backgrounds: [String]
    /// File names left out of `backgrounds` wherever they occur.
    public var excludedBackgrounds: [String]
    /// Class names to keep (matched ignoring case and punctuation: "t-shirt/top" = "T_shirt_top");
    /// nil keeps every class of the source.
    public var classes: [String]?
    /// Images per class. 60 by default, CUB-200-2011's typical count.
    public var perClass: Int
    /// Share of each class's images in the test split, rounded to whole images. 0.5 by default:
    /// CUB-200-2011 splits about half and half.
    public var testFraction: Double
    /// Side of the square output images in pixels. 96 by default: a few times the networks' 32–64
    /// pixel inputs, so a crop around the box still has detail.
    public var size: Int
    public var seed: UInt64
    /// The object's longer side as a share of the output side, drawn uniformly from this range.
    /// 0.40–0.75 by default: CUB birds fill roughly that share of their photos, and a smaller
    /// object would leave too few grid cells on the foreground.
    public var scaleMin: Double
    public var scaleMax: Double

    public init(objects: ObjectKind = .fashionMNIST, objectsPath: String? = nil,
                backgrounds: [String] = CompositeOptions.defaultBackgrounds,
                excludedBackgrounds: [String] = CompositeOptions.defaultExcludedBackgrounds,
                classes: [String]? = nil, perClass: Int = 60, testFraction: Double = 0.5, size: Int = 96,
                seed: UInt64 = 0, scaleMin: Double = 0.40, scaleMax: Double = 0.75) {
        self.objects = objects; self.objectsPath = objectsPath
        self.backgrounds = backgrounds; self.excludedBackgrounds = excludedBackgrounds
        self.classes = classes; self.perClass = perClass; self.testFraction = testFraction
        self.size = size; self.seed = seed; self.scaleMin = scaleMin; self.scaleMax = scaleMax
    }

    /// The objects path actually used.
    public var resolvedObjectsPath: String? {
        if let objectsPath { return objectsPath }
        switch objects {
        case .fashionMNIST: return CompositeOptions.defaultFashionMNISTPath
        case .animalMNIST: return nil
        case .clipart: return CompositeOptions.defaultClipartPath
        }
    }

    /// Test images per class: `round(perClass · testFraction)`.
    public var testPerClass: Int { Int((Double(perClass) * testFraction).rounded()) }

    /// Checks the numbers (not the files); throws ``CompositeError/badOption(_:)``.
    public func validate() throws {
        if perClass < 1 { throw CompositeError.badOption("per-class must be at least 1 (found \(perClass))") }
        if !(testFraction >= 0 && testFraction <= 1) {
            throw CompositeError.badOption("test fraction must be between 0 and 1 (found \(testFraction))")
        }
        if size < 16 || size > 1024 { throw CompositeError.badOption("size must be 16…1024 pixels (found \(size))") }
        if !(scaleMin > 0 && scaleMin <= scaleMax && scaleMax <= 1) {
            throw CompositeError.badOption("the object scale range must satisfy 0 < min ≤ max ≤ 1 (found \(scaleMin)…\(scaleMax))")
        }
        if backgrounds.isEmpty { throw CompositeError.badOption("give at least one background photo or folder") }
        if let classes, classes.isEmpty { throw CompositeError.badOption("the class list is empty: omit it to keep every class") }
    }
}

/// A source file and its SHA-256, as recorded in the manifest.
public struct SourceDigest: Codable, Equatable, Sendable {
    public let file: String
    public let sha256: String
    public init(file: String, sha256: String) { self.file = file; self.sha256 = sha256 }
}

/// Where the builder is, for a progress line.
public struct CompositeProgress: Sendable, CustomStringConvertible {
    public enum Stage: String, Sendable {
        case objects = "reading objects", backgrounds = "reading background photos", hashing = "hashing sources"
        case rendering = "compositing", writing = "writing the archive"
    }
    public let stage: Stage
    public let done: Int
    public let total: Int

    public var description: String { total > 0 ? "\(stage.rawValue): \(done)/\(total)" : stage.rawValue }
}

/// What was built.
public struct CompositeSummary: Codable, Equatable, Sendable {
    public struct ClassCount: Codable, Equatable, Sendable {
        /// The class folder, `NNN.Name`.
        public let directory: String
        public let train: Int
        public let test: Int
    }
    /// One image: where its background came from and where its object went.
    public struct Record: Codable, Equatable, Sendable {
        /// 1-based, as in images.txt.
        public let id: Int
        /// The member under `CUB_200_2011/images/`.
        public let file: String
        public let classIndex: Int
        public let isTrain: Bool
        /// The background photo (its path as listed) and the square cut from it, in the photo's pixels
        /// after the reduction described in `BackgroundPool` (none for photos with a shorter side ≤ 4·size).
        public let background: String
        public let backgroundCrop: PixelBox
        /// The object's source ("train-images-idx3-ubyte.gz#123", a PNG path).
        public let object: String
        /// Tight box of the mask in the output image (half-open).
        public let box: PixelBox
        public let maskPixels: Int
    }
    public let path: String
    public let classes: [ClassCount]
    public let records: [Record]
    /// Background photos used (as backgrounds or textures); listed photos that could not be used,
    /// with the reason; photos left out by name.
    public let backgrounds: [String]
    public let skippedBackgrounds: [String]
    public let excludedBackgrounds: [String]
    /// Clip-art files passed over (full-frame alpha, no alpha, unreadable), with the reason.
    public let skippedObjects: [String]

    public var trainCount: Int { classes.reduce(0) { $0 + $1.train } }
    public var testCount: Int { classes.reduce(0) { $0 + $1.test } }
}

/// A refusal to build, naming the file or option, what was expected and found, and what to do.
public enum CompositeError: Error, Equatable, CustomStringConvertible {
    case badOption(String)
    /// A source file is missing; `hint` says which package or option provides it.
    case missingSource(path: String, what: String, hint: String)
    /// A source file is there but is not what it should be.
    case badSource(path: String, expected: String, found: String)
    /// `--classes` named a class the source does not have.
    case unknownClass(name: String, known: [String])
    /// A class has fewer usable objects than requested.
    case notEnoughObjects(className: String, needed: Int, found: Int, source: String)
    /// No background photo could be used.
    case noBackgrounds(tried: [String], reasons: [String])

    public var description: String {
        switch self {
        case let .badOption(message):
            return "invalid option: \(message)."
        case let .missingSource(path, what, hint):
            return "\(path): \(what) not found; \(hint)."
        case let .badSource(path, expected, found):
            return "\(path): expected \(expected), found \(found)."
        case let .unknownClass(name, known):
            return "no class named \"\(name)\" in the object source; the classes are: \(known.joined(separator: ", "))."
        case let .notEnoughObjects(className, needed, found, source):
            return "class \(className) of \(source) has \(found) usable objects, \(needed) are needed: lower --per-class."
        case let .noBackgrounds(tried, reasons):
            var text = "no usable background photo (JPEG or PNG) in \(tried.joined(separator: ", "))"
            if !reasons.isEmpty { text += " (" + reasons.prefix(5).joined(separator: "; ") + (reasons.count > 5 ? "; …" : "") + ")" }
            return text + ". Install Debian's mate-backgrounds or pass --backgrounds with folders of photos without animals."
        }
    }
}
