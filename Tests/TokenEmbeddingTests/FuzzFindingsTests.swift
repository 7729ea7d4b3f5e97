// Inputs the fuzzers of Tools/fuzz (or the reading done to write them) showed crashing a text reader; each
// is also in the fuzzer's corpus (Tools/fuzz/corpus/<target>/crash-*), Docs/Robustness.md lists them.
import Foundation
import Testing
@testable import TokenEmbedding

@Suite struct TextFuzzFindingsTests {
    /// fuzz-squad: an answer_start that is an integer JSON value but no Int (1e300, −1e300, 2^63) trapped in
    /// the conversion to Int; it is now a skipped record saying the offset is outside the context.
    @Test func answerStartsBeyondIntAreSkippedRecords() throws {
        for start in ["1e300", "-1e300", "9223372036854775808", "4611686018427387904"] {
            let json = "{\"data\":[{\"paragraphs\":[{\"context\":\"abc\",\"qas\":[{\"id\":\"x\",\"question\":\"q\",\"answers\":[{\"text\":\"b\",\"answer_start\":\(start)}]},"
                + "{\"id\":\"y\",\"question\":\"q\",\"answers\":[{\"text\":\"b\",\"answer_start\":1}]}]}]}]}"
            let rows = try SQuADReader.records(Array(json.utf8), file: "train.json")
            #expect(rows.rows.map(\.id) == ["y"], "answer_start \(start)")
            #expect(rows.problems.count == 1 && rows.problems[0].contains("train.json at $.data[0].paragraphs[0].qas[0].answers[0]: answer_start")
                    && rows.problems[0].contains("is outside the context (3 characters)"), "\(rows.problems)")
        }
    }

    /// The greedy longest-match-first search of the original implementation: every candidate from the
    /// word's end down (the reference the bounded search must agree with).
    static func naivePieces(_ v: WordPieceVocabulary, _ word: BasicWord) -> [String] {
        let chars = Array(word.text.unicodeScalars)
        guard chars.count <= WordPieceVocabulary.maxWordCharacters else { return ["[UNK]"] }
        var out: [String] = [], start = 0
        while start < chars.count {
            var end = chars.count, found: String? = nil
            while end > start {
                var piece = String(String.UnicodeScalarView(chars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if v.ids[piece] != nil { found = piece; break }
                end -= 1
            }
            guard let found else { return ["[UNK]"] }
            out.append(found); start = end
        }
        return out
    }

    /// fuzz-vocab: a word of 99 letters cost ~5,000 dictionary lookups of strings up to 99 long (25 s for
    /// 20 such words under the fuzzer); the search now starts at the longest token's length. Same pieces
    /// as the unbounded search, also where a precomposed token (Hangul 한국, 2 scalars) matches its
    /// decomposed form (6 scalars) that basic tokenisation produces.
    @Test func longWordsAreSplitInBoundedTimeWithTheSamePieces() throws {
        let v = try WordPieceVocabulary(text: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "##x", "##xx", "한국", "##어", "caf", "##é",
                                               "a", "##b", "##bc"].joined(separator: "\n"), source: "v.txt")
        let text = "한국어 café abcbc " + String(repeating: "x", count: 99) + " " + String(repeating: "x", count: 100) + " xy 한"
        let words = WordPieceVocabulary.basicWords(text)
        for (w, word) in words.enumerated() {
            #expect(v.pieces(of: word, index: w).map(\.text) == Self.naivePieces(v, word), "\(word.text)")
        }
        #expect(v.tokenize("한국어").map(\.text) == ["한국", "##어"])
        #expect(v.tokenize(String(repeating: "x", count: 9)).map(\.text) == ["x", "##xx", "##xx", "##xx", "##xx"])
        let long = Array(repeating: String(repeating: "x", count: 99), count: 2_000).joined(separator: " ")
        let start = Date()
        let pieces = v.tokenize(long)
        let seconds = Date().timeIntervalSince(start)
        print("2,000 words of 99 letters: \(pieces.count) pieces in \(seconds) s")
        #expect(pieces.count == 2_000 * 50 && seconds < 10)
    }
}
