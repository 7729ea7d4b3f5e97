// OFF and OBJ, the text mesh formats: ModelNet's meshes and Sweet Home 3D's models.

/// Object File Format: `OFF`, then `V F E`, then V lines of x y z (extra values such as colours
/// ignored), then F lines `n i₀ … iₙ₋₁` (trailing colour values ignored). `#` starts a comment.
///
/// About 1 % of ModelNet40's files run the counts into the magic word (`OFF1234 5678 0`); that form is
/// read too. Polygons become fans (i₀, iₖ, iₖ₊₁).
public enum OFFReader {
    public static func read(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        var s = TextScanner(bytes, name: name)
        guard let magic = s.token() else { throw MeshError.malformed(file: name, line: 1, expected: "OFF", found: "an empty file") }
        let magicText = String(decoding: bytes[magic], as: UTF8.self)
        var counts: [Int] = []
        var headerWord = magicText
        for word in ["NOFF", "COFF", "OFF"] where magicText.hasPrefix(word) { headerWord = word; break }
        guard ["NOFF", "COFF", "OFF"].contains(headerWord) else {
            throw MeshError.malformed(file: name, line: 1, expected: "the word OFF", found: s.text(magic))
        }
        if magicText.count > headerWord.count {
            // ModelNet's quirk: the vertex count glued to the magic word.
            guard let v = Int(magicText.dropFirst(headerWord.count)), v >= 0 else {
                throw MeshError.malformed(file: name, line: 1, expected: "OFF or OFF<non-negative vertex count>", found: s.text(magic))
            }
            counts.append(v)
        }
        while counts.count < 3 {
            let headerLine = s.line
            guard let t = s.token() else {
                throw MeshError.malformed(file: name, line: headerLine, expected: "the counts V F E", found: "the end of the file")
            }
            guard let v = s.integer(t), v >= 0 else {
                throw MeshError.malformed(file: name, line: s.line, expected: "a non-negative count (V F E)", found: s.text(t))
            }
            counts.append(v)
        }
        let (nv, nf) = (counts[0], counts[1])
        guard nv <= limits.maxVertices else { throw MeshError.tooLarge(file: name, what: "vertices", count: nv, limit: limits.maxVertices) }
        guard nf <= limits.maxTriangles else { throw MeshError.tooLarge(file: name, what: "faces", count: nf, limit: limits.maxTriangles) }
        s.skipLine()
        // Allocate no more than the bytes left can hold (a vertex line has at least 6 bytes).
        let left = bytes.count - s.position
        var vertices: [Float] = []
        vertices.reserveCapacity(3 * min(nv, left / 6 + 1))
        for _ in 0..<nv {
            s.skipSpaceAndLines()
            guard !s.atEnd else { throw MeshError.countMismatch(file: name, what: "vertices", declared: nv, found: vertices.count / 3) }
            let line = s.line
            for axis in 0..<3 {
                guard let t = s.tokenOnLine() else {
                    throw MeshError.malformed(file: name, line: line, expected: "a vertex x y z", found: "\(axis) number\(axis == 1 ? "" : "s")")
                }
                guard let v = s.number(t) else { throw MeshError.malformed(file: name, line: line, expected: "a number", found: s.text(t)) }
                guard v.isFinite, abs(v) < 1e30 else { throw MeshError.nonFinite(file: name, line: line, what: "vertex coordinate") }
                vertices.append(Float(v))
            }
            s.skipLine()
        }
        var triangles: [Int32] = []
        triangles.reserveCapacity(3 * min(nf, (bytes.count - s.position) / 8 + 1))
        var polygon: [Int32] = []
        for face in 0..<nf {
            s.skipSpaceAndLines()
            guard !s.atEnd else { throw MeshError.countMismatch(file: name, what: "faces", declared: nf, found: face) }
            let line = s.line
            guard let t = s.tokenOnLine(), let n = s.integer(t) else {
                throw MeshError.malformed(file: name, line: line, expected: "a face: vertex count then indices", found: "no count")
            }
            guard n >= 3 else { throw MeshError.degeneratePolygon(file: name, line: line, vertices: n) }
            guard n <= nv else { throw MeshError.malformed(file: name, line: line, expected: "a face of at most \(nv) vertices", found: "\(n)") }
            polygon.removeAll(keepingCapacity: true)
            for _ in 0..<n {
                guard let it = s.tokenOnLine() else {
                    throw MeshError.malformed(file: name, line: line, expected: "\(n) vertex indices", found: "\(polygon.count)")
                }
                guard let i = s.integer(it) else { throw MeshError.malformed(file: name, line: line, expected: "a vertex index", found: s.text(it)) }
                guard i >= 0 && i < nv else { throw MeshError.indexOutOfRange(file: name, line: line, index: i, vertices: nv) }
                polygon.append(Int32(i))
            }
            try appendFan(polygon, to: &triangles, name: name, limits: limits)
            s.skipLine()
        }
        return Mesh(vertices: vertices, triangles: triangles)
    }
}

/// Splits a polygon into the fan (p₀, pₖ, pₖ₊₁) and appends it, within the triangle cap.
@inline(__always)
func appendFan(_ p: [Int32], to triangles: inout [Int32], name: String, limits: MeshLimits) throws {
    guard triangles.count / 3 + p.count - 2 <= limits.maxTriangles else {
        throw MeshError.tooLarge(file: name, what: "triangles", count: triangles.count / 3 + p.count - 2, limit: limits.maxTriangles)
    }
    for k in 1..<(p.count - 1) { triangles.append(p[0]); triangles.append(p[k]); triangles.append(p[k + 1]) }
}

/// Wavefront OBJ: `v x y z [w]` and `f` lines whose items are `a`, `a/b`, `a/b/c` or `a//c` (only the
/// vertex index a is used); indices are 1-based, negative ones count back from the last vertex defined
/// so far. Polygons become fans; every other line (vn, vt, g, o, usemtl, mtllib, s, l, …) is ignored.
public enum OBJReader {
    public static func read(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        var s = TextScanner(bytes, name: name)
        var vertices: [Float] = []
        var triangles: [Int32] = []
        var polygon: [Int32] = []
        var maxIndex = -1, maxIndexLine = 0, skipped = 0
        while !s.atEnd {
            let line = s.line
            guard let keyword = s.tokenOnLine() else { s.skipLine(); continue }
            if s.equals(keyword, "v") {
                guard vertices.count / 3 < limits.maxVertices else {
                    throw MeshError.tooLarge(file: name, what: "vertices", count: vertices.count / 3 + 1, limit: limits.maxVertices)
                }
                for axis in 0..<3 {
                    guard let t = s.tokenOnLine() else {
                        throw MeshError.malformed(file: name, line: line, expected: "v x y z", found: "\(axis) coordinate\(axis == 1 ? "" : "s")")
                    }
                    guard let v = s.number(t) else { throw MeshError.malformed(file: name, line: line, expected: "a number", found: s.text(t)) }
                    guard v.isFinite, abs(v) < 1e30 else { throw MeshError.nonFinite(file: name, line: line, what: "vertex coordinate") }
                    vertices.append(Float(v))
                }
            } else if s.equals(keyword, "f") {
                polygon.removeAll(keepingCapacity: true)
                let defined = vertices.count / 3
                while let item = s.tokenOnLine() {
                    // The vertex index ends at the first '/'.
                    var end = item.lowerBound
                    while end < item.upperBound, bytes[end] != 47 { end += 1 }
                    guard let raw = s.integer(item.lowerBound..<end), raw != 0 else {
                        throw MeshError.malformed(file: name, line: line, expected: "a face item a, a/b, a/b/c or a//c with a non-zero index", found: s.text(item))
                    }
                    let index: Int
                    if raw < 0 {
                        index = defined + raw
                        guard index >= 0 else { throw MeshError.indexOutOfRange(file: name, line: line, index: raw, vertices: defined) }
                    } else {
                        index = raw - 1
                        if index > maxIndex { maxIndex = index; maxIndexLine = line }
                    }
                    guard index <= Int(Int32.max) else { throw MeshError.indexOutOfRange(file: name, line: line, index: raw, vertices: defined) }
                    polygon.append(Int32(index))
                }
                if polygon.count < 3 {
                    guard limits.skipShortFaces else { throw MeshError.degeneratePolygon(file: name, line: line, vertices: polygon.count) }
                    skipped += 1
                } else {
                    try appendFan(polygon, to: &triangles, name: name, limits: limits)
                }
            }
            s.skipLine()
        }
        let nv = vertices.count / 3
        if maxIndex >= nv { throw MeshError.indexOutOfRange(file: name, line: maxIndexLine, index: maxIndex + 1, vertices: nv) }
        return Mesh(vertices: vertices, triangles: triangles, skippedFaces: skipped)
    }
}
