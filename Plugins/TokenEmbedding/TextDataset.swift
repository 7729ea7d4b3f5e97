import Foundation
import KDCore

/// One encoded text sample before padding: `[CLS] … [SEP]` ids, the role of every position, the target,
/// and for display the piece texts and the word each piece belongs to (−1 for special tokens).
public struct EncodedText: Sendable {
    public var id: String
    public var ids: [Int]
    public var pieces: [String]
    public var words: [Int]
    public var roles: [UnitRole]
    public var target: Target
    /// The original text (the sentence; for SQuAD "question ||| context window").
    public var text: String
}

/// A tokenised text dataset (Docs/Method.md §1 text units): one unit per WordPiece token, the sample
/// tensor is the (T) vector of token ids as Float values, padded with `[PAD]` to the dataset's length T
/// (`Sample.length` = real length). `[CLS]`, `[SEP]`, padding and the question segment are `.ignored`.
public final class TextDataset: DatasetSource {
    public let name: String
    public let isComposite = false
    public let classNames: [String]
    public let task: TaskKind
    public let length: Int
    public let vocabulary: WordPieceVocabulary
    public let settings: [String: String]
    public let problems: [String]
    let splits: [Split: [EncodedText]]

    public init(name: String, classNames: [String], task: TaskKind, length: Int, vocabulary: WordPieceVocabulary,
                train: [EncodedText], test: [EncodedText], settings: [String: String], problems: [String]) {
        self.name = name; self.classNames = classNames; self.task = task; self.length = length
        self.vocabulary = vocabulary; self.settings = settings; self.problems = problems
        splits = [.train: train, .test: test]
    }

    public var sampleShape: [Int] { [length] }
    public var modelResources: [String: String] {
        ["vocabulary-size": String(vocabulary.count), "max-length": String(length), "cls-id": String(vocabulary.cls),
         "sep-id": String(vocabulary.sep)]
    }

    public func count(_ split: Split) -> Int { splits[split]?.count ?? 0 }

    public func encoded(_ split: Split, _ index: Int) -> EncodedText { splits[split]![index] }

    /// The split and index of a sample id (for pictures).
    public func position(of id: String) -> (Split, Int)? {
        for split in Split.allCases {
            if let i = splits[split]!.firstIndex(where: { $0.id == id }) { return (split, i) }
        }
        return nil
    }

    public func sample(_ split: Split, _ index: Int) throws -> Sample {
        guard let all = splits[split], index >= 0, index < all.count else {
            throw TextDataError.badRecord(file: name, path: "\(split.rawValue)[\(index)]", reason: "no such sample (the split has \(count(split)))")
        }
        let e = all[index]
        let t = length
        let x = Tensor(shape: [t])
        for i in 0..<t { x.data[i] = Float(vocabulary.pad) }
        for (i, id) in e.ids.prefix(t).enumerated() {
            guard id >= 0 && id < vocabulary.count else { throw TextDataError.tokenOutOfRange(sample: e.id, id: id, vocabulary: vocabulary.count) }
            x.data[i] = Float(id)
        }
        var roles = [UnitRole](repeating: .ignored, count: t)
        for (i, r) in e.roles.prefix(t).enumerated() { roles[i] = r }
        let real = min(e.ids.count, t)
        return Sample(id: e.id, input: x, units: UnitMap.rows(t, width: 1), roles: roles, target: e.target,
                      length: real < t ? real : nil)
    }
}

/// Turns sentences into `[CLS] pieces [SEP]` samples with foreground roles from an annotator.
public struct SentenceEncoder {
    public let vocabulary: WordPieceVocabulary
    public let annotator: ForegroundAnnotator
    public let length: Int

    public init(vocabulary: WordPieceVocabulary, annotator: ForegroundAnnotator, length: Int) {
        self.vocabulary = vocabulary; self.annotator = annotator; self.length = length
    }

    /// Nil when the sentence has no word piece at all. Sentences longer than `length − 2` pieces are cut
    /// (`truncated` is set).
    public func encode(id: String, text: String, label: Int, truncated: inout Bool) -> EncodedText? {
        let words = WordPieceVocabulary.basicWords(text)
        var pieces: [WordPieceToken] = []
        for (w, word) in words.enumerated() { pieces += vocabulary.pieces(of: word, index: w) }
        guard !pieces.isEmpty else { return nil }
        truncated = pieces.count > length - 2
        pieces = Array(pieces.prefix(length - 2))
        let fg = annotator.foregroundWords(words.map(\.text))
        var ids = [vocabulary.cls], texts = ["[CLS]"], wordOf = [-1], roles: [UnitRole] = [.ignored]
        for p in pieces {
            ids.append(p.id); texts.append(p.text); wordOf.append(p.word)
            roles.append(fg[p.word] ? .foreground : .background)
        }
        ids.append(vocabulary.sep); texts.append("[SEP]"); wordOf.append(-1); roles.append(.ignored)
        return EncodedText(id: id, ids: ids, pieces: texts, words: wordOf, roles: roles, target: .label(label), text: text)
    }
}
