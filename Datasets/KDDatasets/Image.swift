// Decoding and encoding JPEG and PNG images from and to memory (archive members), safely.
//
// How to use:
//
//     let image = try RGBImage.decode(bytes: member, name: "CUB_200_2011.tgz:images/…/x.jpg")   // JPEG or PNG
//     let rgb = image.rgb                       // 3 channels whatever the file had (gray, RGBA)
//     let objects = try RGBImage.decodePNGIndices(bytes: png, name: "VOC…/SegmentationObject/x.png")
//     // objects.indices: 0 background, 1…N object ids, 255 the "void" border
//     let png = try image.encodePNG(); let jpeg = try image.encodeJPEG(quality: 90)
//
// The codecs run in the _CImageCodecs C shim: libjpeg-turbo and libpng errors never abort the
// process, libjpeg warnings (premature end of data) and libpng benign errors (bad palette
// indices, extra data) are errors, and the header's pixel count is checked against `maxPixels`
// before any pixel memory is allocated. See ImageOps.swift for crops, resizing and tensors.
import _CImageCodecs
import Foundation

/// A refusal to decode (or encode) an image, naming the file or archive member.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// Neither a JPEG nor a PNG; `found` says what the bytes start with.
    case notAnImage(name: String, found: String)
    /// Truncated or damaged data, as reported by the decoder.
    case corrupt(name: String, format: String, reason: String)
    /// The header announces more pixels than allowed; nothing was decoded.
    case tooLarge(name: String, width: Int, height: Int, limit: Int)
    /// Palette indices were requested from a PNG without a palette.
    case notPalette(name: String, reason: String)
    /// A pixel refers to a palette entry that does not exist.
    case badPaletteIndex(name: String, reason: String)
    case outOfMemory(name: String)
    /// Encoding failed (bad layout or an encoder error).
    case encodingFailed(format: String, reason: String)

    public var description: String {
        switch self {
        case let .notAnImage(name, found):
            return "\(name): expected a JPEG or PNG image, found \(found)."
        case let .corrupt(name, format, reason):
            return "\(name): damaged or truncated \(format): \(reason). Re-download the dataset if other files are damaged too."
        case let .tooLarge(name, width, height, limit):
            return "\(name): the image header announces \(width)×\(height) = \(width * height) pixels, over the limit of \(limit); "
                + "the file is damaged or hostile (raise the limit only for a genuine image)."
        case let .notPalette(name, reason):
            return "\(name): expected a palette (indexed-colour) PNG, as VOC's SegmentationClass/SegmentationObject files are: \(reason)."
        case let .badPaletteIndex(name, reason):
            return "\(name): invalid palette index: \(reason). The file is damaged."
        case let .outOfMemory(name):
            return "\(name): out of memory while decoding."
        case let .encodingFailed(format, reason):
            return "cannot encode \(format): \(reason)."
        }
    }
}

/// An 8-bit image, interleaved rows (H, W, C) without padding; C is 1 (gray), 3 (RGB) or 4 (RGBA).
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// `height · width · channels` bytes; pixel (x, y) channel c is at `(y · width + x) · channels + c`.
    public var pixels: [UInt8]

    /// 64 Mi pixels (e.g. 8192 × 8192, 256 MiB as RGBA). The largest photo in the supported
    /// datasets is about 12 Mpx (wallpapers); CUB, VOC and ILSVRC images are under 1 Mpx.
    public static let defaultMaxPixels = 64 << 20

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && [1, 3, 4].contains(channels), "bad image layout \(width)×\(height)×\(channels)")
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for a \(width)×\(height)×\(channels) image")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }

    /// A constant image.
    public init(width: Int, height: Int, channels: Int, repeating value: UInt8) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: value, count: width * height * channels))
    }

    public subscript(x x: Int, y y: Int, c c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }

    // MARK: Decoding

    /// Decodes a JPEG or PNG, recognised by its magic bytes (never by the name's extension).
    public static func decode(bytes: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            return try decodeJPEG(bytes: bytes, name: name, maxPixels: maxPixels)
        }
        if bytes.count >= 8 && bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return try decodePNG(bytes: bytes, name: name, maxPixels: maxPixels)
        }
        if let damaged = damagedPNGSignature(bytes) { throw ImageError.corrupt(name: name, format: "PNG", reason: damaged) }
        throw ImageError.notAnImage(name: name, found: FormatSniffer.describe(Array(bytes.prefix(FormatSniffer.prefixLength))))
    }

    /// Why `bytes` look like a PNG whose 8-byte signature is damaged ("\u{89}PNG" followed by
    /// something other than CR LF 1A LF, typically a text-mode transfer), or nil.
    static func damagedPNGSignature(_ bytes: [UInt8]) -> String? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 4, bytes.prefix(4).elementsEqual(signature.prefix(4)),
              !(bytes.count >= 8 && bytes.prefix(8).elementsEqual(signature)) else { return nil }
        let found = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "the 8-byte PNG signature is damaged (found \(found), expected 89 50 4e 47 0d 0a 1a 0a); "
            + "a transfer in text mode changes its line-ending bytes"
    }

    /// Decodes a JPEG to 1 (gray) or 3 (RGB) channels; CMYK/YCCK JPEGs are converted to RGB.
    public static func decodeJPEG(bytes: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try Codec.decode(name: name, format: "JPEG", maxPixels: maxPixels) { out in
            bytes.withUnsafeBufferPointer { kd_jpeg_decode($0.baseAddress, $0.count, Int64(maxPixels), out) }
        }.image
    }

    /// Decodes a PNG to 1 (gray), 3 (RGB) or 4 (RGBA) channels: palettes expanded (tRNS → alpha),
    /// 16-bit samples rounded to 8 bits, gray+alpha widened to RGBA, interlacing undone.
    public static func decodePNG(bytes: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try Codec.decode(name: name, format: "PNG", maxPixels: maxPixels) { out in
            bytes.withUnsafeBufferPointer { kd_png_decode($0.baseAddress, $0.count, Int64(maxPixels), 0, out) }
        }.image
    }

    /// The raw palette indices of a palette PNG (one byte per pixel, 1/2/4-bit depths unpacked), with
    /// the palette. Every index is checked against the palette size. Non-palette PNGs are refused.
    public static func decodePNGIndices(bytes: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> PaletteImage {
        guard bytes.count >= 8 && bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            if let damaged = damagedPNGSignature(bytes) { throw ImageError.corrupt(name: name, format: "PNG", reason: damaged) }
            throw ImageError.notAnImage(name: name, found: FormatSniffer.describe(Array(bytes.prefix(FormatSniffer.prefixLength))) + ", not a PNG")
        }
        let decoded = try Codec.decode(name: name, format: "PNG", maxPixels: maxPixels) { out in
            bytes.withUnsafeBufferPointer { kd_png_decode($0.baseAddress, $0.count, Int64(maxPixels), 1, out) }
        }
        return PaletteImage(width: decoded.image.width, height: decoded.image.height,
                            indices: decoded.image.pixels, palette: decoded.palette)
    }

    // MARK: Encoding

    /// A PNG of this image (8-bit gray, RGB or RGBA; optionally Adam7-interlaced). Lossless.
    public func encodePNG(interlaced: Bool = false) throws -> [UInt8] {
        let colorType = channels == 1 ? 0 : channels == 3 ? 2 : 6
        return try PNGEncoder.encode(samples: pixels, width: width, height: height, colorType: colorType,
                                     bitDepth: 8, interlaced: interlaced)
    }

    /// A baseline JPEG of this image at `quality` (1…100). JPEG has no alpha: RGBA images are
    /// encoded without their alpha channel.
    public func encodeJPEG(quality: Int = 90) throws -> [UInt8] {
        let source = channels == 4 ? rgb : self
        return try JPEGEncoder.encode(samples: source.pixels, width: width, height: height, channels: source.channels, quality: quality)
    }

    // MARK: Channels

    /// Three channels: gray replicated, alpha dropped.
    public var rgb: RGBImage {
        if channels == 3 { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let c = channels
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(width * height) {
                    if c == 1 {
                        dst[3 * i] = src[i]; dst[3 * i + 1] = src[i]; dst[3 * i + 2] = src[i]
                    } else {
                        dst[3 * i] = src[c * i]; dst[3 * i + 1] = src[c * i + 1]; dst[3 * i + 2] = src[c * i + 2]
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, channels: 3, pixels: out)
    }

    /// The alpha channel as a 1-channel image (all 255 when the image has no alpha).
    public var alpha: RGBImage {
        guard channels == 4 else { return RGBImage(width: width, height: height, channels: 1, repeating: 255) }
        var out = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in for i in 0..<(width * height) { dst[i] = src[4 * i + 3] } }
        }
        return RGBImage(width: width, height: height, channels: 1, pixels: out)
    }
}

/// A palette PNG's raw content: one palette index per pixel, and the palette.
public struct PaletteImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// `height · width` indices, row-major.
    public var indices: [UInt8]
    /// RGB triples, `paletteCount · 3` bytes.
    public var palette: [UInt8]

    public init(width: Int, height: Int, indices: [UInt8], palette: [UInt8]) {
        precondition(indices.count == width * height, "\(indices.count) indices for \(width)×\(height)")
        precondition(palette.count % 3 == 0 && (3...768).contains(palette.count), "a palette has 1…256 RGB entries")
        self.width = width; self.height = height; self.indices = indices; self.palette = palette
    }

    public var paletteCount: Int { palette.count / 3 }

    /// The indices as a 1-channel image (for nearest-neighbour resizing of label maps).
    public var plane: RGBImage { RGBImage(width: width, height: height, channels: 1, pixels: indices) }

    /// A palette PNG; `transparency` gives alpha for the first entries (tRNS), if any.
    public func encodePNG(transparency: [UInt8] = [], interlaced: Bool = false) throws -> [UInt8] {
        let count = paletteCount
        precondition(indices.allSatisfy { Int($0) < count }, "palette index beyond the \(count)-entry palette")
        precondition(transparency.count <= count, "more tRNS entries than palette entries")
        return try PNGEncoder.encode(samples: indices, width: width, height: height, colorType: 3, bitDepth: 8,
                                     interlaced: interlaced, palette: palette, transparency: transparency)
    }
}

/// The PNG encoder of the C shim, with every layout PNG allows at 8 and 16 bits.
enum PNGEncoder {
    /// `samples`: rows of samples; 16-bit samples big-endian (two bytes each), as PNG stores them.
    /// colorType: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    static func encode(samples: [UInt8], width: Int, height: Int, colorType: Int, bitDepth: Int,
                       interlaced: Bool = false, palette: [UInt8] = [], transparency: [UInt8] = []) throws -> [UInt8] {
        let perPixel = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType] ?? 0
        precondition(samples.count == width * height * perPixel * bitDepth / 8, "sample count does not match the PNG layout")
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = samples.withUnsafeBufferPointer { s in
            palette.withUnsafeBufferPointer { p in
                transparency.withUnsafeBufferPointer { t in
                    kd_png_encode(s.baseAddress, Int32(width), Int32(height), Int32(colorType), Int32(bitDepth),
                                  interlaced ? 1 : 0, p.baseAddress, Int32(palette.count / 3), t.baseAddress,
                                  Int32(transparency.count), &out, &size, &message)
                }
            }
        }
        defer { kd_codec_free(out) }
        guard status == Int32(KD_CODEC_OK.rawValue), let out else {
            throw ImageError.encodingFailed(format: "PNG", reason: String(cString: message))
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// The JPEG encoder of the C shim. `channels` 4 means inverted (Adobe) CMYK, for tests.
enum JPEGEncoder {
    /// `progression`: 0 baseline, 1 libjpeg's progressive script, 2 the longest valid script (tests).
    static func encode(samples: [UInt8], width: Int, height: Int, channels: Int, quality: Int, progression: Int = 0) throws -> [UInt8] {
        precondition(samples.count == width * height * channels, "sample count does not match the JPEG layout")
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = samples.withUnsafeBufferPointer {
            kd_jpeg_encode_progression($0.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(quality),
                                       Int32(progression), &out, &size, &message)
        }
        defer { kd_codec_free(out) }
        guard status == Int32(KD_CODEC_OK.rawValue), let out else {
            throw ImageError.encodingFailed(format: "JPEG", reason: String(cString: message))
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

/// Runs a C decoder and turns its status into a Swift value or an ``ImageError``.
private enum Codec {
    static func decode(name: String, format: String, maxPixels: Int,
                       _ call: (UnsafeMutablePointer<kd_decoded_image>) -> Int32) throws -> (image: RGBImage, palette: [UInt8]) {
        let out = UnsafeMutablePointer<kd_decoded_image>.allocate(capacity: 1)
        defer { kd_codec_free(out.pointee.pixels); out.deallocate() }
        let status = call(out)
        let message = withUnsafeBytes(of: &out.pointee.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let width = Int(out.pointee.width), height = Int(out.pointee.height), channels = Int(out.pointee.channels)
        switch UInt32(status) {
        case KD_CODEC_OK.rawValue:
            guard let pixels = out.pointee.pixels else { throw ImageError.outOfMemory(name: name) }
            let image = RGBImage(width: width, height: height, channels: channels,
                                 pixels: Array(UnsafeBufferPointer(start: pixels, count: width * height * channels)))
            let count = Int(out.pointee.palette_count)
            let palette = withUnsafeBytes(of: &out.pointee.palette) { Array($0.prefix(count * 3)) }
            return (image, palette)
        case KD_CODEC_TOO_LARGE.rawValue:
            throw ImageError.tooLarge(name: name, width: width, height: height, limit: maxPixels)
        case KD_CODEC_NOT_PALETTE.rawValue: throw ImageError.notPalette(name: name, reason: message)
        case KD_CODEC_BAD_PALETTE_INDEX.rawValue: throw ImageError.badPaletteIndex(name: name, reason: message)
        case KD_CODEC_NO_MEMORY.rawValue: throw ImageError.outOfMemory(name: name)
        default: throw ImageError.corrupt(name: name, format: format, reason: message)
        }
    }
}
