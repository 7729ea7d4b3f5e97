// Pascal VOC 2012 (`VOCtrainval_11-May-2012.tar`):
//
//     VOCdevkit/VOC2012/Annotations/<id>.xml            <annotation><filename>…<object><name>cat</name>
//                                                       <difficult>0</difficult><bndbox><xmin>…</bndbox>
//     VOCdevkit/VOC2012/JPEGImages/<id>.jpg
//     VOCdevkit/VOC2012/SegmentationObject/<id>.png     palette indices: 0 background, k = k-th <object>
//                                                       of the XML (1-based), 255 void (object borders)
//     VOCdevkit/VOC2012/ImageSets/Main/{train,val}.txt  image ids; val → test
//
// One record per <object> of one of the 20 classes, `difficult` ones left out unless
// `includeDifficult`. VOC boxes are 1-based and inclusive: xmin…xmax becomes x0 = xmin − 1,
// x1 = xmax. Crop 1.2× the box (Method.md §7); fg from the object's segment where the image has a
// SegmentationObject PNG (void is never fg), else the box.
import Foundation
import KDCore
import KDDatasets

enum VOCFormat: CollectionFormat {
    static let name = "Pascal VOC 2012"
    static let classNames = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
                             "train", "tvmonitor"]
    static let cropScale = 1.2
    static let folders: Set<String> = ["Annotations", "JPEGImages", "SegmentationObject", "SegmentationClass", "ImageSets"]

    static func isSignature(_ memberPath: String) -> Bool {
        let parts = memberPath.split(separator: "/")
        guard let i = parts.firstIndex(where: { $0.hasPrefix("VOC20") && $0.count == 7 && $0.dropFirst(3).allSatisfy(\.isNumber) }),
              i + 1 < parts.count else { return false }
        return folders.contains(String(parts[i + 1]))
    }

    static func isAnnotation(_ member: String) -> Bool {
        member.hasSuffix(".xml") && member.parentPath.hasSuffix("/Annotations")
    }

    /// The VOC root (the folder holding Annotations/ and ImageSets/): VOC2012's when several are present.
    static func root(_ paths: [String]) -> String? {
        let roots = Set(paths.compactMap { p -> String? in
            guard let r = p.range(of: "/ImageSets/Main/train.txt"), r.upperBound == p.endIndex else { return nil }
            return String(p[..<r.lowerBound])
        })
        return roots.first { $0.hasSuffix("VOC2012") } ?? roots.sorted().last
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let fileName = CollectionListing.fileName(path)
        var parsed: [String: Result<XMLAnnotation, Error>] = [:]
        let scan = try MetadataScan(reader, path: path, want: { member in
            isAnnotation(member) || member.hasSuffix("/ImageSets/Main/train.txt") || member.hasSuffix("/ImageSets/Main/val.txt")
        }, consume: { member, bytes in
            guard isAnnotation(member) else { return false }
            parsed[member] = Result { try XMLAnnotation(bytes: bytes, name: "\(fileName):\(member)") }
            return true
        })
        guard let root = root(Array(scan.files.keys) + Array(scan.notFiles.keys)) else {
            throw ImageCollectionError.missingMetadata(
                path: path, format: name, member: "VOCdevkit/VOC2012/ImageSets/Main/train.txt",
                hint: "VOCtrainval_11-May-2012.tar holds VOCdevkit/VOC2012/{Annotations, JPEGImages, ImageSets/Main}: is the download complete?")
        }
        // Image sets: one image id per line, each in one split.
        var splitOf: [String: (split: Split, member: String, line: Int)] = [:]
        for (file, split) in [("train.txt", Split.train), ("val.txt", .test)] {
            let member = memberPath(root, "ImageSets/Main/" + file)
            guard let bytes = scan.files[member] else {
                throw scan.absent(member, path: path, .missingMetadata(path: path, format: name, member: member,
                                                                       hint: "VOC's ImageSets/Main has train.txt and val.txt: is the download complete?"))
            }
            let text = MetadataText(bytes, path: path, member: member)
            for (n, fields) in text.lines {
                guard fields.count == 1 else { throw text.bad(n, "one image id per line", fields.joined(separator: " ")) }
                let id = String(fields[0])
                if let earlier = splitOf[id], earlier.split != split {
                    throw text.bad(n, "an image id not already listed in \(earlier.member.lastComponent) (line \(earlier.line))", id)
                }
                splitOf[id] = (split, member, n)
            }
        }
        let files = scan.filePaths
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []
        var withSegments = 0
        // Listed images without an annotation are reported, not silently dropped.
        for (id, place) in splitOf.sorted(by: { $0.key < $1.key }) where parsed[memberPath(root, "Annotations/\(id).xml")] == nil {
            skipped.append(SkippedRecord(id: "\(fileName):\(memberPath(root, "JPEGImages/\(id).jpg"))#*", archive: path, member: place.member,
                                         reason: "line \(place.line) lists image \(FileNumbers.excerpt(id)), but the archive has no "
                                            + "Annotations/\(FileNumbers.excerpt(id)).xml"))
        }
        for (xmlMember, result) in parsed.sorted(by: { $0.key < $1.key }) where xmlMember.hasPrefix(root + "/Annotations/") {
            let stem = xmlMember.lastComponent.deletingExtension
            guard let split = splitOf[String(stem)]?.split else { continue }
            let annotation: XMLAnnotation
            switch result {
            case .success(let a): annotation = a
            case .failure(let error):
                skipped.append(SkippedRecord(id: "\(fileName):\(xmlMember)#*", archive: path, member: xmlMember,
                                             reason: "the annotation cannot be read: \(FileNumbers.clause("\(error)"))"))
                continue
            }
            let imageMember = memberPath(root, "JPEGImages/" + (annotation.filename ?? stem + ".jpg"))
            let segmentMember = memberPath(root, "SegmentationObject/\(stem).png")
            let hasSegments = files.contains(segmentMember)
            for (k, result) in annotation.objects.enumerated() {
                let id = "\(fileName):\(imageMember)#\(k)"
                func skip(_ reason: String) { skipped.append(SkippedRecord(id: id, archive: path, member: xmlMember, reason: reason)) }
                let object: XMLAnnotation.Object
                switch result {
                case .success(let o): object = o
                case .failure(let error): skip("object \(k + 1): \(FileNumbers.clause("\(error)"))"); continue
                }
                guard let label = classNames.firstIndex(of: object.name) else {
                    skip("object \(k + 1) has class '\(FileNumbers.excerpt(object.name))', not one of the 20 VOC classes"); continue
                }
                if object.difficult && !options.includeDifficult { continue }
                let box = ObjectBox(x0: object.xmin - 1, y0: object.ymin - 1, x1: object.xmax, y1: object.ymax)
                if hasSegments { withSegments += 1 }
                var record = ObjectRecord(id: id, imageMember: imageMember, objectIndex: k, label: label, box: box,
                                          cropScale: cropScale, mask: hasSegments ? .paletteObject(member: segmentMember, index: k + 1) : .box,
                                          split: split)
                record.segmentObjects = annotation.objects.count
                records.append(record)
            }
        }
        var listing = CollectionListing(
            format: name, path: path, classNames: classNames, records: records, images: .archive,
            settings: ["fg-source": "mask (SegmentationObject) for \(withSegments) of \(records.count) objects, box for the rest",
                       "format-crop-scale": "1.2", "voc-root": root, "box-convention": "1-based inclusive (x0 = xmin - 1, x1 = xmax)"],
            name: "Pascal VOC 2012 (crops 1.2× the box, fg from object segments where present, else the box)")
        listing.skipped = skipped
        return listing
    }
}
