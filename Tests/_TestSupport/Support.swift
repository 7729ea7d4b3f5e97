import KDCore
import Testing

/// Expects `a` and `b` to agree elementwise within `atol + rtol·|b|`, printing the largest difference.
public func expectClose(_ a: [Float], _ b: [Float], rtol: Float = 1e-4, atol: Float = 1e-5,
                        _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) elements", sourceLocation: sourceLocation)
    var worst: Float = 0, worstIndex = -1
    for i in 0..<min(a.count, b.count) {
        let excess = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
        if excess > worst { worst = excess; worstIndex = i }
    }
    #expect(worstIndex < 0,
            "\(what): element \(worstIndex) differs: \(worstIndex >= 0 ? a[worstIndex] : 0) vs \(worstIndex >= 0 ? b[worstIndex] : 0) (tolerance exceeded by \(worst))",
            sourceLocation: sourceLocation)
}

public func expectClose(_ a: Double, _ b: Double, tol: Double, _ what: String = "",
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(abs(a - b) <= tol, "\(what): \(a) vs \(b) (|diff| = \(abs(a - b)) > \(tol))", sourceLocation: sourceLocation)
}

/// Central finite differences against a layer's backward pass.
///
/// The scalar checked is L = Σ y ⊙ r for a fixed random r, so dL/dy = r. Forward values are Float32,
/// summed in Double; with step `eps` the truncation error is O(eps²) and the rounding error is about
/// 1e-7·|L|/eps, so eps = 1e-2 on O(1) inputs gives agreement to about 1e-3 relative. Inputs near a
/// kink (ReLU at 0, max-pool ties) are the caller's to avoid.
public struct GradientCheck {
    public struct Result: CustomStringConvertible {
        public var name: String
        public var maxAbsDiff: Double
        public var maxRelDiff: Double   // |a − n| / max(|a|, |n|, scale)
        public var checked: Int
        public var description: String {
            "\(name): max |analytic − numeric| = \(maxAbsDiff), max relative = \(maxRelDiff) over \(checked) entries"
        }
    }

    public var eps: Float = 1e-2
    /// Check at most this many entries per tensor (chosen evenly spaced), to keep tests fast.
    public var maxEntries = 200
    public var training = false

    public init(eps: Float = 1e-2, maxEntries: Int = 200, training: Bool = false) {
        self.eps = eps; self.maxEntries = maxEntries; self.training = training
    }

    /// Returns one result for the input and one per parameter.
    public func run(_ layer: Layer, input x: Tensor, seed: UInt64 = 7) -> [Result] {
        var g = SeededGenerator(seed: seed)
        let ctx = layer.makeContext()
        ctx.training = training
        func seedContexts(_ c: LayerContext) { c.generator = SeededGenerator(seed: seed &+ 99); c.children.forEach(seedContexts) }
        func setTraining(_ c: LayerContext) { c.training = training; c.children.forEach(setTraining) }
        setTraining(ctx)
        seedContexts(ctx)
        let y0 = layer.forward(x, ctx)
        let r = Tensor(shape: y0.shape)
        g.fillGaussian(r.data, count: r.count)
        func loss() -> Double {
            seedContexts(ctx)   // same dropout mask every evaluation
            let y = layer.forward(x, ctx)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
            return s
        }
        for p in layer.allParameters { p.grad.zero() }
        _ = loss()
        let dx = layer.backward(r, ctx).copy()
        var results: [Result] = []
        results.append(compare("input", analytic: dx, target: x, loss: loss))
        for (name, p) in layer.allNamedParameters {
            let analytic = p.grad.copy()
            results.append(compare(name, analytic: analytic, target: p.value, loss: loss))
        }
        return results
    }

    private func compare(_ name: String, analytic: Tensor, target: Tensor, loss: () -> Double) -> Result {
        let n = target.count
        let stride = max(1, n / maxEntries)
        var maxAbs = 0.0, maxRel = 0.0, checked = 0
        var i = 0
        while i < n {
            let saved = target.data[i]
            target.data[i] = saved + eps
            let lp = loss()
            target.data[i] = saved - eps
            let lm = loss()
            target.data[i] = saved
            let numeric = (lp - lm) / (2 * Double(eps))
            let a = Double(analytic.data[i])
            let d = abs(a - numeric)
            maxAbs = max(maxAbs, d)
            maxRel = max(maxRel, d / max(abs(a), abs(numeric), 1e-1))
            checked += 1
            i += stride
        }
        return Result(name: name, maxAbsDiff: maxAbs, maxRelDiff: maxRel, checked: checked)
    }
}

extension Layer {
    /// Parameters of this layer and all its descendants.
    public var allParameters: [Parameter] { allNamedParameters.map(\.1) }
    public var allNamedParameters: [(String, Parameter)] {
        var out = parameters.map { ($0.name, $0) }
        for (n, c) in children { out += c.allNamedParameters.map { (n + "." + $0.0, $0.1) } }
        return out
    }
}

/// Runs the gradient check and expects every relative difference below `tolerance`.
public func expectGradientsMatch(_ layer: Layer, input: Tensor, tolerance: Double = 1e-2,
                                 check: GradientCheck = GradientCheck(),
                                 sourceLocation: SourceLocation = #_sourceLocation) {
    for r in check.run(layer, input: input) {
        #expect(r.maxRelDiff < tolerance, "\(layer.kind) \(r)", sourceLocation: sourceLocation)
    }
}

/// A random tensor with entries N(0, scale²) from a seed.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    let t = Tensor(shape: shape)
    g.fillGaussian(t.data, count: t.count, scale: scale)
    return t
}
