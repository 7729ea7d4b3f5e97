// Rendering one composite image: placement, colour (own, tint or texture), paste, mask and box.
// See CompositeBuilder.swift for the procedure.
import Foundation
import KDCore

extension CompositeBuilder {
    /// Draws placement, background and colour for one object and composites it; nil when the
    /// object's mask is empty at the drawn scale (a thin drawing shrunk below half a pixel).
    static func render(_ cutout: ObjectCutout, fill: ObjectFill, pool: BackgroundPool, options: CompositeOptions,
                       generator: inout SeededGenerator) throws -> RenderedImage? {
        let size = options.size
        let photo = CompositeRandom.integer(in: 0...(pool.photos.count - 1), using: &generator)
        let crop = pool.drawCrop(photo: photo, using: &generator)
        let scale = CompositeRandom.uniform(options.scaleMin, options.scaleMax, using: &generator)
        let longer = max(1, min(size, Int((scale * Double(size)).rounded())))
        let (w0, h0) = (cutout.image.width, cutout.image.height)
        let width = w0 >= h0 ? longer : max(1, Int((Double(longer) * Double(w0) / Double(h0)).rounded()))
        let height = w0 >= h0 ? max(1, Int((Double(longer) * Double(h0) / Double(w0)).rounded())) : longer
        let x0 = CompositeRandom.integer(in: 0...(size - width), using: &generator)
        let y0 = CompositeRandom.integer(in: 0...(size - height), using: &generator)

        // Colour per object pixel: own RGB, intensity × tint, or intensity × texture.
        let object = cutout.image.resized(width: width, height: height)
        let c = object.channels
        var colour = [Float](repeating: 0, count: width * height * 3)
        var mask = [UInt8](repeating: 0, count: width * height)
        // factors: one RGB multiplier for every pixel (stride 0) or one per pixel (stride 3).
        var factors: [Float] = [1, 1, 1], factorStride = 0
        var texturePhoto: Int? = nil
        switch fill {
        case .own: break
        case .tint:
            factors = randomTint(using: &generator)
        case .texture:
            var other = CompositeRandom.integer(in: 0...max(0, pool.photos.count - 2), using: &generator)
            if pool.photos.count > 1 && other >= photo { other += 1 }
            let box = pool.drawCrop(photo: other, using: &generator)
            factors = pool.crop(photo: other, box: box, width: width, height: height).values
            factorStride = 3
            texturePhoto = other
        }
        var maskPixels = 0
        object.values.withUnsafeBufferPointer { o in
            factors.withUnsafeBufferPointer { f in
                colour.withUnsafeMutableBufferPointer { out in
                    for p in 0..<(width * height) {
                        let coverage = o[p * c + c - 1]
                        guard coverage >= 0.5 else { continue }
                        mask[p] = 1
                        maskPixels += 1
                        for k in 0..<3 { out[p * 3 + k] = o[p * c + (c == 4 ? k : 0)] / coverage * f[p * factorStride + k] }
                    }
                }
            }
        }
        guard maskPixels > 0 else { return nil }

        // Paste onto the background crop.
        let background = pool.crop(photo: photo, box: crop, width: size, height: size)
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        var fullMask = [UInt8](repeating: 0, count: size * size)
        background.values.withUnsafeBufferPointer { b in
            colour.withUnsafeBufferPointer { o in
                mask.withUnsafeBufferPointer { m in
                    pixels.withUnsafeMutableBufferPointer { out in
                        fullMask.withUnsafeMutableBufferPointer { full in
                            for i in 0..<(size * size * 3) { out[i] = quantize(b[i]) }
                            for y in 0..<height {
                                for x in 0..<width where m[y * width + x] != 0 {
                                    let target = (y0 + y) * size + x0 + x
                                    full[target] = 255
                                    for k in 0..<3 { out[target * 3 + k] = quantize(o[(y * width + x) * 3 + k]) }
                                }
                            }
                        }
                    }
                }
            }
        }
        let box = CompositeMasks.tightBox(fullMask, width: size, height: size)!
        let image = RGBImage(width: size, height: size, channels: 3, pixels: pixels)
        let maskImage = RGBImage(width: size, height: size, channels: 1, pixels: fullMask)
        return RenderedImage(jpeg: try image.encodeJPEG(quality: jpegQuality), maskPNG: try maskImage.encodePNG(),
                             box: box, maskPixels: maskPixels, backgroundPhoto: photo, backgroundCrop: crop,
                             texturePhoto: texturePhoto, objectLabel: cutout.label, objectFile: cutout.file)
    }

    /// A colour for a gray item: hue uniform, saturation in [0.35, 1], value in [0.55, 1] (HSV), so
    /// every class takes every hue and colour says nothing about the class, while the item stays
    /// visible against most photographs.
    static func randomTint(using generator: inout SeededGenerator) -> [Float] {
        let hue = CompositeRandom.uniform(0, 6, using: &generator)
        let saturation = CompositeRandom.uniform(0.35, 1, using: &generator)
        let value = CompositeRandom.uniform(0.55, 1, using: &generator)
        let sector = Int(hue), f = hue - Double(sector)
        let p = value * (1 - saturation), q = value * (1 - saturation * f), t = value * (1 - saturation * (1 - f))
        let rgb: (Double, Double, Double)
        switch sector {
        case 0: rgb = (value, t, p)
        case 1: rgb = (q, value, p)
        case 2: rgb = (p, value, t)
        case 3: rgb = (p, q, value)
        case 4: rgb = (t, p, value)
        default: rgb = (value, p, q)
        }
        return [Float(rgb.0), Float(rgb.1), Float(rgb.2)]
    }

    @inline(__always)
    static func quantize(_ v: Float) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }
}
