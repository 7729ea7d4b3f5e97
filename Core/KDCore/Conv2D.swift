// Conv2D: 2-D convolution (cross-correlation, as PyTorch) on NHWC images, lowered to GEMM.
// Shape key: B batch, H/W input height/width, Ho/Wo output height/width, Ci/Co input/output channels,
// k kernel size, K = k·k·Ci the length of one im2col row, R = B·Ho·Wo the output pixels of the batch.
// x: (B, H, W, Ci)   W: (Co, k, k, Ci) in memory, (Co, Ci, k, k) in checkpoints   b: (Co)   y: (B, Ho, Wo, Co)

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
        let rows = yShape[0] * yShape[1] * yShape[2]
        let (co, kk) = (outputChannels, patchSize)
        c.save(0, x)
        if let b = bias {
            for r in 0..<rows { (y.data + r * co).update(from: b.value.data, count: co) }
        }
        let beta: Float = bias == nil ? 0 : 1
        if isPointwise {
            // y (R, Co) = x (R, Ci) · Wᵀ (Ci, Co)
            BLAS.gemm(transB: true, m: rows, n: co, k: kk, a: x.data, lda: kk,
                      b: weight.value.data, ldb: kk, beta: beta, c: y.data, ldc: co)
            return y
        }
        let plan = chunkPlan(rows: rows)
        let col = c.buffer(2, [plan.rowsPerChunk, kk])
        var r0 = 0
        while r0 < rows {
            let n = min(plan.rowsPerChunk, rows - r0)
            im2col(x, outputShape: yShape, rows: r0..<(r0 + n), into: col.data)
            // y[r0 ..< r0+n] (n, Co) = col (n, K) · Wᵀ (K, Co)
            BLAS.gemm(transB: true, m: n, n: co, k: kk, a: col.data, lda: kk,
                      b: weight.value.data, ldb: kk, beta: beta, c: y.data + r0 * co, ldc: co)
            r0 += n
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let yShape = outputShape(for: x.shape)
        precondition(dy.shape == yShape, "conv2d backward: dy \(dy.shape), expected \(yShape)")
        let rows = yShape[0] * yShape[1] * yShape[2]
        let (co, kk) = (outputChannels, patchSize)
        let dx = c.buffer(1, x.shape)
        let wantWeight = c.parameterGradients && !weight.frozen
        if let b = bias, c.parameterGradients && !b.frozen {
            let g = b.grad.data
            for r in 0..<rows {
                let row = dy.data + r * co
                for j in 0..<co { g[j] += row[j] }
            }
        }
        if isPointwise {
            if wantWeight {
                // dW (Co, Ci) += dyᵀ (Co, R) · x (R, Ci)
                BLAS.gemm(transA: true, m: co, n: kk, k: rows, a: dy.data, lda: co, b: x.data, ldb: kk,
                          beta: 1, c: weight.grad.data, ldc: kk)
            }
            if c.inputGradient {
                // dx (R, Ci) = dy (R, Co) · W (Co, Ci)
                BLAS.gemm(m: rows, n: kk, k: co, a: dy.data, lda: co, b: weight.value.data, ldb: kk,
                          c: dx.data, ldc: kk)
            }
            return dx
        }
        guard wantWeight || c.inputGradient else { return dx }
        if c.inputGradient { dx.zero() }
        let plan = chunkPlan(rows: rows)
        let col = c.buffer(2, [plan.rowsPerChunk, kk])
        var r0 = 0
        while r0 < rows {
            let n = min(plan.rowsPerChunk, rows - r0)
            let dyChunk = dy.data + r0 * co
            if wantWeight {
                im2col(x, outputShape: yShape, rows: r0..<(r0 + n), into: col.data)
                // dW (Co, K) += dyᵀ (Co, n) · col (n, K)
                BLAS.gemm(transA: true, m: co, n: kk, k: n, a: dyChunk, lda: co, b: col.data, ldb: kk,
                          beta: 1, c: weight.grad.data, ldc: kk)
            }
            if c.inputGradient {
                // dcol (n, K) = dy (n, Co) · W (Co, K), then scatter-added into dx
                BLAS.gemm(m: n, n: kk, k: co, a: dyChunk, lda: co, b: weight.value.data, ldb: kk,
                          c: col.data, ldc: kk)
                col2im(col.data, outputShape: yShape, rows: r0..<(r0 + n), into: dx)
            }
            r0 += n
        }
        return dx
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
