import Foundation

/// What can go wrong reading text data: every case names the file and where in it (line, member, JSON
/// path), what was found and, where it helps, what to do.
public enum TextDataError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case badVocabulary(file: String, line: Int, reason: String)
    case badRow(file: String, line: Int, reason: String)
    case badJSON(file: String, path: String, reason: String)
    case badRecord(file: String, path: String, reason: String)
    case notText(file: String, expected: String)
    case tokenOutOfRange(sample: String, id: Int, vocabulary: Int)
    case tooFewSamples(file: String, found: Int, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): return "\(f): cannot be read: \(r)"
        case let .badVocabulary(f, l, r): return "\(f):\(l): bad WordPiece vocabulary: \(r)"
        case let .badRow(f, l, r): return "\(f):\(l): \(r)"
        case let .badJSON(f, p, r): return "\(f) at \(p): not valid JSON: \(r)"
        case let .badRecord(f, p, r): return "\(f) at \(p): \(r)"
        case let .notText(f, e):
            return "\(f): not a text dataset this plugin reads; expected \(e)"
        case let .tokenOutOfRange(s, id, v):
            return "\(s): token id \(id) is outside the embedding table (0..<\(v)); use the vocabulary the model was built with"
        case let .tooFewSamples(f, n, r): return "\(f): only \(n) usable samples (\(r))"
        }
    }
}
