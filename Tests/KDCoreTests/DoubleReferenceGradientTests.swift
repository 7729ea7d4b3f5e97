import Foundation
import KDCore
import Testing
import _TestSupport

// Every layer's Float32 backward against central differences of an independent Double-precision forward
// written here (Method.md §9). The Double forward takes the same values (Float → Double is exact), so the
// finite differences carry no Float rounding: with h = 1e-5·max(1, |v|) their error is about h²·f''' +
// 1e-16/h ≈ 1e-10 relative, and what is measured is the Float backward itself (≈ 1e-6 relative).
//
// The check (``DoubleGradientCheck/agrees(_:_:)``): every checked entry satisfies
//     |analytic − numeric| ≤ 1e-3·|numeric| + 1e-4·max|numeric|
// A 1 % error in the gradient breaks it: at the largest entry it leaves 1e-2·max|numeric| against an allowance of
// 1.1e-3·max|numeric|. Each test also perturbs the analytic gradient by 1 % and expects the check to fail.
// Shapes follow the layers: images (B, H, W, C), conv weights (Co, k, k, Ci), sequences (B, T, D).

/// A layer and its Double reference forward. `forward(x, p)` gets the input and the parameters by their
/// names relative to the layer (`allNamedParameters`).
struct DoubleCase {
    var name: String
    var layer: Layer
    var input: Tensor
    var training = false
    /// Whether the input gradient is defined (false for token ids).
    var inputDifferentiable = true
    var forward: (_ x: [Double], _ p: [String: [Double]]) -> [Double]
}

enum DoubleGradientCheck {
    static let relativeTolerance = 1e-3
    static let scaleTolerance = 1e-4

    /// Whether `analytic` matches `numeric` by the rule above, and the worst excess ratio.
    static func agrees(_ analytic: [Double], _ numeric: [Double]) -> (ok: Bool, worst: Double) {
        let scale = numeric.map(abs).max() ?? 0
        var worst = 0.0
        for i in 0..<numeric.count {
            let allowed = relativeTolerance * abs(numeric[i]) + scaleTolerance * scale
            let d = abs(analytic[i] - numeric[i])
            worst = max(worst, allowed > 0 ? d / allowed : (d > 0 ? .infinity : 0))
        }
        return (worst <= 1, worst)
    }

    /// Runs the check on every tensor (input and parameters), at most `maxEntries` entries each.
    static func run(_ c: DoubleCase, maxEntries: Int = 48, sourceLocation: SourceLocation = #_sourceLocation) {
        // Float forward and backward with dL/dy = r.
        let ctx = c.layer.makeContext()
        func setTraining(_ x: LayerContext) { x.training = c.training; x.children.forEach(setTraining) }
        setTraining(ctx)
        let named = c.layer.allNamedParameters
        for (_, p) in named { p.grad.zero() }
        let y = c.layer.forward(c.input, ctx)
        let r = randomTensor(y.shape, seed: 77)
        let dx = c.layer.backward(r, ctx).array.map(Double.init)
        let rd = r.array.map(Double.init)

        var params: [String: [Double]] = [:]
        for (n, p) in named { params[n] = p.value.array.map(Double.init) }
        let x0 = c.input.array.map(Double.init)
        let y0 = c.forward(x0, params)
        #expect(y0.count == y.count, "\(c.name): Double forward gives \(y0.count) values, the layer \(y.count)",
                sourceLocation: sourceLocation)
        let forwardDiff = zip(y0, y.array).map { abs($0 - Double($1)) }.max() ?? 0
        let forwardScale = y0.map(abs).max() ?? 1
        #expect(forwardDiff <= 1e-5 * max(forwardScale, 1), "\(c.name): forwards differ by \(forwardDiff)",
                sourceLocation: sourceLocation)
        func loss(_ x: [Double], _ p: [String: [Double]]) -> Double {
            zip(c.forward(x, p), rd).reduce(0) { $0 + $1.0 * $1.1 }
        }

        var tensors: [(String, [Double], [Double])] = []   // name, analytic, value
        if c.inputDifferentiable { tensors.append(("input", dx, x0)) }
        else { #expect(dx.allSatisfy { $0 == 0 }, "\(c.name): ids get no gradient", sourceLocation: sourceLocation) }
        for (n, p) in named { tensors.append((n, p.grad.array.map(Double.init), params[n]!)) }

        for (tensorName, analytic, values) in tensors {
            let stride = max(1, values.count / maxEntries)
            var a: [Double] = [], numeric: [Double] = []
            for i in Swift.stride(from: 0, to: values.count, by: stride) {
                let h = 1e-5 * max(1, abs(values[i]))
                func shifted(_ delta: Double) -> Double {
                    if tensorName == "input" {
                        var x = x0; x[i] += delta; return loss(x, params)
                    }
                    var p = params; p[tensorName]![i] += delta; return loss(x0, p)
                }
                numeric.append((shifted(h) - shifted(-h)) / (2 * h))
                a.append(analytic[i])
            }
            let result = agrees(a, numeric)
            let scale = numeric.map(abs).max() ?? 0
            print(String(format: "[double-fd] %@ %@: worst %.3g of the allowance, max|grad| %.3g, %d entries",
                         c.name, tensorName, result.worst, scale, numeric.count))
            #expect(result.ok, "\(c.name) \(tensorName): worst excess \(result.worst)", sourceLocation: sourceLocation)
            #expect(scale > 0, "\(c.name) \(tensorName): all-zero gradient checks nothing", sourceLocation: sourceLocation)
            // The check can fail: the same gradient 1 % off is rejected.
            #expect(!agrees(a.map { $0 * 1.01 }, numeric).ok, "\(c.name) \(tensorName): a 1 % error passes",
                    sourceLocation: sourceLocation)
        }
    }
}

// MARK: - Double reference forwards

enum Ref {
    /// y (rows, out) = x (rows, in) Wᵀ + b.
    static func linear(_ x: [Double], _ w: [Double], _ b: [Double]?, inputs: Int, outputs: Int) -> [Double] {
        let rows = x.count / inputs
        var y = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows { for o in 0..<outputs {
            var s = b?[o] ?? 0
            for i in 0..<inputs { s += x[r * inputs + i] * w[o * inputs + i] }
            y[r * outputs + o] = s
        } }
        return y
    }

    static func conv(_ x: [Double], _ w: [Double], _ b: [Double]?, batch: Int, height h: Int, width wd: Int,
                     inputs ci: Int, outputs co: Int, kernel k: Int, stride s: Int, padding p: Int) -> [Double] {
        let ho = (h + 2 * p - k) / s + 1, wo = (wd + 2 * p - k) / s + 1
        var y = [Double](repeating: 0, count: batch * ho * wo * co)
        for n in 0..<batch { for oy in 0..<ho { for ox in 0..<wo { for o in 0..<co {
            var acc = b?[o] ?? 0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                for i in 0..<ci { acc += w[((o * k + ky) * k + kx) * ci + i] * x[((n * h + iy) * wd + ix) * ci + i] }
            } }
            y[((n * ho + oy) * wo + ox) * co + o] = acc
        } } } }
        return y
    }

    static func pool(_ x: [Double], batch: Int, height h: Int, width w: Int, channels c: Int, kernel k: Int,
                     stride s: Int, max useMax: Bool) -> [Double] {
        let ho = (h - k) / s + 1, wo = (w - k) / s + 1
        var y: [Double] = []
        for n in 0..<batch { for oy in 0..<ho { for ox in 0..<wo { for ch in 0..<c {
            var acc = useMax ? -Double.infinity : 0
            for ky in 0..<k { for kx in 0..<k {
                let v = x[((n * h + oy * s + ky) * w + ox * s + kx) * c + ch]
                acc = useMax ? max(acc, v) : acc + v
            } }
            y.append(useMax ? acc : acc / Double(k * k))
        } } } }
        return y
    }

    static func gelu(_ x: [Double]) -> [Double] { x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }
    static func relu(_ x: [Double]) -> [Double] { x.map { max($0, 0) } }

    /// Normalises each row of `width` values (biased variance).
    static func layerNorm(_ x: [Double], _ g: [Double], _ b: [Double], width d: Int, epsilon: Double = 1e-5) -> [Double] {
        var y = x
        for r in 0..<(x.count / d) {
            let row = x[(r * d)..<((r + 1) * d)]
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            let inv = 1 / (variance + epsilon).squareRoot()
            for j in 0..<d { y[r * d + j] = (x[r * d + j] - mean) * inv * g[j] + b[j] }
        }
        return y
    }

    /// Per-channel normalisation over all rows with the batch (training) or given statistics.
    static func batchNorm(_ x: [Double], _ g: [Double], _ b: [Double], channels c: Int,
                          running: (mean: [Double], variance: [Double])?, epsilon: Double = 1e-5) -> [Double] {
        let rows = x.count / c
        var y = x
        for j in 0..<c {
            var mean = 0.0, variance = 0.0
            if let running { mean = running.mean[j]; variance = running.variance[j] } else {
                for r in 0..<rows { mean += x[r * c + j] }
                mean /= Double(rows)
                for r in 0..<rows { variance += (x[r * c + j] - mean) * (x[r * c + j] - mean) }
                variance /= Double(rows)
            }
            let inv = 1 / (variance + epsilon).squareRoot()
            for r in 0..<rows { y[r * c + j] = (x[r * c + j] - mean) * inv * g[j] + b[j] }
        }
        return y
    }

    /// Multi-head self-attention on (B, T, D), parameters `prefix` + in_proj / out_proj.
    static func attention(_ x: [Double], _ p: [String: [Double]], prefix: String, batch: Int, tokens t: Int,
                          width d: Int, heads: Int) -> [Double] {
        let e = d / heads
        let qkv = linear(x, p[prefix + "in_proj.weight"]!, p[prefix + "in_proj.bias"]!, inputs: d, outputs: 3 * d)
        var o = [Double](repeating: 0, count: batch * t * d)
        for n in 0..<batch { for h in 0..<heads { for i in 0..<t {
            var scores = [Double](repeating: 0, count: t)
            for j in 0..<t {
                var s = 0.0
                for c in 0..<e { s += qkv[(n * t + i) * 3 * d + h * e + c] * qkv[(n * t + j) * 3 * d + d + h * e + c] }
                scores[j] = s / Double(e).squareRoot()
            }
            let top = scores.max()!
            let ex = scores.map { exp($0 - top) }
            let z = ex.reduce(0, +)
            for c in 0..<e {
                var s = 0.0
                for j in 0..<t { s += ex[j] / z * qkv[(n * t + j) * 3 * d + 2 * d + h * e + c] }
                o[(n * t + i) * d + h * e + c] = s
            }
        } } }
        return linear(o, p[prefix + "out_proj.weight"]!, p[prefix + "out_proj.bias"]!, inputs: d, outputs: d)
    }

    static func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }

    /// (B, H·W, C) → (B, C): the mean over pixels.
    static func globalAverage(_ x: [Double], batch: Int, pixels: Int, channels c: Int) -> [Double] {
        var y = [Double](repeating: 0, count: batch * c)
        for n in 0..<batch { for q in 0..<pixels { for j in 0..<c { y[n * c + j] += x[(n * pixels + q) * c + j] / Double(pixels) } } }
        return y
    }

    /// (B, N, C) → (B, C): the max over points.
    static func maxOverPoints(_ x: [Double], batch: Int, points: Int, channels c: Int) -> [Double] {
        var y = [Double](repeating: -.infinity, count: batch * c)
        for n in 0..<batch { for q in 0..<points { for j in 0..<c { y[n * c + j] = max(y[n * c + j], x[(n * points + q) * c + j]) } } }
        return y
    }

    /// (B, H·W, C) → channel-major (B, C·H·W), as PyTorch flattens (C, H, W).
    static func flatten(_ x: [Double], batch: Int, pixels: Int, channels c: Int) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for n in 0..<batch { for q in 0..<pixels { for j in 0..<c { y[(n * c + j) * pixels + q] = x[(n * pixels + q) * c + j] } } }
        return y
    }
}

/// Random values for every parameter of `layer` (so zero-initialised biases and γ = 1 are exercised too).
private func randomiseParameters(_ layer: Layer, seed: UInt64, scale: Float = 0.5) {
    var g = SeededGenerator(seed: seed)
    for (_, p) in layer.allNamedParameters { g.fillGaussian(p.value.data, count: p.value.count, scale: scale) }
}

@Suite struct DoubleReferenceGradientTests {
    @Test func linear() {
        var g = SeededGenerator(seed: 1)
        let l = Linear(5, 4, generator: &g)
        DoubleGradientCheck.run(DoubleCase(name: "linear", layer: l, input: randomTensor([3, 2, 5], seed: 2)) { x, p in
            Ref.linear(x, p["weight"]!, p["bias"]!, inputs: 5, outputs: 4)
        })
    }

    @Test(arguments: [(1, 1), (2, 0)]) func conv2D(_ config: (stride: Int, padding: Int)) {
        var g = SeededGenerator(seed: 3)
        let l = Conv2D(3, 4, kernel: 3, stride: config.stride, padding: config.padding, generator: &g)
        DoubleGradientCheck.run(DoubleCase(name: "conv2d s\(config.stride) p\(config.padding)", layer: l,
                                           input: randomTensor([2, 6, 5, 3], seed: 4)) { x, p in
            Ref.conv(x, p["weight"]!, p["bias"]!, batch: 2, height: 6, width: 5, inputs: 3, outputs: 4, kernel: 3,
                     stride: config.stride, padding: config.padding)
        })
    }

    @Test func pooling() {
        DoubleGradientCheck.run(DoubleCase(name: "maxpool2d", layer: MaxPool2D(kernel: 2), input: randomTensor([2, 4, 6, 3], seed: 5)) { x, _ in
            Ref.pool(x, batch: 2, height: 4, width: 6, channels: 3, kernel: 2, stride: 2, max: true)
        })
        DoubleGradientCheck.run(DoubleCase(name: "maxpool2d k3 s1", layer: MaxPool2D(kernel: 3, stride: 1),
                                           input: randomTensor([1, 5, 5, 2], seed: 6)) { x, _ in
            Ref.pool(x, batch: 1, height: 5, width: 5, channels: 2, kernel: 3, stride: 1, max: true)
        })
        DoubleGradientCheck.run(DoubleCase(name: "avgpool2d k3 s2", layer: AvgPool2D(kernel: 3, stride: 2),
                                           input: randomTensor([2, 7, 5, 3], seed: 7)) { x, _ in
            Ref.pool(x, batch: 2, height: 7, width: 5, channels: 3, kernel: 3, stride: 2, max: false)
        })
        DoubleGradientCheck.run(DoubleCase(name: "globalavgpool", layer: GlobalAvgPool(), input: randomTensor([2, 3, 4, 5], seed: 8)) { x, _ in
            Ref.globalAverage(x, batch: 2, pixels: 12, channels: 5)
        })
    }

    @Test func activations() {
        DoubleGradientCheck.run(DoubleCase(name: "relu", layer: ReLU(), input: randomTensor([4, 7], seed: 9)) { x, _ in Ref.relu(x) })
        DoubleGradientCheck.run(DoubleCase(name: "gelu", layer: GELU(), input: randomTensor([4, 7], seed: 10, scale: 2)) { x, _ in Ref.gelu(x) })
    }

    @Test(arguments: [true, false]) func batchNorm(_ training: Bool) {
        let l = BatchNorm(3)
        randomiseParameters(l, seed: 11)
        var g = SeededGenerator(seed: 12)
        g.fillUniform(l.runningVar.data, count: 3, low: 0.5, high: 2)
        g.fillGaussian(l.runningMean.data, count: 3)
        let running = (mean: l.runningMean.array.map(Double.init), variance: l.runningVar.array.map(Double.init))
        DoubleGradientCheck.run(DoubleCase(name: "batchnorm \(training ? "training" : "inference")", layer: l,
                                           input: randomTensor([2, 3, 2, 3], seed: 13), training: training) { x, p in
            Ref.batchNorm(x, p["weight"]!, p["bias"]!, channels: 3, running: training ? nil : running)
        })
    }

    @Test func layerNorm() {
        let l = LayerNorm(6)
        randomiseParameters(l, seed: 14)
        DoubleGradientCheck.run(DoubleCase(name: "layernorm", layer: l, input: randomTensor([2, 3, 6], seed: 15)) { x, p in
            Ref.layerNorm(x, p["weight"]!, p["bias"]!, width: 6)
        })
    }

    @Test func embeddings() {
        var g = SeededGenerator(seed: 16)
        let e = Embedding(vocabulary: 5, dimension: 3, generator: &g)
        let ids = Tensor(shape: [2, 4], values: [0, 3, 3, 1, 4, 2, 0, 0])
        DoubleGradientCheck.run(DoubleCase(name: "embedding", layer: e, input: ids, inputDifferentiable: false) { x, p in
            x.flatMap { id in Array(p["weight"]![(Int(id.rounded()) * 3)..<(Int(id.rounded()) * 3 + 3)]) }
        })
        let pos = PositionalEmbedding(length: 5, dimension: 3)
        randomiseParameters(pos, seed: 17)
        DoubleGradientCheck.run(DoubleCase(name: "positional-embedding", layer: pos, input: randomTensor([2, 4, 3], seed: 18)) { x, p in
            (0..<x.count).map { x[$0] + p["weight"]![$0 % 12] }
        })
    }

    @Test func attention() {
        var g = SeededGenerator(seed: 19)
        let l = MultiHeadSelfAttention(dimension: 8, heads: 2, generator: &g)
        randomiseParameters(l, seed: 20)
        DoubleGradientCheck.run(DoubleCase(name: "multihead-attention", layer: l, input: randomTensor([2, 5, 8], seed: 21)) { x, p in
            Ref.attention(x, p, prefix: "", batch: 2, tokens: 5, width: 8, heads: 2)
        })
    }

    @Test func transformerEncoderLayer() {
        var g = SeededGenerator(seed: 22)
        let l = TransformerEncoderLayer(dimension: 8, heads: 2, feedForward: 12, generator: &g)
        randomiseParameters(l, seed: 23)
        DoubleGradientCheck.run(DoubleCase(name: "transformer-encoder", layer: l, input: randomTensor([2, 4, 8], seed: 24)) { x, p in
            let a = Ref.layerNorm(x, p["attention.body.norm1.weight"]!, p["attention.body.norm1.bias"]!, width: 8)
            let h = Ref.add(x, Ref.attention(a, p, prefix: "attention.body.self_attn.", batch: 2, tokens: 4, width: 8, heads: 2))
            let n = Ref.layerNorm(h, p["feedforward.body.norm2.weight"]!, p["feedforward.body.norm2.bias"]!, width: 8)
            let f = Ref.linear(Ref.gelu(Ref.linear(n, p["feedforward.body.linear1.weight"]!, p["feedforward.body.linear1.bias"]!,
                                                   inputs: 8, outputs: 12)),
                               p["feedforward.body.linear2.weight"]!, p["feedforward.body.linear2.bias"]!, inputs: 12, outputs: 8)
            return Ref.add(h, f)
        })
    }

    @Test func pointsFlattenAndResidual() {
        DoubleGradientCheck.run(DoubleCase(name: "max-over-points", layer: MaxOverPoints(), input: randomTensor([2, 7, 5], seed: 25)) { x, _ in
            Ref.maxOverPoints(x, batch: 2, points: 7, channels: 5)
        })
        DoubleGradientCheck.run(DoubleCase(name: "flatten", layer: Flatten(), input: randomTensor([2, 3, 2, 4], seed: 26)) { x, _ in
            Ref.flatten(x, batch: 2, pixels: 6, channels: 4)
        })
        var g = SeededGenerator(seed: 27)
        let residual = Residual(body: Sequential([("conv", Conv2D(3, 4, kernel: 3, padding: 1, generator: &g)), ("gelu", GELU())]),
                                shortcut: Conv2D(3, 4, kernel: 1, generator: &g))
        randomiseParameters(residual, seed: 28)
        DoubleGradientCheck.run(DoubleCase(name: "residual", layer: residual, input: randomTensor([2, 4, 3, 3], seed: 29)) { x, p in
            let body = Ref.gelu(Ref.conv(x, p["body.conv.weight"]!, p["body.conv.bias"]!, batch: 2, height: 4, width: 3,
                                         inputs: 3, outputs: 4, kernel: 3, stride: 1, padding: 1))
            let side = Ref.conv(x, p["shortcut.weight"]!, p["shortcut.bias"]!, batch: 2, height: 4, width: 3,
                                inputs: 3, outputs: 4, kernel: 1, stride: 1, padding: 0)
            return Ref.add(body, side)
        })
    }

    /// The rule itself: agreement within 1e-3 relative passes, a 1 % error anywhere large fails, and so does a
    /// wrong sign on a small entry once it exceeds the 1e-4·max floor.
    @Test func theToleranceRejectsAOnePercentError() {
        let numeric = [2.0, -1.0, 0.5, 0.01]
        #expect(DoubleGradientCheck.agrees(numeric.map { $0 * (1 + 5e-4) }, numeric).ok)
        #expect(!DoubleGradientCheck.agrees(numeric.map { $0 * 1.01 }, numeric).ok)
        var one = numeric; one[0] *= 0.99
        #expect(!DoubleGradientCheck.agrees(one, numeric).ok)
        var sign = numeric; sign[3] = -0.01
        #expect(!DoubleGradientCheck.agrees(sign, numeric).ok)
    }
}
