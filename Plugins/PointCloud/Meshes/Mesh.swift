// A triangle mesh as the readers return it: vertex positions and triangles (polygons already split
// into fans). V vertices, T triangles.

/// A triangle mesh: `vertices` (V·3 floats, x y z per vertex) and `triangles` (T·3 vertex indices).
public struct Mesh: Sendable, Equatable {
    public var vertices: [Float]
    public var triangles: [Int32]
    /// Faces of fewer than 3 vertices passed over (only when ``MeshLimits/skipShortFaces`` is set).
    public var skippedFaces = 0
    public init(vertices: [Float], triangles: [Int32], skippedFaces: Int = 0) {
        self.vertices = vertices; self.triangles = triangles; self.skippedFaces = skippedFaces
    }
    public var vertexCount: Int { vertices.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }
}

/// Caps applied before a reader allocates for a declared count (Docs/Data.md, "Reading untrusted archives").
public struct MeshLimits: Sendable, Equatable {
    /// Most vertices in one mesh. ModelNet40's largest OFF files hold a few hundred thousand; the
    /// Sweet Home 3D models at most about a million.
    public var maxVertices: Int
    /// Most triangles (after fan triangulation).
    public var maxTriangles: Int
    /// OBJ only: pass over `f` lines of fewer than 3 vertices (counted in ``Mesh/skippedFaces``) instead
    /// of refusing the file. Some exporters write edges as two-vertex `f` lines: 14 of the Sweet Home 3D
    /// models do (e.g. blendswap-cc-0/desk/desk.obj line 2196, `f 59 134`), so catalogues are read with it set.
    public var skipShortFaces = false
    public init(maxVertices: Int = 8_000_000, maxTriangles: Int = 16_000_000, skipShortFaces: Bool = false) {
        self.maxVertices = maxVertices; self.maxTriangles = maxTriangles; self.skipShortFaces = skipShortFaces
    }
}

/// The mesh formats read, by content.
public enum MeshFormat: String, Sendable, CaseIterable {
    case off = "OFF", ply = "PLY", stlASCII = "STL (ASCII)", stlBinary = "STL (binary)", obj = "OBJ"

    /// The format of `bytes`, from the content: OFF and PLY by their magic line, ASCII STL by
    /// `solid` followed by `facet`, binary STL by its size (84 + 50·T bytes), OBJ by `v`/`f` lines.
    public static func detect(_ bytes: [UInt8]) -> MeshFormat? {
        let head = String(decoding: bytes.prefix(512), as: UTF8.self)
        let trimmed = head.drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\u{FEFF}" }
        if trimmed.hasPrefix("OFF") || trimmed.hasPrefix("COFF") || trimmed.hasPrefix("NOFF") { return .off }
        if trimmed.hasPrefix("ply\n") || trimmed.hasPrefix("ply\r") { return .ply }
        let binaryLooking = head.contains("\0")
        if bytes.count >= 84 {
            let n = Int(bytes[80]) | Int(bytes[81]) << 8 | Int(bytes[82]) << 16 | Int(bytes[83]) << 24
            // Some exporters start a binary header with "solid" too: an exact size and binary bytes decide.
            if 84 + 50 * n == bytes.count && (!trimmed.hasPrefix("solid") || binaryLooking) { return .stlBinary }
        }
        if trimmed.hasPrefix("solid") && head.contains("facet") && !binaryLooking { return .stlASCII }
        if bytes.count >= 84, binaryLooking, !trimmed.hasPrefix("OFF"), !trimmed.hasPrefix("ply") {
            return .stlBinary   // a binary STL whose size disagrees with its count: the reader reports it
        }
        // OBJ: the first line that is not blank or a comment starts with an OBJ keyword (headers of
        // comments can be long, so up to 64 KiB are looked at).
        let text = String(decoding: bytes.prefix(65_536), as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            let t = line.drop { $0 == " " || $0 == "\t" }
            if t.isEmpty || t.hasPrefix("#") { continue }
            let keyword = t.prefix { $0 != " " && $0 != "\t" }
            return ["v", "f", "o", "g", "s", "vn", "vt", "vp", "mtllib", "usemtl", "l", "p"].contains(String(keyword)) ? .obj : nil
        }
        return nil
    }
}

/// Reads any supported mesh from bytes.
public enum MeshReader {
    public static func read(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        guard let format = MeshFormat.detect(bytes) else {
            let shown = String(decoding: bytes.prefix(24), as: UTF8.self).replacingOccurrences(of: "\n", with: "⏎")
            throw MeshError.unknownFormat(file: name, found: bytes.isEmpty ? "an empty file" : "content starting \"\(shown)\"")
        }
        return try read(bytes, format: format, name: name, limits: limits)
    }

    public static func read(_ bytes: [UInt8], format: MeshFormat, name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        switch format {
        case .off: return try OFFReader.read(bytes, name: name, limits: limits)
        case .ply: return try PLYReader.read(bytes, name: name, limits: limits)
        case .stlASCII: return try STLReader.readASCII(bytes, name: name, limits: limits)
        case .stlBinary: return try STLReader.readBinary(bytes, name: name, limits: limits)
        case .obj: return try OBJReader.read(bytes, name: name, limits: limits)
        }
    }
}
