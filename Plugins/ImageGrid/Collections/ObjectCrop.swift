// From a decoded image (and mask) to one object's sample: the crop, the S×S pixels, the S×S mask and
// the per-cell foreground labels. Pure functions, safe to run on several threads.
//
// The steps, for a record with box b and crop scale k in an image of W×H pixels:
//
//     object pixels  = columns ⌈b.x0 − ½⌉ ..< ⌈b.x1 − ½⌉ (pixel centres inside the box), clamped to the image
//     crop           = b scaled by k about its centre, outward to whole pixels, clamped to the image
//     input          = crop resized bilinearly (antialiased) to S×S, rounded to 8 bits
//     mask           = object mask cut to the crop (0/1), resized bilinearly to S×S: soft ∈ [0, 1]
//     mask(S×S)      = soft ≥ ½
//     fg[cell], majority: 2 · #{mask pixels in the cell} ≥ #{pixels in the cell}
//     fg[cell], corner:   soft at the cell's top-left pixel ≥ ½/255 (non-zero as an 8-bit mask)
//
// Cells are those of `UnitMap.grid`: cell (gy, gx) covers rows ⌊gy·S/G⌋ ..< ⌊(gy+1)·S/G⌋.
import Foundation
import KDCore
import KDDatasets

/// Where one record's crop lies in its image.
struct CropGeometry: Equatable, Sendable {
    var imageWidth: Int
    var imageHeight: Int
    /// The crop actually cut (scaled box clamped to the image).
    var crop: PixelBox
    /// The object's pixels (box clamped to the image), in image coordinates.
    var object: PixelBox
}

/// A record's finished mask: S×S bits (row-major, packed 8 per byte, low bit first) and G×G fg labels.
struct FinishedMask: Sendable {
    var bits: [UInt8]
    var foreground: [Bool]
}

enum ObjectCrop {
    /// The crop and object pixels of `record` in a `width`×`height` image, or why there are none.
    static func geometry(_ record: ObjectRecord, width: Int, height: Int) -> Result<CropGeometry, RecordFailure> {
        let b = record.box
        guard b.isValid else {
            return .failure(RecordFailure("the box \(b) is empty or not finite"))
        }
        // Every corner must lie in the image, up to one pixel of annotation rounding (ImageNet boxes
        // with xmax = width, 0-based inclusive): a box partly or wholly outside, or with negative
        // coordinates, says the annotation does not belong to this image. The check also bounds every
        // coordinate before it becomes an Int.
        let tolerance = 1.0
        guard b.x0 >= -tolerance, b.y0 >= -tolerance, b.x1 <= Double(width) + tolerance, b.y1 <= Double(height) + tolerance else {
            return .failure(RecordFailure("the box \(b) extends outside the \(width)×\(height) image "
                + "(or has negative coordinates); the annotation does not match the image"))
        }
        func inside(_ v: Double) -> Int { FileNumbers.clampedInt((v - 0.5).rounded(.up), in: -1...(max(width, height) + 1)) ?? 0 }
        let object = PixelBox(x0: max(0, inside(b.x0)), y0: max(0, inside(b.y0)),
                              x1: min(width, inside(b.x1)), y1: min(height, inside(b.y1)))
        guard object.width > 0 && object.height > 0 else {
            return .failure(RecordFailure("the box \(b) lies outside the \(width)×\(height) image"))
        }
        let scaled = b.scaledPixels(record.cropScale)
        let crop = PixelBox(x0: max(0, min(scaled.x, object.x)), y0: max(0, min(scaled.y, object.y)),
                            x1: min(width, max(scaled.x1, object.x1)), y1: min(height, max(scaled.y1, object.y1)))
        return .success(CropGeometry(imageWidth: width, imageHeight: height, crop: crop, object: object))
    }

    /// The crop of `image` resized to `size`×`size`, 8-bit, with 1 (gray) or 3 channels (alpha dropped).
    static func inputPixels(_ image: RGBImage, geometry g: CropGeometry, size: Int) -> (pixels: [UInt8], channels: Int) {
        guard let crop = image.cropped(to: g.crop) else { preconditionFailure("crop \(g.crop) outside \(image.width)×\(image.height)") }
        let source = crop.image.channels == 4 ? crop.image.rgb : crop.image
        let resized = source.resizedBilinear(width: size, height: size)
        var out = [UInt8](repeating: 0, count: resized.values.count)
        resized.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count { dst[i] = UInt8(max(0, min(255, (src[i] * 255).rounded()))) }
            }
        }
        return (out, source.channels)
    }

    /// A full-image 0/1 plane cut to the crop.
    static func cropPlane(_ plane: [UInt8], width: Int, geometry g: CropGeometry) -> [UInt8] {
        let c = g.crop
        var out = [UInt8](repeating: 0, count: c.width * c.height)
        plane.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<c.height {
                    (dst.baseAddress! + y * c.width).update(from: src.baseAddress! + (c.y + y) * width + c.x, count: c.width)
                }
            }
        }
        return out
    }

    /// The object box as a 0/1 plane at crop resolution.
    static func boxPlane(_ g: CropGeometry) -> [UInt8] {
        let c = g.crop, o = g.object
        var out = [UInt8](repeating: 0, count: c.width * c.height)
        for y in (o.y - c.y)..<(o.y1 - c.y) {
            for x in (o.x - c.x)..<(o.x1 - c.x) { out[y * c.width + x] = 1 }
        }
        return out
    }

    /// 0/1 plane of an object on black: pixel > 0 (any channel), with holes filled, i.e. every pixel
    /// not reached by a 4-connected flood fill of zero pixels from the border.
    static func objectOnBlack(_ image: RGBImage) -> [UInt8] {
        let w = image.width, h = image.height, c = image.channels
        var nonzero = [UInt8](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(w * h) {
                for k in 0..<min(c, 3) where p[i * c + k] != 0 { nonzero[i] = 1; break }
            }
        }
        // The same hole filling as the composite builder's, so both read objects on black alike.
        return CompositeMasks.filledMask(nonzero, width: w, height: h)
    }

    /// A grayscale mask image as a 0/1 plane: first channel ≥ 128 (CUB's segmentations average
    /// several annotators into 0…255; ≥ 128 is a majority of them).
    static func thresholdPlane(_ mask: RGBImage) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: mask.width * mask.height)
        let c = mask.channels
        mask.pixels.withUnsafeBufferPointer { p in
            for i in 0..<out.count { out[i] = p[i * c] >= 128 ? 1 : 0 }
        }
        return out
    }

    /// Resizes a crop-resolution 0/1 plane to S×S and labels the G×G cells (see the file header).
    static func finish(cropPlane plane: [UInt8], width: Int, height: Int, size s: Int, grid g: Int,
                       rule: ForegroundRule) -> FinishedMask {
        let soft = FloatImage(width: width, height: height, channels: 1, values: plane.map { Float($0) })
            .resized(width: s, height: s).values
        var bits = [UInt8](repeating: 0, count: (s * s + 7) / 8)
        var inside = [Bool](repeating: false, count: s * s)
        for i in 0..<(s * s) where soft[i] >= 0.5 {
            inside[i] = true
            bits[i >> 3] |= 1 << UInt8(i & 7)
        }
        var fg = [Bool](repeating: false, count: g * g)
        for gy in 0..<g {
            let r0 = gy * s / g, r1 = (gy + 1) * s / g
            for gx in 0..<g {
                let c0 = gx * s / g, c1 = (gx + 1) * s / g
                switch rule {
                case .majority:
                    var count = 0
                    for y in r0..<r1 { for x in c0..<c1 where inside[y * s + x] { count += 1 } }
                    fg[gy * g + gx] = 2 * count >= (r1 - r0) * (c1 - c0)
                case .corner:
                    fg[gy * g + gx] = soft[r0 * s + c0] >= 0.5 / 255
                }
            }
        }
        return FinishedMask(bits: bits, foreground: fg)
    }

    /// Unpacks S×S mask bits to 0/1 bytes.
    static func unpack(_ bits: [UInt8], count: Int) -> [UInt8] {
        (0..<count).map { (bits[$0 >> 3] >> UInt8($0 & 7)) & 1 }
    }
}

/// Why one record could not be used (the archive and member are added by the caller).
struct RecordFailure: Error, Equatable, Sendable {
    var reason: String
    /// The member at fault when it is not the record's image (its mask).
    var member: String?
    var archive: String?

    init(_ reason: String, member: String? = nil, archive: String? = nil) {
        self.reason = reason; self.member = member; self.archive = archive
    }
}
