import Foundation
@testable import KDDatasets
import KDCore
import Testing
import _TestSupport

/// PNG chunks, to build damaged and hostile files from valid ones (CRC-32 recomputed).
struct PNGChunks {
    var chunks: [(type: String, data: [UInt8])]

    init(_ png: [UInt8]) {
        chunks = []
        var i = 8
        while i + 12 <= png.count {
            let length = png[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            chunks.append((type, Array(png[(i + 8)..<(i + 8 + length)])))
            i += 12 + length
        }
    }

    var bytes: [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        for (type, data) in chunks {
            let n = UInt32(data.count)
            out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            let body = Array(type.utf8) + data
            let crc = PNGChunks.crc32(body)
            out += body + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        }
        return out
    }

    subscript(type: String) -> [UInt8] {
        get { chunks.first { $0.type == type }!.data }
        set { chunks[chunks.firstIndex { $0.type == type }!].data = newValue }
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

func randomImage(width: Int, height: Int, channels: Int, seed: UInt64) -> RGBImage {
    RGBImage(width: width, height: height, channels: channels, pixels: randomBytes(width * height * channels, seed: seed))
}

/// A smooth colour image (JPEG compresses it well, so the round-trip error is small and meaningful).
func gradientImage(width: Int, height: Int) -> RGBImage {
    var pixels: [UInt8] = []
    for y in 0..<height {
        for x in 0..<width {
            pixels += [UInt8(x * 255 / (width - 1)), UInt8(y * 255 / (height - 1)), UInt8((x + y) * 127 / (width + height - 2) + 64)]
        }
    }
    return RGBImage(width: width, height: height, channels: 3, pixels: pixels)
}

func expectImageError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation,
                      _ check: (ImageError) -> Bool) {
    do {
        try body()
        Issue.record("expected an ImageError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ImageError {
        #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an ImageError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ImageCodecTests {
    @Test func pngRoundTripIsExactForEveryLayout() throws {
        for channels in [1, 3, 4] {
            for interlaced in [false, true] {
                let image = randomImage(width: 13, height: 7, channels: channels, seed: UInt64(channels))
                let png = try image.encodePNG(interlaced: interlaced)
                #expect(PNGChunks(png)["IHDR"][12] == (interlaced ? 1 : 0))
                #expect(try RGBImage.decode(bytes: png, name: "x.png") == image, "\(channels) channels, interlaced \(interlaced)")
            }
        }
    }

    @Test func jpegRoundTripIsWithinTolerance() throws {
        for (image, quality) in [(gradientImage(width: 40, height: 24), 95), (gradientImage(width: 40, height: 24), 75)] {
            for source in [image, RGBImage(width: 40, height: 24, channels: 1, pixels: image.pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))] {
                let jpeg = try source.encodeJPEG(quality: quality)
                let back = try RGBImage.decode(bytes: jpeg, name: "x.jpg")
                #expect(back.width == source.width && back.height == source.height && back.channels == source.channels)
                let diffs = zip(back.pixels, source.pixels).map { abs(Int($0) - Int($1)) }
                let mean = Double(diffs.reduce(0, +)) / Double(diffs.count)
                print("JPEG q\(quality) \(source.channels)ch: \(jpeg.count) bytes, mean |error| \(mean), max \(diffs.max()!)")
                #expect(mean < (quality >= 95 ? 1.5 : 3), "mean error \(mean)")
                #expect(diffs.max()! < 24)
            }
        }
        // RGBA encodes as RGB (JPEG has no alpha).
        let rgba = randomImage(width: 8, height: 8, channels: 4, seed: 9)
        #expect(try RGBImage.decode(bytes: try rgba.encodeJPEG(), name: "a.jpg").channels == 3)
    }

    @Test func truncatedJPEGIsAnErrorNotACrash() throws {
        let jpeg = try gradientImage(width: 64, height: 48).encodeJPEG(quality: 90)
        for cut in [jpeg.count - 2, jpeg.count * 6 / 10, 300, 20, 3] {
            expectImageError({ _ = try RGBImage.decode(bytes: Array(jpeg.prefix(cut)), name: "cut.jpg") }) {
                if case .corrupt(let name, "JPEG", let reason) = $0 { print("JPEG cut at \(cut):", reason); return name == "cut.jpg" }
                return cut < 3
            }
        }
        var garbage = jpeg
        for i in stride(from: 400, to: 600, by: 3) { garbage[i] = 0xFF }
        #expect(throws: ImageError.self) { _ = try RGBImage.decode(bytes: garbage, name: "garbage.jpg") }
    }

    @Test func truncatedPNGIsAnErrorNotACrash() throws {
        let png = try randomImage(width: 30, height: 20, channels: 3, seed: 3).encodePNG()
        let iend = 12   // the IEND chunk is the last 12 bytes: cutting only it still loses the file's end
        for cut in [png.count - iend, png.count - iend - 5, png.count / 2, 40, 9] {
            expectImageError({ _ = try RGBImage.decode(bytes: Array(png.prefix(cut)), name: "cut.png") }) {
                if case .corrupt(_, "PNG", let reason) = $0 { print("PNG cut at \(cut):", reason); return true } else { return false }
            }
        }
        var flipped = png
        flipped[png.count / 2] ^= 0x40   // CRC mismatch in IDAT
        #expect(throws: ImageError.self) { _ = try RGBImage.decode(bytes: flipped, name: "flipped.png") }
    }

    @Test func paletteIndicesAreReadExactly() throws {
        // VOC-like: 256-entry palette, 0 background, objects 1…3, 255 the void border.
        var palette = [UInt8](repeating: 0, count: 768)
        for i in 0..<256 { palette[3 * i] = UInt8(i); palette[3 * i + 1] = UInt8(255 - i); palette[3 * i + 2] = UInt8(i / 2) }
        var indices = [UInt8](repeating: 0, count: 9 * 6)
        for y in 1..<5 { for x in 1..<4 { indices[y * 9 + x] = 1 } }
        for y in 2..<4 { for x in 5..<8 { indices[y * 9 + x] = 3 } }
        for x in 0..<9 { indices[5 * 9 + x] = 255 }
        let source = PaletteImage(width: 9, height: 6, indices: indices, palette: palette)
        for interlaced in [false, true] {
            let png = try source.encodePNG(interlaced: interlaced)
            #expect(try RGBImage.decodePNGIndices(bytes: png, name: "2007_000032.png") == source)
            let rgb = try RGBImage.decode(bytes: png, name: "2007_000032.png")
            #expect(rgb.channels == 3 && rgb[x: 5, y: 2, c: 0] == 3 && rgb[x: 5, y: 2, c: 1] == 252 && rgb[x: 0, y: 5, c: 2] == 127)
        }
        // tRNS on a palette becomes an alpha channel.
        let small = PaletteImage(width: 2, height: 1, indices: [0, 1], palette: [10, 20, 30, 40, 50, 60])
        let rgba = try RGBImage.decode(bytes: try small.encodePNG(transparency: [0]), name: "t.png")
        #expect(rgba.channels == 4 && rgba.pixels == [10, 20, 30, 0, 40, 50, 60, 255])
    }

    @Test func paletteIndexBeyondThePaletteIsRefused() throws {
        let source = PaletteImage(width: 4, height: 2, indices: [0, 1, 2, 3, 3, 2, 1, 0],
                                  palette: [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
        var chunks = PNGChunks(try source.encodePNG())
        chunks["PLTE"] = Array(chunks["PLTE"].prefix(9))   // three entries left, index 3 now invalid
        let damaged = chunks.bytes
        expectImageError({ _ = try RGBImage.decodePNGIndices(bytes: damaged, name: "bad.png") }) {
            if case .badPaletteIndex(_, let reason) = $0 { print("bad index:", reason); return reason.contains("index 3") } else { return false }
        }
        expectImageError({ _ = try RGBImage.decode(bytes: damaged, name: "bad.png") }) {
            if case .badPaletteIndex = $0 { return true } else { return false }
        }
    }

    @Test func nonPalettePNGIsRefusedAsIndices() throws {
        let png = try randomImage(width: 3, height: 3, channels: 3, seed: 4).encodePNG()
        expectImageError({ _ = try RGBImage.decodePNGIndices(bytes: png, name: "SegmentationObject/x.png") }) {
            if case .notPalette(let name, let reason) = $0 { return name.hasPrefix("Segmentation") && reason.contains("RGB") } else { return false }
        }
        let jpeg = try gradientImage(width: 8, height: 8).encodeJPEG()
        #expect(throws: ImageError.self) { _ = try RGBImage.decodePNGIndices(bytes: jpeg, name: "x.jpg") }
    }

    @Test func sixteenBitPNGsAreRoundedToEightBits() throws {
        // RGB, 16-bit: v16 → (v16·255 + 32895) >> 16, libpng's rounding scale.
        let values: [UInt16] = [0, 1, 128, 257, 32767, 32768, 65279, 65534, 65535, 12345, 54321, 40000]
        let samples = values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let png = try PNGEncoder.encode(samples: samples, width: 2, height: 2, colorType: 2, bitDepth: 16)
        let image = try RGBImage.decode(bytes: png, name: "16.png")
        #expect(image.channels == 3)
        #expect(image.pixels == values.map { UInt8((UInt32($0) * 255 + 32895) >> 16) })
        // Gray+alpha, 16-bit, interlaced: widened to RGBA.
        let ga: [UInt16] = [65535, 0, 0, 65535, 32896, 32896]
        let png2 = try PNGEncoder.encode(samples: ga.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, width: 3, height: 1,
                                         colorType: 4, bitDepth: 16, interlaced: true)
        #expect(try RGBImage.decode(bytes: png2, name: "ga16.png").pixels == [255, 255, 255, 0, 0, 0, 0, 255, 128, 128, 128, 128])
    }

    @Test func oversizeHeadersAreRefusedBeforeDecoding() throws {
        // PNG: a 4×4 file whose IHDR claims 20000×20000 (400 Mpx).
        var chunks = PNGChunks(try randomImage(width: 4, height: 4, channels: 3, seed: 5).encodePNG())
        var ihdr = chunks["IHDR"]
        ihdr.replaceSubrange(0..<8, with: [0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20])
        chunks["IHDR"] = ihdr
        expectImageError({ _ = try RGBImage.decode(bytes: chunks.bytes, name: "huge.png") }) {
            $0 == .tooLarge(name: "huge.png", width: 20000, height: 20000, limit: RGBImage.defaultMaxPixels)
        }
        // JPEG: patch the frame header (SOF0: FF C0, length, precision, height, width).
        var jpeg = try gradientImage(width: 16, height: 16).encodeJPEG()
        let sof = (0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        jpeg.replaceSubrange((sof + 5)..<(sof + 9), with: [0xEA, 0x60, 0xEA, 0x60])   // 60000 × 60000
        expectImageError({ _ = try RGBImage.decode(bytes: jpeg, name: "huge.jpg") }) {
            $0 == .tooLarge(name: "huge.jpg", width: 60000, height: 60000, limit: RGBImage.defaultMaxPixels)
        }
        // A caller's own limit.
        let png = try randomImage(width: 11, height: 10, channels: 1, seed: 6).encodePNG()
        expectImageError({ _ = try RGBImage.decode(bytes: png, name: "small.png", maxPixels: 100) }) {
            if case .tooLarge(_, 11, 10, 100) = $0 { return true } else { return false }
        }
        #expect(try RGBImage.decode(bytes: png, name: "small.png", maxPixels: 110).width == 11)
    }

    @Test func contentDecidesTheCodec() throws {
        let png = try randomImage(width: 5, height: 5, channels: 3, seed: 7).encodePNG()
        #expect(try RGBImage.decode(bytes: png, name: "actually-a-png.jpg").width == 5)
        expectImageError({ _ = try RGBImage.decode(bytes: Array("<html>oops</html>".utf8), name: "x.jpg") }) {
            if case .notAnImage(_, let found) = $0 { return found.contains("HTML") } else { return false }
        }
        expectImageError({ _ = try RGBImage.decode(bytes: [], name: "empty.jpg") }) {
            if case .notAnImage = $0 { return true } else { return false }
        }
    }
}
