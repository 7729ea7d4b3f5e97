import Foundation

// BERT's uncased WordPiece tokenizer, read from a vocab.txt, with character offsets.
// Offsets count Unicode scalars of the original text (Python's string indices, which SQuAD's
// answer_start uses).

/// One word piece: its vocabulary id and text, the original characters it covers `[start, end)`, and
/// the index of the basic-tokenizer word it belongs to (all pieces of "unbelievable" share one word).
public struct WordPieceToken: Sendable, Equatable {
    public var id: Int
    public var text: String
    public var start: Int
    public var end: Int
    public var word: Int
}

/// One word of BERT's basic tokenizer: lower-cased, accents stripped, punctuation split off.
public struct BasicWord: Sendable, Equatable {
    public var text: String
    public var start: Int
    public var end: Int
}

/// A WordPiece vocabulary and the uncased BERT tokenizer over it (Devlin et al. 2019; the reference is
/// `BertTokenizer(do_lower_case=True)` of the `transformers` library).
///
/// Basic tokenisation: control characters (Unicode category C*, U+0000, U+FFFD) are removed, whitespace
/// (space, tab, CR, LF, category Zs) separates words, every CJK ideograph is a word of its own, each word
/// is lower-cased and stripped of accents (NFD, then non-spacing marks dropped), and every punctuation
/// character (ASCII 33–47, 58–64, 91–96, 123–126, or category P*) becomes a word of its own. Sub-words:
/// greedy longest-match-first against the vocabulary, continuation pieces prefixed `##`; a word longer
/// than 100 characters, or one with an unmatchable remainder, becomes a single `[UNK]`.
public final class WordPieceVocabulary: @unchecked Sendable {
    public let tokens: [String]
    public let ids: [String: Int]
    public let source: String
    public let cls: Int, sep: Int, unk: Int, pad: Int
    public static let maxWordCharacters = 100
    /// The longest token in Unicode scalars after canonical decomposition (the form basic tokenisation
    /// gives words): no longer candidate piece can match, so the greedy search starts there instead of at
    /// the word's end. Without it a 100-character word cost ~5,000 lookups of strings up to 100 long.
    let longestPiece: Int

    public var count: Int { tokens.count }

    /// Parses vocab.txt content: one token per line (LF or CRLF), id = line number − 1; a final empty line
    /// after the last newline is allowed. Duplicate or empty tokens and missing `[CLS]`, `[SEP]`, `[UNK]`,
    /// `[PAD]` are errors naming the file and line.
    public init(text: String, source: String) throws {
        var lines = splitLines(text)
        if lines.last == "" { lines.removeLast() }
        var tokens: [String] = [], ids: [String: Int] = [:]
        for (i, raw) in lines.enumerated() {
            let token = raw
            guard !token.isEmpty else { throw TextDataError.badVocabulary(file: source, line: i + 1, reason: "empty token") }
            if let first = ids[token] {
                throw TextDataError.badVocabulary(file: source, line: i + 1, reason: "duplicate token '\(token)' (first on line \(first + 1))")
            }
            ids[token] = tokens.count
            tokens.append(token)
        }
        func special(_ name: String) throws -> Int {
            guard let id = ids[name] else {
                throw TextDataError.badVocabulary(file: source, line: lines.count, reason: "no \(name) token in \(lines.count) lines")
            }
            return id
        }
        self.tokens = tokens; self.ids = ids; self.source = source
        longestPiece = tokens.reduce(0) { longest, t in
            max(longest, t.utf8.allSatisfy { $0 < 0x80 } ? t.utf8.count : t.decomposedStringWithCanonicalMapping.unicodeScalars.count)
        }
        cls = try special("[CLS]"); sep = try special("[SEP]"); unk = try special("[UNK]"); pad = try special("[PAD]")
    }

    public convenience init(contentsOf path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TextDataError.unreadable(file: path, reason: "\(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TextDataError.badVocabulary(file: path, line: 0, reason: "not valid UTF-8")
        }
        try self.init(text: text, source: path)
    }

    // MARK: - Basic tokenisation

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// BERT's basic tokenizer, with the original scalar range of every word.
    public static func basicWords(_ text: String) -> [BasicWord] {
        var out: [BasicWord] = []
        var scalars: [Unicode.Scalar] = [], origins: [Int] = []
        func flush() {
            if !scalars.isEmpty { out.append(contentsOf: normalise(scalars, origins)) }
            scalars.removeAll(keepingCapacity: true); origins.removeAll(keepingCapacity: true)
        }
        for (i, s) in text.unicodeScalars.enumerated() {
            if s.value == 0 || s.value == 0xFFFD || isControl(s) { continue }
            if isWhitespace(s) { flush(); continue }
            if isCJK(s.value) { flush(); scalars = [s]; origins = [i]; flush(); continue }
            scalars.append(s); origins.append(i)
        }
        flush()
        return out
    }

    /// Lower-case, strip accents, split punctuation: one whitespace-delimited chunk into words.
    private static func normalise(_ chunk: [Unicode.Scalar], _ origins: [Int]) -> [BasicWord] {
        var out: [BasicWord] = []
        var word = String.UnicodeScalarView(), first = -1, last = -1
        func flush() {
            if !word.isEmpty { out.append(BasicWord(text: String(word), start: first, end: last + 1)) }
            word = String.UnicodeScalarView(); first = -1
        }
        for (s, o) in zip(chunk, origins) {
            let lowered = String(Character(s)).lowercased().decomposedStringWithCanonicalMapping
            for n in lowered.unicodeScalars where n.properties.generalCategory != .nonspacingMark {
                if isPunctuation(n) {
                    flush()
                    out.append(BasicWord(text: String(Character(n)), start: o, end: o + 1))
                } else {
                    if first < 0 { first = o }
                    last = o
                    word.append(n)
                }
            }
        }
        flush()
        return out
    }

    // MARK: - Word pieces

    /// The word pieces of `text`, in order, with offsets and word indices.
    public func tokenize(_ text: String) -> [WordPieceToken] {
        var out: [WordPieceToken] = []
        for (w, word) in Self.basicWords(text).enumerated() { out += pieces(of: word, index: w) }
        return out
    }

    /// Greedy longest-match-first pieces of one basic word (or one `[UNK]`).
    public func pieces(of word: BasicWord, index w: Int) -> [WordPieceToken] {
        let chars = Array(word.text.unicodeScalars)
        let unknown = [WordPieceToken(id: unk, text: "[UNK]", start: word.start, end: word.end, word: w)]
        guard chars.count <= Self.maxWordCharacters else { return unknown }
        var out: [WordPieceToken] = []
        var start = 0
        let span = max(word.end - word.start, 1)
        while start < chars.count {
            // A candidate is "##" + chars[start..<end] after the first piece: at most `longestPiece` scalars.
            let room = start > 0 ? longestPiece - 2 : longestPiece
            var end = min(chars.count, start + max(room, 0)), found: (Int, String)? = nil
            while end > start {
                var piece = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = ids[piece] { found = (id, piece); break }
                end -= 1
            }
            guard let (id, piece) = found else { return unknown }
            // Offsets: the word's characters in proportion (exact when normalisation kept one scalar per
            // character, the usual case).
            let a = word.start + start * span / chars.count, b = word.start + end * span / chars.count
            out.append(WordPieceToken(id: id, text: piece, start: a, end: max(b, a + 1), word: w))
            start = end
        }
        return out
    }
}

/// Lines of `text` split at LF, a CR before the LF removed (CRLF and LF files alike). Works on Unicode
/// scalars: a Swift `Character` joins "\r\n" into one grapheme, so splitting Characters at "\n" would not.
func splitLines(_ text: String) -> [String] {
    var out: [String] = [], current = String.UnicodeScalarView()
    for s in text.unicodeScalars {
        if s == "\n" {
            if current.last == "\r" { current.removeLast() }
            out.append(String(current)); current = String.UnicodeScalarView()
        } else { current.append(s) }
    }
    if current.last == "\r" { current.removeLast() }
    out.append(String(current))
    return out
}
