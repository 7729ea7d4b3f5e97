// Background photographs for composites: listed, hashed, decoded once, and cut into square crops.
//
// How to use (inside the builder):
//
//     let pool = try BackgroundPool(paths: ["/usr/share/backgrounds/mate/nature"], excluded: ["LadyBird.jpg"], outputSize: 96)
//     let box = pool.drawCrop(photo: 3, using: &generator)     // a random square in photo 3
//     let background = pool.crop(photo: 3, box: box, size: 96)  // FloatImage 96×96×3 in [0, 1]
import Foundation
import KDCore

/// One usable photograph, RGB in [0, 1], possibly reduced (see ``BackgroundPool``).
struct BackgroundPhoto {
    /// The path as found (folder + name, or the file given).
    let file: String
    let image: FloatImage
}

/// The photographs backgrounds (and Animal-MNIST textures) are cut from.
///
/// Photos are reduced once on loading so that their shorter side is at most `4 · size`: the
/// smallest crop (¼ of the shorter side) then still maps at least one photo pixel to each output
/// pixel, and a 2560×1600 wallpaper does not have to be kept (or resampled) at full size. Crop
/// boxes are in the pixels of the reduced photo.
final class BackgroundPool {
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// Photos whose shorter side is under this many pixels are passed over (icons, not photographs).
    static let minimumSide = 16
    /// 256 MB per photo file; the largest wallpapers are about 10 MB.
    static let fileLimit = 256 << 20

    let photos: [BackgroundPhoto]
    let digests: [SourceDigest]
    /// "file: reason" for every listed file that could not be used (unreadable, not an image, too small).
    let skipped: [String]
    /// Files left out by name (``CompositeOptions/excludedBackgrounds``).
    let excluded: [String]

    init(paths: [String], excluded: [String], outputSize: Int, progress: (Int, Int) -> Void = { _, _ in }) throws {
        let excludedNames = Set(excluded.map { $0.lowercased() })
        var candidates: [String] = [], skipped: [String] = [], excludedFiles: [String] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                skipped.append("\(path): does not exist")
                continue
            }
            if isDirectory.boolValue {
                let names = ((try? manager.contentsOfDirectory(atPath: path)) ?? []).sorted()
                for name in names where BackgroundPool.extensions.contains((name as NSString).pathExtension.lowercased()) {
                    let full = URL(fileURLWithPath: path).appendingPathComponent(name).path
                    if excludedNames.contains(name.lowercased()) { excludedFiles.append(full); continue }
                    candidates.append(full)
                }
            } else if excludedNames.contains((path as NSString).lastPathComponent.lowercased()) {
                excludedFiles.append(path)
            } else {
                candidates.append(path)
            }
        }
        var photos: [BackgroundPhoto] = [], digests: [SourceDigest] = []
        let longest = 4 * outputSize
        for (n, file) in candidates.enumerated() {
            progress(n, candidates.count)
            do {
                let bytes = try LocalFile.read(file, limit: BackgroundPool.fileLimit)
                let photo = try RGBImage.decode(bytes: bytes, name: file).rgb
                guard min(photo.width, photo.height) >= BackgroundPool.minimumSide else {
                    skipped.append("\(file): \(photo.width)×\(photo.height) is too small for a photograph")
                    continue
                }
                var image = FloatImage(photo)
                let shorter = min(photo.width, photo.height)
                if shorter > longest {
                    let scale = Double(longest) / Double(shorter)
                    image = image.resized(width: max(longest, Int((Double(photo.width) * scale).rounded())),
                                          height: max(longest, Int((Double(photo.height) * scale).rounded())))
                }
                photos.append(BackgroundPhoto(file: file, image: image))
                digests.append(SourceDigest(file: file, sha256: FileDigest.sha256Hex(of: bytes)))
            } catch {
                skipped.append("\(file): \(error)")
            }
        }
        progress(candidates.count, candidates.count)
        guard !photos.isEmpty else { throw CompositeError.noBackgrounds(tried: paths, reasons: skipped) }
        self.photos = photos
        self.digests = digests
        self.skipped = skipped
        self.excluded = excludedFiles
    }

    /// A random square inside photo `photo`: side uniform in [⌈shorter/4⌉, shorter], position
    /// uniform over the places it fits.
    func drawCrop(photo: Int, using generator: inout SeededGenerator) -> PixelBox {
        let image = photos[photo].image
        let shorter = min(image.width, image.height)
        let side = CompositeRandom.integer(in: (shorter + 3) / 4...shorter, using: &generator)
        let x = CompositeRandom.integer(in: 0...(image.width - side), using: &generator)
        let y = CompositeRandom.integer(in: 0...(image.height - side), using: &generator)
        return PixelBox(x: x, y: y, width: side, height: side)
    }

    /// The crop `box` of photo `photo`, resized (antialiased bilinear) to `width`×`height`.
    func crop(photo: Int, box: PixelBox, width: Int, height: Int) -> FloatImage {
        photos[photo].image.cropped(to: box).resized(width: width, height: height)
    }
}

extension FloatImage {
    /// The part inside `box`, which must lie within the image.
    func cropped(to box: PixelBox) -> FloatImage {
        precondition(box.x >= 0 && box.y >= 0 && box.x1 <= width && box.y1 <= height && box.area > 0,
                     "crop \(box) outside a \(width)×\(height) image")
        let rowLength = box.width * channels
        var out = [Float](repeating: 0, count: box.height * rowLength)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<box.height {
                    (dst.baseAddress! + y * rowLength).update(from: src.baseAddress! + ((box.y + y) * width + box.x) * channels, count: rowLength)
                }
            }
        }
        return FloatImage(width: box.width, height: box.height, channels: channels, values: out)
    }
}

/// Seeded draws with a fixed algorithm (not the standard library's, which may change between
/// Swift releases), so a seed gives the same dataset with any toolchain.
enum CompositeRandom {
    /// Uniform integer in `range` (multiply-shift of 64 random bits; bias below 2⁻³² for the
    /// ranges used here).
    static func integer(in range: ClosedRange<Int>, using generator: inout SeededGenerator) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(span.multipliedFullWidth(by: generator.next()).high)
    }

    /// Uniform in [low, high).
    static func uniform(_ low: Double, _ high: Double, using generator: inout SeededGenerator) -> Double {
        low + (high - low) * Double(generator.next() >> 11) * 0x1p-53
    }

    /// Fisher–Yates shuffle.
    static func shuffle<T>(_ items: inout [T], using generator: inout SeededGenerator) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, integer(in: 0...i, using: &generator))
        }
    }
}
