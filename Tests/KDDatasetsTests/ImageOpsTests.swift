import Foundation
import KDCore
@testable import KDDatasets
import Testing
import _TestSupport

@Suite struct ImageOpsTests {
    @Test func cropsAreClampedAndReportClipping() throws {
        let image = randomImage(width: 10, height: 8, channels: 3, seed: 11)
        let inside = try #require(image.cropped(to: PixelBox(x: 2, y: 3, width: 4, height: 2)))
        #expect(!inside.clipped && inside.box == PixelBox(x: 2, y: 3, width: 4, height: 2))
        for y in 0..<2 { for x in 0..<4 { for c in 0..<3 { #expect(inside.image[x: x, y: y, c: c] == image[x: x + 2, y: y + 3, c: c]) } } }

        let partly = try #require(image.cropped(to: PixelBox(x0: -3, y0: 5, x1: 4, y1: 20)))
        #expect(partly.clipped && partly.box == PixelBox(x0: 0, y0: 5, x1: 4, y1: 8))
        #expect(partly.image.width == 4 && partly.image.height == 3 && partly.image[x: 3, y: 2, c: 1] == image[x: 3, y: 7, c: 1])

        #expect(image.cropped(to: PixelBox(x: 10, y: 0, width: 5, height: 5)) == nil)
        #expect(image.cropped(to: PixelBox(x: 3, y: 3, width: 0, height: 2)) == nil)
        let whole = try #require(image.cropped(to: PixelBox(x: 0, y: 0, width: 10, height: 8)))
        #expect(whole.image == image && !whole.clipped)
    }

    @Test func bilinearEnlargingMatchesClosedForm() {
        // A row [0, 255] enlarged to 4 samples at input positions 0.25, 0.75, 1.25, 1.75 (in pixel
        // widths): clamp, 1/4, 3/4, clamp.
        let row = RGBImage(width: 2, height: 1, channels: 1, pixels: [0, 255])
        expectClose(row.resizedBilinear(width: 4, height: 1).values, [0, 0.25, 0.75, 1], atol: 1e-6)
        // Separable: a 2×2 image enlarged to 4×4 is the outer product of the 1-D weights.
        let square = RGBImage(width: 2, height: 2, channels: 1, pixels: [0, 255, 255, 255])
        let big = square.resizedBilinear(width: 4, height: 4).values
        let w: [Float] = [1, 0.75, 0.25, 0]   // weight of the first pixel along an axis
        expectClose(big, (0..<16).map { 1 - w[$0 / 4] * w[$0 % 4] }, atol: 1e-6)
    }

    @Test func bilinearShrinkingAveragesInsteadOfAliasing() {
        // Columns alternate 0/255. Shrinking 12 → 4 samples every third column with plain bilinear
        // (1, 0, 1, 0: pure aliasing); the widened filter averages them to ≈ 0.5.
        var pixels: [UInt8] = []
        for _ in 0..<6 { for x in 0..<12 { pixels.append(x % 2 == 0 ? 0 : 255) } }
        let stripes = RGBImage(width: 12, height: 6, channels: 1, pixels: pixels)
        let small = stripes.resizedBilinear(width: 4, height: 2).values
        print("stripes shrunk 3×:", small)
        for v in small { #expect(abs(v - 0.5) < 0.12, "\(small)") }
        // Linear ramps stay linear away from the borders, and constants stay constant.
        let ramp = FloatImage(width: 16, height: 1, channels: 1, values: (0..<16).map { Float($0) })
        let half = ramp.resized(width: 8, height: 1).values
        expectClose(Array(half[1..<7]), (1..<7).map { Float(2 * $0) + 0.5 }, atol: 1e-4)
        let flat = FloatImage(width: 7, height: 5, channels: 3, values: [Float](repeating: 0.3, count: 105))
        expectClose(flat.resized(width: 3, height: 11).values, [Float](repeating: 0.3, count: 99), atol: 1e-6)
    }

    @Test func nearestResizeKeepsLabels() {
        let mask = RGBImage(width: 2, height: 2, channels: 1, pixels: [0, 1, 255, 7])
        #expect(mask.resizedNearest(width: 4, height: 4).pixels == [0, 0, 1, 1, 0, 0, 1, 1, 255, 255, 7, 7, 255, 255, 7, 7])
        let labels = randomImage(width: 9, height: 7, channels: 1, seed: 12)
        let resized = labels.resizedNearest(width: 4, height: 5)
        #expect(Set(resized.pixels).isSubset(of: Set(labels.pixels)))
        #expect(labels.resizedNearest(width: 9, height: 7) == labels)
    }

    @Test func tensorsCarryTheRecordedNormalisation() throws {
        let image = RGBImage(width: 2, height: 1, channels: 3, pixels: [0, 51, 255, 255, 0, 102])
        let norm = Normalization(mean: [0.5, 0.2, 0.5], std: [0.5, 0.2, 0.25])
        let t = image.tensor(normalization: norm)
        #expect(t.shape == [1, 2, 3])
        expectClose(t.array, [-1, 0, 2, 1, -1, -0.4], atol: 1e-5)
        // Into a batch at index 1; index 0 untouched.
        let batch = Tensor(shape: [2, 1, 2, 3], repeating: 9)
        FloatImage(image).write(into: batch, at: 1, normalization: norm)
        expectClose(batch.array, [9, 9, 9, 9, 9, 9, -1, 0, 2, 1, -1, -0.4], atol: 1e-5)
        // The record survives a JSON round trip exactly.
        let json = try JSONEncoder().encode(Normalization.imageNet)
        #expect(try JSONDecoder().decode(Normalization.self, from: json) == .imageNet)
        expectClose(RGBImage(width: 1, height: 1, channels: 1, pixels: [255]).tensor(normalization: .identity(channels: 1)).array, [1])
    }

    @Test func channelConversions() {
        let gray = RGBImage(width: 2, height: 1, channels: 1, pixels: [10, 200])
        #expect(gray.rgb.pixels == [10, 10, 10, 200, 200, 200])
        let rgba = RGBImage(width: 1, height: 2, channels: 4, pixels: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(rgba.rgb.pixels == [1, 2, 3, 5, 6, 7] && rgba.alpha.pixels == [4, 8])
        #expect(gray.alpha.pixels == [255, 255])
    }
}
