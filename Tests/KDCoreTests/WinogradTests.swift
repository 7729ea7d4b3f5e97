import Foundation
import KDCore
import Testing
import _TestSupport

// Shape key: (B, H, W, C) images, NHWC, as in Core.

/// Winograd F(2×2, 3×3) (Conv2D.winograd) against a direct convolution in Double and against Conv2D's own
/// im2col path: forward, input gradient (frozen weights, as the entropy engine runs it) and a training
/// backward (weight gradients through im2col, input gradient through Winograd), odd and even image sizes,
/// one and two threads, with and without bias.
@Suite struct WinogradTests {
    static let configs: [(ci: Int, co: Int, h: Int, w: Int, batch: Int, bias: Bool)] = [
        (16, 16, 6, 6, 2, true),
        (16, 24, 5, 7, 3, true),    // odd sizes: the last tile row and column are partly outside the image
        (32, 16, 9, 4, 2, false),
        (24, 32, 1, 3, 2, true),    // a single row of pixels
    ]

    /// y = conv(x) by definition, in Double; weights (Co, 3, 3, Ci), padding 1.
    static func direct(_ x: Tensor, _ conv: Conv2D) -> [Float] {
        let (bn, h, w, ci, co) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], conv.outputChannels)
        var y = [Float](repeating: 0, count: bn * h * w * co)
        for b in 0..<bn { for oy in 0..<h { for ox in 0..<w { for o in 0..<co {
            var acc = Double(conv.bias?.value[o] ?? 0)
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy - 1 + ky, ix = ox - 1 + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for i in 0..<ci {
                    acc += Double(conv.weight.value[((o * 3 + ky) * 3 + kx) * ci + i]) * Double(x[((b * h + iy) * w + ix) * ci + i])
                }
            } }
            y[((b * h + oy) * w + ox) * co + o] = Float(acc)
        } } } }
        return y
    }

    /// dx = the adjoint of the direct convolution applied to dy, in Double.
    static func directInputGradient(_ dy: Tensor, _ conv: Conv2D, inputShape s: [Int]) -> [Float] {
        let (bn, h, w, ci, co) = (s[0], s[1], s[2], s[3], conv.outputChannels)
        var dx = [Double](repeating: 0, count: bn * h * w * ci)
        for b in 0..<bn { for oy in 0..<h { for ox in 0..<w { for o in 0..<co {
            let g = Double(dy[((b * h + oy) * w + ox) * co + o])
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy - 1 + ky, ix = ox - 1 + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for i in 0..<ci { dx[((b * h + iy) * w + ix) * ci + i] += g * Double(conv.weight.value[((o * 3 + ky) * 3 + kx) * ci + i]) }
            } }
        } } } }
        return dx.map(Float.init)
    }

    static func pair(_ i: Int) -> (winograd: Conv2D, im2col: Conv2D, x: Tensor, dy: Tensor) {
        let cf = configs[i]
        var g = SeededGenerator(seed: 900 + UInt64(i))
        let a = Conv2D(cf.ci, cf.co, kernel: 3, padding: 1, bias: cf.bias, generator: &g)
        let b = Conv2D(cf.ci, cf.co, kernel: 3, padding: 1, bias: cf.bias, generator: &g)
        b.weight.value.assign(a.weight.value)
        if let bb = b.bias, let ab = a.bias { bb.value.assign(ab.value) }
        a.backend = .winograd   // kd-tool's own F(2×2, 3×3), not the oneDNN default
        b.winograd = false
        return (a, b, randomTensor([cf.batch, cf.h, cf.w, cf.ci], seed: 910 + UInt64(i)),
                randomTensor([cf.batch, cf.h, cf.w, cf.co], seed: 920 + UInt64(i)))
    }

    @Test(arguments: 0..<configs.count)
    func forwardAndInputGradientMatchDirect(_ i: Int) {
        let (conv, _, x, dy) = Self.pair(i)
        for threads in [1, 2] {
            conv.threads = threads
            let c = conv.makeContext()
            c.parameterGradients = false
            expectClose(conv.forward(x, c).array, Self.direct(x, conv), rtol: 1e-5, atol: 1e-5, "winograd forward \(i) threads \(threads)")
            expectClose(conv.backward(dy, c).array, Self.directInputGradient(dy, conv, inputShape: x.shape),
                        rtol: 1e-5, atol: 1e-5, "winograd input gradient \(i) threads \(threads)")
        }
    }

    /// Training: every gradient equals the im2col path's (the weight gradient is computed the same way).
    @Test(arguments: 0..<configs.count)
    func trainingBackwardMatchesIm2col(_ i: Int) {
        let (a, b, x, dy) = Self.pair(i)
        var results: [[Float]] = []
        for conv in [a, b] {
            let c = conv.makeContext()
            c.training = true
            let y = conv.forward(x, c).array
            let dx = conv.backward(dy, c).array
            results.append(y + dx + conv.weight.grad.array + (conv.bias?.grad.array ?? []))
        }
        expectClose(results[0], results[1], rtol: 1e-5, atol: 1e-5, "winograd vs im2col \(i)")
    }

    @Test func finiteDifferences() {
        let (conv, _, x, _) = Self.pair(1)
        for r in GradientCheck().run(conv, input: x) { #expect(r.maxRelDiff < 1e-2, "winograd \(r)") }
    }

    /// Layers the kernels do not suit stay on im2col and still match the direct convolution.
    @Test func unsuitedChannelsFallBack() {
        var g = SeededGenerator(seed: 950)
        let conv = Conv2D(3, 16, kernel: 3, padding: 1, generator: &g)
        conv.backend = .winograd
        let x = randomTensor([2, 5, 5, 3], seed: 951)
        expectClose(conv.forward(x, conv.makeContext()).array, Self.direct(x, conv), rtol: 1e-5, atol: 1e-5, "3→16")
    }
}
