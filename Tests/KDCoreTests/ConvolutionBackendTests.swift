import Foundation
import KDCore
import Testing
import _TestSupport

// Shape key: (B, H, W, C) images, NHWC, as in Core; weights (Co, k, k, Ci).

/// Every Conv2D backend (kd-tool's Winograd F(2×2,3×3), oneDNN's Winograd F(4×4,3×3) and direct
/// convolutions) against the im2col path: forward, input gradient and weight and bias gradients of a
/// training step, and the frozen-weight input gradient the entropy engine runs, on one and two threads.
/// Shapes include odd image sizes, channel counts that are not multiples of 16 (oneDNN's Winograd does not
/// take them: its direct kernels or kd-tool's own paths do), strided, unpadded, 1×1 and 5×5 kernels.
/// The tolerance (2e-4 of the largest magnitude of each result) is met by float32 rounding of any of these
/// algorithms and broken by a 1 % error in any value of that magnitude.
@Suite struct ConvolutionBackendTests {
    static let configs: [(ci: Int, co: Int, k: Int, s: Int, p: Int, h: Int, w: Int, batch: Int, bias: Bool)] = [
        (16, 16, 3, 1, 1, 6, 6, 2, true),      // oneDNN Winograd
        (32, 48, 3, 1, 1, 9, 7, 3, true),      // Winograd, odd sizes (partial 4×4 tiles)
        (32, 32, 3, 1, 1, 8, 8, 4, false),     // no bias
        (16, 24, 3, 1, 1, 5, 7, 3, true),      // 24 channels: not oneDNN Winograd
        (3, 32, 3, 1, 1, 9, 9, 2, true),       // e1's first layer shape: direct
        (8, 12, 3, 2, 0, 7, 8, 2, true),       // strided, unpadded
        (8, 16, 5, 2, 2, 9, 9, 2, false),      // 5×5 stride 2
        (16, 8, 1, 1, 0, 4, 5, 3, true),       // 1×1
    ]

    /// Two layers with the same weights, the first on `backend`, the second on im2col.
    static func layers(_ i: Int, _ backend: Conv2D.Backend) -> (Conv2D, Conv2D, Tensor, Tensor) {
        let cf = configs[i]
        var g = SeededGenerator(seed: 1300 + UInt64(i))
        let a = Conv2D(cf.ci, cf.co, kernel: cf.k, stride: cf.s, padding: cf.p, bias: cf.bias, generator: &g)
        let b = Conv2D(cf.ci, cf.co, kernel: cf.k, stride: cf.s, padding: cf.p, bias: cf.bias, generator: &g)
        b.weight.value.assign(a.weight.value)
        if let bb = b.bias, let ab = a.bias { bb.value.assign(ab.value) }
        a.backend = backend
        b.backend = .im2col
        let x = randomTensor([cf.batch, cf.h, cf.w, cf.ci], seed: 1310 + UInt64(i))
        let dy = randomTensor(a.outputShape(for: x.shape), seed: 1320 + UInt64(i))
        return (a, b, x, dy)
    }

    /// |a − b| ≤ 2e-4 · max |b| everywhere.
    static func expectMatch(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let scale = b.map(abs).max() ?? 0
        #expect(scale > 0, "\(what): the reference is all zero", sourceLocation: sourceLocation)
        expectClose(a, b, rtol: 0, atol: 2e-4 * scale, what, sourceLocation: sourceLocation)
    }

    @Test(arguments: [Conv2D.Backend.winograd, .dnnl, .dnnlDirect], 0..<configs.count)
    func trainingStepMatchesIm2col(_ backend: Conv2D.Backend, _ i: Int) {
        let (a, b, x, dy) = Self.layers(i, backend)
        for threads in [1, 2] {
            var results: [[[Float]]] = []
            for conv in [a, b] {
                conv.threads = threads
                // Gradients are added: a first pass's sums must be kept and this one added to them.
                conv.weight.grad.fill(0.5)
                conv.bias?.grad.fill(-0.25)
                let c = conv.makeContext()
                c.training = true
                let y = conv.forward(x, c).array
                let dx = conv.backward(dy, c).array
                results.append([y, dx, conv.weight.grad.array, conv.bias?.grad.array ?? []])
            }
            let what = "\(backend) config \(i) threads \(threads)"
            Self.expectMatch(results[0][0], results[1][0], "\(what) forward")
            Self.expectMatch(results[0][1], results[1][1], "\(what) input gradient")
            Self.expectMatch(results[0][2], results[1][2], "\(what) weight gradient")
            if Self.configs[i].bias { Self.expectMatch(results[0][3], results[1][3], "\(what) bias gradient") }
        }
    }

    /// Frozen weights, input gradient only (the entropy engine's passes); the weights' sums stay untouched.
    @Test(arguments: [Conv2D.Backend.dnnl, .dnnlDirect], 0..<configs.count)
    func inputGradientOnly(_ backend: Conv2D.Backend, _ i: Int) {
        let (a, b, x, dy) = Self.layers(i, backend)
        var results: [[Float]] = []
        for conv in [a, b] {
            for p in conv.parameters { p.grad.zero() }
            let c = conv.makeContext()
            c.parameterGradients = false
            results.append(conv.forward(x, c).array)
            results.append(conv.backward(dy, c).array)
            #expect(conv.weight.grad.array.allSatisfy { $0 == 0 }, "\(backend) config \(i): weight gradient written")
        }
        Self.expectMatch(results[0], results[2], "\(backend) config \(i) forward")
        Self.expectMatch(results[1], results[3], "\(backend) config \(i) input gradient")
    }

    /// A batch whose size changes from call to call (each size gets its own oneDNN plan) gives the same
    /// per-image results.
    @Test func batchSizesChange() {
        let (a, b, x, _) = Self.layers(1, .dnnl)
        for n in [3, 1, 2, 3] {
            let xs = Tensor(shape: [n] + x.shape.dropFirst())
            xs.data.update(from: x.data, count: xs.count)
            Self.expectMatch(a.forward(xs, a.makeContext()).array, b.forward(xs, b.makeContext()).array, "batch \(n)")
        }
    }

    #if arch(x86_64)
    /// On x86-64 oneDNN has jit kernels for every product of these shapes, so the dnnl backends really run
    /// oneDNN (a test of the comparisons above, which would also pass on kd-tool's fallback paths).
    @Test func oneDNNIsUsed() {
        for backend in [Conv2D.Backend.dnnl, .dnnlDirect] {
            for i in [0, 4] {
                let (a, _, x, _) = Self.layers(i, backend)
                for pass in 0...2 {
                    let name = a.dnnlImplementation(pass: pass, inputShape: x.shape)
                    #expect(name != nil && !name!.hasPrefix("ref"), "\(backend) config \(i) pass \(pass): \(name ?? "fallback")")
                }
            }
        }
        let (im2col, _, x, _) = Self.layers(0, .im2col)
        #expect(im2col.dnnlImplementation(pass: 0, inputShape: x.shape) == nil)
    }
    #endif

    /// bfloat16 inputs (8 significant bits): within 3e-2 of each result's largest magnitude, and really
    /// rounded (not float32 under another name).
    @Test(arguments: [0, 3, 4])
    func bfloat16TrainingStep(_ i: Int) {
        let (a, b, x, dy) = Self.layers(i, .dnnlDirect)
        a.dnnlBFloat16 = true
        var results: [[[Float]]] = []
        for conv in [a, b] {
            let c = conv.makeContext()
            c.training = true
            let y = conv.forward(x, c).array
            let dx = conv.backward(dy, c).array
            results.append([y, dx, conv.weight.grad.array])
        }
        for (k, name) in ["forward", "input gradient", "weight gradient"].enumerated() {
            let scale = results[1][k].map(abs).max() ?? 0
            expectClose(results[0][k], results[1][k], rtol: 0, atol: 3e-2 * scale, "bf16 config \(i) \(name)")
            // Where oneDNN has bf16 kernels (not on every CPU; elsewhere float32 paths run) the results differ.
            let worst = zip(results[0][k], results[1][k]).map { abs($0 - $1) }.max() ?? 0
            if a.dnnlImplementation(pass: k, inputShape: x.shape) != nil {
                #expect(worst > 1e-6 * scale, "bf16 config \(i) \(name): identical to float32")
            }
        }
    }

    /// The gradients are the derivatives of the forward pass. Winograd F(4×4,3×3) rounds its float32
    /// forward pass more coarsely, which the finite differences see (max relative 0.014 measured on this
    /// layer), hence its looser bound.
    @Test func finiteDifferences() {
        for (backend, bound) in [(Conv2D.Backend.dnnl, 3e-2), (.dnnlDirect, 1e-2)] {
            let (conv, _, x, _) = Self.layers(1, backend)
            for r in GradientCheck().run(conv, input: x) { #expect(r.maxRelDiff < bound, "\(backend) \(r)") }
        }
    }
}
