// An opened image collection: every usable object cropped, resized, masked and labelled at open
// time, kept in memory as 8-bit pixels and packed mask bits, so `sample()` is cheap and deterministic.
//
// How to use:
//
//     let dataset = try openImageCollection("CUB_200_2011.tgz", options: options)
//     for s in dataset.skipped { warn(s.description) }          // bad records, each with file and member
//     let x = try dataset.sample(.train, 0)                     // (S, S, 3) tensor, G×G units, fg labels
//     let photo = dataset.displayImage(.train, 0)               // the S×S crop, for heat maps
//     let mask = dataset.mask(.train, 0)                        // S×S, 0/1
import Foundation
import KDCore
import KDDatasets

/// Object crops of an image collection, with grid units and fg labels (Method.md §1, §7).
public final class ImageDataset: DatasetSource {
    /// One usable object.
    struct Stored {
        var record: ObjectRecord
        /// S·S·channels bytes, row-major.
        var pixels: [UInt8]
        /// 1 (gray sources, replicated to RGB in ``sample(_:_:)``) or 3.
        var channels: Int
        var mask: FinishedMask
    }

    public let name: String
    /// The format recognised, e.g. "CUB-200-2011".
    public let format: String
    public let path: String
    public let isComposite: Bool
    public let classNames: [String]
    public let options: ImageOptions
    public let settings: [String: String]
    /// Records left out, each naming its archive, member and reason. Never part of ``count(_:)``.
    public let skipped: [SkippedRecord]
    /// The skipped records as lines for every study's output (``DatasetSource/problems``).
    public var problems: [String] { skipped.map(\.description) }
    /// The unit grid shared by every sample: `UnitMap.grid(height: S, width: S, channels: 3, cells: G)`.
    public let units: UnitMap
    private let stored: [Split: [Stored]]
    private let invStd: [Float]

    public var sampleShape: [Int] { [options.imageSize, options.imageSize, 3] }

    init(name: String, format: String, path: String, isComposite: Bool, classNames: [String], options: ImageOptions,
         settings: [String: String], skipped: [SkippedRecord], stored: [Split: [Stored]]) {
        self.name = name; self.format = format; self.path = path; self.isComposite = isComposite
        self.classNames = classNames; self.options = options; self.settings = settings; self.skipped = skipped
        self.stored = stored
        self.units = UnitMap.grid(height: options.imageSize, width: options.imageSize, channels: 3, cells: options.grid)
        self.invStd = options.normalization.std.map { 1 / $0 }
    }

    public func count(_ split: Split) -> Int { stored[split]?.count ?? 0 }

    private func item(_ split: Split, _ index: Int) -> Stored {
        let items = stored[split] ?? []
        precondition(index >= 0 && index < items.count, "\(split) sample \(index) of \(items.count)")
        return items[index]
    }

    /// The object's input: its S×S crop normalised per channel, gray replicated to RGB:
    /// ```
    /// x[h, w, c] = (pixel[h, w, c] / 255 − mean[c]) / std[c]
    /// ```
    /// Throws ``ImageCollectionError/noSample(path:split:index:count:)`` for an index outside
    /// `0..<count(split)`.
    public func sample(_ split: Split, _ index: Int) throws -> Sample {
        guard index >= 0 && index < count(split) else {
            throw ImageCollectionError.noSample(path: path, split: split.rawValue, index: index, count: count(split))
        }
        let s = item(split, index)
        let side = options.imageSize
        let t = Tensor(shape: [side, side, 3])
        let mean = options.normalization.mean, scale = invStd
        let ch = s.channels
        let out = t.data
        s.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(side * side) {
                for k in 0..<3 {
                    out[i * 3 + k] = (Float(p[i * ch + (ch == 1 ? 0 : k)]) * (1 / 255) - mean[k]) * scale[k]
                }
            }
        }
        return Sample(id: s.record.id, input: t, units: units, foreground: s.mask.foreground, label: s.record.label)
    }

    /// The record behind a sample (box, crop scale, mask source, label after any class restriction).
    public func record(_ split: Split, _ index: Int) -> ObjectRecord { item(split, index).record }

    /// The S×S crop the sample was made from, as 3-channel 8-bit pixels (for heat maps).
    public func displayImage(_ split: Split, _ index: Int) -> RGBImage {
        let s = item(split, index)
        let image = RGBImage(width: options.imageSize, height: options.imageSize, channels: s.channels, pixels: s.pixels)
        return image.rgb
    }

    /// The object mask at the input's resolution, S·S values 0/1, row-major.
    public func mask(_ split: Split, _ index: Int) -> [UInt8] {
        ObjectCrop.unpack(item(split, index).mask.bits, count: options.imageSize * options.imageSize)
    }

    /// The fg label of each of the G×G cells (as in the sample).
    public func foreground(_ split: Split, _ index: Int) -> [Bool] { item(split, index).mask.foreground }
}
