// How an image collection becomes samples: input size, grid, foreground rule, normalisation, subsets.
//
// How to use:
//
//     var options = ImageOptions()                       // S = 64, G = 16, majority rule, ImageNet statistics
//     options.grid = 8; options.maxPerSplit = 200
//     let parsed = try ImageOptions(parsing: ["grid": "8", "fg-rule": "corner"])   // plugin option strings
//     let dataset = try openImageCollection("CUB_200_2011.tgz", options: options)
//     record(dataset.settings)                           // every option, plus what the reader chose
import Foundation
import KDCore
import KDDatasets

/// How a grid cell is labelled foreground (Method.md §1).
public enum ForegroundRule: String, Codable, CaseIterable, Sendable {
    /// A cell is fg when at least half of its pixels (at the network's resolution S×S) are inside the
    /// object mask, or inside the box where only boxes exist. The paper's definition; the default.
    case majority
    /// The authors' code: the mask is resized bilinearly to the crop, and a cell is fg when the pixel
    /// at its top-left corner is non-zero (after rounding to 8 bits, as their uint8 masks were).
    case corner
}

/// Options that shape the samples of an image collection. Every one is recorded with every result
/// (``settingsDictionary()``).
public struct ImageOptions: Codable, Equatable, Sendable {
    /// Side S of the square network input. 64 keeps a VGG-like network trainable on a CPU while a
    /// 16×16 grid still has 4×4-pixel cells.
    public var imageSize: Int = 64
    /// Cells per side G of the unit grid (8, 16 and 28 in the paper's sweep; 16 its default). Need
    /// not divide S: ``UnitMap/grid(height:width:channels:cells:)`` tiles uneven sizes.
    public var grid: Int = 16
    public var fgRule: ForegroundRule = .majority
    /// Per-channel statistics on [0, 1] values, applied after grayscale sources are replicated to 3
    /// channels. ImageNet's by default: the paper's networks start from ImageNet conventions.
    public var normalization: Normalization = .imageNet
    /// Keep only the first N records of each split after a seeded shuffle (quick runs); nil keeps all.
    public var maxPerSplit: Int? = nil
    /// Keep only these classes (names as the collection spells them; CUB's "001." prefix optional).
    /// Labels are renumbered 0..<k in the collection's own class order.
    public var classes: [String]? = nil
    /// Path of a separate mask archive (CUB's `segmentations.tgz`).
    public var masks: String? = nil
    /// Include VOC/ILSVRC objects marked `difficult`. Off, as in the VOC benchmark protocol.
    public var includeDifficult: Bool = false
    /// Seed of the subset shuffle.
    public var seed: UInt64 = 0
    /// Overrides the format's crop scale (CUB 1, VOC 1.2, ILSVRC 1.5): the crop is the object box scaled by
    /// this factor about its centre, clamped to the image. nil keeps the format's (the paper's) choice.
    public var cropScale: Double? = nil

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ImageOptions()
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        grid = try c.decodeIfPresent(Int.self, forKey: .grid) ?? d.grid
        fgRule = try c.decodeIfPresent(ForegroundRule.self, forKey: .fgRule) ?? d.fgRule
        normalization = try c.decodeIfPresent(Normalization.self, forKey: .normalization) ?? d.normalization
        maxPerSplit = try c.decodeIfPresent(Int.self, forKey: .maxPerSplit)
        classes = try c.decodeIfPresent([String].self, forKey: .classes)
        masks = try c.decodeIfPresent(String.self, forKey: .masks)
        includeDifficult = try c.decodeIfPresent(Bool.self, forKey: .includeDifficult) ?? d.includeDifficult
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        cropScale = try c.decodeIfPresent(Double.self, forKey: .cropScale)
    }

    /// Throws when an option cannot work (S < G, a non-positive size, a normalisation without 3 channels).
    public func validate() throws {
        func bad(_ name: String, _ value: String, _ expected: String) -> ImageCollectionError {
            .badOption(name: name, value: value, expected: expected)
        }
        guard (8...1024).contains(imageSize) else { throw bad("image-size", "\(imageSize)", "an integer from 8 to 1024") }
        guard grid >= 1 && grid <= imageSize else {
            throw bad("grid", "\(grid)", "an integer from 1 to image-size (\(imageSize)): each cell needs a pixel")
        }
        guard normalization.mean.count == 3 else {
            throw bad("normalization", "\(normalization.mean.count) channels", "3 values (grayscale sources are replicated to RGB)")
        }
        if let n = maxPerSplit, n < 1 { throw bad("max-per-split", "\(n)", "a positive integer, or none") }
        if let s = cropScale, !(s.isFinite && s >= 1 && s <= 4) {
            throw bad("crop-scale", "\(s)", "a number from 1 to 4, or format (the format's own scale)")
        }
        if let c = classes, c.isEmpty { throw bad("classes", "", "a non-empty comma-separated list of class names") }
    }

    /// Every option as text, recorded with every result.
    public func settingsDictionary() -> [String: String] {
        func list(_ v: [Float]) -> String { v.map { String($0) }.joined(separator: ",") }
        return [
            "image-size": String(imageSize),
            "grid": String(grid),
            "fg-rule": fgRule.rawValue,
            "normalization-mean": list(normalization.mean),
            "normalization-std": list(normalization.std),
            "max-per-split": maxPerSplit.map(String.init) ?? "all",
            "classes": classes?.joined(separator: ",") ?? "all",
            "masks": masks ?? "none",
            "include-difficult": String(includeDifficult),
            "seed": String(seed),
            "crop-scale": cropScale.map { String($0) } ?? "format",
        ]
    }
}

// MARK: - Plugin option strings

extension ImageOptions {
    /// The options as a plugin declares them (`kd-tool … --option grid=8`), with their defaults.
    public static let pluginOptions: [PluginOption] = {
        let d = ImageOptions()
        return [
            PluginOption("image-size", default: String(d.imageSize), help: "Side in pixels of the square network input."),
            PluginOption("grid", default: String(d.grid), help: "Cells per side of the unit grid (the paper uses 8, 16, 28)."),
            PluginOption("fg-rule", default: d.fgRule.rawValue,
                         help: "majority: a cell is foreground when at least half its pixels are in the mask; corner: the authors' code (top-left pixel of the bilinearly resized mask)."),
            PluginOption("normalization", default: "imagenet",
                         help: "imagenet, none (values in [0,1]), or mean0,mean1,mean2/std0,std1,std2."),
            PluginOption("max-per-split", default: "all", help: "Keep the first N records of each split after a seeded shuffle."),
            PluginOption("classes", default: "all", help: "Comma-separated class names to keep."),
            PluginOption("masks", default: "none", help: "Path of a separate mask archive (CUB's segmentations.tgz)."),
            PluginOption("include-difficult", default: "false", help: "Keep VOC/ILSVRC objects marked difficult."),
            PluginOption("seed", default: String(d.seed), help: "Seed of the subset shuffle."),
            PluginOption("crop-scale", default: "format",
                         help: "Crop the object box scaled by this factor (≥ 1) instead of the format's own (CUB 1, VOC 1.2, ILSVRC 1.5)."),
        ]
    }()

    /// Options from plugin option strings (names as in ``pluginOptions``; missing ones keep their
    /// defaults). Throws ``ImageCollectionError/badOption(name:value:expected:)`` for a value that does
    /// not parse, and for a name it does not know.
    public init(parsing given: [String: String]) throws {
        self.init()
        func bad(_ name: String, _ value: String, _ expected: String) -> ImageCollectionError {
            .badOption(name: name, value: value, expected: expected)
        }
        for (name, raw) in given {
            let value = raw.trimmingCharacters(in: .whitespaces)
            switch name {
            case "image-size":
                guard let v = Int(value) else { throw bad(name, raw, "an integer") }
                imageSize = v
            case "grid":
                guard let v = Int(value) else { throw bad(name, raw, "an integer") }
                grid = v
            case "fg-rule":
                guard let v = ForegroundRule(rawValue: value) else { throw bad(name, raw, "majority or corner") }
                fgRule = v
            case "normalization":
                normalization = try ImageOptions.parseNormalization(value)
            case "max-per-split":
                if value == "all" || value.isEmpty { maxPerSplit = nil; continue }
                guard let v = Int(value), v > 0 else { throw bad(name, raw, "a positive integer or all") }
                maxPerSplit = v
            case "classes":
                if value == "all" || value.isEmpty { classes = nil; continue }
                classes = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case "masks":
                masks = (value == "none" || value.isEmpty) ? nil : value
            case "include-difficult":
                guard let v = Bool(value.lowercased()) else { throw bad(name, raw, "true or false") }
                includeDifficult = v
            case "seed":
                guard let v = UInt64(value) else { throw bad(name, raw, "a non-negative integer") }
                seed = v
            case "crop-scale":
                if value == "format" { cropScale = nil; break }
                guard let v = Double(value) else { throw bad(name, raw, "a number ≥ 1, or format") }
                cropScale = v
            default:
                throw bad(name, raw, "one of the options " + ImageOptions.pluginOptions.map(\.name).joined(separator: ", "))
            }
        }
        try validate()
    }

    static func parseNormalization(_ value: String) throws -> Normalization {
        switch value.lowercased() {
        case "imagenet": return .imageNet
        case "none", "identity": return .identity(channels: 3)
        default:
            let parts = value.split(separator: "/")
            let numbers = parts.map { $0.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) } }
            guard parts.count == 2, numbers.allSatisfy({ $0.count == 3 && $0.allSatisfy { $0?.isFinite == true } }) else {
                throw ImageCollectionError.badOption(name: "normalization", value: value,
                                                     expected: "imagenet, none, or three means and three stds as m0,m1,m2/s0,s1,s2")
            }
            let mean = numbers[0].map { $0! }, std = numbers[1].map { $0! }
            guard std.allSatisfy({ $0 > 0 }) else {
                throw ImageCollectionError.badOption(name: "normalization", value: value, expected: "positive standard deviations")
            }
            return Normalization(mean: mean, std: std)
        }
    }
}
