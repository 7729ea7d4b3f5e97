import Foundation
import KDCore
import Testing
import _TestSupport

/// Gradient saliency, Grad-CAM and the function-preserving rescaling of Docs/Method.md §8.
@Suite struct ExplainTests {
    static func fill(_ p: Parameter?, _ values: [Float]) {
        guard let p else { return }
        precondition(values.count == p.value.count)
        for (i, v) in values.enumerated() { p.value.data[i] = v }
    }

    static func sample(_ values: [Float], shape: [Int], units: UnitMap, label: Int = 0) -> Sample {
        Sample(id: "x", input: Tensor(shape: shape, values: values), units: units,
               roles: [UnitRole](repeating: .foreground, count: units.unitCount), target: .label(label))
    }

    /// On y = W x + b the saliency of class k is |W[k, ·]|, one variable per unit.
    @Test func saliencyOfALinearModelIsTheAbsoluteWeightRow() throws {
        var g = SeededGenerator(seed: 3)
        let fc = Linear(6, 3, generator: &g)
        let model = Model(name: "linear", inputShape: [6], layers: [("fc", fc)])
        let units = UnitMap(unitOf: (0..<6).map { Int32($0) }, unitCount: 6)
        let s = Self.sample([0.3, -1, 2, 0.5, -0.2, 1.1], shape: [6], units: units)
        for k in 0..<3 {
            let sal = try Explanations.saliency(model, s, target: .logit(class: k))
            let row = (0..<6).map { abs(fc.weight.value.data[k * 6 + $0]) }
            expectClose(sal, row, rtol: 1e-6, atol: 1e-7, "class \(k)")
        }
        // Two variables per unit: the unit's saliency is the sum of their |W|.
        let pairs = UnitMap(unitOf: [0, 0, 1, 1, 2, 2], unitCount: 3)
        let sal = try Explanations.saliency(model, Self.sample([1, 1, 1, 1, 1, 1], shape: [6], units: pairs), target: .logit(class: 1))
        let w = (0..<6).map { abs(fc.weight.value.data[6 + $0]) }
        expectClose(sal, [w[0] + w[1], w[2] + w[3], w[4] + w[5]], rtol: 1e-6, atol: 1e-7)
        #expect(throws: ExplanationError.self) { try Explanations.saliency(model, s, target: .logit(class: 3)) }
    }

    /// Grad-CAM on conv(1→2, 1×1) → relu → flatten → fc(8→2) over a 2×2 image, against a hand computation.
    @Test func gradCAMMatchesAHandComputation() throws {
        var g = SeededGenerator(seed: 1)
        let conv = Conv2D(1, 2, kernel: 1, generator: &g)
        let fc = Linear(8, 2, generator: &g)
        Self.fill(conv.weight, [1.5, -0.5]); Self.fill(conv.bias, [0.1, 0.4])
        let v: [Float] = [0.2, -0.3, 0.5, 0.1, -0.4, 0.6, 0.3, -0.2,
                          0.7, 0.1, -0.6, 0.2, 0.3, 0.3, -0.1, 0.5]
        Self.fill(fc.weight, v); Self.fill(fc.bias, [0, 0])
        let model = Model(name: "tiny-conv", inputShape: [2, 2, 1],
                          layers: [("conv", conv), ("relu", ReLU()), ("flatten", Flatten()), ("fc", fc)])
        let x: [Float] = [1, -1, 0.5, 2]
        let s = Self.sample(x, shape: [2, 2, 1], units: .grid(height: 2, width: 2, channels: 1, cells: 2))
        #expect(try Explanations.camLayer(model, below: 3) == 1)
        for k in 0..<2 {
            // A[p, c] = relu(w_c x_p + b_c); flatten is channel-first, so ∂y/∂A[p, c] = V[k, c·4 + p].
            let wc: [Float] = [1.5, -0.5], bc: [Float] = [0.1, 0.4]
            var expected = [Float](repeating: 0, count: 4)
            let weights = (0..<2).map { c in (0..<4).map { p in v[k * 8 + c * 4 + p] }.reduce(0, +) / 4 }
            for p in 0..<4 {
                var m: Float = 0
                for c in 0..<2 { m += weights[c] * max(0, wc[c] * x[p] + bc[c]) }
                expected[p] = max(0, m)
            }
            let cam = try Explanations.gradCAM(model, s, target: .logit(class: k), layer: 1)
            #expect(cam.height == 2 && cam.width == 2)
            expectClose(cam.map, expected, rtol: 1e-5, atol: 1e-6, "class \(k) map")
            expectClose(cam.units, expected, rtol: 1e-5, atol: 1e-6, "class \(k) units")
        }
    }

    /// Upsampling: a 1×1 map over a 4×4 image gives every unit the map's value.
    @Test func gradCAMAggregatesToGridUnits() throws {
        var g = SeededGenerator(seed: 5)
        let model = Model(name: "pool", inputShape: [4, 4, 1], layers: [
            ("conv", Conv2D(1, 3, kernel: 3, padding: 1, generator: &g)), ("relu", ReLU()),
            ("pool", MaxPool2D(kernel: 2)), ("flatten", Flatten()), ("fc", Linear(12, 2, generator: &g)),
        ])
        let s = Self.sample((0..<16).map { Float($0) / 8 - 1 }, shape: [4, 4, 1], units: .grid(height: 4, width: 4, channels: 1, cells: 2))
        let cam = try Explanations.gradCAM(model, s, target: .logit(class: 0), layer: 1)
        #expect(cam.units.count == 4 && cam.map.count == 16)
        // Unit u covers the 2×2 block of pixels; its value is their mean.
        for u in 0..<4 {
            let (gy, gx) = (u / 2, u % 2)
            var sum: Float = 0
            for dy in 0..<2 { for dx in 0..<2 { sum += cam.map[(gy * 2 + dy) * 4 + gx * 2 + dx] } }
            let mean = sum / 4
            expectClose([cam.units[u]], [mean], rtol: 1e-5, atol: 1e-6)
        }
    }

    /// conv1 → relu1 → conv2 → relu2 → flatten → fc: rescaling conv2 by s and fc by 1/s keeps the logits;
    /// explanations of the logits are unchanged, explanations of relu2's output scale by s.
    @Test func rescalingKeepsTheFunctionAndScalesFeatureExplanations() throws {
        func make() -> Model {
            var g = SeededGenerator(seed: 11)
            return Model(name: "two-conv", inputShape: [4, 4, 2], layers: [
                ("conv1", Conv2D(2, 3, kernel: 3, padding: 1, generator: &g)), ("relu1", ReLU()),
                ("conv2", Conv2D(3, 4, kernel: 3, padding: 1, generator: &g)), ("relu2", ReLU()),
                ("pool", MaxPool2D(kernel: 2)), ("flatten", Flatten()), ("fc", Linear(16, 3, generator: &g)),
            ])
        }
        let a = make(), b = make()
        let scale = 3.0
        let plan = try Rescaling.plan(b, layer: "conv2", scale: scale)
        #expect(plan.next == "fc" && plan.between == ["relu2", "pool", "flatten"])
        Rescaling.apply(plan, to: b)
        let x = randomTensor([4, 4, 2], seed: 2)
        let s = Sample(id: "x", input: x, units: .grid(height: 4, width: 4, channels: 2, cells: 2),
                       roles: [.foreground, .background, .background, .foreground], target: .label(1))
        let ca = a.makeContext(), cb = b.makeContext()
        let batch = Tensor(shape: [1, 4, 4, 2]); batch.data.update(from: x.data, count: x.count)
        let ya = a.forward(batch, ca).array, yb = b.forward(batch, cb).array
        expectClose(yb, ya, rtol: 1e-4, atol: 1e-5, "logits after rescaling")
        // The feature at relu2 scales by s.
        let fa = a.forward(batch, ca, through: 3).array, fb = b.forward(batch, cb, through: 3).array
        expectClose(fb, fa.map { $0 * Float(scale) }, rtol: 1e-4, atol: 1e-5)

        let logit = ExplanationTarget.logit(class: 1), feature = ExplanationTarget.feature(layer: 3)
        expectClose(try Explanations.saliency(b, s, target: logit), try Explanations.saliency(a, s, target: logit), rtol: 1e-4, atol: 1e-6)
        expectClose(try Explanations.saliency(b, s, target: feature),
                    try Explanations.saliency(a, s, target: feature).map { $0 * Float(scale) }, rtol: 1e-4, atol: 1e-6)
        #expect(try Explanations.camLayer(a, below: 3) == 1)
        expectClose(try Explanations.gradCAM(b, s, target: logit, layer: 3).units,
                    try Explanations.gradCAM(a, s, target: logit, layer: 3).units, rtol: 1e-4, atol: 1e-6)
        let camA = try Explanations.gradCAM(a, s, target: feature, layer: 1).units
        expectClose(try Explanations.gradCAM(b, s, target: feature, layer: 1).units, camA.map { $0 * Float(scale) }, rtol: 1e-4, atol: 1e-6)
        #expect(camA.contains { $0 > 0 }, "a CAM of all zeros would make the test vacuous")

        // Layers that do not commute with scaling are refused, naming the reason.
        #expect(throws: ExplanationError.self) { try Rescaling.plan(a, layer: "relu1", scale: 2) }
        #expect(throws: ExplanationError.self) { try Rescaling.plan(a, layer: "fc", scale: 2) }
        #expect(throws: ExplanationError.self) { try Rescaling.plan(a, layer: "conv1", scale: 0) }
        #expect(Rescaling.candidates(a) == ["conv1", "conv2"])
    }
}
