// Test fixtures: hand-made meshes in every format, and small archives in the exact layouts users
// download (ModelNet40 zip, modelnet40_normal_resampled, Sweet Home 3D .sh3f).
import Foundation
import KDCore
import KDDatasets
@testable import PointCloud

let pointTestFolder = NSTemporaryDirectory() + "kd-pointcloud-tests-\(getpid())"
let removePointTestFolderAtExit: Void = { atexit { try? FileManager.default.removeItem(atPath: pointTestFolder) } }()

enum PointFixtures {
    static func temporaryFolder(_ name: String = #function) throws -> String {
        _ = removePointTestFolderAtExit
        let path = pointTestFolder + "/\(name.filter { $0.isLetter || $0.isNumber })-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A box [0, sx]×[0, sy]×[0, sz] as 8 vertices and 6 quads (1-based for OBJ when asked).
    static func boxVertices(_ s: (Float, Float, Float) = (1, 1, 1)) -> [(Float, Float, Float)] {
        [(0, 0, 0), (s.0, 0, 0), (s.0, s.1, 0), (0, s.1, 0), (0, 0, s.2), (s.0, 0, s.2), (s.0, s.1, s.2), (0, s.1, s.2)]
    }
    static let boxQuads = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [1, 2, 6, 5], [0, 4, 7, 3]]

    static func off(_ v: [(Float, Float, Float)] = boxVertices(), _ f: [[Int]] = boxQuads, quirk: Bool = false) -> String {
        var s = quirk ? "OFF\(v.count) \(f.count) 0\n" : "OFF\n# a comment\n\(v.count) \(f.count) 0\n"
        for p in v { s += "\(p.0) \(p.1) \(p.2)\n" }
        for q in f { s += "\(q.count) " + q.map(String.init).joined(separator: " ") + "\n" }
        return s
    }

    static func obj(_ v: [(Float, Float, Float)] = boxVertices(), _ f: [[Int]] = boxQuads) -> String {
        var s = "# made by hand\nmtllib box.mtl\no box\n"
        for p in v { s += "v \(p.0) \(p.1) \(p.2)\n" }
        s += "vn 0 0 1\nvt 0 0\nusemtl red\n"
        for q in f { s += "f " + q.map { "\($0 + 1)/1/1" }.joined(separator: " ") + "\n" }
        return s
    }

    /// A tetrahedron (class "b" in the archives: a different shape from the box).
    static let tetraVertices: [(Float, Float, Float)] = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    static let tetraFaces = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]

    /// A flat "plate" (class "c").
    static let plateVertices = boxVertices((2, 0.1, 1))

    /// Mesh text of shape k (0 box, 1 tetrahedron, 2 plate), slightly scaled by j.
    static func shape(_ k: Int, _ j: Int, obj asOBJ: Bool = false) -> String {
        let scale = 1 + Float(j) * 0.1
        let (v, f): ([(Float, Float, Float)], [[Int]]) = k % 3 == 0 ? (boxVertices(), boxQuads) : k % 3 == 1 ? (tetraVertices, tetraFaces) : (plateVertices, boxQuads)
        let vs = v.map { ($0.0 * scale, $0.1 * scale, $0.2) }
        return asOBJ ? obj(vs, f) : off(vs, f)
    }

    static func write(_ files: [(String, [UInt8])], to path: String, format: ArchiveWriter.Format) throws {
        let w = try ArchiveWriter(path: path, format: format)
        for (p, b) in files { try w.addFile(p, bytes: b) }
        try w.finish()
    }

    /// `ModelNet40.zip`: ModelNet40/<class>/{train,test}/<class>_NNNN.off, one quirky header among them.
    static func modelNet(at path: String, classes: [String] = ["bed", "chair", "table"], train: Int = 3, test: Int = 2, root: String = "ModelNet40") throws {
        var files: [(String, [UInt8])] = []
        for (k, c) in classes.enumerated() {
            var n = 0
            for (split, count) in [("train", train), ("test", test)] {
                for j in 0..<count {
                    n += 1
                    var text = shape(k, j)
                    if k == 0 && j == 0 { text = off(boxVertices(), boxQuads, quirk: true) }
                    files.append(("\(root)/\(c)/\(split)/\(c)_\(String(format: "%04d", n)).off", Array(text.utf8)))
                }
            }
        }
        try write(files, to: path, format: .zip)
    }

    /// `modelnet40_normal_resampled.zip`: shape names, split lists and x,y,z,nx,ny,nz files.
    static func resampled(at path: String, classes: [String] = ["airplane", "bathtub", "bed"], train: Int = 3, test: Int = 2, rows: Int = 80) throws {
        let root = "modelnet40_normal_resampled/"
        var files: [(String, [UInt8])] = [(root + "modelnet40_shape_names.txt", Array((classes.joined(separator: "\n") + "\n").utf8))]
        var lists: [String: [String]] = ["train": [], "test": []]
        for (k, c) in classes.enumerated() {
            var n = 0
            for (split, count) in [("train", train), ("test", test)] {
                for _ in 0..<count {
                    n += 1
                    let name = "\(c)_\(String(format: "%04d", n))"
                    lists[split]!.append(name)
                    var text = ""
                    for r in 0..<rows {
                        let t = Float(r) / Float(rows)
                        text += String(format: "%.6f,%.6f,%.6f,0.000000,1.000000,0.000000\r\n", t * Float(k + 1), sin(t * 6) * Float(n), cos(t * 3))
                    }
                    files.append((root + "\(c)/\(name).txt", Array(text.utf8)))
                }
            }
        }
        files.append((root + "modelnet40_train.txt", Array((lists["train"]!.joined(separator: "\n") + "\n").utf8)))
        files.append((root + "modelnet40_test.txt", Array((lists["test"]!.joined(separator: "\n") + "\n").utf8)))
        files.append((root + "filelist.txt", Array("".utf8)))
        try write(files, to: path, format: .zip)
    }

    /// A Sweet Home 3D catalogue in the real layout: LICENSE.TXT, PluginFurnitureCatalog.properties (Latin-1,
    /// escapes, a continuation line), and /<lib>/<model>/<model>.obj members.
    static func sh3f(at path: String, perClass: Int = 4) throws {
        let items: [(String, String)] = (0..<perClass).flatMap { j in
            [("Chair \(j)", "Living room"), ("Dining table \(j)", "Kitchen"), ("Desk lamp \(j)", "Lights"), ("Fridge \(j)", "Kitchen")]
        }
        var props = "# PluginFurnitureCatalog.properties\nid=Test#Catalog\nname=Test catalog\n"
        var files: [(String, [UInt8])] = [("LICENSE.TXT", Array("CC0".utf8))]
        for (i, (name, category)) in items.enumerated() {
            let n = i + 1, folder = "testlib/item\(n)"
            props += "id#\(n)=Test#item\(n)\n"
            props += n == 2 ? "name#\(n)=Dining \\\n    table 0\n" : "name#\(n)=\(name)\n"
            props += "category#\(n)=\(category)\nicon#\(n)=/\(folder).png\nmodel#\(n)=/\(folder)/item\(n).obj\nmultiPartModel#\(n)=true\ncreator#\(n)=T\\u00e9st\n\n"
            let kind = name.hasPrefix("Chair") ? 0 : name.hasPrefix("Dining") ? 2 : 1
            files.append(("\(folder)/item\(n).obj", Array(shape(kind, i, obj: true).utf8)))
            files.append(("\(folder)/item\(n).mtl", Array("newmtl red\nKd 1 0 0\n".utf8)))
        }
        // Latin-1: "é" as the single byte 0xE9.
        var propBytes = Array(props.utf8)
        propBytes += [0x6C, 0x69, 0x63, 0x65, 0x6E, 0x73, 0x65, 0x3D, 0x43, 0x72, 0xE9, 0x0A]   // "license=Cré"
        files.insert(("PluginFurnitureCatalog.properties", propBytes), at: 1)
        files.insert(("PluginFurnitureCatalog_de.properties", Array("name#1=Stuhl\n".utf8)), at: 2)
        try write(files, to: path, format: .zip)
    }

    static func notAnArchive(at path: String) throws {
        try write([("readme.txt", Array("not a dataset".utf8))], to: path, format: .tarGzip)
    }
}
