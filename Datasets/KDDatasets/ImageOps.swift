// Image operations for dataset readers: crops, resizing, and conversion to normalised tensors.
//
// How to use (an object crop as the paper's CUB/VOC/ILSVRC inputs):
//
//     guard let crop = image.cropped(to: PixelBox(x0: 60, y0: 27, x1: 385, y1: 331)) else { skip }
//     if crop.clipped { note("box extends past the image") }
//     let small = crop.image.rgb.resizedBilinear(width: 64, height: 64)    // FloatImage in [0, 1]
//     let x = small.tensor(normalization: .imageNet)                        // (H, W, C) Float32 tensor
//     let mask = maskImage.resizedNearest(width: 64, height: 64)           // labels stay labels
//
// Coordinates: pixel (x, y) covers [x, x+1) × [y, y+1); its centre is (x + 0.5, y + 0.5).
import Foundation
import KDCore

/// An axis-aligned box in pixel coordinates, half-open: columns x ..< x + width, rows y ..< y + height.
public struct PixelBox: Equatable, Hashable, Sendable, Codable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// The box with corners (x0, y0) inclusive and (x1, y1) exclusive.
    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.init(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    public var x1: Int { x + width }
    public var y1: Int { y + height }
    public var area: Int { max(0, width) * max(0, height) }
}

/// The result of cropping: the pixels, the box actually cut (the request clamped to the image),
/// and whether clamping changed it.
public struct Crop: Equatable, Sendable {
    public let image: RGBImage
    public let box: PixelBox
    public let clipped: Bool
}

/// Per-channel normalisation applied when an image becomes a tensor, recorded with every dataset
/// and model so the same inputs are reproduced later:
///
/// ```
/// x[h, w, c] = (v[h, w, c] − mean[c]) / std[c],   v = pixel / 255 ∈ [0, 1]
/// ```
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "mean and std need one value per channel")
        precondition(std.allSatisfy { $0 > 0 && $0.isFinite }, "std must be positive")
        self.mean = mean; self.std = std
    }

    /// ImageNet's RGB statistics, the usual choice for natural photographs (CUB, VOC, ILSVRC).
    public static let imageNet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Values left in [0, 1].
    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: [Float](repeating: 0, count: channels), std: [Float](repeating: 1, count: channels))
    }
}

/// A float image (H, W, C), row-major and interleaved, values normally in [0, 1].
public struct FloatImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public var values: [Float]

    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        precondition(width > 0 && height > 0 && channels > 0, "bad image layout \(width)×\(height)×\(channels)")
        precondition(values.count == width * height * channels, "\(values.count) values for \(width)×\(height)×\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.values = values
    }

    /// `image` scaled to [0, 1] (pixel / 255).
    public init(_ image: RGBImage) {
        var values = [Float](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in for i in 0..<src.count { dst[i] = Float(src[i]) / 255 } }
        }
        self.init(width: image.width, height: image.height, channels: image.channels, values: values)
    }

    /// Bilinear resampling, antialiased when shrinking.
    ///
    /// Output pixel j samples the input around its centre `(j + 0.5)·in/out` with a triangle filter of
    /// radius `max(1, in/out)` input pixels, weights renormalised at the borders:
    /// ```
    /// w(i) = max(0, 1 − |i + 0.5 − centre| / radius)
    /// ```
    /// When enlarging (radius 1) this is ordinary bilinear interpolation with clamp-to-edge; when
    /// shrinking, the widened filter averages every input pixel instead of skipping most of them
    /// (plain bilinear aliases badly when a 500-pixel photo becomes 32 pixels). Same filter as
    /// Pillow's BILINEAR. Separable: rows first, then columns.
    public func resized(width outWidth: Int, height outHeight: Int) -> FloatImage {
        precondition(outWidth > 0 && outHeight > 0, "resize to \(outWidth)×\(outHeight)")
        let c = channels
        let horizontal = ResampleTaps(input: width, output: outWidth)
        let vertical = ResampleTaps(input: height, output: outHeight)
        // Rows: (H, W, C) → (H, W', C).
        var rows = [Float](repeating: 0, count: height * outWidth * c)
        values.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let srcRow = src.baseAddress! + y * width * c
                    let dstRow = dst.baseAddress! + y * outWidth * c
                    for j in 0..<outWidth {
                        let start = horizontal.start[j]
                        for t in 0..<horizontal.count[j] {
                            let w = horizontal.weights[j * horizontal.stride + t]
                            let p = srcRow + (start + t) * c
                            for k in 0..<c { dstRow[j * c + k] += w * p[k] }
                        }
                    }
                }
            }
        }
        // Columns: (H, W', C) → (H', W', C).
        let rowLength = outWidth * c
        var out = [Float](repeating: 0, count: outHeight * rowLength)
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<outHeight {
                    let dstRow = dst.baseAddress! + i * rowLength
                    let start = vertical.start[i]
                    for t in 0..<vertical.count[i] {
                        let w = vertical.weights[i * vertical.stride + t]
                        let srcRow = src.baseAddress! + (start + t) * rowLength
                        for k in 0..<rowLength { dstRow[k] += w * srcRow[k] }
                    }
                }
            }
        }
        return FloatImage(width: outWidth, height: outHeight, channels: c, values: out)
    }

    /// The image as a Float32 tensor of shape (H, W, C), normalised per channel.
    public func tensor(normalization: Normalization) -> Tensor {
        let t = Tensor(shape: [height, width, channels])
        write(into: t.data, normalization: normalization)
        return t
    }

    /// Writes the normalised image into item `index` of a batch tensor of shape (B, H, W, C), so a
    /// data loader fills one reusable batch without allocating.
    public func write(into batch: Tensor, at index: Int, normalization: Normalization) {
        precondition(batch.shape == [batch.shape[0], height, width, channels] && index >= 0 && index < batch.shape[0],
                     "batch \(batch.shape) cannot hold a \(height)×\(width)×\(channels) image at \(index)")
        write(into: batch.data + index * height * width * channels, normalization: normalization)
    }

    private func write(into destination: UnsafeMutablePointer<Float>, normalization: Normalization) {
        precondition(normalization.mean.count == channels, "normalisation for \(normalization.mean.count) channels, image has \(channels)")
        let c = channels
        let scale = normalization.std.map { 1 / $0 }
        let mean = normalization.mean
        values.withUnsafeBufferPointer { src in
            for p in 0..<(width * height) {
                for k in 0..<c { destination[p * c + k] = (src[p * c + k] - mean[k]) * scale[k] }
            }
        }
    }
}

/// Precomputed taps of the triangle filter for one axis (see ``FloatImage/resized(width:height:)``).
struct ResampleTaps {
    let start: [Int]
    let count: [Int]
    /// `output · stride` weights; output j uses `weights[j·stride ..< j·stride + count[j]]`.
    let weights: [Float]
    let stride: Int

    init(input: Int, output: Int) {
        let scale = Double(input) / Double(output)
        let radius = max(1, scale)
        stride = Int((2 * radius).rounded(.up)) + 2
        var start = [Int](repeating: 0, count: output)
        var count = [Int](repeating: 0, count: output)
        var weights = [Float](repeating: 0, count: output * stride)
        for j in 0..<output {
            let centre = (Double(j) + 0.5) * scale
            let lo = max(0, Int((centre - radius).rounded(.down)))
            let hi = min(input, Int((centre + radius).rounded(.up)))
            var taps: [Double] = []
            for i in lo..<hi { taps.append(max(0, 1 - abs(Double(i) + 0.5 - centre) / radius)) }
            let total = taps.reduce(0, +)
            // Trim zero-weight taps at both ends (keeps `count` within `stride`).
            var first = 0, last = taps.count
            while first < last && taps[first] == 0 { first += 1 }
            while last > first && taps[last - 1] == 0 { last -= 1 }
            start[j] = lo + first
            count[j] = last - first
            for t in first..<last { weights[j * stride + t - first] = Float(taps[t] / total) }
        }
        self.start = start; self.count = count; self.weights = weights
    }
}

extension RGBImage {
    /// The part of the image inside `box`, clamped to the image; nil when nothing is left.
    public func cropped(to box: PixelBox) -> Crop? {
        let x0 = max(0, box.x), y0 = max(0, box.y)
        let x1 = min(width, box.x1), y1 = min(height, box.y1)
        guard x1 > x0 && y1 > y0 else { return nil }
        let cut = PixelBox(x0: x0, y0: y0, x1: x1, y1: y1)
        let rowBytes = cut.width * channels
        var out = [UInt8](repeating: 0, count: cut.height * rowBytes)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<cut.height {
                    let from = src.baseAddress! + ((y0 + y) * width + x0) * channels
                    (dst.baseAddress! + y * rowBytes).update(from: from, count: rowBytes)
                }
            }
        }
        return Crop(image: RGBImage(width: cut.width, height: cut.height, channels: channels, pixels: out),
                    box: cut, clipped: cut != box)
    }

    /// Bilinear (antialiased when shrinking) resize to a float image in [0, 1]; see
    /// ``FloatImage/resized(width:height:)``.
    public func resizedBilinear(width outWidth: Int, height outHeight: Int) -> FloatImage {
        FloatImage(self).resized(width: outWidth, height: outHeight)
    }

    /// Nearest-neighbour resize, for masks and label maps: every output value is an input value.
    /// Output pixel j takes input pixel ⌊(j + 0.5)·in/out⌋ (the one under its centre).
    public func resizedNearest(width outWidth: Int, height outHeight: Int) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0, "resize to \(outWidth)×\(outHeight)")
        let c = channels
        let columns = (0..<outWidth).map { min(width - 1, (2 * $0 + 1) * width / (2 * outWidth)) }
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * c)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                columns.withUnsafeBufferPointer { cols in
                    for i in 0..<outHeight {
                        let y = min(height - 1, (2 * i + 1) * height / (2 * outHeight))
                        let srcRow = src.baseAddress! + y * width * c
                        let dstRow = dst.baseAddress! + i * outWidth * c
                        for j in 0..<outWidth { for k in 0..<c { dstRow[j * c + k] = srcRow[cols[j] * c + k] } }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, channels: c, pixels: out)
    }

    /// The image as a Float32 tensor (H, W, C) of (pixel/255 − mean) / std.
    public func tensor(normalization: Normalization) -> Tensor {
        FloatImage(self).tensor(normalization: normalization)
    }
}
