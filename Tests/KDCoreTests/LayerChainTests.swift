import Foundation
@testable import KDCore
import Testing
import _TestSupport

// Shape key: (B, H, W, C) images, NHWC; layers as in Sequential+DNNL.swift.

/// oneDNN layer chains (Sequential+DNNL.swift, Core/_CKernels/dnnl_chain.c) against the same layers run one
/// by one: forward outputs and gradients above the first layer must be *identical* (the chain makes the
/// primitives the layer-by-layer path makes, and ReLU and max-pooling are exact); the gradient at the input
/// of a first layer with 3 channels comes from kd-tool's own kernel (small_conv.c, where the CPU has
/// AVX-512) and agrees to float32 rounding (2e-5 of its largest value). On one and two threads, for whole and
/// partial backward ranges, with ReLUs fused into convolutions and on their own, a pool whose window does
/// not tile its input (no chain: the layers run one by one), and parameter gradients asked for after a
/// fused forward (the run is recomputed layer by layer).
@Suite struct LayerChainTests {
    /// conv(3→16) ReLU conv(16→16) ReLU pool conv(16→32, no bias) ReLU pool ReLU flatten linear; `size`×`size`.
    static func network(seed: UInt64) -> [(String, Layer)] {
        var g = SeededGenerator(seed: seed)
        return [
            ("c1", Conv2D(3, 16, kernel: 3, padding: 1, generator: &g)), ("r1", ReLU()),
            ("c2", Conv2D(16, 16, kernel: 3, padding: 1, generator: &g)), ("r2", ReLU()), ("p1", MaxPool2D(kernel: 2)),
            ("c3", Conv2D(16, 32, kernel: 3, padding: 1, bias: false, generator: &g)), ("r3", ReLU()),
            ("p2", MaxPool2D(kernel: 2)), ("r4", ReLU()),
            ("flat", Flatten()), ("fc", Linear(32 * 4 * 4, 10, generator: &g)),
        ]
    }

    /// The same layer objects in a chained and an unchained Sequential.
    static func pair(seed: UInt64, threads: Int?) -> (chained: Sequential, plain: Sequential) {
        let layers = network(seed: seed)
        for (_, l) in layers { (l as? Conv2D)?.threads = threads }
        let plain = Sequential(layers)
        plain.fusesDNNLChains = false
        return (Sequential(layers), plain)
    }

    static func frozenContext(_ s: Sequential) -> LayerContext {
        let c = s.makeContext()
        c.parameterGradients = false
        return c
    }

    /// Identical, or within rounding at the network's input (see the suite's comment).
    static func expectSame(_ a: [Float], _ b: [Float], input: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if !input { #expect(a == b, "\(what)", sourceLocation: sourceLocation); return }
        let scale = b.map(abs).max() ?? 0
        #expect(scale > 0, "\(what): all zero", sourceLocation: sourceLocation)
        expectClose(a, b, rtol: 0, atol: 2e-5 * scale, what, sourceLocation: sourceLocation)
    }

    @Test(arguments: [1, 2])
    func forwardAndInputGradientAgree(_ threads: Int) throws {
        let (chained, plain) = Self.pair(seed: 4100, threads: threads)
        let x = randomTensor([4, 16, 16, 3], seed: 4101)
        let dy = randomTensor([4, 10], seed: 4102)
        var results: [[[Float]]] = []
        for s in [chained, plain] {
            let c = Self.frozenContext(s)
            let y = s.forward(x, c).array
            let dx = s.backward(dy, c).array
            // A second step on the same context (workspaces reused) gives the same.
            let y2 = s.forward(x, c).array
            #expect(y2 == y)
            results.append([y, dx])
        }
        #expect(results[0][0] == results[1][0], "forward output")
        Self.expectSame(results[0][1], results[1][1], input: true, "input gradient")
        #expect(results[1][1].contains { $0 != 0 })
        // The chain really ran: the run c1…r4 has one, with no reference (slow) implementation in it.
        let c = Self.frozenContext(chained)
        _ = chained.forward(x, c)
        let impl = try #require(chained.dnnlChainImplementations(0..<9, inputShape: [threads == 1 ? 4 : 2, 16, 16, 3]))
        #expect(impl.count == 9)
        #expect(impl[1].0 == "", "the ReLU after c1 is c1's post-op")
        #expect(impl.allSatisfy { !$0.1.hasPrefix("ref") })
        #expect(c.children[0].fusedRun?.layers == 0..<9)
        #expect(c.children[0].fusedRun?.workers == threads)
        #expect(c.children[9].fusedRun == nil)
    }

    /// Backward over part of the network: from the top down to a layer inside the run, and from a layer
    /// inside the run down to the input (also from the first convolution's own output, before its fused
    /// ReLU); each against the unchained path.
    @Test func partialBackwardRanges() {
        let (chained, plain) = Self.pair(seed: 4110, threads: nil)
        let x = randomTensor([3, 16, 16, 3], seed: 4111)
        // (forward through, backward from, backward down to)
        for (through, top, bottom) in [(10, 10, 4), (6, 6, 0), (4, 4, 2), (10, 10, 0), (10, 1, 0), (10, 0, 0)] {
            var outs: [[Float]] = []
            for s in [chained, plain] {
                let c = Self.frozenContext(s)
                _ = s.forward(x, c, range: 0..<(through + 1))
                let dy = randomTensor(s.layers[0...top].reduce(x.shape) { $1.1.outputShape(for: $0) }, seed: 4112 + UInt64(top))
                outs.append(s.backward(dy, c, range: bottom..<(top + 1)).array)
            }
            Self.expectSame(outs[0], outs[1], input: bottom == 0, "backward \(top) down to \(bottom)")
        }
    }

    /// A pool that does not tile its input (9×9 → 4×4 drops a row and a column): oneDNN's chain is not made
    /// and the layers run one by one, with the same results.
    @Test func poolThatDoesNotTileFallsBack() {
        var g = SeededGenerator(seed: 4120)
        let layers: [(String, Layer)] = [("c", Conv2D(2, 16, kernel: 3, padding: 1, generator: &g)), ("r", ReLU()),
                                         ("p", MaxPool2D(kernel: 2))]
        let chained = Sequential(layers), plain = Sequential(layers)
        plain.fusesDNNLChains = false
        let x = randomTensor([2, 9, 9, 2], seed: 4121)
        let dy = randomTensor([2, 4, 4, 16], seed: 4122)
        var outs: [[Float]] = []
        for s in [chained, plain] {
            let c = Self.frozenContext(s)
            let y = s.forward(x, c).array
            outs.append(y + s.backward(dy, c).array)
        }
        #expect(outs[0] == outs[1])
    }

    /// Parameter gradients wanted after a fused forward: the run is recomputed layer by layer, and the
    /// gradients equal those of an unfused pass.
    @Test func parameterGradientsAfterFusedForward() {
        let (chained, plain) = Self.pair(seed: 4130, threads: 1)
        let x = randomTensor([2, 16, 16, 3], seed: 4131)
        let dy = randomTensor([2, 10], seed: 4132)
        var grads: [[Float]] = []
        for s in [chained, plain] {
            for (_, l) in s.layers { for p in l.parameters { p.grad.zero() } }
            let c = Self.frozenContext(s)
            _ = s.forward(x, c)
            c.parameterGradients = true
            let dx = s.backward(dy, c).array
            grads.append(dx + s.layers.flatMap { $0.1.parameters.flatMap(\.grad.array) })
        }
        #expect(grads[0] == grads[1])
        #expect(grads[1].contains { $0 != 0 })
    }

    /// Training contexts never chain (BatchNorm statistics, dropout and weight gradients need every layer).
    @Test func trainingDoesNotChain() {
        let (chained, _) = Self.pair(seed: 4140, threads: 1)
        let c = chained.makeContext()
        c.training = true
        _ = chained.forward(randomTensor([2, 16, 16, 3], seed: 4141), c)
        #expect(c.children.allSatisfy { $0.fusedRun == nil })
    }
}

/// `LayerContext.bfloat16` (the entropy engine's `precision: bf16`): oneDNN convolutions take bfloat16
/// inputs (float32 sums), so results move by bfloat16 rounding (~0.4 % of a value) but no further; runs of
/// layers are not chained; float32 settings keep the summary (and so the stored maps' key) they had.
@Suite struct BFloat16PrecisionTests {
    @Test func convolutionsRoundInBFloat16() throws {
        try #require(BLAS.nativeBFloat16, "this CPU has no native bfloat16 products")
        var g = SeededGenerator(seed: 4200)
        let conv = Conv2D(16, 32, kernel: 3, padding: 1, generator: &g)
        let x = randomTensor([2, 8, 8, 16], seed: 4201)
        var outs: [[Float]] = []
        for bf16 in [false, true] {
            let c = conv.makeContext()
            c.bfloat16 = bf16
            c.parameterGradients = false
            outs.append(conv.forward(x, c).array)
        }
        let scale = outs[0].map(abs).max() ?? 0
        let worst = zip(outs[0], outs[1]).map { abs($0 - $1) }.max() ?? 0
        #expect(worst > 0, "bf16 gave exactly the float32 result: the bf16 path did not run")
        #expect(worst < 2e-2 * scale, "bf16 result off by \(worst) (scale \(scale))")
    }

    @Test func precisionIsNamedOnlyWhenBFloat16() throws {
        var s = EntropySettings()
        let fp32 = s.summary
        #expect(!fp32.contains("precision"))
        s.precision = .float32
        #expect(s.summary == fp32)
        s.precision = .bfloat16
        #expect(s.summary == fp32 + " precision=bf16")
        // A study.json written before the setting existed still reads (nil = fp32).
        let old = try JSONEncoder().encode(EntropySettings())
        var object = try #require(JSONSerialization.jsonObject(with: old) as? [String: Any])
        object.removeValue(forKey: "precision")
        let back = try JSONDecoder().decode(EntropySettings.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(back.precision == nil && back.summary == fp32)
    }
}
