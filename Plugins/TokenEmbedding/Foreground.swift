import Foundation
import KDCore

/// Decides which words of a sentence are foreground (Docs/Method.md §1: the input units relevant to the
/// task). Replaceable: the plugin uses ``VaderAnnotator`` unless a caller passes another one.
public protocol ForegroundAnnotator {
    /// Recorded in the dataset's settings, e.g. "vader |valence| ≥ 1.0 + modifiers".
    var description: String { get }
    /// `words` are BERT basic-tokenizer words (lower-cased, accents stripped, punctuation split off);
    /// returns one flag per word. Every word piece of a foreground word is a foreground unit.
    func foregroundWords(_ words: [String]) -> [Bool]
}

/// Sentiment foreground from the VADER lexicon (Hutto & Gilbert, ICWSM 2014; `vader_lexicon.txt` of the
/// vaderSentiment package): a word is foreground when its mean valence |v| ≥ `threshold`. The lexicon's
/// scale is −4 … +4; the default 1.0 keeps clearly polar words ("great" 3.1, "bad" −2.5, "funny" 1.9,
/// "boring" −1.3, "joke" 1.2) and drops weak ones ("fine" 0.8); 5,830 of the 7,520 entries pass it.
/// With `modifiers`, a negation ("not", "never", "didn't" …) or an intensifier / dampener ("very",
/// "hardly" …; VADER's NEGATE and BOOSTER_DICT) up to three words before a foreground word is foreground
/// too, as VADER itself lets them change that word's valence. Every other word piece is background.
public struct VaderAnnotator: ForegroundAnnotator {
    public let valence: [String: Double]
    public let threshold: Double
    public let modifiers: Bool
    public let source: String

    public var description: String {
        "VADER lexicon (\(source)), |valence| ≥ \(threshold)" + (modifiers ? ", with negations/intensifiers up to 3 words before" : "")
    }

    public init(valence: [String: Double], threshold: Double, modifiers: Bool, source: String) {
        self.valence = valence; self.threshold = threshold; self.modifiers = modifiers; self.source = source
    }

    /// Parses `vader_lexicon.txt`: `token<TAB>mean<TAB>std<TAB>[ratings]` per line (CRLF or LF).
    public static func parseLexicon(_ text: String, source: String) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (i, line) in splitLines(text).enumerated() {
            if line.isEmpty { continue }
            let fields = line.components(separatedBy: "\t")
            guard fields.count >= 2, !fields[0].isEmpty, let v = Double(fields[1]), v.isFinite, abs(v) <= 4 else {
                throw TextDataError.badRow(file: source, line: i + 1,
                                           reason: "expected a VADER lexicon row 'token<TAB>mean valence in [-4, 4]<TAB>…', found '\(line.prefix(60))'")
            }
            out[fields[0].lowercased()] = v
        }
        guard !out.isEmpty else { throw TextDataError.badRow(file: source, line: 0, reason: "the lexicon is empty") }
        return out
    }

    static let negations: Set<String> = [
        "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "dont", "hadnt", "hasnt",
        "havent", "isnt", "mightnt", "mustnt", "neither", "neednt", "never", "none", "nope", "nor", "not",
        "nothing", "nowhere", "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent", "without", "wont",
        "wouldnt", "rarely", "seldom", "despite", "no",
    ]
    static let boosters: Set<String> = [
        "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably", "decidedly", "deeply",
        "enormous", "enormously", "entirely", "especially", "exceptional", "exceptionally", "extreme", "extremely",
        "fabulously", "fully", "greatly", "hella", "highly", "hugely", "incredible", "incredibly", "intensely",
        "major", "majorly", "more", "most", "particularly", "purely", "quite", "really", "remarkably", "so",
        "substantially", "thoroughly", "total", "totally", "tremendous", "tremendously", "uber", "unbelievably",
        "unusually", "utter", "utterly", "very", "almost", "barely", "hardly", "kinda", "less", "little",
        "marginal", "marginally", "occasional", "occasionally", "partly", "scarce", "scarcely", "slight",
        "slightly", "somewhat", "sorta",
    ]

    public func foregroundWords(_ words: [String]) -> [Bool] {
        var fg = words.map { abs(valence[$0] ?? 0) >= threshold }
        guard modifiers else { return fg }
        let polar = fg
        for (i, isPolar) in polar.enumerated() where isPolar {
            var back = 0, j = i - 1
            while j >= 0 && back < 3 {
                let w = words[j]
                // "didn ' t": BERT splits the apostrophe off; the three words form one negation.
                if w == "t", j >= 2, words[j - 1] == "'", words[j - 2].hasSuffix("n") {
                    fg[j] = true; fg[j - 1] = true; fg[j - 2] = true
                    j -= 3; back += 1; continue
                }
                if Self.negations.contains(w) || Self.boosters.contains(w) { fg[j] = true }
                if !(w.unicodeScalars.count == 1 && WordPieceVocabulary.isPunctuation(w.unicodeScalars.first!)) { back += 1 }
                j -= 1
            }
        }
        return fg
    }
}

/// Foreground annotations for review: one row per sample, foreground words marked.
public enum ForegroundReview {
    /// TSV: `split<TAB>id<TAB>target<TAB>foreground units<TAB>pieces` with foreground pieces in [[ ]].
    public static func tsv(_ data: TextDataset) -> String {
        var out = "split\tid\ttarget\tforeground\tpieces\n"
        for split in Split.allCases {
            for i in 0..<data.count(split) {
                let e = data.encoded(split, i)
                let marked = zip(e.pieces, e.roles).map { $0.1 == .foreground ? "[[\($0.0)]]" : $0.0 }
                out += "\(split.rawValue)\t\(clean(e.id))\t\(describe(e.target))\t\(e.roles.filter { $0 == .foreground }.count)\t\(clean(marked.joined(separator: " ")))\n"
            }
        }
        return out
    }

    /// HTML: foreground pieces underlined and bold, ignored ones grey.
    public static func html(_ data: TextDataset) -> String {
        var out = "<!doctype html><meta charset=\"utf-8\"><title>Foreground review: \(escape(data.name))</title>\n"
        out += "<style>body{font-family:sans-serif} .fg{text-decoration:underline;font-weight:bold;color:#b00} .ig{color:#999}</style>\n"
        out += "<h1>\(escape(data.name))</h1><p>\(escape(data.settings["foreground"] ?? ""))</p>\n<table>\n"
        for split in Split.allCases {
            for i in 0..<data.count(split) {
                let e = data.encoded(split, i)
                let cells = zip(e.pieces, e.roles).map { p, r in
                    r == .foreground ? "<span class=fg>\(escape(p))</span>" : r == .ignored ? "<span class=ig>\(escape(p))</span>" : escape(p)
                }
                out += "<tr><td>\(split.rawValue)</td><td>\(escape(e.id))</td><td>\(describe(e.target))</td><td>\(cells.joined(separator: " "))</td></tr>\n"
            }
        }
        return out + "</table>\n"
    }

    static func describe(_ t: Target) -> String {
        switch t {
        case let .label(l): return String(l)
        case let .span(a, b): return "\(a)-\(b)"
        }
    }
    static func clean(_ s: String) -> String { s.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
