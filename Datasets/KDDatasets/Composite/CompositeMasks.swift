// Object masks of images on black, and tight boxes, for the composite builder and its tests.
import Foundation

/// Mask helpers shared by the sources, the builder and the tests.
public enum CompositeMasks {
    /// The object mask of an image on black (1 = object): pixels > 0, plus every zero pixel that the
    /// background cannot reach from the border (4-connected flood fill), i.e. holes filled.
    public static func filledMask(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> [UInt8] {
        precondition(pixels.count == width * height, "\(pixels.count) pixels for \(width)×\(height)")
        var outside = [Bool](repeating: false, count: width * height)
        var stack: [Int] = []
        func push(_ i: Int) { if pixels[i] == 0 && !outside[i] { outside[i] = true; stack.append(i) } }
        for x in 0..<width { push(x); push((height - 1) * width + x) }
        for y in 0..<height { push(y * width); push(y * width + width - 1) }
        while let i = stack.popLast() {
            let x = i % width, y = i / width
            if x > 0 { push(i - 1) }
            if x + 1 < width { push(i + 1) }
            if y > 0 { push(i - width) }
            if y + 1 < height { push(i + width) }
        }
        return outside.map { $0 ? 0 : 1 }
    }

    /// ``filledMask(_:width:height:)`` of an array.
    public static func filledMask(_ pixels: [UInt8], width: Int, height: Int) -> [UInt8] {
        pixels.withUnsafeBufferPointer { filledMask($0, width: width, height: height) }
    }

    /// The tight half-open box of the non-zero entries of a row-major mask, or nil when all are zero.
    public static func tightBox(_ mask: [UInt8], width: Int, height: Int) -> PixelBox? {
        precondition(mask.count == width * height, "\(mask.count) mask values for \(width)×\(height)")
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        mask.withUnsafeBufferPointer { m in
            for y in 0..<height {
                for x in 0..<width where m[y * width + x] != 0 {
                    x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
                }
            }
        }
        return x1 < 0 ? nil : PixelBox(x0: x0, y0: y0, x1: x1 + 1, y1: y1 + 1)
    }
}
