// What a collection reader produces: one record per object (image member, class, box, crop scale,
// where its mask comes from, split), and the records it had to leave out.
//
// How to use: readers fill a `CollectionListing`; `ImageDataset` decodes the records in one
// streaming pass per archive. Records that fail are reported as `SkippedRecord`s, never thrown.
import Foundation
import KDCore
import KDDatasets

/// An object's box in the original image's pixel coordinates, half-open: columns x0 ..< x1, rows
/// y0 ..< y1 (pixel (x, y) covers [x, x+1) × [y, y+1)). Real-valued, as CUB stores it.
public struct ObjectBox: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var x0: Double
    public var y0: Double
    public var x1: Double
    public var y1: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    public var width: Double { x1 - x0 }
    public var height: Double { y1 - y0 }
    /// Finite corners and a positive width and height.
    public var isValid: Bool {
        [x0, y0, x1, y1].allSatisfy(\.isFinite) && x1 > x0 && y1 > y0
    }

    public var description: String {
        func f(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v) }
        return "(\(f(x0)), \(f(y0)))–(\(f(x1)), \(f(y1)))"
    }

    /// The box scaled by `scale` about its centre, to whole pixels (outward), not yet clamped.
    /// ```
    /// c = (x0 + x1) / 2,  half = scale · (x1 − x0) / 2,  columns ⌊c − half⌋ ..< ⌈c − half + 2·half⌉
    /// ```
    /// (likewise rows); with scale 1 an integer box is returned unchanged.
    func scaledPixels(_ scale: Double) -> PixelBox {
        let cx = (x0 + x1) / 2, cy = (y0 + y1) / 2
        let hw = scale * width / 2, hh = scale * height / 2
        // Clamped far outside any image (callers clamp to the image next): a huge box or scale must
        // not reach Int(Double), which is undefined beyond 2⁶³ in a release build.
        func lo(_ v: Double) -> Int { FileNumbers.clampedInt((v + 1e-9).rounded(.down), in: -(1 << 40)...(1 << 40)) ?? 0 }
        func hi(_ v: Double) -> Int { FileNumbers.clampedInt((v - 1e-9).rounded(.up), in: -(1 << 40)...(1 << 40)) ?? 0 }
        return PixelBox(x0: lo(cx - hw), y0: lo(cy - hh), x1: hi(cx + hw), y1: hi(cy + hh))
    }
}

/// One object of a collection, as its reader found it in the metadata.
public struct ObjectRecord: Equatable, Sendable {
    /// Where the object's foreground mask comes from.
    public enum MaskSource: Equatable, Sendable {
        /// Only the box is known: fg = inside the box (ILSVRC, Tiny-ImageNet, CUB without masks).
        case box
        /// A grayscale PNG the size of the image, fg where the value is ≥ 128 (CUB's segmentations).
        /// `archive` is the path of the archive holding it (the collection's own or `masks:`).
        case grayscale(archive: String, member: String)
        /// A palette PNG of object ids in the collection's own archive, fg where the index equals
        /// `index` (VOC's SegmentationObject: 0 background, 1… objects in XML order, 255 void).
        case paletteObject(member: String, index: Int)
        /// Objects on black (Fashion-MNIST, Animal-MNIST): fg = pixel > 0 with holes filled.
        case fromImage
    }

    /// "<archive file name>:<member path>#<object index>".
    public var id: String
    /// The member holding the image (for IDX and pickle collections, the file the array came from).
    public var imageMember: String
    /// Which object of the image (VOC: its order in the XML; IDX/pickle: the image's index).
    public var objectIndex: Int
    /// Index into the reader's class list (renumbered by ``ImageDataset`` when `classes` restricts it).
    public var label: Int
    public var box: ObjectBox
    /// The crop is the box scaled by this about its centre (CUB 1, VOC 1.2, ILSVRC 1.5), clamped.
    public var cropScale: Double
    public var mask: MaskSource
    public var split: Split
    /// For a `.paletteObject` mask: how many objects the image's annotation lists, so that a
    /// segmentation naming an index beyond them is recognised as inconsistent.
    public var segmentObjects: Int? = nil

    public init(id: String, imageMember: String, objectIndex: Int = 0, label: Int, box: ObjectBox,
                cropScale: Double, mask: MaskSource, split: Split) {
        self.id = id; self.imageMember = imageMember; self.objectIndex = objectIndex; self.label = label
        self.box = box; self.cropScale = cropScale; self.mask = mask; self.split = split
    }
}

/// A record left out of a dataset, and why.
public struct SkippedRecord: Equatable, Sendable, CustomStringConvertible {
    public var id: String
    /// The archive (or file) holding the member at fault.
    public var archive: String
    /// The member at fault (the image, or its mask).
    public var member: String
    public var reason: String

    public init(id: String, archive: String, member: String, reason: String) {
        self.id = id; self.archive = archive; self.member = member; self.reason = reason
    }

    public var description: String { "\(archive): \(member): \(reason); record \(id) skipped" }
}

/// What a reader learnt from a collection's metadata: the records to decode and where their
/// pixels come from.
struct CollectionListing {
    /// Where record images come from.
    enum ImageSupply {
        /// `imageMember` is a member of the collection's archive, decoded as JPEG or PNG.
        case archive
        /// Images already in memory (IDX, numpy pickle): the closure returns the record's image.
        case decoded((ObjectRecord) -> RGBImage)
    }

    /// Format name, e.g. "CUB-200-2011".
    var format: String
    /// The collection's path (archive or folder).
    var path: String
    var classNames: [String]
    /// Other names `classes` may use, per class (ImageNet synset ids); empty when none.
    var classAliases: [[String]] = []
    var records: [ObjectRecord]
    var images: ImageSupply
    /// What the reader chose (fg-source, crop-scale, …), merged into the dataset's settings.
    var settings: [String: String]
    /// A human-readable name, e.g. "CUB-200-2011 (crops by box, fg from masks)".
    var name: String
    var isComposite = false
    /// Records left out while reading the metadata (no box line, an unknown class id, …).
    var skipped: [SkippedRecord] = []

    /// The collection's file name as used in record ids.
    var fileName: String { CollectionListing.fileName(path) }

    static func fileName(_ path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }
}
