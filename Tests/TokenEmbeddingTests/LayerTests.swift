import Foundation
import KDCore
import Testing
import _TestSupport
@testable import TokenEmbedding

/// Runs a child layer with fixed valid lengths (what the trainer and the entropy engine set on the root).
final class WithLengths: Layer {
    let kind = "with-lengths"
    let inner: Layer
    let lengths: [Int]
    init(_ inner: Layer, lengths: [Int]) { self.inner = inner; self.lengths = lengths }
    var children: [(String, Layer)] { [("inner", inner)] }
    func outputShape(for inputShape: [Int]) -> [Int] { inner.outputShape(for: inputShape) }
    func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let ic = c.children[0]
        ic.training = c.training
        ic.validLengths = lengths
        return inner.forward(x, ic)
    }
    func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let ic = c.children[0]
        ic.parameterGradients = c.parameterGradients
        ic.inputGradient = c.inputGradient
        return inner.backward(dy, ic)
    }
}

@Suite struct AttentionMaskTests {
    @Test func maskedAttentionGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 3)
        let attention = MultiHeadSelfAttention(dimension: 8, heads: 2, generator: &g)
        expectGradientsMatch(WithLengths(attention, lengths: [3, 5]), input: randomTensor([2, 5, 8], seed: 4))
    }

    @Test func paddedKeysGetProbabilityZeroAndDoNotChangeRealOutputs() {
        var g = SeededGenerator(seed: 5)
        let attention = MultiHeadSelfAttention(dimension: 8, heads: 2, generator: &g)
        let layer = WithLengths(attention, lengths: [3])
        let x = randomTensor([1, 6, 8], seed: 6)
        let y1 = layer.forward(x, layer.makeContext()).array
        let x2 = x.copy()
        for i in (3 * 8)..<(6 * 8) { x2.data[i] = 100 * Float(i % 7) - 300 }   // different padding contents
        let c2 = layer.makeContext()
        let y2 = layer.forward(x2, c2).array
        expectClose(Array(y2[0..<(3 * 8)]), Array(y1[0..<(3 * 8)]), rtol: 1e-5, atol: 1e-6, "real positions")
        let p = c2.children[0].savedTensor(1)   // (B, H, T, T)
        for h in 0..<2 { for r in 0..<6 { for k in 3..<6 { #expect(p.data[(h * 6 + r) * 6 + k] == 0) } } }
        // The same real prefix alone (no padding) gives the same outputs.
        let short = Tensor(shape: [1, 3, 8])
        short.data.update(from: x.data, count: 24)
        let y3 = attention.forward(short, attention.makeContext()).array
        expectClose(Array(y1[0..<24]), y3, rtol: 1e-5, atol: 1e-6, "no padding")
    }

    @Test func postLNEncoderGradientsMatchWithAndWithoutMask() {
        var g = SeededGenerator(seed: 7)
        let layer = PostLNEncoderLayer(dimension: 8, heads: 2, feedForward: 12, epsilon: 1e-5, generator: &g)
        expectGradientsMatch(layer, input: randomTensor([2, 4, 8], seed: 8))
        expectGradientsMatch(WithLengths(layer, lengths: [2, 4]), input: randomTensor([2, 4, 8], seed: 9))
    }

    @Test func firstTokenAndTanhGradients() {
        expectGradientsMatch(FirstToken(), input: randomTensor([2, 3, 4], seed: 10))
        expectGradientsMatch(Tanh(), input: randomTensor([2, 5], seed: 11))
    }
}

@Suite struct FamilyTests {
    @Test func bertSBuildsForBothTasksAndPaddingDoesNotChangeTheClassification() throws {
        let family = BERTFamilies.bertS
        #expect(family.analysedInput == "embed")
        let m = try family.make(ModelRequest(inputShape: [8], task: .classification(classes: 2), width: 0.5, seed: 1,
                                             resources: ["vocabulary-size": "60"]))
        #expect(m.layerNames.contains("hidden") && m.layerNames.contains("embed"))
        let ids: [Float] = [3, 6, 8, 10, 14, 4, 0, 0]
        let x = Tensor(shape: [1, 8]); x.data.update(from: ids, count: 8)
        let c = m.makeContext(); c.validLengths = [6]
        let y1 = m.forward(x, c).array
        x.data[6] = 20; x.data[7] = 33
        let y2 = m.forward(x, c).array
        #expect(y1.count == 2)
        expectClose(y2, y1, rtol: 1e-5, atol: 1e-6, "padding ids")
        let span = try family.make(ModelRequest(inputShape: [8], task: .span, width: 0.5, seed: 1, resources: ["vocabulary-size": "60"]))
        #expect(span.outputShape(batch: 3) == [3, 8, 2])
    }

    @Test func miniLMWidthOneIsTheMiniLMArchitecture() throws {
        let m = try BERTFamilies.miniLM.make(ModelRequest(inputShape: [16], task: .classification(classes: 2)))
        let names = Dictionary(uniqueKeysWithValues: m.namedParameters.map { ($0.0, $0.1.value.shape) })
        #expect(names["embed.weight"] == [30522, 384])
        #expect(names["encoder0.attention.body.self_attn.in_proj.weight"] == [1152, 384])
        #expect(names["hidden.feedforward.body.linear1.weight"] == [1536, 384])
        #expect(m.layerNames.filter { $0.hasPrefix("encoder") || $0 == "hidden" }.count == 6)
        let small = try BERTFamilies.miniLM.make(ModelRequest(inputShape: [16], task: .classification(classes: 2), width: 1.0 / 6))
        #expect(small.outputShape(batch: 1, through: try small.layerIndex("hidden")) == [1, 16, 64])
    }

    @Test func mappingStacksQueryKeyValueAndKeepsHeadsFresh() throws {
        // A tiny BERT state dict with the HuggingFace names, saved and loaded through the family's mapping.
        let a = BERTFamilies.Architecture(vocabulary: 10, dimension: 4, heads: 2, layers: 1, feedForward: 6, positions: 5)
        let model = try BERTFamilies.build(a, name: "tiny", request: ModelRequest(inputShape: [5], task: .classification(classes: 2)))
        let headBefore = model.namedParameters.first { $0.0 == "classifier.weight" }!.1.value.array
        var file: [(String, Tensor)] = []
        var k: Float = 0
        func t(_ name: String, _ shape: [Int]) {
            let x = Tensor(shape: shape)
            for i in 0..<x.count { x.data[i] = k + Float(i) * 0.001 }
            k += 1
            file.append((name, x))
        }
        t("embeddings.word_embeddings.weight", [10, 4]); t("embeddings.position_embeddings.weight", [5, 4])
        t("embeddings.token_type_embeddings.weight", [2, 4]); t("embeddings.LayerNorm.weight", [4]); t("embeddings.LayerNorm.bias", [4])
        for n in ["query", "key", "value"] { t("encoder.layer.0.attention.self.\(n).weight", [4, 4]); t("encoder.layer.0.attention.self.\(n).bias", [4]) }
        t("encoder.layer.0.attention.output.dense.weight", [4, 4]); t("encoder.layer.0.attention.output.dense.bias", [4])
        t("encoder.layer.0.attention.output.LayerNorm.weight", [4]); t("encoder.layer.0.attention.output.LayerNorm.bias", [4])
        t("encoder.layer.0.intermediate.dense.weight", [6, 4]); t("encoder.layer.0.intermediate.dense.bias", [6])
        t("encoder.layer.0.output.dense.weight", [4, 6]); t("encoder.layer.0.output.dense.bias", [4])
        t("encoder.layer.0.output.LayerNorm.weight", [4]); t("encoder.layer.0.output.LayerNorm.bias", [4])
        t("pooler.dense.weight", [4, 4]); t("pooler.dense.bias", [4])
        let url = Fixtures.folder("mapping").appendingPathComponent("bert.safetensors")
        try Safetensors.write(file, to: url)
        let report = try PretrainedWeights.load(into: model, from: url, mapping: BERTFamilies.bertMapping(layers: 1))
        #expect(report.unused == ["pooler.dense.bias", "pooler.dense.weight"])
        let p = Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.0, $0.1.value.array) })
        let q = file.first { $0.0 == "encoder.layer.0.attention.self.query.weight" }!.1.array
        let kw = file.first { $0.0 == "encoder.layer.0.attention.self.key.weight" }!.1.array
        let inProj = p["hidden.attention.body.self_attn.in_proj.weight"]!
        #expect(Array(inProj[0..<16]) == q && Array(inProj[16..<32]) == kw)
        let pos = file.first { $0.0 == "embeddings.position_embeddings.weight" }!.1.array
        let type0 = file.first { $0.0 == "embeddings.token_type_embeddings.weight" }!.1.array
        expectClose(p["positions.weight"]!, (0..<20).map { pos[$0] + type0[$0 % 4] }, "positions + type 0")
        #expect(p["classifier.weight"]! == headBefore)
    }
}
