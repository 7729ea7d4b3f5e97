// PLY (ASCII and binary, both byte orders) and STL (ASCII and binary).
import Foundation

/// Stanford PLY: a text header (`ply`, `format ascii|binary_little_endian|binary_big_endian 1.0`,
/// `element NAME COUNT`, `property TYPE NAME`, `property list COUNTTYPE ITEMTYPE NAME`, `end_header`),
/// then the elements in header order. The vertex element's x, y, z (any scalar type) and the face
/// element's `vertex_indices` (or `vertex_index`) list are used; every other element and property is
/// read past. Polygons become fans.
public enum PLYReader {
    enum Scalar: String {
        case int8, uint8, int16, uint16, int32, uint32, float32, float64
        init?(_ word: String) {
            switch word {
            case "char", "int8": self = .int8
            case "uchar", "uint8": self = .uint8
            case "short", "int16": self = .int16
            case "ushort", "uint16": self = .uint16
            case "int", "int32": self = .int32
            case "uint", "uint32": self = .uint32
            case "float", "float32": self = .float32
            case "double", "float64": self = .float64
            default: return nil
            }
        }
        var size: Int {
            switch self {
            case .int8, .uint8: return 1
            case .int16, .uint16: return 2
            case .int32, .uint32, .float32: return 4
            case .float64: return 8
            }
        }
    }
    struct Property { var name: String; var type: Scalar; var listCount: Scalar? }
    struct Element { var name: String; var count: Int; var properties: [Property] }
    enum Encoding { case ascii, little, big }

    public static func read(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        // Header: lines up to end_header.
        var position = 0, lineNumber = 0
        var encoding: Encoding? = nil
        var elements: [Element] = []
        var sawEnd = false
        while position < bytes.count && !sawEnd {
            var end = position
            while end < bytes.count, bytes[end] != 10 { end += 1 }
            lineNumber += 1
            let line = String(decoding: bytes[position..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            position = min(end + 1, bytes.count)
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let first = words.first else { continue }
            switch first {
            case "ply" where lineNumber == 1: break
            case "format":
                guard words.count >= 2 else { throw MeshError.malformed(file: name, line: lineNumber, expected: "format ENCODING 1.0", found: "\"\(line)\"") }
                switch words[1] {
                case "ascii": encoding = .ascii
                case "binary_little_endian": encoding = .little
                case "binary_big_endian": encoding = .big
                default: throw MeshError.malformed(file: name, line: lineNumber, expected: "ascii, binary_little_endian or binary_big_endian", found: "\"\(words[1])\"")
                }
            case "element":
                guard words.count == 3, let n = Int(words[2]), n >= 0 else {
                    throw MeshError.malformed(file: name, line: lineNumber, expected: "element NAME COUNT", found: "\"\(line)\"")
                }
                elements.append(Element(name: words[1], count: n, properties: []))
            case "property":
                guard !elements.isEmpty else { throw MeshError.malformed(file: name, line: lineNumber, expected: "an element before its properties", found: "\"\(line)\"") }
                if words.count == 5, words[1] == "list", let c = Scalar(words[2]), let t = Scalar(words[3]) {
                    elements[elements.count - 1].properties.append(Property(name: words[4], type: t, listCount: c))
                } else if words.count == 3, let t = Scalar(words[1]) {
                    elements[elements.count - 1].properties.append(Property(name: words[2], type: t, listCount: nil))
                } else {
                    throw MeshError.malformed(file: name, line: lineNumber, expected: "property TYPE NAME or property list COUNTTYPE ITEMTYPE NAME", found: "\"\(line)\"")
                }
            case "end_header": sawEnd = true
            case "comment", "obj_info": break
            default:
                if lineNumber == 1 { throw MeshError.malformed(file: name, line: 1, expected: "ply", found: "\"\(line)\"") }
                throw MeshError.malformed(file: name, line: lineNumber, expected: "a PLY header line", found: "\"\(line.prefix(40))\"")
            }
        }
        guard sawEnd else { throw MeshError.malformed(file: name, line: lineNumber, expected: "end_header", found: "the end of the file") }
        guard let encoding else { throw MeshError.malformed(file: name, line: nil, expected: "a format line in the header", found: "none") }
        guard let vertexElement = elements.first(where: { $0.name == "vertex" }) else {
            throw MeshError.malformed(file: name, line: nil, expected: "an element vertex", found: "elements \(elements.map(\.name))")
        }
        let nv = vertexElement.count
        guard nv <= limits.maxVertices else { throw MeshError.tooLarge(file: name, what: "vertices", count: nv, limit: limits.maxVertices) }
        let axes = ["x", "y", "z"].map { a in vertexElement.properties.firstIndex { $0.name == a && $0.listCount == nil } }
        guard axes.allSatisfy({ $0 != nil }) else {
            throw MeshError.malformed(file: name, line: nil, expected: "vertex properties x, y and z", found: vertexElement.properties.map(\.name).joined(separator: ", "))
        }
        let faceCount = elements.first { $0.name == "face" }?.count ?? 0
        guard faceCount <= limits.maxTriangles else { throw MeshError.tooLarge(file: name, what: "faces", count: faceCount, limit: limits.maxTriangles) }
        // Check the declared sizes against the bytes present before allocating.
        if encoding != .ascii {
            var needed = 0
            for e in elements {
                let fixed = e.properties.reduce(0) { $0 + ($1.listCount?.size ?? $1.type.size) }
                let (product, overflow) = e.count.multipliedReportingOverflow(by: fixed)
                let (sum, overflowSum) = needed.addingReportingOverflow(product)
                guard !overflow, !overflowSum else {
                    throw MeshError.truncated(file: name, expectedBytes: Int.max, foundBytes: bytes.count - position)
                }
                needed = sum
            }
            if needed > bytes.count - position { throw MeshError.truncated(file: name, expectedBytes: needed, foundBytes: bytes.count - position) }
        }
        var reader = ValueReader(bytes: bytes, position: position, encoding: encoding, name: name)
        var vertices: [Float] = []
        // A vertex takes at least 3 bytes (binary int8 x y z) or 6 (text "0 0 0\n"): reserve no more than
        // the bytes present can hold, whatever the header declares.
        vertices.reserveCapacity(3 * min(nv, (bytes.count - position) / 3 + 1))
        var triangles: [Int32] = []
        var polygon: [Int32] = []
        for element in elements {
            let isVertex = element.name == "vertex", isFace = element.name == "face"
            // A binary element without properties occupies no bytes: nothing to read past, whatever its
            // count (a text one is read line by line, so its rows are bounded by the file's lines).
            if element.properties.isEmpty && encoding != .ascii { continue }
            for row in 0..<element.count {
                if encoding == .ascii {
                    reader.scanner.skipSpaceAndLines()
                    if reader.scanner.atEnd {
                        throw MeshError.countMismatch(file: name, what: "\(element.name) rows", declared: element.count, found: row)
                    }
                }
                var xyz: (Double, Double, Double) = (0, 0, 0)
                for (p, property) in element.properties.enumerated() {
                    if let countType = property.listCount {
                        let n = try reader.integer(countType)
                        let isIndices = isFace && (property.name == "vertex_indices" || property.name == "vertex_index")
                        guard n >= 0 && n <= max(nv, 3) * 4 + 16 else {
                            throw MeshError.malformed(file: name, line: reader.line, expected: "a list length up to the vertex count", found: "\(n)")
                        }
                        if isIndices { polygon.removeAll(keepingCapacity: true) }
                        for _ in 0..<n {
                            let i = try reader.integer(property.type)
                            if isIndices {
                                guard i >= 0 && i < nv else { throw MeshError.indexOutOfRange(file: name, line: reader.line, index: i, vertices: nv) }
                                polygon.append(Int32(i))
                            }
                        }
                        if isIndices {
                            guard n >= 3 else { throw MeshError.degeneratePolygon(file: name, line: reader.line, vertices: n) }
                            try appendFan(polygon, to: &triangles, name: name, limits: limits)
                        }
                    } else {
                        let v = try reader.value(property.type)
                        if isVertex {
                            if p == axes[0]! { xyz.0 = v } else if p == axes[1]! { xyz.1 = v } else if p == axes[2]! { xyz.2 = v }
                        }
                    }
                }
                if isVertex {
                    for c in [xyz.0, xyz.1, xyz.2] {
                        guard c.isFinite, abs(c) < 1e30 else { throw MeshError.nonFinite(file: name, line: reader.line, what: "vertex coordinate") }
                        vertices.append(Float(c))
                    }
                }
                if encoding == .ascii { reader.endRow() }
            }
        }
        return Mesh(vertices: vertices, triangles: triangles)
    }

    /// Reads scalars from the body: text tokens (one row per line) or fixed-size binary values.
    struct ValueReader {
        var scanner: TextScanner
        let encoding: Encoding
        let name: String
        init(bytes: [UInt8], position: Int, encoding: Encoding, name: String) {
            scanner = TextScanner(bytes, name: name, from: position)
            scanner.comment = 0
            self.encoding = encoding; self.name = name
        }
        var line: Int? { encoding == .ascii ? scanner.line : nil }

        mutating func endRow() { scanner.skipLine() }

        mutating func integer(_ type: Scalar) throws -> Int {
            let v = try value(type)
            guard v.isFinite, v == v.rounded(), abs(v) < 1e15 else {
                throw MeshError.malformed(file: name, line: line, expected: "an integer", found: "\(v)")
            }
            return Int(v)
        }

        mutating func value(_ type: Scalar) throws -> Double {
            if encoding == .ascii {
                scanner.skipSpaceAndLines()
                guard let t = scanner.tokenOnLine() else {
                    throw MeshError.countMismatch(file: name, what: "values (the data end early)", declared: 1, found: 0)
                }
                guard let v = scanner.number(t) else { throw MeshError.malformed(file: name, line: scanner.line, expected: "a number", found: scanner.text(t)) }
                return v
            }
            let size = type.size, bytes = scanner.bytes, p = scanner.position
            guard p + size <= bytes.count else { throw MeshError.truncated(file: name, expectedBytes: p + size, foundBytes: bytes.count) }
            var raw: UInt64 = 0
            for k in 0..<size {
                let b = UInt64(bytes[p + (encoding == .little ? k : size - 1 - k)])
                raw |= b << (8 * UInt64(k))
            }
            scanner.position += size
            switch type {
            case .int8: return Double(Int8(truncatingIfNeeded: raw))
            case .uint8: return Double(UInt8(truncatingIfNeeded: raw))
            case .int16: return Double(Int16(truncatingIfNeeded: raw))
            case .uint16: return Double(UInt16(truncatingIfNeeded: raw))
            case .int32: return Double(Int32(truncatingIfNeeded: raw))
            case .uint32: return Double(UInt32(truncatingIfNeeded: raw))
            case .float32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
            case .float64: return Double(bitPattern: raw)
            }
        }
    }
}

/// STL: ASCII (`solid`, `facet normal`, `outer loop`, three `vertex x y z`, `endloop`, `endfacet`) or
/// binary (80-byte header, little-endian triangle count T, T records of 50 bytes: normal, three vertices,
/// attribute). Vertices are not shared between triangles.
public enum STLReader {
    public static func readBinary(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        guard bytes.count >= 84 else { throw MeshError.truncated(file: name, expectedBytes: 84, foundBytes: bytes.count) }
        let n = Int(bytes[80]) | Int(bytes[81]) << 8 | Int(bytes[82]) << 16 | Int(bytes[83]) << 24
        guard n <= limits.maxTriangles else { throw MeshError.tooLarge(file: name, what: "triangles", count: n, limit: limits.maxTriangles) }
        guard 84 + 50 * n <= bytes.count else { throw MeshError.truncated(file: name, expectedBytes: 84 + 50 * n, foundBytes: bytes.count) }
        var vertices = [Float](repeating: 0, count: 9 * n)
        for t in 0..<n {
            let base = 84 + 50 * t + 12
            for k in 0..<9 {
                let p = base + 4 * k
                let raw = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
                let v = Float(bitPattern: raw)
                guard v.isFinite else { throw MeshError.nonFinite(file: name, line: nil, what: "coordinate in triangle \(t)") }
                vertices[9 * t + k] = v
            }
        }
        return Mesh(vertices: vertices, triangles: (0..<Int32(3 * n)).map { $0 })
    }

    public static func readASCII(_ bytes: [UInt8], name: String, limits: MeshLimits = MeshLimits()) throws -> Mesh {
        var s = TextScanner(bytes, name: name)
        s.comment = 0
        var vertices: [Float] = []
        var triangles: [Int32] = []
        var loop: [Int32] = []
        var inLoop = false, loopLine = 0
        while let t = s.token() {
            if s.equals(t, "vertex") {
                let line = s.line
                guard inLoop else { throw MeshError.malformed(file: name, line: line, expected: "vertex inside outer loop … endloop", found: "a vertex outside a loop") }
                guard vertices.count / 3 < limits.maxVertices else { throw MeshError.tooLarge(file: name, what: "vertices", count: vertices.count / 3 + 1, limit: limits.maxVertices) }
                for _ in 0..<3 {
                    guard let c = s.tokenOnLine() else { throw MeshError.malformed(file: name, line: line, expected: "vertex x y z", found: "fewer numbers") }
                    guard let v = s.number(c) else { throw MeshError.malformed(file: name, line: line, expected: "a number", found: s.text(c)) }
                    guard v.isFinite, abs(v) < 1e30 else { throw MeshError.nonFinite(file: name, line: line, what: "vertex coordinate") }
                    vertices.append(Float(v))
                }
                loop.append(Int32(vertices.count / 3 - 1))
            } else if s.equals(t, "outer") {
                inLoop = true; loopLine = s.line; loop.removeAll(keepingCapacity: true)
            } else if s.equals(t, "endloop") {
                guard loop.count >= 3 else { throw MeshError.degeneratePolygon(file: name, line: loopLine, vertices: loop.count) }
                try appendFan(loop, to: &triangles, name: name, limits: limits)
                inLoop = false
            }
        }
        if inLoop { throw MeshError.malformed(file: name, line: s.line, expected: "endloop", found: "the end of the file") }
        return Mesh(vertices: vertices, triangles: triangles)
    }
}
