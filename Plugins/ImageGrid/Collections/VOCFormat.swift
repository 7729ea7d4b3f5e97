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

    /// The VOC root (the folder holding Annotations/ and ImageSets/): VOC2012's when several are present.
    static func root(_ paths: [String]) -> String? {
        let roots = Set(paths.compactMap { p -> String? in
            guard let r = p.range(of: "/ImageSets/Main/train.txt"), r.upperBound == p.endIndex else { return nil }
            return String(p[..<r.lowerBound])
        })
        return roots.first { $0.hasSuffix("VOC2012") } ?? roots.sorted().last
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let scan = try MetadataScan(reader, path: path) { member in
            (member.hasSuffix(".xml") && member.parentPath.hasSuffix("/Annotations"))
                || member.hasSuffix("/ImageSets/Main/train.txt") || member.hasSuffix("/ImageSets/Main/val.txt")
        }
        guard let root = root(Array(scan.files.keys)) else {
            throw ImageCollectionError.missingMetadata(
                path: path, format: name, member: "VOCdevkit/VOC2012/ImageSets/Main/train.txt",
                hint: "VOCtrainval_11-May-2012.tar holds VOCdevkit/VOC2012/{Annotations, JPEGImages, ImageSets/Main}: is the download complete?")
        }
        var splitOf: [String: Split] = [:]
        for (file, split) in [("train.txt", Split.train), ("val.txt", .test)] {
            let member = memberPath(root, "ImageSets/Main/" + file)
            guard let bytes = scan.files[member] else {
                throw ImageCollectionError.missingMetadata(path: path, format: name, member: member,
                                                           hint: "VOC's ImageSets/Main has train.txt and val.txt: is the download complete?")
            }
            for (_, fields) in MetadataText(bytes, path: path, member: member).lines { splitOf[String(fields[0])] = split }
        }
        let files = scan.filePaths
        let fileName = CollectionListing.fileName(path)
        let annotations = scan.files.keys.filter { $0.hasPrefix(root + "/Annotations/") }.sorted()
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []
        var withSegments = 0
        for xmlMember in annotations {
            let stem = xmlMember.lastComponent.deletingExtension
            guard let split = splitOf[String(stem)] else { continue }
            let document: XMLElement
            do {
                document = try XML.parse(bytes: scan.files[xmlMember]!, name: "\(fileName):\(xmlMember)")
            } catch {
                skipped.append(SkippedRecord(id: "\(fileName):\(xmlMember)#*", archive: path, member: xmlMember,
                                             reason: "the annotation cannot be read: \(error)"))
                continue
            }
            let file = document.element("filename")?.text ?? ""
            let imageMember = memberPath(root, "JPEGImages/" + (file.isEmpty ? stem + ".jpg" : file))
            let segmentMember = memberPath(root, "SegmentationObject/\(stem).png")
            let hasSegments = files.contains(segmentMember)
            for (k, object) in document.children(named: "object").enumerated() {
                let id = "\(fileName):\(imageMember)#\(k)"
                func skip(_ reason: String) { skipped.append(SkippedRecord(id: id, archive: path, member: xmlMember, reason: reason)) }
                let box: ObjectBox
                let label: Int
                do {
                    let className = try object.string("name")
                    guard let l = classNames.firstIndex(of: className) else {
                        skip("object \(k + 1) has class '\(className)', not one of the 20 VOC classes"); continue
                    }
                    label = l
                    if object.child(named: "difficult")?.text == "1" && !options.includeDifficult { continue }
                    let b = try object.required("bndbox")
                    box = ObjectBox(x0: try b.double("xmin") - 1, y0: try b.double("ymin") - 1,
                                    x1: try b.double("xmax"), y1: try b.double("ymax"))
                } catch {
                    skip("object \(k + 1): \(error)"); continue
                }
                if hasSegments { withSegments += 1 }
                records.append(ObjectRecord(id: id, imageMember: imageMember, objectIndex: k, label: label, box: box,
                                            cropScale: cropScale, mask: hasSegments ? .paletteObject(member: segmentMember, index: k + 1) : .box,
                                            split: split))
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
