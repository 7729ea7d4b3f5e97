// CUB-200-2011 (`CUB_200_2011.tgz`), and composites written in its layout.
//
//     CUB_200_2011/images.txt               <id> <class dir>/<name>.jpg          (ids 1-based)
//     CUB_200_2011/classes.txt              <k> <NNN.Name>
//     CUB_200_2011/image_class_labels.txt   <id> <k>
//     CUB_200_2011/train_test_split.txt     <id> <1 train | 0 test>
//     CUB_200_2011/bounding_boxes.txt       <id> <x> <y> <width> <height>      (floats, 0-based pixels)
//     CUB_200_2011/images/<class dir>/<name>.jpg
//     CUB_200_2011/kd-composite.json        only in composites: {"composite": true, "description": …}
//
// Crops are the box (scale 1). Foreground comes from the segmentation masks
// `segmentations/<class dir>/<name>.png` (grayscale, fg = value ≥ 128): from the archive named by the
// `masks` option (CUB's separate segmentations.tgz), else from such members inside the archive itself
// (composites put them there), else from the box, which `settings["fg-source"]` then says.
import Foundation
import KDCore
import KDDatasets

enum CUBFormat: CollectionFormat {
    static let name = "CUB-200-2011"
    static let metadata = ["images.txt", "classes.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt"]
    static let manifest = "kd-composite.json"

    static func isSignature(_ memberPath: String) -> Bool {
        let parts = memberPath.split(separator: "/")
        if let i = parts.firstIndex(of: "CUB_200_2011"), i + 1 < parts.count {
            let next = String(parts[i + 1])
            return next == "images" || metadata.contains(next) || next == manifest
        }
        // A re-packed archive with another top folder: the files only CUB has.
        let last = parts.last.map(String.init) ?? ""
        return last == "image_class_labels.txt" || last == "bounding_boxes.txt"
    }

    /// The folder holding the metadata: the one with `image_class_labels.txt`, shallowest first.
    static func root(_ paths: Set<String>) -> String? {
        paths.filter { $0.lastComponent == "image_class_labels.txt" }
            .map(\.parentPath)
            .min { ($0.split(separator: "/").count, $0) < ($1.split(separator: "/").count, $1) }
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let scan = try MetadataScan(reader, path: path) { member in
            let last = member.lastComponent
            return (metadata.contains(last) || last == manifest) && member.split(separator: "/").count <= 3
        }
        let paths = scan.filePaths
        guard let root = root(paths) ?? root(Set(scan.notFiles.keys)) else {
            throw ImageCollectionError.missingMetadata(
                path: path, format: name, member: "CUB_200_2011/image_class_labels.txt",
                hint: "CUB_200_2011.tgz holds CUB_200_2011/{images.txt, classes.txt, image_class_labels.txt, train_test_split.txt, bounding_boxes.txt}: is the download complete?")
        }
        func text(_ file: String) throws -> MetadataText {
            let member = memberPath(root, file)
            guard let bytes = scan.files[member] else {
                throw scan.absent(member, path: path, .missingMetadata(
                    path: path, format: name, member: member,
                    hint: "CUB_200_2011.tgz has \(file) beside image_class_labels.txt: is the download complete?"))
            }
            return MetadataText(bytes, path: path, member: member)
        }

        // Classes, in the order of their 1-based numbers.
        let classesText = try text("classes.txt")
        var classByNumber: [Int: String] = [:]
        for (n, f) in classesText.lines {
            guard f.count == 2 else { throw classesText.bad(n, "\"<number> <NNN.Name>\"", f.joined(separator: " ")) }
            let k = try classesText.int(f[0], line: n, "a class number")
            guard classByNumber[k] == nil else { throw classesText.bad(n, "a class number listed once", f[0]) }
            classByNumber[k] = String(f[1])
        }
        guard !classByNumber.isEmpty else { throw classesText.bad(1, "at least one class", "an empty file") }
        let numbers = classByNumber.keys.sorted()
        let labelOf = Dictionary(uniqueKeysWithValues: numbers.enumerated().map { ($1, $0) })
        let classNames = numbers.map { bareClassName(classByNumber[$0]!) }

        // Per-image tables keyed by image id.
        func table(_ file: String, fields count: Int, _ what: String) throws -> (MetadataText, [Int: (Int, [Substring])]) {
            let t = try text(file)
            var rows: [Int: (Int, [Substring])] = [:]
            for (n, f) in t.lines {
                guard f.count == count else { throw t.bad(n, what, f.joined(separator: " ")) }
                let id = try t.int(f[0], line: n, "an image id")
                guard rows[id] == nil else { throw t.bad(n, "image id \(id) listed once", f.joined(separator: " ")) }
                rows[id] = (n, Array(f.dropFirst()))
            }
            return (t, rows)
        }
        let images = try text("images.txt")
        let (labelsText, labels) = try table("image_class_labels.txt", fields: 2, "\"<image id> <class number>\"")
        let (splitText, splits) = try table("train_test_split.txt", fields: 2, "\"<image id> <1|0>\"")
        let (boxText, boxes) = try table("bounding_boxes.txt", fields: 5, "\"<image id> <x> <y> <width> <height>\"")

        let masks = try maskLayout(path: path, root: root, files: paths, options: options)
        let fileName = CollectionListing.fileName(path)
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []
        var seenIDs = Set<Int>()
        for (n, f) in images.lines {
            guard f.count == 2 else { throw images.bad(n, "\"<image id> <class dir>/<name>.jpg\"", f.joined(separator: " ")) }
            let id = try images.int(f[0], line: n, "an image id")
            guard seenIDs.insert(id).inserted else { throw images.bad(n, "image id \(id) listed once", f.joined(separator: " ")) }
            let relative = String(f[1])
            let member = memberPath(root, "images/" + relative)
            let recordID = "\(fileName):\(member)#0"
            func skip(_ meta: MetadataText, _ reason: String) {
                skipped.append(SkippedRecord(id: recordID, archive: path, member: meta.member, reason: reason))
            }
            guard let (labelLine, labelFields) = labels[id] else { skip(labelsText, "no line for image \(id)"); continue }
            let number = try labelsText.int(labelFields[0], line: labelLine, "a class number")
            guard let label = labelOf[number] else {
                throw labelsText.bad(labelLine, "a class number listed in classes.txt (\(numbers.first!)…\(numbers.last!))", labelFields[0])
            }
            guard let (splitLine, splitFields) = splits[id] else { skip(splitText, "no line for image \(id)"); continue }
            let split: Split
            switch splitFields[0] {
            case "1": split = .train
            case "0": split = .test
            default: throw splitText.bad(splitLine, "1 (train) or 0 (test)", splitFields[0])
            }
            guard let (boxLine, b) = boxes[id] else { skip(boxText, "no bounding box for image \(id)"); continue }
            let x = try boxText.double(b[0], line: boxLine, "x"), y = try boxText.double(b[1], line: boxLine, "y")
            let w = try boxText.double(b[2], line: boxLine, "width"), h = try boxText.double(b[3], line: boxLine, "height")
            let mask: ObjectRecord.MaskSource
            switch masks.source {
            case .none: mask = .box
            case .some(let (archive, prefix)):
                mask = .grayscale(archive: archive, member: prefix + relative.replacingExtension(with: "png"))
            }
            records.append(ObjectRecord(id: recordID, imageMember: member, label: label,
                                        box: ObjectBox(x0: x, y0: y, x1: x + w, y1: y + h),
                                        cropScale: 1, mask: mask, split: split))
        }

        var listing = CollectionListing(format: name, path: path, classNames: classNames, records: records, images: .archive,
                                        settings: ["fg-source": masks.description, "format-crop-scale": "1"],
                                        name: "CUB-200-2011 (crops by box, fg from \(masks.source == nil ? "boxes" : "masks"))")
        listing.skipped = skipped
        if let bytes = scan.files[memberPath(root, manifest)] {
            let description = try compositeDescription(bytes, path: path, member: memberPath(root, manifest))
            listing.isComposite = true
            // "COMPOSITE dataset: Fashion-MNIST items … pasted on …" → "COMPOSITE: Fashion-MNIST items …".
            var summary = Substring(description)
            for prefix in ["COMPOSITE dataset:", "COMPOSITE:"] where summary.hasPrefix(prefix) {
                summary = summary.dropFirst(prefix.count).drop { $0 == " " }
            }
            listing.name = "COMPOSITE: \(summary) (CUB-200-2011 layout; crops by box, fg from \(masks.source == nil ? "boxes" : "masks"))"
            listing.settings["composite-description"] = description
        }
        return listing
    }

    /// "001.Black_footed_Albatross" → "Black_footed_Albatross".
    static func bareClassName(_ folder: String) -> String {
        guard let dot = folder.firstIndex(of: "."), dot != folder.startIndex,
              folder[..<dot].allSatisfy(\.isNumber), folder.index(after: dot) != folder.endIndex else { return folder }
        return String(folder[folder.index(after: dot)...])
    }

    struct MaskLayout {
        /// (archive path, member prefix before "<class dir>/<name>.png"), or nil for boxes.
        var source: (String, String)?
        var description: String
    }

    /// Where the segmentation masks are: the `masks` archive, members of this archive, or nowhere.
    static func maskLayout(path: String, root: String, files: Set<String>, options: ImageOptions) throws -> MaskLayout {
        if let masksPath = options.masks {
            let reader: ArchiveReader
            do {
                reader = try ArchiveReader(path: masksPath)
            } catch {
                throw ImageCollectionError.badMaskArchive(path: masksPath, expected: "CUB's segmentations.tgz", found: shortReason(error))
            }
            guard reader.format.isArchive else {
                throw ImageCollectionError.badMaskArchive(path: masksPath, expected: "an archive of segmentations/<class dir>/<name>.png members",
                                                          found: "a single \(reader.format)")
            }
            var prefix: String?
            var firstPaths: [String] = []
            do {
                try reader.forEachEntry { member in
                    let p = member.entry.path
                    if member.entry.isFile, let range = p.range(of: "segmentations/"),
                       range.lowerBound == p.startIndex || p[p.index(before: range.lowerBound)] == "/" {
                        prefix = String(p[..<range.upperBound])
                        member.stop()
                    } else if firstPaths.count < 3 && member.entry.isFile {
                        firstPaths.append(p)
                    }
                }
            } catch {
                throw ImageCollectionError.badMaskArchive(path: masksPath, expected: "CUB's segmentations.tgz", found: shortReason(error))
            }
            guard let prefix else {
                let found = firstPaths.isEmpty ? "no files" : "members such as " + firstPaths.map { "\"\($0)\"" }.joined(separator: ", ")
                throw ImageCollectionError.badMaskArchive(path: masksPath, expected: "segmentations/<class dir>/<name>.png members", found: found)
            }
            return MaskLayout(source: (masksPath, prefix), description: "mask (segmentations from \(masksPath))")
        }
        for prefix in ["segmentations/", memberPath(root, "segmentations/")] {
            if files.contains(where: { $0.hasPrefix(prefix) && $0.hasSuffix(".png") }) {
                return MaskLayout(source: (path, prefix), description: "mask (\(prefix) members of the archive)")
            }
        }
        return MaskLayout(source: nil, description: "box (no segmentation masks: fg = inside the box; pass masks=segmentations.tgz)")
    }

    /// The manifest's description; throws unless it is a JSON object with "composite": true.
    static func compositeDescription(_ bytes: [UInt8], path: String, member: String) throws -> String {
        guard bytes.count <= 1 << 20,
              let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw ImageCollectionError.badMetadata(path: path, member: member, line: nil,
                                                   expected: "a JSON object (at most 1 MiB) with \"composite\": true",
                                                   found: "\(bytes.count) bytes that are not one")
        }
        guard json["composite"] as? Bool == true else {
            throw ImageCollectionError.badMetadata(path: path, member: member, line: nil, expected: "\"composite\": true",
                                                   found: "\"composite\": \(json["composite"].map { "\($0)" } ?? "absent")")
        }
        let text = (json["description"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return text.isEmpty ? "objects pasted on photographs; not CUB-200-2011" : text
    }
}
