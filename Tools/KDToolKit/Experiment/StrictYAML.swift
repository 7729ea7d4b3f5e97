import Foundation
import Yams

/// A problem in an experiment file, with where it is: `FILE:LINE:COLUMN: key: message`.
struct ExperimentError: Error, CustomStringConvertible, Equatable {
    var file: String
    var line: Int?
    var column: Int?
    /// The dotted key path (`methods[2].hinton.temperature`).
    var key: String
    var message: String

    var description: String {
        let place = line.map { ":\($0):\(column ?? 1)" } ?? ""
        return "\(file)\(place): \(key.isEmpty ? "" : key + ": ")\(message)"
    }
}

/// A YAML node with its key path, read through a strict schema: every mapping's keys are checked against
/// the keys the reader asked for (``YNode/finish()``), and every wrong type names the key, the expected
/// type and the line and column (Yams' marks).
struct YNode {
    let node: Node
    let path: String
    let file: String

    func error(_ message: String, at n: Node? = nil, key: String? = nil) -> ExperimentError {
        let mark = (n ?? node).mark
        return ExperimentError(file: file, line: mark?.line, column: mark?.column, key: key ?? path, message: message)
    }

    func child(_ key: String, _ n: Node) -> YNode { YNode(node: n, path: path.isEmpty ? key : path + "." + key, file: file) }

    var isNull: Bool {
        if case let .scalar(s) = node { return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string) }
        return false
    }

    var isScalar: Bool { if case .scalar = node { return true }; return false }
    var isMapping: Bool { if case .mapping = node { return true }; return false }
    var isSequence: Bool { if case .sequence = node { return true }; return false }

    private var scalarText: String? { if case let .scalar(s) = node { return s.string }; return nil }

    func string() throws -> String {
        guard let s = scalarText, !isNull else { throw error("expected a string, got \(kind)") }
        return s
    }

    func double() throws -> Double {
        guard isScalar, let v = node.float ?? node.int.map(Double.init) else { throw error("expected a number, got \(describe)") }
        return v
    }

    func int() throws -> Int {
        guard isScalar, let v = node.int else { throw error("expected a whole number, got \(describe)") }
        return v
    }

    func bool() throws -> Bool {
        guard isScalar, let v = node.bool else { throw error("expected true or false, got \(describe)") }
        return v
    }

    func choice<T>(_ options: [(String, T)]) throws -> T {
        let s = try string()
        guard let hit = options.first(where: { $0.0 == s }) else {
            throw error("'\(s)' is not one of: \(options.map(\.0).joined(separator: ", "))")
        }
        return hit.1
    }

    func sequence() throws -> [YNode] {
        guard case let .sequence(seq) = node else { throw error("expected a list, got \(kind)") }
        return seq.enumerated().map { YNode(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    /// A list, or a single value read as a one-element list.
    func list() throws -> [YNode] { isSequence ? try sequence() : [self] }

    func mapping() throws -> YMapping {
        guard case let .mapping(m) = node else { throw error("expected a mapping (key: value lines), got \(kind)") }
        var pairs: [(String, Node, Node)] = []
        for (k, v) in m {
            guard case let .scalar(s) = k else { throw error("a key must be a plain string", at: k) }
            if pairs.contains(where: { $0.0 == s.string }) { throw error("the key '\(s.string)' appears twice", at: k, key: path) }
            pairs.append((s.string, k, v))
        }
        return YMapping(owner: self, pairs: pairs)
    }

    var kind: String {
        switch node {
        case .scalar: return isNull ? "nothing (null)" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    var describe: String { scalarText.map { "'\($0)'" } ?? kind }
}

/// A mapping being read: `take` marks a key as known; ``finish(_:)`` refuses every key not taken, listing
/// the valid ones.
final class YMapping {
    let owner: YNode
    let pairs: [(String, Node, Node)]
    private var taken = Set<String>()
    private var allowed: [String] = []

    init(owner: YNode, pairs: [(String, Node, Node)]) { self.owner = owner; self.pairs = pairs }

    var keys: [String] { pairs.map(\.0) }

    /// The value of `key` (nil when absent or null), marking it known.
    func take(_ key: String) -> YNode? {
        allowed.append(key)
        taken.insert(key)
        guard let hit = pairs.first(where: { $0.0 == key }) else { return nil }
        let n = owner.child(key, hit.2)
        return n.isNull ? nil : n
    }

    /// Marks every listed key as allowed without reading it (for error messages).
    func allow(_ keys: [String]) { allowed += keys; taken.formUnion(keys) }

    /// Throws for the first key that was not taken.
    func finish() throws {
        for (k, keyNode, _) in pairs where !taken.contains(k) {
            throw owner.error("unknown key '\(k)'; the keys here are: \(allowed.joined(separator: ", "))", at: keyNode,
                              key: owner.path.isEmpty ? k : owner.path + "." + k)
        }
    }
}

/// An ordered YAML tree for writing (resolved.yaml), serialised by Yams.
indirect enum YOut {
    case scalar(String)
    case quoted(String)
    case map([(String, YOut)])
    case list([YOut])
    case null

    static func number(_ d: Double) -> YOut { .scalar(d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)") }
    static func int(_ i: Int) -> YOut { .scalar(String(i)) }
    static func bool(_ b: Bool) -> YOut { .scalar(b ? "true" : "false") }

    var node: Node {
        switch self {
        case let .scalar(s): return Node.scalar(.init(s))
        case let .quoted(s): return Node.scalar(.init(s, .implicit, .doubleQuoted))
        case .null: return Node.scalar(.init("null"))
        case let .map(pairs): return Node.mapping(.init(pairs.map { (Node.scalar(.init($0.0)), $0.1.node) }))
        case let .list(items): return Node.sequence(.init(items.map(\.node), .implicit, items.allSatisfy { if case .scalar = $0 { return true }; return false } ? .flow : .any))
        }
    }

    func yaml() throws -> String { try Yams.serialize(node: node, sortKeys: false) }
}
