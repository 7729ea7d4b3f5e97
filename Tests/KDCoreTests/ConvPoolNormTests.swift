import Foundation
import KDCore
import Testing
import _TestSupport

// Shape key: (B, H, W, C) images, NHWC, as in Core.

/// Direct convolution by definition, with weights in memory layout (Co, k, k, Ci): the reference for Conv2D.
private func naiveConv(_ x: Tensor, _ conv: Conv2D) -> [Float] {
    let (bn, h, w, ci) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ys = conv.outputShape(for: x.shape)
    let (ho, wo, co, k, s, p) = (ys[1], ys[2], conv.outputChannels, conv.kernel, conv.stride, conv.padding)
    var y = [Float](repeating: 0, count: ys.reduce(1, *))
    for b in 0..<bn { for oy in 0..<ho { for ox in 0..<wo { for o in 0..<co {
        var acc = Double(conv.bias?.value[o] ?? 0)
        for ky in 0..<k { for kx in 0..<k {
            let iy = oy * s - p + ky, ix = ox * s - p + kx
            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
            for i in 0..<ci {
                acc += Double(conv.weight.value[((o * k + ky) * k + kx) * ci + i])
                    * Double(x[((b * h + iy) * w + ix) * ci + i])
            }
        } }
        y[((b * ho + oy) * wo + ox) * co + o] = Float(acc)
    } } } }
    return y
}

/// Writes `values`, given in the parameter's checkpoint (file) layout, into its memory layout using
/// `filePermutation` (file axis i = memory axis perm[i]), as a checkpoint reader does.
private func setFromFileLayout(_ p: Parameter, _ values: [Float]) {
    let mem = p.value.shape
    let perm = p.filePermutation ?? Array(mem.indices)
    let fileShape = perm.map { mem[$0] }
    var memStrides = [Int](repeating: 1, count: mem.count)
    for a in stride(from: mem.count - 2, through: 0, by: -1) { memStrides[a] = memStrides[a + 1] * mem[a + 1] }
    for f in 0..<values.count {
        var rest = f, offset = 0
        for i in stride(from: fileShape.count - 1, through: 0, by: -1) {
            offset += (rest % fileShape[i]) * memStrides[perm[i]]
            rest /= fileShape[i]
        }
        p.value[offset] = values[f]
    }
}

@Suite struct Conv2DTests {
    static let configs: [(name: String, k: Int, s: Int, p: Int, h: Int, w: Int, bias: Bool)] = [
        ("k3 s1 p1", 3, 1, 1, 5, 6, true),
        ("k3 s2 p0", 3, 2, 0, 5, 6, true),
        ("k1 pointwise", 1, 1, 0, 5, 6, true),
        ("k1 s2 (im2col path)", 1, 2, 0, 5, 6, false),
        ("k3 s2 p1 non-square", 3, 2, 1, 4, 7, true),
        ("k2 s1 p0 no bias", 2, 1, 0, 5, 6, false),
    ]

    @Test(arguments: 0..<configs.count)
    func forwardMatchesDirectConvolution(_ i: Int) {
        let cf = Self.configs[i]
        var g = SeededGenerator(seed: 10 + UInt64(i))
        let conv = Conv2D(3, 4, kernel: cf.k, stride: cf.s, padding: cf.p, bias: cf.bias, generator: &g)
        let x = randomTensor([2, cf.h, cf.w, 3], seed: 20 + UInt64(i))
        let y = conv.forward(x, conv.makeContext())
        #expect(y.shape == conv.outputShape(for: x.shape))
        expectClose(y.array, naiveConv(x, conv), rtol: 1e-5, atol: 1e-5, cf.name)
    }

    @Test(arguments: 0..<configs.count)
    func gradientsMatchFiniteDifferences(_ i: Int) {
        let cf = Self.configs[i]
        var g = SeededGenerator(seed: 30 + UInt64(i))
        let conv = Conv2D(3, 4, kernel: cf.k, stride: cf.s, padding: cf.p, bias: cf.bias, generator: &g)
        let x = randomTensor([2, cf.h, cf.w, 3], seed: 40 + UInt64(i))
        let results = GradientCheck().run(conv, input: x)
        #expect(results.count == (cf.bias ? 3 : 2))
        for r in results {
            print("conv2d \(cf.name) \(r)")
            #expect(r.maxRelDiff < 1e-2, "conv2d \(cf.name) \(r)")
        }
    }

    /// Tiny workspaces force many (uneven) chunks; results must not depend on the chunking.
    @Test func chunkingDoesNotChangeResults() {
        var g = SeededGenerator(seed: 50)
        let whole = Conv2D(3, 4, kernel: 3, stride: 1, padding: 1, generator: &g)
        let chunked = Conv2D(3, 4, kernel: 3, stride: 1, padding: 1, generator: &g)
        chunked.weight.value.assign(whole.weight.value)
        chunked.bias!.value.assign(whole.bias!.value)
        chunked.workspaceBytes = 7 * whole.patchSize * 4   // 7 rows per chunk over 2·5·6 = 60 rows
        let x = randomTensor([2, 5, 6, 3], seed: 51)
        let dy = randomTensor([2, 5, 6, 4], seed: 52)
        var outputs: [[Float]] = [], grads: [[Float]] = []
        for conv in [whole, chunked] {
            let c = conv.makeContext()
            outputs.append(conv.forward(x, c).array)
            grads.append(conv.backward(dy, c).array + conv.weight.grad.array + conv.bias!.grad.array)
        }
        expectClose(outputs[1], outputs[0], rtol: 1e-5, atol: 1e-6, "chunked forward")
        expectClose(grads[1], grads[0], rtol: 1e-5, atol: 1e-5, "chunked backward")
        expectClose(outputs[1], naiveConv(x, chunked), rtol: 1e-5, atol: 1e-5, "chunked vs direct")
        let g1 = GradientCheck().run(chunked, input: x)
        for r in g1 { #expect(r.maxRelDiff < 1e-2, "chunked \(r)") }
    }

    /// Several threads, each taking whole images (3 images over 2 threads: uneven blocks), with small
    /// workspaces so each block runs several chunks: forward, every gradient and the input-only pass must
    /// match one thread's (the weight gradient only up to summation order).
    @Test(arguments: [(3, 1, 1), (3, 2, 0), (1, 1, 0)])
    func threadedBlocksMatchOneThread(_ cf: (k: Int, s: Int, p: Int)) {
        var g = SeededGenerator(seed: 55)
        let one = Conv2D(3, 4, kernel: cf.k, stride: cf.s, padding: cf.p, generator: &g)
        let two = Conv2D(3, 4, kernel: cf.k, stride: cf.s, padding: cf.p, generator: &g)
        two.weight.value.assign(one.weight.value)
        two.bias!.value.assign(one.bias!.value)
        one.threads = 1
        two.threads = 2
        two.workspaceBytes = 4 * two.patchSize * 4   // 4 rows per chunk
        let x = randomTensor([3, 5, 6, 3], seed: 56)
        let dy = randomTensor(one.outputShape(for: x.shape), seed: 57)
        var outputs: [[Float]] = [], inputGrads: [[Float]] = [], paramGrads: [[Float]] = [], inputOnly: [[Float]] = []
        for conv in [one, two] {
            let c = conv.makeContext()
            conv.weight.grad.fill(0.5)   // gradients are added, never overwritten
            conv.bias!.grad.fill(-0.25)
            outputs.append(conv.forward(x, c).array)
            inputGrads.append(conv.backward(dy, c).array)
            paramGrads.append(conv.weight.grad.array + conv.bias!.grad.array)
            c.parameterGradients = false
            _ = conv.forward(x, c)
            inputOnly.append(conv.backward(dy, c).array)
        }
        expectClose(outputs[1], outputs[0], rtol: 1e-6, atol: 1e-6, "threaded forward")
        expectClose(inputGrads[1], inputGrads[0], rtol: 1e-6, atol: 1e-6, "threaded input gradient")
        #expect(inputOnly[1] == inputGrads[1], "threaded input-only pass")
        expectClose(paramGrads[1], paramGrads[0], rtol: 1e-5, atol: 1e-5, "threaded parameter gradients")
        expectClose(outputs[1], naiveConv(x, two), rtol: 1e-5, atol: 1e-5, "threaded vs direct")
        for r in GradientCheck().run(two, input: x) { #expect(r.maxRelDiff < 1e-2, "threaded \(r)") }
    }

    /// An empty batch (a split with no samples) passes through with empty outputs and no gradient.
    @Test func emptyBatch() {
        var g = SeededGenerator(seed: 58)
        let conv = Conv2D(3, 4, kernel: 3, padding: 1, generator: &g)
        let c = conv.makeContext()
        let y = conv.forward(Tensor(shape: [0, 5, 6, 3]), c)
        #expect(y.shape == [0, 5, 6, 4])
        #expect(conv.backward(Tensor(shape: [0, 5, 6, 4]), c).shape == [0, 5, 6, 3])
        #expect(conv.weight.grad.array.allSatisfy { $0 == 0 })
    }

    /// The entropy engine's pass: frozen weights, input gradient only. Parameter gradients must stay
    /// untouched and dx must equal the full backward's.
    @Test func inputGradientOnlyLeavesParametersAlone() {
        var g = SeededGenerator(seed: 60)
        let conv = Conv2D(3, 4, kernel: 3, stride: 2, padding: 1, generator: &g)
        let x = randomTensor([2, 5, 6, 3], seed: 61)
        let c = conv.makeContext()
        let dy = randomTensor(conv.outputShape(for: x.shape), seed: 62)
        _ = conv.forward(x, c)
        let full = conv.backward(dy, c).array
        conv.weight.grad.zero(); conv.bias!.grad.zero()
        c.parameterGradients = false
        _ = conv.forward(x, c)
        let inputOnly = conv.backward(dy, c).array
        #expect(inputOnly == full)
        #expect(conv.weight.grad.array.allSatisfy { $0 == 0 } && conv.bias!.grad.array.allSatisfy { $0 == 0 })
    }

    /// y[oy, ox] = Σ W[ky, kx] · x[oy + ky, ox + kx] on a 3×3 image with W = [[1, 2], [3, 4]]:
    /// y00 = 1·1 + 2·2 + 3·4 + 4·5 = 37, y01 = 47, y10 = 67, y11 = 77 (what torch.conv2d gives).
    @Test func singleChannelKnownAnswer() {
        var g = SeededGenerator(seed: 70)
        let conv = Conv2D(1, 1, kernel: 2, bias: false, generator: &g)
        setFromFileLayout(conv.weight, [1, 2, 3, 4])
        let x = Tensor(shape: [1, 3, 3, 1], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let y = conv.forward(x, conv.makeContext())
        #expect(y.shape == [1, 2, 2, 1])
        #expect(y.array == [37, 47, 67, 77])
    }

    /// Weights given in PyTorch's (Co, Ci, kH, kW) order land where the NHWC kernel expects them.
    /// Input channel 0 is 1…9, channel 1 the 3×3 identity. Output 0 reads only channel 0 with
    /// [[1, 2], [3, 4]] (37, 47, 67, 77, as above), output 1 only channel 1 with [[1, 0], [0, 1]]
    /// (the two diagonal taps: 2, 0, 0, 2); biases 0.5 and −1.
    @Test func pytorchLayoutKnownAnswer() {
        var g = SeededGenerator(seed: 71)
        let conv = Conv2D(2, 2, kernel: 2, generator: &g)
        #expect(conv.weight.filePermutation == [0, 3, 1, 2])
        #expect(conv.weight.value.shape == [2, 2, 2, 2])
        setFromFileLayout(conv.weight, [1, 2, 3, 4, 0, 0, 0, 0,    // out 0: in 0, in 1
                                        0, 0, 0, 0, 1, 0, 0, 1])   // out 1: in 0, in 1
        _ = conv.bias!.value.buffer.update(from: [0.5, -1])
        let ch0: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9], ch1: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        let x = Tensor(shape: [1, 3, 3, 2], values: (0..<9).flatMap { [ch0[$0], ch1[$0]] })
        let y = conv.forward(x, conv.makeContext())
        #expect(y.array == [37.5, 1, 47.5, -1, 67.5, -1, 77.5, 1])
        // Memory layout (Co, kH, kW, Ci): out 0, tap (0, 1) holds (in 0, in 1) = (2, 0).
        #expect(Array(conv.weight.value.array[2..<4]) == [2, 0])
    }

    @Test func initialisationBounds() {
        var g = SeededGenerator(seed: 72)
        let conv = Conv2D(8, 16, kernel: 3, generator: &g)
        let wBound = (6 / Float(72)).squareRoot(), bBound = 1 / Float(72).squareRoot()
        let w = conv.weight.value.array, b = conv.bias!.value.array
        #expect(w.allSatisfy { abs($0) <= wBound } && b.allSatisfy { abs($0) <= bBound })
        // Uniform on [−a, a] has standard deviation a/√3; 1152 draws put the estimate within a few %.
        let sd = (w.reduce(0) { $0 + Double($1 * $1) } / Double(w.count)).squareRoot()
        expectClose(sd, Double(wBound) / 3.0.squareRoot(), tol: 0.1 * Double(wBound), "weight sd")
    }

    /// Throughput of the benchmark e1 convolutions (Benchmarks.md): forward + input gradient, K = 16
    /// images of 64×64, median of `KD_CONV_REPEATS` runs for each workspace size in `KD_CONV_WORKSPACE_MB`
    /// (comma-separated). Run by hand, optimised:
    /// `KD_CONV_THROUGHPUT=1 swift test -c release --filter Conv2DTests/throughput`
    /// With `KD_CONV_BLAS_THREADS=1` the times are this thread's CPU time, which other processes on a
    /// busy machine disturb much less than wall-clock time.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KD_CONV_THROUGHPUT"] != nil))
    func throughput() {
        let env = ProcessInfo.processInfo.environment
        let sizes = (env["KD_CONV_WORKSPACE_MB"] ?? "4").split(separator: ",").compactMap { Double($0) }
        let repeats = Int(env["KD_CONV_REPEATS"] ?? "") ?? 5
        let layers: [(Int, Int, Int)] = [(3, 32, 64), (32, 32, 64), (32, 64, 32), (64, 64, 32),
                                         (64, 128, 16), (128, 128, 16)]
        var g = SeededGenerator(seed: 80)
        let singleThread = env["KD_CONV_BLAS_THREADS"] == "1"
        let previousThreads = BLAS.threads
        if singleThread { BLAS.threads = 1 }
        defer { BLAS.threads = previousThreads }
        func now() -> Double {
            if singleThread {
                var ts = timespec()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
                return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
            }
            return Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
        }
        print("OpenBLAS threads: \(BLAS.threads)\(singleThread ? " (thread CPU time)" : " (wall-clock time)")")
        for mb in sizes {
            var totalFlop = 0.0, totalTime = 0.0
            for (ci, co, hw) in layers {
                let conv = Conv2D(ci, co, kernel: 3, padding: 1, generator: &g)
                conv.workspaceBytes = Int(mb * 1_048_576)
                let x = randomTensor([16, hw, hw, ci], seed: 81)
                let dy = randomTensor([16, hw, hw, co], seed: 82)
                let c = conv.makeContext()
                c.parameterGradients = false
                _ = conv.forward(x, c); _ = conv.backward(dy, c)   // warm-up: sizes the workspaces
                var forward: [Double] = [], backward: [Double] = []
                for _ in 0..<repeats {
                    let t0 = now()
                    _ = conv.forward(x, c)
                    let t1 = now()
                    _ = conv.backward(dy, c)
                    let t2 = now()
                    forward.append(t1 - t0); backward.append(t2 - t1)
                }
                let tf = forward.sorted()[repeats / 2], tb = backward.sorted()[repeats / 2], t = tf + tb
                let flop = 2.0 * 2.0 * Double(16 * hw * hw) * Double(9 * ci) * Double(co)
                totalFlop += flop; totalTime += t
                print(String(format: "workspace %5.1f MiB  conv %3d→%3d @%2d: forward %6.2f ms, input gradient %6.2f ms, %6.1f GFLOP/s",
                             mb, ci, co, hw, tf * 1e3, tb * 1e3, flop / t * 1e-9))
            }
            print(String(format: "workspace %5.1f MiB  all e1 convs: %7.2f ms  %6.1f GFLOP/s",
                         mb, totalTime * 1e3, totalFlop / totalTime * 1e-9))
        }
    }
}

/// Distinct values spaced 0.1 apart in a seeded random order, so no max-pool window has a tie or a
/// near-tie that a finite-difference step of 1e-2 could flip.
private func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    let t = Tensor(shape: shape)
    var values = (0..<t.count).map { Float($0) * 0.1 - Float(t.count) * 0.05 }
    var g = SeededGenerator(seed: seed)
    values.shuffle(using: &g)
    _ = t.buffer.update(from: values)
    return t
}

@Suite struct PoolingTests {
    /// One 4×4 image, two channels (channel 1 = −channel 0), 2×2 windows with stride 2.
    @Test func maxPoolKnownAnswer() {
        let ch0: [Float] = [1, 5, 2, 0,
                            3, 4, 8, 7,
                            0, 0, 6, 6,
                            9, 1, 6, 2]
        let x = Tensor(shape: [1, 4, 4, 2], values: ch0.flatMap { [$0, -$0] })
        let pool = MaxPool2D(kernel: 2)
        let c = pool.makeContext()
        let y = pool.forward(x, c)
        #expect(y.shape == [1, 2, 2, 2])
        // channel 0 maxima 5, 8, 9, 6; channel 1 maxima −min = −1, 0, 0, −2.
        #expect(y.array == [5, -1, 8, 0, 9, 0, 6, -2])
        let dx = pool.backward(Tensor(shape: [1, 2, 2, 2], values: [1, 2, 3, 4, 5, 6, 7, 8]), c)
        var expected = [Float](repeating: 0, count: 32)
        // channel 0 winners: (0,1)=5, (1,2)=8, (3,0)=9, and the tie 6 6 / 6 2 goes to the first, (2,2).
        expected[(0 * 4 + 1) * 2] = 1; expected[(1 * 4 + 2) * 2] = 3
        expected[(3 * 4 + 0) * 2] = 5; expected[(2 * 4 + 2) * 2] = 7
        // channel 1 winners: (0,0)=−1, (0,3)=0, the tie 0 0 at (2,0) first, (3,3)=−2.
        expected[(0 * 4 + 0) * 2 + 1] = 2; expected[(0 * 4 + 3) * 2 + 1] = 4
        expected[(2 * 4 + 0) * 2 + 1] = 6; expected[(3 * 4 + 3) * 2 + 1] = 8
        #expect(dx.array == expected)
    }

    /// Ten channels exercise both the 8-lane SIMD path and the scalar tail. Values are small integers,
    /// so most windows hold ties; the reference takes the first maximum in scan order (ky, then kx).
    @Test(arguments: [(2, 2), (3, 2), (2, 1)])
    func maxPoolMatchesReferenceWithTies(_ ks: (Int, Int)) {
        let (k, s) = ks
        let (bn, h, w, ch) = (2, 5, 6, 10)
        var g = SeededGenerator(seed: 95)
        let x = Tensor(shape: [bn, h, w, ch])
        for i in 0..<x.count { x[i] = Float(Int(g.next() % 3)) }
        let pool = MaxPool2D(kernel: k, stride: s)
        let c = pool.makeContext()
        let y = pool.forward(x, c).array
        let ys = pool.outputShape(for: x.shape)
        let dy = randomTensor(ys, seed: 96)
        let dx = pool.backward(dy, c).array
        var yRef = [Float](repeating: 0, count: y.count), dxRef = [Float](repeating: 0, count: x.count)
        var o = 0
        for b in 0..<bn { for oy in 0..<ys[1] { for ox in 0..<ys[2] { for j in 0..<ch {
            var best = -Float.infinity, at = -1
            for ky in 0..<k { for kx in 0..<k {
                let i = ((b * h + oy * s + ky) * w + ox * s + kx) * ch + j
                if x[i] > best { best = x[i]; at = i }
            } }
            yRef[o] = best
            dxRef[at] += dy[o]
            o += 1
        } } } }
        #expect(y == yRef)
        expectClose(dx, dxRef, rtol: 0, atol: 1e-6, "max-pool k\(k) s\(s) gradient routing")
    }

    /// Blocks of whole images on several threads (3 images over 2: uneven) give exactly one thread's
    /// output, arg-max indices and gradient, for disjoint and overlapping windows.
    @Test(arguments: [(2, 2), (3, 2)])
    func maxPoolThreadedBlocksMatchOneThread(_ ks: (Int, Int)) {
        let x = distinctTensor([3, 7, 6, 5], seed: 95)
        var results: [([Float], [Int32], [Float])] = []
        for threads in [1, 2] {
            let pool = MaxPool2D(kernel: ks.0, stride: ks.1)
            pool.threads = threads
            let c = pool.makeContext()
            let y = pool.forward(x, c).array
            let dy = randomTensor(pool.outputShape(for: x.shape), seed: 96)
            results.append((y, c.indices, pool.backward(dy, c).array))
        }
        #expect(results[1].0 == results[0].0 && results[1].1 == results[0].1 && results[1].2 == results[0].2)
        #expect(results[0].2.contains { $0 != 0 })
    }

    @Test func maxPoolOverlappingWindowsAccumulate() {
        // 3×3 image, k2 s1: the centre 9 wins all four windows, so its gradient is the sum.
        let x = Tensor(shape: [1, 3, 3, 1], values: [1, 2, 3, 4, 9, 5, 6, 7, 8])
        let pool = MaxPool2D(kernel: 2, stride: 1)
        let c = pool.makeContext()
        #expect(pool.forward(x, c).array == [9, 9, 9, 9])
        let dx = pool.backward(Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4]), c)
        #expect(dx.array == [0, 0, 0, 0, 10, 0, 0, 0, 0])
    }

    @Test func avgAndGlobalPoolKnownAnswers() {
        let x = Tensor(shape: [1, 2, 4, 1], values: [1, 2, 3, 4,
                                                     5, 6, 7, 9])
        #expect(AvgPool2D(kernel: 2).forward(x, LayerContext()).array == [3.5, 5.75])
        #expect(AvgPool2D(kernel: 2, stride: 1).forward(x, LayerContext()).array == [3.5, 4.5, 5.75])
        // (B=2, H=1, W=2, C=2): per sample and channel, the mean of the two pixels.
        let z = Tensor(shape: [2, 1, 2, 2], values: [1, 10, 3, 20, -1, 0, -3, 4])
        let gap = GlobalAvgPool()
        let c = gap.makeContext()
        #expect(gap.forward(z, c).array == [2, 15, -2, 2])
        #expect(gap.backward(Tensor(shape: [2, 2], values: [2, 4, 6, 8]), c).array == [1, 2, 1, 2, 3, 4, 3, 4])
    }

    @Test func avgPoolBackwardSpreadsEvenly() {
        let pool = AvgPool2D(kernel: 2, stride: 1)
        let c = pool.makeContext()
        _ = pool.forward(Tensor(shape: [1, 3, 3, 1]), c)
        let dx = pool.backward(Tensor(shape: [1, 2, 2, 1], values: [4, 4, 4, 4]), c)
        #expect(dx.array == [1, 2, 1, 2, 4, 2, 1, 2, 1])
    }

    @Test func gradientsMatchFiniteDifferences() {
        let x = distinctTensor([2, 5, 6, 3], seed: 90)
        for layer: Layer in [MaxPool2D(kernel: 2), MaxPool2D(kernel: 3, stride: 2), AvgPool2D(kernel: 2),
                             AvgPool2D(kernel: 3, stride: 1), GlobalAvgPool()] {
            let results = GradientCheck().run(layer, input: x)
            for r in results {
                print("\(layer.kind) \(r)")
                #expect(r.maxRelDiff < 1e-2, "\(layer.kind) \(r)")
            }
        }
        #expect(MaxPool2D(kernel: 3, stride: 2).outputShape(for: [2, 5, 6, 3]) == [2, 2, 2, 3])
    }
}

@Suite struct BatchNormTests {
    /// Rows (over B·N = 4): channel 0 = 1, 2, 3, 4 (μ 2.5, σ² 1.25, unbiased 5/3),
    /// channel 1 = 2, 2, 2, 6 (μ 3, σ² 3, unbiased 4).
    @Test func trainingUsesBatchStatisticsAndUpdatesRunningOnes() {
        let bn = BatchNorm(2)
        let x = Tensor(shape: [2, 2, 2], values: [1, 2, 2, 2, 3, 2, 4, 6])
        let c = bn.makeContext()
        c.training = true
        let y = bn.forward(x, c)
        let s0 = (1.25 + 1e-5).squareRoot(), s1 = (3 + 1e-5).squareRoot()
        let expected: [Float] = [Float(-1.5 / s0), Float(-1 / s1), Float(-0.5 / s0), Float(-1 / s1),
                                 Float(0.5 / s0), Float(-1 / s1), Float(1.5 / s0), Float(3 / s1)]
        expectClose(y.array, expected, rtol: 1e-5, atol: 1e-6, "training output")
        // running ← 0.9 · running + 0.1 · batch (unbiased variance), from (0, 1)
        expectClose(bn.runningMean.array, [0.25, 0.3], rtol: 1e-6, atol: 1e-7, "running mean")
        expectClose(bn.runningVar.array, [0.9 + 0.1 * 5 / 3, 0.9 + 0.4], rtol: 1e-6, atol: 1e-7, "running var")
        _ = bn.forward(x, c)
        expectClose(bn.runningMean.array, [0.25 * 0.9 + 0.25, 0.3 * 0.9 + 0.3], rtol: 1e-6, atol: 1e-7, "second step")
        #expect(bn.buffers.map(\.0) == ["running_mean", "running_var"])
        #expect(bn.parameters.map(\.name) == ["weight", "bias"])
    }

    @Test func inferenceUsesRunningStatistics() {
        let bn = BatchNorm(3, epsilon: 1e-3)
        _ = bn.runningMean.buffer.update(from: [0.5, -1, 2])
        _ = bn.runningVar.buffer.update(from: [4, 0.25, 1])
        _ = bn.weight.value.buffer.update(from: [2, -1, 0.5])
        _ = bn.bias.value.buffer.update(from: [0, 1, -2])
        let x = randomTensor([2, 3, 2, 3], seed: 100)
        let before = bn.runningMean.array + bn.runningVar.array
        let y = bn.forward(x, bn.makeContext())
        var expected = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let j = i % 3
            expected[i] = bn.weight.value[j] * (x[i] - bn.runningMean[j]) / (bn.runningVar[j] + 1e-3).squareRoot()
                + bn.bias.value[j]
        }
        expectClose(y.array, expected, rtol: 1e-5, atol: 1e-6, "inference output")
        #expect(bn.runningMean.array + bn.runningVar.array == before, "inference must not touch running stats")
    }

    private func configured(_ channels: Int) -> BatchNorm {
        let bn = BatchNorm(channels)
        var g = SeededGenerator(seed: 110)
        g.fillUniform(bn.weight.value.data, count: channels, low: 0.5, high: 1.5)
        g.fillUniform(bn.bias.value.data, count: channels, low: -0.5, high: 0.5)
        g.fillUniform(bn.runningMean.data, count: channels, low: -0.3, high: 0.3)
        g.fillUniform(bn.runningVar.data, count: channels, low: 0.5, high: 2)
        return bn
    }

    @Test(arguments: [false, true])
    func gradientsMatchFiniteDifferences(_ training: Bool) {
        for shape in [[2, 5, 6, 4], [3, 7, 4], [6, 4]] {
            let bn = configured(4)
            let x = randomTensor(shape, seed: 120, scale: 1.5)
            let results = GradientCheck(training: training).run(bn, input: x)
            #expect(results.map(\.name) == ["input", "weight", "bias"])
            for r in results {
                print("batchnorm training=\(training) \(shape) \(r)")
                #expect(r.maxRelDiff < 1e-2, "batchnorm training=\(training) \(shape) \(r)")
            }
        }
    }

    /// In training mode the input gradient goes through μ and σ²: it differs from the per-channel
    /// affine map, and it is orthogonal to constant shifts of a channel (Σ dx = 0 per channel).
    @Test func trainingBackwardGoesThroughBatchStatistics() {
        let bn = configured(4)
        let x = randomTensor([3, 5, 4], seed: 130)
        let dy = randomTensor([3, 5, 4], seed: 131)
        let c = bn.makeContext()
        c.training = true
        _ = bn.forward(x, c)
        let dx = bn.backward(dy, c)
        for j in 0..<4 {
            var s = 0.0
            for r in 0..<15 { s += Double(dx[r * 4 + j]) }
            #expect(abs(s) < 1e-4, "channel \(j): Σ dx = \(s)")
        }
    }
}

@Suite struct DropoutTests {
    @Test func inferenceIsIdentity() {
        let d = Dropout(rate: 0.5)
        let x = randomTensor([4, 10], seed: 140)
        let c = d.makeContext()
        #expect(d.forward(x, c).array == x.array)
        let dy = randomTensor([4, 10], seed: 141)
        #expect(d.backward(dy, c).array == dy.array)
    }

    @Test func trainingDropsAndScales() {
        let rate: Float = 0.3
        let d = Dropout(rate: rate)
        let x = Tensor(shape: [100, 100], repeating: 2)
        let c = d.makeContext()
        c.training = true
        c.generator = SeededGenerator(seed: 150)
        let y = d.forward(x, c).copy()   // the layer's buffer is reused by the next forward
        let kept = y.array.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 2 / (1 - rate)) < 1e-6 })
        // Binomial(10000, 0.7): mean 7000, sd ≈ 46; 5 sd either side.
        #expect(abs(kept.count - 7000) < 230, "kept \(kept.count) of 10000")
        let dy = Tensor(shape: [100, 100], repeating: 1)
        let dx = d.backward(dy, c)
        for i in 0..<x.count { #expect(dx[i] == y[i] / 2) }
        // A second forward draws a fresh mask from the advanced generator.
        let fresh = d.forward(x, c).array != y.array
        #expect(fresh, "a second forward must draw a new mask")
        // The same seed reproduces the mask.
        c.generator = SeededGenerator(seed: 150)
        let same = d.forward(x, c).array == y.array
        #expect(same, "the same seed must reproduce the mask")
    }

    @Test func gradientsMatchFiniteDifferencesWithTheMaskFixed() {
        let d = Dropout(rate: 0.4)
        let results = GradientCheck(training: true).run(d, input: randomTensor([3, 4, 5], seed: 160))
        for r in results { #expect(r.maxRelDiff < 1e-2, "dropout \(r)") }
        let c = LayerContext()
        c.training = true
        let x = randomTensor([2, 3], seed: 161)
        #expect(Dropout(rate: 0).forward(x, c).array == x.array, "rate 0 keeps everything")
    }
}
