// Clip-art cut-outs for composites: RGBA PNGs in class folders (Debian openclipart-png's layout).
import Foundation
import KDCore

/// Clip-art cut-outs: each sub-folder of the root is a class, holding PNGs at any depth (Debian
/// openclipart-png's `/usr/share/openclipart/png/<category>/…`; point at `…/png/animals` for birds,
/// fish, mammals, …). Symbolic links are skipped (openclipart-png links duplicates). A PNG is used
/// when it has an alpha channel and its mask (alpha ≥ 128) is neither empty, nor the whole frame,
/// nor (nearly) a filled rectangle (those are pictures, not cut-outs). Cutouts larger than `maxSide` are reduced first
/// (premultiplied, so only the final resize decides the mask), which keeps memory bounded.
final class ClipArtSource: ObjectSource {
    let name = "clip-art"
    let classNames: [String]
    let fill = ObjectFill.own
    let sharedPool = true
    let root: String
    /// Relative paths of the PNGs of each class, sorted.
    private let files: [[String]]
    private let maxSide: Int
    let sourceDigests: [SourceDigest] = []

    /// A mask filling this share of its own tight box is a rectangle (a picture with a transparent
    /// margin, openclipart's "Linked Image Not Found" placeholders), not a cut-out.
    static let rectangleShare = 0.97

    /// 8 Mpx per clip-art PNG (openclipart's largest are about 1 Mpx).
    static let maxPixels = 8 << 20

    init(path: String, maxSide: Int) throws {
        let hint = "install Debian's openclipart-png or pass --objects-path with a folder of class folders of RGBA PNGs"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CompositeError.missingSource(path: path, what: "the clip-art folder", hint: hint)
        }
        root = path
        self.maxSide = maxSide
        let manager = FileManager.default
        var names: [String] = [], files: [[String]] = []
        let folders = try manager.contentsOfDirectory(atPath: path).sorted()
        for folder in folders {
            let full = URL(fileURLWithPath: path).appendingPathComponent(folder).path
            guard ClipArtSource.isRealDirectory(full) else { continue }
            let pngs = ClipArtSource.pngs(under: full, relativeTo: folder)
            if !pngs.isEmpty { names.append(folder); files.append(pngs) }
        }
        guard !names.isEmpty else {
            throw CompositeError.badSource(path: path, expected: "class folders holding PNG files", found: "no folder with a PNG")
        }
        classNames = names
        self.files = files
    }

    private static func isRealDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// PNG regular files under `folder` (symbolic links neither followed nor listed), sorted.
    private static func pngs(under folder: String, relativeTo prefix: String) -> [String] {
        var out: [String] = []
        guard let children = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        for child in children.sorted() {
            let full = URL(fileURLWithPath: folder).appendingPathComponent(child).path
            if isRealDirectory(full) {
                out += pngs(under: full, relativeTo: prefix + "/" + child)
            } else if child.lowercased().hasSuffix(".png") && isRegularFile(full) {
                out.append(prefix + "/" + child)
            }
        }
        return out
    }

    func candidates(classIndex: Int, train: Bool) -> [ObjectReference] {
        files[classIndex].indices.map { ObjectReference(pool: classIndex, index: $0) }
    }

    func cutout(_ reference: ObjectReference) -> CutoutOutcome {
        let relative = files[reference.pool][reference.index]
        let path = URL(fileURLWithPath: root).appendingPathComponent(relative).path
        let image: RGBImage
        do {
            image = try RGBImage.decodePNG(bytes: LocalFile.read(path, limit: 64 << 20), name: path, maxPixels: ClipArtSource.maxPixels)
        } catch {
            return .skipped("\(relative): \(error)")
        }
        guard image.channels == 4 else { return .skipped("\(relative): no alpha channel") }
        let count = image.width * image.height
        var mask = [UInt8](repeating: 0, count: count)
        var inside = 0
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<count where p[4 * i + 3] >= 128 { mask[i] = 1; inside += 1 }
        }
        if inside == count { return .skipped("\(relative): the alpha covers the whole frame") }
        guard let box = CompositeMasks.tightBox(mask, width: image.width, height: image.height) else {
            return .skipped("\(relative): fully transparent")
        }
        if Double(inside) >= ClipArtSource.rectangleShare * Double(box.area) {
            return .skipped("\(relative): the opaque part is a \(box.width)×\(box.height) rectangle, not a cut-out")
        }
        var values = [Float](repeating: 0, count: box.width * box.height * 4)
        image.pixels.withUnsafeBufferPointer { p in
            values.withUnsafeMutableBufferPointer { out in
                for y in 0..<box.height {
                    for x in 0..<box.width {
                        let source = (box.y + y) * image.width + box.x + x
                        let coverage: Float = mask[source] != 0 ? 1 : 0
                        for c in 0..<3 { out[4 * (y * box.width + x) + c] = Float(p[4 * source + c]) / 255 * coverage }
                        out[4 * (y * box.width + x) + 3] = coverage
                    }
                }
            }
        }
        var cut = FloatImage(width: box.width, height: box.height, channels: 4, values: values)
        let longer = max(box.width, box.height)
        if longer > maxSide {
            let scale = Double(maxSide) / Double(longer)
            cut = cut.resized(width: max(1, Int((Double(box.width) * scale).rounded())),
                              height: max(1, Int((Double(box.height) * scale).rounded())))
        }
        return .usable(ObjectCutout(image: cut, label: relative, file: path))
    }
}
