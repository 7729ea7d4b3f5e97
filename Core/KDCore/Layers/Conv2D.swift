// Conv2D: 2-D convolution (cross-correlation, as PyTorch) on NHWC images, lowered to GEMM.
// Shape key: B batch, H/W input height/width, Ho/Wo output height/width, Ci/Co input/output channels,
// k kernel size, K = k·k·Ci the length of one im2col row, R = B·Ho·Wo the output pixels of the batch.
// x: (B, H, W, Ci)   W: (Co, k, k, Ci) in memory, (Co, Ci, k, k) in checkpoints   b: (Co)   y: (B, Ho, Wo, Co)

import Foundation

/// A 2-D convolution over NHWC images, computed as one GEMM per chunk of output pixels.
///
/// ```
/// y[b, oy, ox, o] = bias[o] + Σ_{ky, kx, i} W[o, ky, kx, i] · x[b, oy·s − p + ky, ox·s − p + kx, i]
/// Ho = ⌊(H + 2p − k) / s⌋ + 1,   Wo = ⌊(W + 2p − k) / s⌋ + 1      (x is zero outside the image)
/// ```
///
/// Lowering: the im2col matrix `col (R, K)` has one row per output pixel of the whole batch, its
/// entries ordered (ky, kx, i), so in NHWC every kernel row (kx = 0..<k, all i) is one contiguous copy of
/// `k·Ci` floats from the input (zeros for padding). Then
///
/// ```
/// forward   y (R, Co)   = col (R, K) · Wᵀ (K, Co)
/// backward  dW (Co, K) += dyᵀ (Co, R) · col (R, K)       db += Σ_rows dy
///           dcol (R, K) = dy (R, Co) · W (Co, K)          dx += col2im(dcol)   (scatter-add)
/// ```
///
/// `col` is never materialised for the whole batch: rows are processed in chunks whose col block is at
/// most ``workspaceBytes`` (it stays in the last-level cache between im2col and the GEMM), in one
/// workspace kept in the context and reused. Backward rebuilds the col chunk only when the weight
/// gradient is wanted, so the input-gradient-only pass of the entropy engine costs one GEMM per chunk
/// and a scatter. 1×1 stride-1 unpadded convolutions skip im2col: the input already is `col`.
/// That is the `im2col` ``backend``; by default all three products go through oneDNN instead
/// (Conv2D+DNNL.swift), and kd-tool's ``Winograd`` F(2×2, 3×3) serves 3×3 s1 p1 layers where it does not.
///
/// When OpenBLAS may use several threads (training) and the call is large, the batch is split into
/// blocks of whole images, one per thread, each running its own chunks with OpenBLAS single-threaded;
/// weight gradients are summed per thread and added at the end. See ``threads``.
///
/// Weights are He-uniform with fanIn = k·k·Ci (for ReLU nets); the bias is U(−1/√fanIn, 1/√fanIn)
/// as PyTorch's default, like ``Linear``.
public final class Conv2D: Layer {
    public let kind = "conv2d"
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    /// (Co, k, k, Ci) in memory; `filePermutation = [0, 3, 1, 2]` so checkpoints hold (Co, Ci, k, k).
    public let weight: Parameter
    public let bias: Parameter?
    /// The largest im2col block built at once, in bytes. 4 MiB keeps a chunk in the last-level cache
    /// between im2col and the GEMM while still giving the GEMM thousands of rows per call. Measured on
    /// the six e1 convolutions (K = 16 images of 64×64, forward + input gradient, one OpenBLAS thread,
    /// whose square sgemm peak is about 103 GFLOP/s here): 1, 2 and 4 MiB all about 82 GFLOP/s, 8 MiB 77,
    /// 16 MiB 63 (the chunk falls out of the cache). Above 32 MiB glibc would also unmap the workspace
    /// whenever it is resized.
    public var workspaceBytes = 4 << 20

    /// How the products are computed (``Backend``; oneDNN by default). Plans are kept in `dnnlPlans`.
    public var backend: Backend = .dnnl
    let dnnlPlans = DNNLPlans.forConvolutions()
    /// With a oneDNN backend: products with bfloat16 inputs and float32 sums (direct kernels; off by default).
    public var dnnlBFloat16 = false

    /// Whether 3×3 s1 p1 layers whose channels suit it (``Winograd/supports``) may use a Winograd algorithm:
    /// `backend` is not `im2col`. `false` chooses `im2col`; `true` chooses `winograd` only instead of `im2col`.
    public var winograd: Bool {
        get { backend != .im2col }
        set { if !newValue { backend = .im2col } else if backend == .im2col { backend = .winograd } }
    }

    /// The forward pass runs through kd-tool's Winograd (see ``winograd``; the fallback of the oneDNN backends).
    var winogradForward: Bool {
        winograd && kernel == 3 && stride == 1 && padding == 1 && Winograd.supports(inputs: inputChannels, outputs: outputChannels)
    }

    public init(_ inputChannels: Int, _ outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0 && kernel > 0 && stride > 0 && padding >= 0,
                     "conv2d: invalid configuration \(inputChannels)→\(outputChannels) k\(kernel) s\(stride) p\(padding)")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        weight = Parameter("weight", shape: [outputChannels, kernel, kernel, inputChannels])
        weight.filePermutation = [0, 3, 1, 2]
        self.bias = bias ? Parameter("bias", shape: [outputChannels]) : nil
        let fanIn = kernel * kernel * inputChannels
        Initializer.heUniform(weight.value, fanIn: fanIn, generator: &generator)
        if let b = self.bias { Initializer.uniform(b.value, bound: 1 / Float(fanIn).squareRoot(), generator: &generator) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// Length of one im2col row, k·k·Ci.
    public var patchSize: Int { kernel * kernel * inputChannels }

    /// 1×1, stride 1, no padding: the input is already the im2col matrix.
    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 4 && inputShape[3] == inputChannels,
                     "conv2d expects (B, H, W, \(inputChannels)), got \(inputShape)")
        let (h, w) = (inputShape[1] + 2 * padding, inputShape[2] + 2 * padding)
        precondition(h >= kernel && w >= kernel,
                     "conv2d: kernel \(kernel) larger than the padded input \(inputShape[1])×\(inputShape[2])")
        return [inputShape[0], (h - kernel) / stride + 1, (w - kernel) / stride + 1, outputChannels]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let yShape = outputShape(for: x.shape)
        let y = c.buffer(0, yShape)
        let (batch, rows) = (yShape[0], yShape[0] * yShape[1] * yShape[2])
        c.save(0, x)
        guard batch > 0 else { return y }
        if backend.usesDNNL, dnnlForward(x, y, c) { c.save(1, nil); return y }
        let workers = workerCount(batch: batch, rows: rows)
        let colRows = isPointwise ? 0 : chunkRows(maximumBlock: rows, batch: batch, workers: workers)
        if winogradForward {
            let (h, wd, ci, co) = (x.shape[1], x.shape[2], inputChannels, outputChannels)
            let filters = c.buffer(98, [16, co, ci])
            let u = filters.data
            Winograd.filters(weight.value.data, outputs: co, inputs: ci, into: u)
            c.save(1, filters)   // backward's input gradient uses the same transformed filters
            let count = Winograd.workspaceCount(inputs: ci, outputs: co)
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: workers) { ws in
                for w in 0..<workers { ws[w] = c.buffer(100 + w, [count]).data }
                Parallel.imageBlocks(batch: batch, workers: workers) { w, images in
                    Winograd.convolve(x.data, images: images, height: h, width: wd, inputs: ci, outputs: co,
                                      filters: u, bias: bias?.value.data, into: y.data, workspace: ws[w])
                }
            }
            return y
        }
        c.save(1, nil)
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: workers) { cols in
            for w in 0..<workers { cols[w] = c.buffer(2 + w, [colRows, patchSize]).data }
            Parallel.imageBlocks(batch: batch, workers: workers) { w, images in
                forwardRows(x, y, yShape, rows: images.lowerBound * rows / batch ..< images.upperBound * rows / batch,
                            col: cols[w])
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let yShape = outputShape(for: x.shape)
        precondition(dy.shape == yShape, "conv2d backward: dy \(dy.shape), expected \(yShape)")
        let (batch, rows) = (yShape[0], yShape[0] * yShape[1] * yShape[2])
        let (co, kk) = (outputChannels, patchSize)
        let dx = c.buffer(1, x.shape)
        var wantWeight = c.parameterGradients && !weight.frozen
        var wantBias = c.parameterGradients && bias.map { !$0.frozen } ?? false
        var wantInput = c.inputGradient
        guard batch > 0, wantWeight || wantBias || wantInput else { return dx }
        if backend.usesDNNL {
            let done = dnnlBackward(x, dy, dx, c, input: wantInput, weights: wantWeight, biasToo: wantBias)
            if done.input { wantInput = false }
            if done.weights { wantWeight = false; wantBias = false }
            if !(wantWeight || wantBias || wantInput) { return dx }
        }
        let workers = workerCount(batch: batch, rows: rows)
        let colRows = isPointwise ? 0 : chunkRows(maximumBlock: rows, batch: batch, workers: workers)
        // The input gradient through Winograd: a 3×3 convolution of dy with the flipped kernel (Co → Ci).
        let winogradInput = wantInput && winogradForward
        if winogradInput {
            let (h, wd, ci) = (x.shape[1], x.shape[2], inputChannels)
            // The forward pass's transformed filters (the weights of that forward), or made now.
            let u: UnsafeMutablePointer<Float>
            if c.saved.count > 1, let saved = c.saved[1], saved.count == 16 * co * ci {
                u = saved.data
            } else {
                u = c.buffer(98, [16, co, ci]).data
                Winograd.filters(weight.value.data, outputs: co, inputs: ci, into: u)
            }
            let count = Winograd.workspaceCount(inputs: co, outputs: ci)
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: workers) { ws in
                for w in 0..<workers { ws[w] = c.buffer(100 + w, [count]).data }
                Parallel.imageBlocks(batch: batch, workers: workers) { w, images in
                    Winograd.convolve(dy.data, images: images, height: h, width: wd, inputs: co, outputs: ci,
                                      filters: u, flipped: true, bias: nil, into: dx.data, workspace: ws[w])
                }
            }
            if !(wantWeight || wantBias) { return dx }
        }
        // Worker 0 adds into the gradients themselves; the others into zeroed partial sums added at the end.
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 3 * workers) { p in
            for w in 0..<workers {
                p[3 * w] = c.buffer(2 + w, [colRows, kk]).data
                p[3 * w + 1] = w == 0 ? weight.grad.data : c.buffer(16 + 2 * w, wantWeight ? weight.grad.shape : [0]).data
                p[3 * w + 2] = w == 0 ? (bias ?? weight).grad.data : c.buffer(17 + 2 * w, wantBias ? [co] : [0]).data
                if w > 0 {
                    if wantWeight { p[3 * w + 1].update(repeating: 0, count: co * kk) }
                    if wantBias { p[3 * w + 2].update(repeating: 0, count: co) }
                }
            }
            Parallel.imageBlocks(batch: batch, workers: workers) { w, images in
                backwardRows(x, dy, dx, yShape, rows: images.lowerBound * rows / batch ..< images.upperBound * rows / batch,
                             col: p[3 * w], weightGradient: wantWeight ? p[3 * w + 1] : nil,
                             biasGradient: wantBias ? p[3 * w + 2] : nil, inputGradient: wantInput && !winogradInput)
            }
            for w in 1..<max(workers, 1) {
                if wantWeight { addInto(weight.grad.data, p[3 * w + 1], count: co * kk) }
                if wantBias, let b = bias { addInto(b.grad.data, p[3 * w + 2], count: co) }
            }
        }
        return dx
    }

    // MARK: - Row blocks

    /// Own threads for one call. `nil` (the default) follows OpenBLAS: as many as it may use when the call
    /// has at least ``parallelMinimumMACs`` multiply–adds, else one; a number forces that many (tests).
    /// Never more than the batch: each thread takes whole images, so its col2im scatter cannot touch
    /// another thread's part of dx.
    public var threads: Int? = nil

    /// Below this many multiply–adds per pass (one GEMM's worth, about 0.2 ms on one core) a call stays
    /// on one thread: splitting it would cost more in hand-over than it saves.
    public static let parallelMinimumMACs = 1 << 24

    func workerCount(batch: Int, rows: Int) -> Int {
        let wanted = threads ?? (rows * patchSize * outputChannels >= Self.parallelMinimumMACs ? BLAS.threads : 1)
        return max(1, min(wanted, batch))
    }

    /// Rows of the col workspace each worker needs: a chunk of its largest block.
    private func chunkRows(maximumBlock rows: Int, batch: Int, workers: Int) -> Int {
        let largest = (batch + workers - 1) / workers * (rows / batch)
        return chunkPlan(rows: largest).rowsPerChunk
    }

    /// `y[rows]`: bias, then col · Wᵀ, chunk by chunk (the bias is written just before the chunk's GEMM
    /// reads it back, so it is still in cache).
    private func forwardRows(_ x: Tensor, _ y: Tensor, _ yShape: [Int], rows: Range<Int>, col: UnsafeMutablePointer<Float>) {
        let (co, kk) = (outputChannels, patchSize)
        let perChunk = isPointwise ? rows.count : chunkPlan(rows: rows.count).rowsPerChunk
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let n = min(perChunk, rows.upperBound - r0)
            let yChunk = y.data + r0 * co
            if let b = bias {
                for r in 0..<n { (yChunk + r * co).update(from: b.value.data, count: co) }
            }
            let a: UnsafePointer<Float>
            if isPointwise {
                a = UnsafePointer(x.data + r0 * kk)
            } else {
                im2col(x, outputShape: yShape, rows: r0..<(r0 + n), into: col)
                a = UnsafePointer(col)
            }
            // y[r0 ..< r0+n] (n, Co) = col (n, K) · Wᵀ (K, Co)   (+ the bias already there)
            BLAS.gemm(transB: true, m: n, n: co, k: kk, a: a, lda: kk, b: weight.value.data, ldb: kk,
                      beta: bias == nil ? 0 : 1, c: yChunk, ldc: co)
            r0 += n
        }
    }

    /// The gradients from `dy[rows]`: added into `weightGradient` (Co, K) and `biasGradient` (Co) when
    /// given, and written into `dx` for the images of `rows` (which must be whole images).
    private func backwardRows(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ yShape: [Int], rows: Range<Int>,
                              col: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>?,
                              biasGradient: UnsafeMutablePointer<Float>?, inputGradient: Bool) {
        let (co, kk) = (outputChannels, patchSize)
        if inputGradient && !isPointwise {
            let pixels = yShape[1] * yShape[2], image = x.count / x.shape[0]
            (dx.data + rows.lowerBound / pixels * image).update(repeating: 0, count: rows.count / pixels * image)
        }
        let perChunk = isPointwise ? rows.count : chunkPlan(rows: rows.count).rowsPerChunk
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let n = min(perChunk, rows.upperBound - r0)
            let dyChunk = dy.data + r0 * co
            if let g = biasGradient {
                for r in 0..<n {
                    let row = dyChunk + r * co
                    for j in 0..<co { g[j] += row[j] }
                }
            }
            if let dW = weightGradient {
                let a: UnsafePointer<Float>
                if isPointwise {
                    a = UnsafePointer(x.data + r0 * kk)
                } else {
                    im2col(x, outputShape: yShape, rows: r0..<(r0 + n), into: col)
                    a = UnsafePointer(col)
                }
                // dW (Co, K) += dyᵀ (Co, n) · col (n, K)
                BLAS.gemm(transA: true, m: co, n: kk, k: n, a: dyChunk, lda: co, b: a, ldb: kk,
                          beta: 1, c: dW, ldc: kk)
            }
            if inputGradient {
                if isPointwise {
                    // dx (n, Ci) = dy (n, Co) · W (Co, Ci)
                    BLAS.gemm(m: n, n: kk, k: co, a: dyChunk, lda: co, b: weight.value.data, ldb: kk,
                              c: dx.data + r0 * kk, ldc: kk)
                } else {
                    // dcol (n, K) = dy (n, Co) · W (Co, K), then scatter-added into dx
                    BLAS.gemm(m: n, n: kk, k: co, a: dyChunk, lda: co, b: weight.value.data, ldb: kk,
                              c: col, ldc: kk)
                    col2im(col, outputShape: yShape, rows: r0..<(r0 + n), into: dx)
                }
            }
            r0 += n
        }
    }

    /// `sum += part`, elementwise.
    private func addInto(_ sum: UnsafeMutablePointer<Float>, _ part: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { sum[i] += part[i] }
    }

    // MARK: - Lowering

    /// Rows per chunk: at most `workspaceBytes` of col, and the rows split evenly so the last chunk is
    /// not a sliver.
    private func chunkPlan(rows: Int) -> (rowsPerChunk: Int, chunks: Int) {
        let limit = max(1, workspaceBytes / (MemoryLayout<Float>.stride * patchSize))
        let chunks = max(1, (rows + limit - 1) / limit)
        return ((rows + chunks - 1) / chunks, chunks)
    }

    /// Writes the im2col rows `rows` (output pixels in (b, oy, ox) order) into `col` (rows.count, K).
    private func im2col(_ x: Tensor, outputShape ys: [Int], rows: Range<Int>, into col: UnsafeMutablePointer<Float>) {
        let (h, w, ci) = (x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p, kk) = (kernel, stride, padding, patchSize)
        let tapRow = k * ci
        let xp = x.data
        forEachPixel(outputShape: ys, rows: rows) { i, b, oy, ox in
            let dst = col + i * kk
            let ix0 = ox * s - p
            let rowInside = ix0 >= 0 && ix0 + k <= w
            for ky in 0..<k {
                let d = dst + ky * tapRow
                let iy = oy * s - p + ky
                if iy < 0 || iy >= h { d.update(repeating: 0, count: tapRow); continue }
                let src = xp + ((b * h + iy) * w) * ci
                if rowInside {
                    d.update(from: src + ix0 * ci, count: tapRow)
                } else {
                    for kx in 0..<k {
                        let ix = ix0 + kx
                        if ix < 0 || ix >= w { (d + kx * ci).update(repeating: 0, count: ci) }
                        else { (d + kx * ci).update(from: src + ix * ci, count: ci) }
                    }
                }
            }
        }
    }

    /// Scatter-adds the col-shaped gradient rows `rows` into `dx` (the adjoint of ``im2col``).
    private func col2im(_ col: UnsafePointer<Float>, outputShape ys: [Int], rows: Range<Int>, into dx: Tensor) {
        let (h, w, ci) = (dx.shape[1], dx.shape[2], dx.shape[3])
        let (k, s, p, kk) = (kernel, stride, padding, patchSize)
        let tapRow = k * ci
        let dxp = dx.data
        forEachPixel(outputShape: ys, rows: rows) { i, b, oy, ox in
            let src = col + i * kk
            let ix0 = ox * s - p
            for ky in 0..<k {
                let iy = oy * s - p + ky
                if iy < 0 || iy >= h { continue }
                let d = dxp + ((b * h + iy) * w) * ci
                let g = src + ky * tapRow
                if ix0 >= 0 && ix0 + k <= w {
                    let dd = d + ix0 * ci
                    for j in 0..<tapRow { dd[j] += g[j] }
                } else {
                    for kx in 0..<k {
                        let ix = ix0 + kx
                        if ix < 0 || ix >= w { continue }
                        let dd = d + ix * ci, gg = g + kx * ci
                        for j in 0..<ci { dd[j] += gg[j] }
                    }
                }
            }
        }
    }

    /// Calls `body(i, b, oy, ox)` for each output pixel of `rows`, i counting from 0, without a division
    /// per pixel.
    @inline(__always)
    private func forEachPixel(outputShape ys: [Int], rows: Range<Int>, _ body: (Int, Int, Int, Int) -> Void) {
        let (ho, wo) = (ys[1], ys[2])
        guard !rows.isEmpty else { return }
        var b = rows.lowerBound / (ho * wo)
        var oy = (rows.lowerBound / wo) % ho
        var ox = rows.lowerBound % wo
        for i in 0..<rows.count {
            body(i, b, oy, ox)
            ox += 1
            if ox == wo { ox = 0; oy += 1; if oy == ho { oy = 0; b += 1 } }
        }
    }
}
