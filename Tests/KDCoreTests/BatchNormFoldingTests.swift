import Foundation
import KDCore
import Testing
import _TestSupport

// Shape key: (B, N, C) point batches.

/// BatchNormFolding: the folded network computes the same function and input gradient in inference mode,
/// keeps every layer name (taps), and the entropy engine gives the same σ maps with and without folding.
@Suite struct BatchNormFoldingTests {
    /// A PointNet-like network: shared MLP 3→16→24 with BatchNorm (nested Sequential), max over points,
    /// fc1 with BatchNorm, with non-trivial γ, β and running statistics.
    static func network() -> Model {
        var g = SeededGenerator(seed: 70)
        let bn0 = BatchNorm(16), bn1 = BatchNorm(24), bnf = BatchNorm(8)
        for bn in [bn0, bn1, bnf] {
            g.fillUniform(bn.weight.value.data, count: bn.channels, low: 0.5, high: 1.5)
            g.fillUniform(bn.bias.value.data, count: bn.channels, low: -0.3, high: 0.3)
            g.fillUniform(bn.runningMean.data, count: bn.channels, low: -0.5, high: 0.5)
            g.fillUniform(bn.runningVar.data, count: bn.channels, low: 0.3, high: 2)
        }
        let mlp = Sequential([("linear0", Linear(3, 16, bias: false, generator: &g)), ("bn0", bn0), ("relu0", ReLU()),
                              ("linear1", Linear(16, 24, generator: &g)), ("bn1", bn1), ("relu1", ReLU())])
        return Model(name: "bn-points", inputShape: [10, 3], layers: [
            ("mlp", mlp), ("maxpool", MaxOverPoints()),
            ("fc1", Linear(24, 8, bias: false, generator: &g)), ("bn_fc1", bnf), ("relu_fc1", ReLU()),
            ("fc2", Linear(8, 4, generator: &g)),
        ])
    }

    @Test func foldedNetworkComputesTheSameFunction() throws {
        let model = Self.network()
        let folded = BatchNormFolding.folded(model)
        #expect(BatchNormFolding.foldableCount(model) == 3)
        #expect(BatchNormFolding.foldableCount(folded) == 0)
        #expect(folded.layerNames == model.layerNames)
        let tap = try model.layerIndex("relu_fc1")
        let x = randomTensor([3, 10, 3], seed: 71)
        let dy = randomTensor([3, 8], seed: 72)
        var outputs: [[Float]] = [], grads: [[Float]] = []
        for m in [model, folded] {
            let c = m.makeContext()
            c.parameterGradients = false
            outputs.append(m.forward(x, c, through: tap).array)
            grads.append(m.backward(dy, c, from: tap).array)
        }
        expectClose(outputs[1], outputs[0], rtol: 1e-5, atol: 1e-5, "folded forward")
        expectClose(grads[1], grads[0], rtol: 1e-5, atol: 1e-5, "folded input gradient")
        #expect(outputs[0].contains { $0 != 0 } && grads[0].contains { $0 != 0 })
    }

    @Test func nothingToFoldReturnsTheModel() {
        var g = SeededGenerator(seed: 73)
        let m = Model(name: "plain", inputShape: [4], layers: [("fc", Linear(4, 3, generator: &g)), ("bn", BatchNorm(3)),
                                                               ("relu", ReLU()), ("bn2", BatchNorm(3))])
        #expect(BatchNormFolding.foldableCount(m) == 1)   // bn2 follows a ReLU: not foldable
        let plain = Model(name: "plain", inputShape: [4], layers: [("fc", Linear(4, 3, generator: &g))])
        #expect(BatchNormFolding.folded(plain) === plain)
    }

    @Test func entropyMapsMatchWithAndWithoutFolding() throws {
        let model = Self.network()
        var settings = EntropySettings.fast
        settings.noiseSamples = 8
        settings.steps = 30
        settings.pinning = nil
        let sample = Sample(id: "p", input: randomTensor([10, 3], seed: 74), units: .rows(10, width: 3),
                            foreground: (0..<10).map { $0 < 6 }, label: 0)
        var maps: [[Float]] = []
        for fold in [true, false] {
            let engine = try EntropyEngine(model: model, tap: "relu_fc1", settings: settings, foldBatchNorm: fold)
            maps.append(try engine.analyse(sample, workspace: engine.makeWorkspace()).entropies)
        }
        expectClose(maps[0], maps[1], rtol: 0, atol: 1e-4, "σ maps folded vs kept")
    }
}
