// Animal-MNIST, as PyPI ships it (`animal_mnist-0.4-py3-none-any.whl`, a zip):
//
//     animal_mnist/data/Animal_MNIST/animal_data_version_3.gz    gzipped numpy pickle, uint8 (10000, 28, 28)
//     animal_mnist/data/Animal_MNIST/animal_label_version_3.gz   gzipped numpy pickle, int64 (10000,)
//     animal_mnist-0.4.dist-info/METADATA                        "… 10 classes of animals (including Bear,
//                                                                Bird, Cat, Cow, Dog, Elephant, Giraffe,
//                                                                Horse, Sheep, Zebra) …"
//
// What the 0.4 wheel holds: 10,000 white silhouettes on black, 1,000 per label, sorted by label,
// with no train/test split. The package names its classes only in that METADATA sentence; labels
// 0…9 are those names in the order listed (checked by eye: label 0 are bears, 6 giraffes, 9 zebras,
// whose stripes are the only dark pixels inside a silhouette). When the sentence is absent or lists
// another number of names, the classes are "class0"….
//
// The whole 28×28 image is the object; fg = pixel > 0 with holes filled. Split: item i of each class
// (in file order) is a test item when i % 5 == 4, a training item otherwise (80/20, stratified).
import Foundation
import KDCore
import KDDatasets

enum AnimalMNISTFormat: CollectionFormat {
    static let name = "Animal-MNIST"

    static func isSignature(_ memberPath: String) -> Bool {
        let last = memberPath.lastComponent
        return last.hasPrefix("animal_data_version_") && last.hasSuffix(".gz")
    }

    /// The version number of a data or label member ("animal_label_version_3.gz" → 3).
    static func version(_ member: String, prefix: String) -> Int? {
        let last = member.lastComponent
        guard last.hasPrefix(prefix), last.hasSuffix(".gz") else { return nil }
        return Int(last.dropFirst(prefix.count).dropLast(3))
    }

    /// The class names listed in the wheel's METADATA ("classes of animals (including A, B, …)").
    static func metadataClassNames(_ text: String) -> [String]? {
        guard let start = text.range(of: "(including ") else { return nil }
        guard let end = text[start.upperBound...].firstIndex(of: ")") else { return nil }
        let names = text[start.upperBound..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        return names.isEmpty || names.contains(where: \.isEmpty) ? nil : names
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let scan = try MetadataScan(reader, path: path) { member in
            version(member, prefix: "animal_data_version_") != nil || version(member, prefix: "animal_label_version_") != nil
                || (member.hasSuffix(".dist-info/METADATA") && member.split(separator: "/").count == 2)
        }
        // The newest version with both files.
        var dataBy: [Int: String] = [:], labelBy: [Int: String] = [:]
        for member in scan.files.keys.sorted() {
            if let v = version(member, prefix: "animal_data_version_") { dataBy[v] = member }
            if let v = version(member, prefix: "animal_label_version_") { labelBy[v] = member }
        }
        guard let v = dataBy.keys.filter({ labelBy[$0] != nil }).max(), let dataMember = dataBy[v], let labelMember = labelBy[v] else {
            let data = dataBy.values.sorted().first ?? "animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"
            throw ImageCollectionError.missingMetadata(
                path: path, format: name, member: data.replacingOccurrences(of: "animal_data_version_", with: "animal_label_version_"),
                hint: "The animal_mnist wheel ships animal_data_version_N.gz with animal_label_version_N.gz: download it again with pip download --no-deps animal-mnist==0.4.")
        }
        let fileName = CollectionListing.fileName(path)
        func parse(_ member: String) throws -> NumpyArray {
            do {
                return try NumpyPickle.parse(bytes: scan.files[member]!, name: "\(fileName):\(member)")
            } catch {
                throw ImageCollectionError.badMetadata(path: path, member: member, line: nil, expected: "a gzipped numpy pickle",
                                                       found: String(describing: error))
            }
        }
        let images = try parse(dataMember)
        let labelArray = try parse(labelMember)
        guard images.shape.count == 3, images.descr.dropFirst() == "u1", images.shape[1] > 0, images.shape[2] > 0 else {
            throw ImageCollectionError.badMetadata(path: path, member: dataMember, line: nil, expected: "uint8 images of shape (N, rows, columns)",
                                                   found: "dtype \(images.descr), shape \(images.shape)")
        }
        let labels: [Int]
        do { labels = try labelArray.integers(name: labelMember) } catch {
            throw ImageCollectionError.badMetadata(path: path, member: labelMember, line: nil, expected: "integer labels",
                                                   found: "dtype \(labelArray.descr)")
        }
        guard labelArray.shape.count == 1, labels.count == images.shape[0] else {
            throw ImageCollectionError.badMetadata(path: path, member: labelMember, line: nil,
                                                   expected: "one label per image of \(dataMember) (\(images.shape[0]))",
                                                   found: "shape \(labelArray.shape)")
        }
        let classCount = (labels.filter { $0 >= 0 && $0 < 1000 }.max() ?? -1) + 1
        var classNames = (0..<classCount).map { "class\($0)" }
        var source = "none found: class0…class\(classCount - 1)"
        if let metadata = scan.files.keys.first(where: { $0.hasSuffix(".dist-info/METADATA") }),
           let listed = metadataClassNames(String(decoding: scan.files[metadata]!, as: UTF8.self)), listed.count == classCount {
            classNames = listed
            source = "\(metadata), in the order listed"
        }
        let rows = images.shape[1], columns = images.shape[2]
        let box = ObjectBox(x0: 0, y0: 0, x1: Double(columns), y1: Double(rows))
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []
        var seen = [Int](repeating: 0, count: classCount)
        for (i, label) in labels.enumerated() {
            let id = "\(fileName):\(dataMember)#\(i)"
            guard label >= 0 && label < classCount else {
                skipped.append(SkippedRecord(id: id, archive: path, member: labelMember, reason: "label \(label) of item \(i) is out of range"))
                continue
            }
            let split: Split = seen[label] % 5 == 4 ? .test : .train
            seen[label] += 1
            records.append(ObjectRecord(id: id, imageMember: dataMember, objectIndex: i, label: label, box: box,
                                        cropScale: 1, mask: .fromImage, split: split))
        }
        let pixels = images.data
        let supply: (ObjectRecord) -> RGBImage = { record in
            let start = record.objectIndex * rows * columns
            return RGBImage(width: columns, height: rows, channels: 1, pixels: Array(pixels[start..<(start + rows * columns)]))
        }
        var listing = CollectionListing(
            format: name, path: path, classNames: classNames, records: records, images: .decoded(supply),
            settings: ["fg-source": "image (pixel > 0, holes filled)", "format-crop-scale": "1", "class-names": source,
                       "split": "item i of each class is test when i % 5 == 4 (the package has no split)"],
            name: "Animal-MNIST (silhouettes, fg = pixel > 0 with holes filled)")
        listing.skipped = skipped
        return listing
    }
}
