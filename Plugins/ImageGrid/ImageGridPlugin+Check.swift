// `kd-tool check` on single files of the image modality that are not datasets on their own: a JPEG or PNG
// photograph, one IDX array (a Fashion-MNIST member, gzip-compressed or plain), a VOC/ILSVRC annotation XML.
// Each is decoded exactly as the dataset readers decode it (Docs/Robustness.md).
import Foundation
import KDCore
import KDDatasets

extension ImageGridPlugin: FileChecking {
    /// Largest single file checked: the readers' own limits are smaller (images 64 M pixels, IDX 512 MB).
    static let checkedFileLimit = 512 << 20

    public func check(_ path: String) -> FileCheckReport? {
        guard let head = Self.head(path, count: 64), !head.isEmpty else { return nil }
        if Self.isImage(head) { return Self.checkImage(path) }
        if Self.isXML(head) { return Self.checkAnnotation(path) }
        if head.count >= 4, head[0] == 0, head[1] == 0, head[2] == 0x08, (1...4).contains(head[3]) { return Self.checkIDX(path) }
        if Gzip.isGzip(head), (path.hasSuffix("-ubyte.gz") || path.hasSuffix(".idx.gz")) { return Self.checkIDX(path) }
        return nil
    }

    static func head(_ path: String, count: Int) -> [UInt8]? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        return (try? h.read(upToCount: count)).map { Array($0) }
    }

    static func isImage(_ b: [UInt8]) -> Bool {
        (b.count >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
            || (b.count >= 4 && b.prefix(4).elementsEqual([0x89, 0x50, 0x4E, 0x47]))
    }

    static func isXML(_ b: [UInt8]) -> Bool {
        let text = String(decoding: b, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("<?xml") || text.hasPrefix("<annotation")
    }

    /// `body`'s report on the file's bytes, or a refusal when the file cannot be read.
    static func withBytes(_ path: String, format: String, _ body: ([UInt8]) -> FileCheckReport) -> FileCheckReport {
        let bytes: [UInt8]
        do { bytes = try LocalFile.read(path, limit: checkedFileLimit) } catch {
            return FileCheckReport(format: format, problems: ["\(error)"], refused: true)
        }
        return body(bytes)
    }

    static func checkImage(_ path: String) -> FileCheckReport {
        let format = "image (JPEG/PNG)"
        return withBytes(path, format: format) { bytes in
            do {
                let image = try RGBImage.decode(bytes: bytes, name: path)
                let kind = bytes.first == 0xFF ? "JPEG image" : "PNG image"
                let channels = [1: "gray", 3: "RGB", 4: "RGBA"][image.channels] ?? "\(image.channels) channels"
                return FileCheckReport(format: kind, found: ["\(image.width)×\(image.height) pixels, \(image.channels) channel\(image.channels == 1 ? "" : "s") (\(channels)), \(bytes.count) bytes"])
            } catch {
                return FileCheckReport(format: format, problems: ["\(error)"], refused: true)
            }
        }
    }

    static func checkIDX(_ path: String) -> FileCheckReport {
        let format = "IDX array"
        return withBytes(path, format: format) { bytes in
            do {
                let array = try IDX.parse(bytes: bytes, name: path)
                var found = ["dimensions \(array.dimensions.map(String.init).joined(separator: "×")), unsigned bytes"]
                if array.dimensions.count == 1 {
                    var counts: [UInt8: Int] = [:]
                    for v in array.values { counts[v, default: 0] += 1 }
                    found.append("labels: " + counts.keys.sorted().map { "\($0): \(counts[$0]!)" }.joined(separator: ", "))
                } else if array.dimensions.count == 3 {
                    found.append("\(array.dimensions[0]) images of \(array.dimensions[1])×\(array.dimensions[2]) pixels")
                }
                return FileCheckReport(format: format + (Gzip.isGzip(bytes) ? " (gzip)" : ""), found: found)
            } catch {
                return FileCheckReport(format: format, problems: ["\(error)"], refused: true)
            }
        }
    }

    static func checkAnnotation(_ path: String) -> FileCheckReport {
        let format = "annotation XML (VOC/ILSVRC DET)"
        return withBytes(path, format: format) { bytes in
            do {
                let annotation = try XMLAnnotation(bytes: bytes, name: path)
                var found = ["filename: \(annotation.filename ?? "(none)")", "\(annotation.objects.count) object\(annotation.objects.count == 1 ? "" : "s")"]
                var problems: [String] = []
                for (i, object) in annotation.objects.enumerated() {
                    switch object {
                    case .success(let o):
                        var line = "object \(i + 1): \(o.name), box (\(o.xmin), \(o.ymin))–(\(o.xmax), \(o.ymax))\(o.difficult ? ", difficult" : "")"
                        if !(o.xmin < o.xmax && o.ymin < o.ymax) {
                            problems.append("\(path): object \(i + 1) (\(o.name)): the box is empty or inverted")
                            line += " (empty)"
                        }
                        found.append(line)
                    case .failure(let error):
                        problems.append("\(path): object \(i + 1): \(error)")
                    }
                }
                return FileCheckReport(format: format, found: found, problems: problems)
            } catch {
                return FileCheckReport(format: format, problems: ["\(error)"], refused: true)
            }
        }
    }
}
