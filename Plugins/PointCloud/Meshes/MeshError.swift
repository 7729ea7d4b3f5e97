// Why a mesh or point file could not be used, naming the file (and member), what was expected and
// what was found. A user's bad file never crashes the process (Docs/Data.md, "Reading untrusted archives").

/// A refusal of one mesh or point file. `file` is the path, or "archive:member" for a member.
public enum MeshError: Error, Equatable, CustomStringConvertible {
    /// The header or a line does not have the expected form.
    case malformed(file: String, line: Int?, expected: String, found: String)
    /// A declared count disagrees with the data actually present.
    case countMismatch(file: String, what: String, declared: Int, found: Int)
    /// A declared count is over the cap, refused before anything is allocated.
    case tooLarge(file: String, what: String, count: Int, limit: Int)
    /// A face refers to a vertex that does not exist.
    case indexOutOfRange(file: String, line: Int?, index: Int, vertices: Int)
    /// A coordinate is NaN or infinite.
    case nonFinite(file: String, line: Int?, what: String)
    /// A face with fewer than three vertices.
    case degeneratePolygon(file: String, line: Int?, vertices: Int)
    /// Binary data shorter than its header says.
    case truncated(file: String, expectedBytes: Int, foundBytes: Int)
    /// Nothing to sample from: no face, or every face has zero area.
    case noSurface(file: String, faces: Int, degenerate: Int)
    /// Not a mesh format this plugin reads.
    case unknownFormat(file: String, found: String)

    public var description: String {
        switch self {
        case let .malformed(file, line, expected, found):
            return "\(file)\(Self.at(line)): expected \(expected), found \(found). The file is damaged or not in this format."
        case let .countMismatch(file, what, declared, found):
            return "\(file): the header declares \(declared) \(what), the data hold \(found). The file is truncated or was edited."
        case let .tooLarge(file, what, count, limit):
            return "\(file): \(count) \(what) is over the limit of \(limit); refused before reading. Is this really a single object's mesh?"
        case let .indexOutOfRange(file, line, index, vertices):
            return "\(file)\(Self.at(line)): a face refers to vertex \(index), expected an index in 0..<\(vertices) (the file has \(vertices) vertices)."
        case let .nonFinite(file, line, what):
            return "\(file)\(Self.at(line)): expected finite numbers, found a NaN or infinite \(what)."
        case let .degeneratePolygon(file, line, vertices):
            return "\(file)\(Self.at(line)): expected a face of at least 3 vertices, found \(vertices)."
        case let .truncated(file, expected, found):
            return "\(file): the header announces \(expected) bytes of data, the file holds \(found). Re-download it."
        case let .noSurface(file, faces, degenerate):
            return "\(file): nothing to sample points from: \(faces) triangles, \(degenerate) of them of zero area."
        case let .unknownFormat(file, found):
            return "\(file): expected an OFF, PLY, STL or OBJ mesh, found \(found)."
        }
    }

    static func at(_ line: Int?) -> String { line.map { " line \($0)" } ?? "" }

    /// The same error about a file with a longer name (a member inside an archive).
    func renamed(_ name: String) -> MeshError {
        switch self {
        case let .malformed(_, l, e, f): return .malformed(file: name, line: l, expected: e, found: f)
        case let .countMismatch(_, w, d, f): return .countMismatch(file: name, what: w, declared: d, found: f)
        case let .tooLarge(_, w, c, l): return .tooLarge(file: name, what: w, count: c, limit: l)
        case let .indexOutOfRange(_, l, i, v): return .indexOutOfRange(file: name, line: l, index: i, vertices: v)
        case let .nonFinite(_, l, w): return .nonFinite(file: name, line: l, what: w)
        case let .degeneratePolygon(_, l, v): return .degeneratePolygon(file: name, line: l, vertices: v)
        case let .truncated(_, e, f): return .truncated(file: name, expectedBytes: e, foundBytes: f)
        case let .noSurface(_, f, d): return .noSurface(file: name, faces: f, degenerate: d)
        case let .unknownFormat(_, f): return .unknownFormat(file: name, found: f)
        }
    }
}
