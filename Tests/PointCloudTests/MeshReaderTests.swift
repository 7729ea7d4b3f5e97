import Foundation
import KDCore
import Testing
@testable import PointCloud

@Suite struct MeshReaderTests {
    let box = PointFixtures.self

    @Test func readsOFFIncludingModelNetsGluedHeader() throws {
        for quirk in [false, true] {
            let m = try MeshReader.read(Array(box.off(quirk: quirk).utf8), name: "box.off")
            #expect(m.vertexCount == 8 && m.triangleCount == 12, "quirk \(quirk)")
            #expect(m.triangles.prefix(6) == [0, 3, 2, 0, 2, 1], "quads become fans (i0, ik, ik+1)")
        }
        // COFF with colours after the coordinates and after the face indices.
        let coff = "COFF\n3 1 0\n0 0 0 255 0 0 255\n1 0 0 255 0 0 255\n0 1 0 255 0 0 255\n3 0 1 2 255 0 0\n"
        #expect(try MeshReader.read(Array(coff.utf8), name: "c.off").triangles == [0, 1, 2])
    }

    @Test func readsOBJIndexFormsNegativeIndicesAndFans() throws {
        let text = """
        v 0 0 0
        v 1 0 0
        v 1 1 0
        v 0 1 0
        vt 0 0
        vn 0 0 1
        g square
        f 1 2 3
        f 1/1 3/1 4/1
        f 1/1/1 2/1/1 3/1/1
        f 1//1 3//1 4//1
        f -4 -3 -2 -1
        l 1 2
        s off
        """
        let m = try MeshReader.read(Array(text.utf8), name: "square.obj")
        #expect(m.vertexCount == 4)
        #expect(m.triangles == [0, 1, 2, 0, 2, 3, 0, 1, 2, 0, 2, 3, 0, 1, 2, 0, 2, 3])
    }

    @Test func readsPLYInAllThreeEncodings() throws {
        let header = { (format: String) in
            "ply\nformat \(format) 1.0\ncomment made by hand\nelement vertex 4\nproperty float x\nproperty float y\nproperty double z\nproperty uchar red\nelement face 1\nproperty list uchar int vertex_indices\nelement edge 1\nproperty int vertex1\nproperty int vertex2\nend_header\n"
        }
        let ascii = header("ascii") + "0 0 0 1\n1 0 0 1\n1 1 0 1\n0 1 0.5 1\n4 0 1 2 3\n0 1\n"
        let a = try MeshReader.read(Array(ascii.utf8), name: "a.ply")
        #expect(a.vertices == [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0.5] && a.triangles == [0, 1, 2, 0, 2, 3])
        for little in [true, false] {
            let bytes = Array(header(little ? "binary_little_endian" : "binary_big_endian").utf8) + binaryBody(little: little)
            let m = try MeshReader.read(bytes, name: "b.ply")
            #expect(m == a, "binary \(little ? "little" : "big") endian")
        }
    }

    /// The body of the PLY above: 4 × (float, float, double, uchar), a face list, an edge.
    func binaryBody(little: Bool) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: little ? v.littleEndian : v.bigEndian) { out += $0 } }
        for p in [(0, 0, 0.0), (1, 0, 0.0), (1, 1, 0.0), (0, 1, 0.5)] as [(Float, Float, Double)] {
            put(p.0.bitPattern); put(p.1.bitPattern); put(p.2.bitPattern); out.append(1)
        }
        out.append(4); for i: Int32 in [0, 1, 2, 3] { put(i) }
        put(Int32(0)); put(Int32(1))
        return out
    }

    @Test func readsSTLInBothEncodings() throws {
        let ascii = """
        solid tri
          facet normal 0 0 1
            outer loop
              vertex 0 0 0
              vertex 1 0 0
              vertex 0 1 0
            endloop
          endfacet
        endsolid tri
        """
        let a = try MeshReader.read(Array(ascii.utf8), name: "a.stl")
        #expect(a.vertices == [0, 0, 0, 1, 0, 0, 0, 1, 0] && a.triangles == [0, 1, 2])
        let b = try MeshReader.read(binarySTL([[0, 0, 0, 1, 0, 0, 0, 1, 0]]), name: "b.stl")
        #expect(b == a)
    }

    func binarySTL(_ triangles: [[Float]], declared: Int? = nil) -> [UInt8] {
        var out = [UInt8](repeating: 0x20, count: 80)
        let n = UInt32(declared ?? triangles.count)
        withUnsafeBytes(of: n.littleEndian) { out += $0 }
        for t in triangles {
            out += [UInt8](repeating: 0, count: 12)
            for v in t { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
            out += [0, 0]
        }
        return out
    }

    // MARK: Bad input: each refusal names the file and says what was expected and found.

    @Test func refusesCountsThatDisagreeWithTheData() {
        let short = "OFF\n8 12 0\n0 0 0\n1 0 0\n"
        #expect(throws: MeshError.countMismatch(file: "s.off", what: "vertices", declared: 8, found: 2)) {
            try MeshReader.read(Array(short.utf8), name: "s.off")
        }
        let fewFaces = "OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
        #expect(throws: MeshError.countMismatch(file: "f.off", what: "faces", declared: 2, found: 1)) {
            try MeshReader.read(Array(fewFaces.utf8), name: "f.off")
        }
        let ply = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n1 1 1\n"
        #expect(throws: MeshError.countMismatch(file: "p.ply", what: "vertex rows", declared: 3, found: 2)) {
            try MeshReader.read(Array(ply.utf8), name: "p.ply")
        }
    }

    @Test func refusesFaceIndicesOutOfRange() {
        let off = "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n"
        #expect(throws: MeshError.indexOutOfRange(file: "x.off", line: 6, index: 3, vertices: 3)) {
            try MeshReader.read(Array(off.utf8), name: "x.off")
        }
        #expect(throws: MeshError.self) { try MeshReader.read(Array("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n".utf8), name: "x.obj") }
        #expect(throws: MeshError.self) { try MeshReader.read(Array("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n".utf8), name: "y.obj") }
        #expect(throws: MeshError.self) { try MeshReader.read(Array("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n".utf8), name: "z.obj") }
    }

    @Test func refusesNonFiniteCoordinates() {
        for (name, text, line) in [("n.off", "OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", 4),
                                   ("i.obj", "v 0 0 0\nv inf 0 0\nv 0 1 0\nf 1 2 3\n", 2),
                                   ("h.obj", "v 0 0 1e999\n", 1)] {
            #expect(throws: MeshError.self, "\(name)") { try MeshReader.read(Array(text.utf8), name: name) }
            do { _ = try MeshReader.read(Array(text.utf8), name: name) } catch let e as MeshError {
                guard case let .nonFinite(file, at, _) = e else { Issue.record("\(name): \(e)"); continue }
                #expect(file == name && at == line, "\(e)")
            } catch { Issue.record("\(error)") }
        }
        var stl = binarySTL([[0, 0, 0, 1, 0, 0, 0, 1, 0]])
        stl.replaceSubrange(96..<100, with: [0, 0, 0xC0, 0x7F])   // NaN
        #expect(throws: MeshError.nonFinite(file: "n.stl", line: nil, what: "coordinate in triangle 0")) { try MeshReader.read(stl, name: "n.stl") }
    }

    @Test func refusesPolygonsOfFewerThanThreeVertices() {
        #expect(throws: MeshError.degeneratePolygon(file: "d.off", line: 6, vertices: 2)) {
            try MeshReader.read(Array("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1\n".utf8), name: "d.off")
        }
        #expect(throws: MeshError.degeneratePolygon(file: "d.obj", line: 3, vertices: 2)) {
            try MeshReader.read(Array("v 0 0 0\nv 1 0 0\nf 1 2\n".utf8), name: "d.obj")
        }
    }

    /// Some exporters write edges as two-vertex `f` lines; catalogues are read with them passed over and counted.
    @Test func canPassOverTwoVertexFacesWhenAsked() throws {
        let text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2\n"
        let m = try MeshReader.read(Array(text.utf8), name: "e.obj", limits: MeshLimits(skipShortFaces: true))
        #expect(m.triangles == [0, 1, 2] && m.skippedFaces == 1)
    }

    /// Blender's exports start with comment lines and use CRLF; a long comment header is still an OBJ.
    @Test func recognisesOBJAfterALongCommentHeaderWithCRLF() throws {
        let header = (0..<60).map { "# comment line \($0) of a long licence header\r\n" }.joined()
        let text = header + "mtllib m.mtl\r\no part\r\nv 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nf 1 2 3\r\n"
        #expect(MeshFormat.detect(Array(text.utf8)) == .obj)
        #expect(try MeshReader.read(Array(text.utf8), name: "crlf.obj").triangles == [0, 1, 2])
    }

    @Test func refusesBinaryFilesShorterThanTheirHeader() {
        let stl = binarySTL([[0, 0, 0, 1, 0, 0, 0, 1, 0]], declared: 1000)
        #expect(throws: MeshError.truncated(file: "t.stl", expectedBytes: 84 + 50_000, foundBytes: 134)) {
            try STLReader.readBinary(stl, name: "t.stl")
        }
        let header = "ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
        #expect(throws: MeshError.truncated(file: "t.ply", expectedBytes: 1200, foundBytes: 24)) {
            try MeshReader.read(Array(header.utf8) + [UInt8](repeating: 0, count: 24), name: "t.ply")
        }
    }

    @Test func capsCountsBeforeAllocating() {
        let limits = MeshLimits(maxVertices: 1000, maxTriangles: 1000)
        #expect(throws: MeshError.tooLarge(file: "big.off", what: "vertices", count: 2_000_000_000, limit: 1000)) {
            try MeshReader.read(Array("OFF\n2000000000 1 0\n".utf8), name: "big.off", limits: limits)
        }
        #expect(throws: MeshError.tooLarge(file: "big.stl", what: "triangles", count: 0x7FFF_FFFF, limit: 1000)) {
            var b = [UInt8](repeating: 0, count: 84); b[80] = 0xFF; b[81] = 0xFF; b[82] = 0xFF; b[83] = 0x7F
            _ = try STLReader.readBinary(b, name: "big.stl", limits: limits)
        }
        // A lying OFF count within the cap only reserves what the bytes can hold, then reports the mismatch.
        #expect(throws: MeshError.countMismatch(file: "lie.off", what: "vertices", declared: 5_000_000, found: 0)) {
            try MeshReader.read(Array("OFF\n5000000 0 0\n".utf8), name: "lie.off")
        }
    }

    /// One face line of a million indices (a million-vertex polygon over 1,000 vertices on a circle): a
    /// linear scan and a linear fan, no quadratic blowup.
    @Test func readsAMillionIndexPolygonOnOneLineInLinearTime() throws {
        let n = 1_000_000, vertices = 1000
        var text = ""
        for k in 0..<vertices {
            let a = Double(k) / Double(vertices) * 2 * .pi
            text += "v \(cos(a)) \(sin(a)) 0\n"
        }
        var bytes = Array(text.utf8) + Array("f".utf8)
        bytes.reserveCapacity(bytes.count + 6 * n)
        for k in 0..<n { bytes += Array(" \(k % vertices + 1)".utf8) }
        bytes.append(10)
        let start = Date()
        let m = try MeshReader.read(bytes, name: "disc.obj")
        let seconds = Date().timeIntervalSince(start)
        #expect(m.triangleCount == n - 2)
        #expect(seconds < 5, "took \(seconds) s")
    }

    @Test func detectsFormatsByContentAndRefusesOthers() throws {
        #expect(MeshFormat.detect(Array(box.off().utf8)) == .off)
        #expect(MeshFormat.detect(Array(box.obj().utf8)) == .obj)
        #expect(MeshFormat.detect(binarySTL([[0, 0, 0, 1, 0, 0, 0, 1, 0]])) == .stlBinary)
        // A binary STL whose 80-byte header starts with "solid" (some exporters write one) is still binary.
        var solid = binarySTL([[0, 0, 0, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0, 0, 0, 1]])
        solid.replaceSubrange(0..<11, with: Array("solid facet".utf8))
        #expect(MeshFormat.detect(solid) == .stlBinary)
        #expect(try MeshReader.read(solid, name: "solid.stl").triangleCount == 2)
        #expect(throws: MeshError.self) { try MeshReader.read(Array("hello world".utf8), name: "x.txt") }
        #expect(throws: MeshError.unknownFormat(file: "e", found: "an empty file")) { try MeshReader.read([], name: "e") }
    }

    // MARK: Sampling

    @Test func samplesByAreaNormalisesAndIsDeterministic() throws {
        // Two triangles in the plane z = 0 with areas 1 and 3: about a quarter of the points fall on the first.
        let mesh = Mesh(vertices: [0, 0, 0, 2, 0, 0, 0, 1, 0, /* big */ 10, 0, 0, 13, 0, 0, 10, 2, 0, /* degenerate */ 0, 0, 0, 1, 1, 0, 2, 2, 0],
                        triangles: [0, 1, 2, 3, 4, 5, 6, 7, 8])
        // Sample without the normalisation to count where points fall: replicate with a large sample.
        let a = try SurfaceSampler.sample(mesh, count: 4000, seed: 7, name: "m")
        let b = try SurfaceSampler.sample(mesh, count: 4000, seed: 7, name: "m")
        let c = try SurfaceSampler.sample(mesh, count: 4000, seed: 8, name: "m")
        #expect(a == b && a != c)
        #expect(a.degenerateTriangles == 1)
        #expect(a.count == 4000)
        var radius: Float = 0, mean: (Float, Float, Float) = (0, 0, 0)
        for i in 0..<a.count {
            let (x, y, z) = (a.points[3 * i], a.points[3 * i + 1], a.points[3 * i + 2])
            radius = max(radius, (x * x + y * y + z * z).squareRoot()); mean.0 += x; mean.1 += y; mean.2 += z
        }
        #expect(abs(radius - 1) < 1e-5)
        #expect(abs(mean.0 / 4000) < 1e-4 && abs(mean.1 / 4000) < 1e-4)
        // Points of the small triangle are the ones left of the gap between the two triangles.
        let xs = (0..<a.count).map { a.points[3 * $0] }
        let cut = (xs.min()! + xs.max()!) / 2
        let share = Double(xs.filter { $0 < cut - 0.2 }.count) / 4000
        #expect(abs(share - 0.25) < 0.03, "share on the area-1 triangle: \(share)")
        #expect(throws: MeshError.noSurface(file: "flat", faces: 1, degenerate: 1)) {
            try SurfaceSampler.sample(Mesh(vertices: [0, 0, 0, 1, 1, 1, 2, 2, 2], triangles: [0, 1, 2]), count: 10, seed: 1, name: "flat")
        }
    }
}
