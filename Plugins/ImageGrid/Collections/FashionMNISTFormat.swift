// Fashion-MNIST: `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` (or uncompressed), in a folder
// (Debian's dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist/) or in an
// archive. The whole 28×28 item is the object (box = the image, crop scale 1); it lies on black, so
// fg = pixel > 0 with holes filled. train → train, t10k → test.
//
// The files are named as MNIST's, and the format cannot tell them apart: MNIST digits given here
// would be read under Fashion-MNIST's class names.
import Foundation
import KDCore
import KDDatasets

enum FashionMNISTFormat: CollectionFormat {
    static let name = "Fashion-MNIST"
    /// The ten classes, in label order (zalandoresearch/fashion-mnist README).
    static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let stems: [(split: Split, images: String, labels: String)] = [
        (.train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        (.test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ]

    /// The stem of an IDX file name ("x/train-images-idx3-ubyte.gz" → "train-images-idx3-ubyte").
    static func stem(_ path: String) -> String {
        let last = path.lastComponent
        return last.hasSuffix(".gz") ? String(last.dropLast(3)) : last
    }

    static func isSignature(_ memberPath: String) -> Bool {
        let s = stem(memberPath)
        return stems.contains { $0.images == s }
    }

    /// The IDX files of a folder by stem, or nil when it holds no images file.
    static func folderFiles(_ folder: String) -> [String: String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return nil }
        var files: [String: String] = [:]
        for name in names.sorted() where stems.contains(where: { $0.images == stem(name) || $0.labels == stem(name) }) {
            files[stem(name)] = memberPath(folder.hasSuffix("/") ? String(folder.dropLast()) : folder, name)
        }
        return stems.contains { files[$0.images] != nil } ? files : nil
    }

    static func listFolder(path: String, options: ImageOptions) throws -> CollectionListing {
        let files = folderFiles(path) ?? [:]
        return try listing(path: path) { stem in
            guard let file = files[stem] else { return nil }
            do {
                return (file.lastComponent, try LocalFile.read(file, limit: IDX.defaultLimit))
            } catch {
                throw ImageCollectionError.unreadable(path: file, reason: shortReason(error))
            }
        }
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let wanted = Set(stems.flatMap { [$0.images, $0.labels] })
        let scan = try MetadataScan(reader, path: path) { wanted.contains(stem($0)) }
        // The shallowest member of each name.
        var byStem: [String: String] = [:]
        for member in scan.files.keys.sorted(by: { ($0.split(separator: "/").count, $0) < ($1.split(separator: "/").count, $1) })
        where byStem[stem(member)] == nil {
            byStem[stem(member)] = member
        }
        return try listing(path: path) { stem in byStem[stem].map { ($0, scan.files[$0]!) } }
    }

    /// Records from the IDX files `file(stem)` returns (member name and bytes, or nil when absent).
    static func listing(path: String, file: (String) throws -> (String, [UInt8])?) throws -> CollectionListing {
        let fileName = CollectionListing.fileName(path)
        var arrays: [String: IDXArray] = [:]
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []
        for (split, imagesStem, labelsStem) in stems {
            guard let (imagesMember, imageBytes) = try file(imagesStem) else { continue }
            guard let (labelsMember, labelBytes) = try file(labelsStem) else {
                throw ImageCollectionError.missingMetadata(
                    path: path, format: name, member: labelsStem + ".gz",
                    hint: "Fashion-MNIST's \(imagesStem).gz comes with \(labelsStem).gz: copy both (Debian: dataset-fashion-mnist).")
            }
            func parse(_ bytes: [UInt8], _ member: String, rank: Int) throws -> IDXArray {
                do {
                    return try IDX.parse(bytes: bytes, name: "\(fileName):\(member)", expectedRank: rank)
                } catch {
                    throw ImageCollectionError.badMetadata(path: path, member: member, line: nil,
                                                           expected: rank == 3 ? "IDX images (N, rows, columns)" : "IDX labels (N)",
                                                           found: String(describing: error))
                }
            }
            let images = try parse(imageBytes, imagesMember, rank: 3)
            let labels = try parse(labelBytes, labelsMember, rank: 1)
            guard images.count == labels.count else {
                throw ImageCollectionError.badMetadata(path: path, member: labelsMember, line: nil,
                                                       expected: "one label per image of \(imagesMember) (\(images.count))",
                                                       found: "\(labels.count) labels")
            }
            guard images.dimensions[1] > 0 && images.dimensions[2] > 0 else {
                throw ImageCollectionError.badMetadata(path: path, member: imagesMember, line: nil, expected: "images of at least 1×1 pixel",
                                                       found: "dimensions \(images.dimensions)")
            }
            arrays[imagesMember] = images
            let box = ObjectBox(x0: 0, y0: 0, x1: Double(images.dimensions[2]), y1: Double(images.dimensions[1]))
            for i in 0..<images.count {
                let id = "\(fileName):\(imagesMember)#\(i)"
                let label = Int(labels.values[i])
                guard label < classNames.count else {
                    skipped.append(SkippedRecord(id: id, archive: path, member: labelsMember,
                                                 reason: "label \(label) of item \(i) is not one of the 10 classes (0…9)"))
                    continue
                }
                records.append(ObjectRecord(id: id, imageMember: imagesMember, objectIndex: i, label: label, box: box,
                                            cropScale: 1, mask: .fromImage, split: split))
            }
        }
        guard !arrays.isEmpty else {
            throw ImageCollectionError.missingMetadata(path: path, format: name, member: "train-images-idx3-ubyte.gz",
                                                       hint: "Install Debian's dataset-fashion-mnist, or pass its folder.")
        }
        let supply: (ObjectRecord) -> RGBImage = { record in
            let array = arrays[record.imageMember]!
            let rows = array.dimensions[1], columns = array.dimensions[2], size = rows * columns
            let start = record.objectIndex * size
            return RGBImage(width: columns, height: rows, channels: 1, pixels: Array(array.values[start..<(start + size)]))
        }
        var listing = CollectionListing(format: name, path: path, classNames: classNames, records: records, images: .decoded(supply),
                                        settings: ["fg-source": "image (pixel > 0, holes filled)", "format-crop-scale": "1"],
                                        name: "Fashion-MNIST (whole items, fg = pixel > 0 with holes filled)")
        listing.skipped = skipped
        return listing
    }
}
