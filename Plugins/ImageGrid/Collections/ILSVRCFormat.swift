// ILSVRC DET (the ILSVRC2013–2015 detection data in the devkit's layout):
//
//     …/Annotations/DET/{train,val}/…/<image>.xml     VOC-style XML, <object><name>n02084071</name><bndbox>…
//     …/Data/DET/{train,val}/…/<image>.JPEG
//     map_det.txt (n02084071 <id> dog) or words.txt (n02084071<TAB>dog, domestic dog, …), optional
//
// One record per <object>. ImageNet boxes are 0-based and inclusive: xmin…xmax becomes x0 = xmin,
// x1 = xmax + 1. Crop 1.5× the box and fg = inside the box (Method.md §7: the paper had no masks for
// ILSVRC). Classes are the synset ids found, sorted, named through map_det.txt or words.txt when the
// archive has one; `classes` accepts names or synset ids. train → train, val → test.
import Foundation
import KDCore
import KDDatasets

enum ILSVRCFormat: CollectionFormat {
    static let name = "ILSVRC DET"
    static let cropScale = 1.5

    static func isSignature(_ memberPath: String) -> Bool {
        memberPath.contains("Annotations/DET/") || memberPath.contains("Data/DET/")
    }

    /// (split, path of the image) for an annotation path, or nil outside DET train/val.
    static func place(_ xmlMember: String) -> (Split, String)? {
        guard let range = xmlMember.range(of: "Annotations/DET/"),
              range.lowerBound == xmlMember.startIndex || xmlMember[xmlMember.index(before: range.lowerBound)] == "/" else { return nil }
        let rest = xmlMember[range.upperBound...]
        let split: Split
        if rest.hasPrefix("train/") { split = .train } else if rest.hasPrefix("val/") { split = .test } else { return nil }
        let image = String(xmlMember[..<range.lowerBound]) + "Data/DET/" + String(rest).deletingExtension + ".JPEG"
        return (split, image)
    }

    static func list(path: String, reader: ArchiveReader, options: ImageOptions) throws -> CollectionListing {
        let fileName = CollectionListing.fileName(path)
        var parsed: [String: Result<XMLAnnotation, Error>] = [:]
        let scan = try MetadataScan(reader, path: path, want: { member in
            (member.hasSuffix(".xml") && place(member) != nil)
                || ["map_det.txt", "words.txt"].contains(member.lastComponent) && member.split(separator: "/").count <= 4
        }, consume: { member, bytes in
            guard member.hasSuffix(".xml") else { return false }
            parsed[member] = Result { try XMLAnnotation(bytes: bytes, name: "\(fileName):\(member)") }
            return true
        })
        let files = scan.filePaths
        let annotations = parsed.keys.sorted()
        guard !annotations.isEmpty else {
            throw ImageCollectionError.missingMetadata(
                path: path, format: name, member: "ILSVRC/Annotations/DET/train/…/*.xml",
                hint: "ILSVRC DET archives hold Annotations/DET/{train,val} beside Data/DET/{train,val}: is this the annotations archive?")
        }
        struct Found { var record: ObjectRecord; var synset: String }
        var found: [Found] = []
        var skipped: [SkippedRecord] = []
        for xmlMember in annotations {
            let (split, guess) = place(xmlMember)!
            // The image member as stored (".JPEG" in the devkit; some repacks use ".jpg").
            let imageMember = files.contains(guess) ? guess
                : [".jpg", ".jpeg", ".JPG"].map { guess.deletingExtension + $0 }.first(where: files.contains) ?? guess
            let annotation: XMLAnnotation
            switch parsed[xmlMember]! {
            case .success(let a): annotation = a
            case .failure(let error):
                skipped.append(SkippedRecord(id: "\(fileName):\(imageMember)#*", archive: path, member: xmlMember,
                                             reason: "the annotation cannot be read: \(FileNumbers.clause("\(error)"))"))
                continue
            }
            for (k, result) in annotation.objects.enumerated() {
                let id = "\(fileName):\(imageMember)#\(k)"
                switch result {
                case .failure(let error):
                    skipped.append(SkippedRecord(id: id, archive: path, member: xmlMember, reason: "object \(k + 1): \(FileNumbers.clause("\(error)"))"))
                case .success(let object):
                    if object.difficult && !options.includeDifficult { continue }
                    let box = ObjectBox(x0: object.xmin, y0: object.ymin, x1: object.xmax + 1, y1: object.ymax + 1)
                    found.append(Found(record: ObjectRecord(id: id, imageMember: imageMember, objectIndex: k, label: -1, box: box,
                                                            cropScale: cropScale, mask: .box, split: split), synset: object.name))
                }
            }
        }
        let synsets = Array(Set(found.map(\.synset))).sorted()
        let (names, source) = SynsetNames.names(for: synsets, scan: scan, path: path)
        let labelOf = Dictionary(uniqueKeysWithValues: synsets.enumerated().map { ($1, $0) })
        let records = found.map { f -> ObjectRecord in
            var r = f.record
            r.label = labelOf[f.synset]!
            return r
        }
        var listing = CollectionListing(
            format: name, path: path, classNames: names, classAliases: synsets.map { [$0] }, records: records, images: .archive,
            settings: ["fg-source": "box", "format-crop-scale": "1.5", "class-names": source,
                       "box-convention": "0-based inclusive (x0 = xmin, x1 = xmax + 1)"],
            name: "ILSVRC DET (crops 1.5× the box, fg = inside the box)")
        listing.skipped = skipped
        return listing
    }
}

/// Human names of ImageNet synsets from the archive's map_det.txt or words.txt.
enum SynsetNames {
    /// A name per synset (the synset id when unknown or when two synsets would share a name), and
    /// which file named them.
    static func names(for synsets: [String], scan: MetadataScan, path: String) -> ([String], String) {
        var table: [String: String] = [:]
        var source = "synset ids (no map_det.txt or words.txt in the archive)"
        let shallowest = { (file: String) in
            scan.files.keys.filter { $0.lastComponent == file }.min { $0.split(separator: "/").count < $1.split(separator: "/").count }
        }
        if let member = shallowest("map_det.txt") {
            // "n02672831 1 accordion"
            for (_, f) in MetadataText(scan.files[member]!, path: path, member: member).lines where f.count >= 3 {
                table[String(f[0])] = f.dropFirst(2).joined(separator: " ")
            }
            source = member
        } else if let member = shallowest("words.txt") {
            // "n02084071<TAB>dog, domestic dog, Canis familiaris": the first synonym.
            for (_, f) in MetadataText(scan.files[member]!, path: path, member: member, separators: ["\t"]).lines where f.count >= 2 {
                table[String(f[0])] = f[1].split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
            }
            source = member
        }
        let wanted = synsets.map { table[$0] ?? $0 }
        var counts: [String: Int] = [:]
        for n in wanted { counts[n, default: 0] += 1 }
        let names = zip(synsets, wanted).map { synset, n in counts[n]! > 1 ? "\(n) (\(synset))" : n }
        return (names, source)
    }
}
