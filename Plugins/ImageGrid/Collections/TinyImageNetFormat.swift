// Tiny-ImageNet (`tiny-imagenet-200.zip`):
//
//     tiny-imagenet-200/wnids.txt                           the 200 synset ids (class order)
//     tiny-imagenet-200/words.txt                           n02084071<TAB>dog, domestic dog, …
//     tiny-imagenet-200/train/<wnid>/images/<name>.JPEG
//     tiny-imagenet-200/train/<wnid>/<wnid>_boxes.txt       <name> <x0> <y0> <x1> <y1>   (tab-separated)
//     tiny-imagenet-200/val/images/<name>.JPEG
//     tiny-imagenet-200/val/val_annotations.txt             <name> <wnid> <x0> <y0> <x1> <y1>
//
// Boxes are 0-based and inclusive (a whole 64-pixel image is 0 0 63 63): x1 + 1 is the exclusive end.
// Crop by the box (scale 1), fg = inside the box. train → train, val → test (the test folder has no
// labels).
import Foundation
import KDCore
import KDDatasets

enum TinyImageNetFormat: CollectionFormat {
    static let name = "Tiny-ImageNet"

    static func isSignature(_ memberPath: String) -> Bool {
        let parts = memberPath.split(separator: "/")
        if let i = parts.firstIndex(of: "tiny-imagenet-200"), i + 1 < parts.count {
            return ["wnids.txt", "words.txt", "train", "val", "test"].contains(String(parts[i + 1]))
        }
        let last = parts.last.map(String.init) ?? ""
        return last == "val_annotations.txt" || last == "wnids.txt"
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let scan = try MetadataScan(reader, path: path) { member in
            let last = member.lastComponent
            return last == "wnids.txt" || last == "words.txt" || last == "val_annotations.txt" || last.hasSuffix("_boxes.txt")
        }
        guard let wnidsMember = scan.files.keys.filter({ $0.lastComponent == "wnids.txt" })
            .min(by: { $0.split(separator: "/").count < $1.split(separator: "/").count }) else {
            let standIn = scan.notFiles.keys.filter { $0.lastComponent == "wnids.txt" }.min() ?? "tiny-imagenet-200/wnids.txt"
            throw scan.absent(standIn, path: path, .missingMetadata(path: path, format: name, member: "tiny-imagenet-200/wnids.txt",
                                                       hint: "tiny-imagenet-200.zip has wnids.txt at its top folder: is the download complete?"))
        }
        let root = wnidsMember.parentPath
        let wnidsText = MetadataText(scan.files[wnidsMember]!, path: path, member: wnidsMember)
        var wnids: [String] = []
        var seen = Set<String>()
        for (n, f) in wnidsText.lines {
            guard f.count == 1, seen.insert(String(f[0])).inserted else {
                throw wnidsText.bad(n, "one synset id per line, each once", f.joined(separator: " "))
            }
            wnids.append(String(f[0]))
        }
        guard !wnids.isEmpty else { throw wnidsText.bad(1, "at least one synset id", "an empty file") }
        let labelOf = Dictionary(uniqueKeysWithValues: wnids.enumerated().map { ($1, $0) })
        let fileName = CollectionListing.fileName(path)
        var records: [ObjectRecord] = []
        var skipped: [SkippedRecord] = []

        /// x0 y0 x1 y1 (inclusive) from four fields.
        func box(_ t: MetadataText, _ n: Int, _ f: ArraySlice<Substring>) throws -> ObjectBox {
            let v = try f.map { try t.double($0, line: n, "a box coordinate") }
            return ObjectBox(x0: v[0], y0: v[1], x1: v[2] + 1, y1: v[3] + 1)
        }
        for (label, wnid) in wnids.enumerated() {
            let member = memberPath(root, "train/\(wnid)/\(wnid)_boxes.txt")
            guard let bytes = scan.files[member] else {
                skipped.append(SkippedRecord(id: "\(fileName):\(memberPath(root, "train/\(wnid)/images"))/*#0", archive: path, member: member,
                                             reason: (scan.notFiles[member].map { "the box file is \($0)" } ?? "no box file for class \(wnid)")
                                                + ": its training images are left out"))
                continue
            }
            let t = MetadataText(bytes, path: path, member: member, separators: ["\t", " "])
            for (n, f) in t.lines {
                guard f.count == 5 else { throw t.bad(n, "\"<name> <x0> <y0> <x1> <y1>\"", f.joined(separator: " ")) }
                let image = memberPath(root, "train/\(wnid)/images/\(f[0])")
                records.append(ObjectRecord(id: "\(fileName):\(image)#0", imageMember: image, label: label,
                                            box: try box(t, n, f.dropFirst()), cropScale: 1, mask: .box, split: .train))
            }
        }
        let valMember = memberPath(root, "val/val_annotations.txt")
        if let bytes = scan.files[valMember] {
            let t = MetadataText(bytes, path: path, member: valMember, separators: ["\t", " "])
            for (n, f) in t.lines {
                guard f.count == 6 else { throw t.bad(n, "\"<name> <wnid> <x0> <y0> <x1> <y1>\"", f.joined(separator: " ")) }
                let image = memberPath(root, "val/images/\(f[0])")
                guard let label = labelOf[String(f[1])] else {
                    skipped.append(SkippedRecord(id: "\(fileName):\(image)#0", archive: path, member: valMember,
                                                 reason: "line \(n): synset \(f[1]) is not in wnids.txt"))
                    continue
                }
                records.append(ObjectRecord(id: "\(fileName):\(image)#0", imageMember: image, label: label,
                                            box: try box(t, n, f.dropFirst(2)), cropScale: 1, mask: .box, split: .test))
            }
        } else {
            skipped.append(SkippedRecord(id: "\(fileName):\(memberPath(root, "val/images"))/*#0", archive: path, member: valMember,
                                         reason: "no val_annotations.txt: the test split is empty"))
        }
        let (names, source) = SynsetNames.names(for: wnids, scan: scan, path: path)
        var listing = CollectionListing(
            format: name, path: path, classNames: names, classAliases: wnids.map { [$0] }, records: records, images: .archive,
            settings: ["fg-source": "box", "format-crop-scale": "1", "class-names": source,
                       "box-convention": "0-based inclusive (x1 = x1 + 1)"],
            name: "Tiny-ImageNet (crops by box, fg = inside the box)")
        listing.skipped = skipped
        return listing
    }
}
