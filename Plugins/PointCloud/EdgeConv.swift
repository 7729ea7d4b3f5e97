// EdgeConv (DGCNN): a point's output is the max over its k nearest neighbours (in the layer's input
// feature space, recomputed every forward) of a shared layer applied to the edge feature [x_i, x_j − x_i].
// Shape key: B batch, N points, C input channels, D output channels, k neighbours.
// x: (B, N, C)   W: (D, 2C) (PyTorch's Conv2d(2C, D, 1) weight without its 1×1)   b: (D)   y: (B, N, D)
import KDCore

/// EdgeConv with one linear layer and ReLU as the edge function:
///
/// ```
/// y_i = max_{j ∈ kNN(i)} ReLU(W₁ x_i + W₂ (x_j − x_i) + b)
///     = ReLU(P_i + b + max_{j ∈ kNN(i)} Q_j),   P = X (W₁ − W₂)ᵀ,  Q = X W₂ᵀ
/// ```
///
/// (ReLU is monotone, so it commutes with the max; the max is per output channel.) So one forward is two
/// GEMMs over the N points plus a max over k rows of Q, not a GEMM over N·k edges. kNN(i) includes i itself
/// (distance 0), as in DGCNN. Distances are computed in blocks of ``blockRows`` points against all N
/// (‖x_i‖² + ‖x_j‖² − 2 x_i·x_j by GEMM), so memory is blockRows × N, never N².
///
/// Backward treats the neighbour sets and the arg-max as fixed (the subgradient; the graph is piecewise
/// constant in x): with G = dy ⊙ [y > 0] and dQ_j = Σ of G_i[d] over the (i, d) whose maximum was j,
///
/// ```
/// db = Σ_i G_i,  dW₁ += Gᵀ X,  dW₂ += dQᵀ X − Gᵀ X,  dX = G (W₁ − W₂) + dQ W₂
/// ```
///
/// With padded batches (`validLengths`), neighbours are drawn from the real points only.
///
/// ### References
/// Wang, Sun, Liu, Sarma, Bronstein, Solomon, "Dynamic Graph CNN for Learning on Point Clouds", ACM TOG 2019.
public final class EdgeConv: Layer {
    public let kind = "edgeconv"
    public let inputChannels: Int
    public let outputChannels: Int
    public let neighbours: Int
    public let weight: Parameter
    public let bias: Parameter
    /// Points whose distances are computed at once.
    public static let blockRows = 128

    public init(_ inputChannels: Int, _ outputChannels: Int, neighbours k: Int, generator: inout SeededGenerator) {
        precondition(k >= 1, "EdgeConv needs k ≥ 1")
        self.inputChannels = inputChannels; self.outputChannels = outputChannels; self.neighbours = k
        weight = Parameter("weight", shape: [outputChannels, 2 * inputChannels])
        bias = Parameter("bias", shape: [outputChannels])
        Initializer.heUniform(weight.value, fanIn: 2 * inputChannels, generator: &generator)
        Initializer.uniform(bias.value, bound: 1 / Float(2 * inputChannels).squareRoot(), generator: &generator)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for s: [Int]) -> [Int] {
        precondition(s.count == 3 && s[2] == inputChannels, "EdgeConv expects (B, N, \(inputChannels)), got \(s)")
        return [s[0], s[1], outputChannels]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let (b, n, ch, d) = (x.shape[0], x.shape[1], inputChannels, outputChannels)
        let y = c.buffer(0, outputShape(for: x.shape))
        let p = c.buffer(1, [b * n, d]), q = c.buffer(2, [b * n, d])
        let wDiff = c.buffer(3, [d, ch])
        let w = weight.value.data
        for o in 0..<d { for i in 0..<ch { wDiff.data[o * ch + i] = w[o * 2 * ch + i] - w[o * 2 * ch + ch + i] } }
        // P (BN, D) = X (BN, C) · (W₁ − W₂)ᵀ;  Q (BN, D) = X · W₂ᵀ
        BLAS.gemm(transB: true, m: b * n, n: d, k: ch, a: x.data, lda: ch, b: wDiff.data, ldb: ch, c: p.data, ldc: d)
        BLAS.gemm(transB: true, m: b * n, n: d, k: ch, a: x.data, lda: ch, b: w + ch, ldb: 2 * ch, c: q.data, ldc: d)
        if c.indices.count != b * n * d { c.indices = [Int32](repeating: 0, count: b * n * d) }
        let distances = c.buffer(4, [min(EdgeConv.blockRows, n), n])
        let norms = c.buffer(5, [n])
        var near = [Int32](repeating: 0, count: neighbours)
        var nearDistance = [Float](repeating: 0, count: neighbours)
        c.indices.withUnsafeMutableBufferPointer { arg in
            for s in 0..<b {
                let real = min(c.validLengths?[s] ?? n, n)
                let k = min(neighbours, max(real, 1))
                let xs = x.data + s * n * ch
                for j in 0..<n {
                    var sum: Float = 0
                    for i in 0..<ch { sum += xs[j * ch + i] * xs[j * ch + i] }
                    norms.data[j] = sum
                }
                var start = 0
                while start < n {
                    let rows = min(EdgeConv.blockRows, n - start)
                    // distances (rows, real) = −2 X_block · X_realᵀ, then + ‖x_i‖² + ‖x_j‖²
                    BLAS.gemm(transB: true, m: rows, n: real, k: ch, alpha: -2, a: xs + start * ch, lda: ch,
                              b: xs, ldb: ch, c: distances.data, ldc: n)
                    for r in 0..<rows {
                        let i = start + r
                        let row = distances.data + r * n
                        // The k smallest, kept sorted by insertion (k is small); ties to the lower index.
                        var filled = 0
                        for j in 0..<real {
                            let dist = j == i ? -Float.infinity : row[j] + norms.data[i] + norms.data[j]
                            if filled == k && dist >= nearDistance[k - 1] { continue }
                            var at = filled == k ? k - 1 : filled
                            if filled < k { filled += 1 }
                            while at > 0 && nearDistance[at - 1] > dist {
                                nearDistance[at] = nearDistance[at - 1]; near[at] = near[at - 1]; at -= 1
                            }
                            nearDistance[at] = dist; near[at] = Int32(j)
                        }
                        // y_i[o] = ReLU(P_i[o] + b[o] + max_j Q_j[o]); the winner j is kept for backward.
                        let pi = p.data + (s * n + i) * d, yi = y.data + (s * n + i) * d
                        let winners = arg.baseAddress! + (s * n + i) * d
                        let q0 = q.data + (s * n + Int(near[0])) * d
                        for o in 0..<d { yi[o] = q0[o]; winners[o] = near[0] }
                        for t in 1..<max(filled, 1) {
                            let qj = q.data + (s * n + Int(near[t])) * d
                            for o in 0..<d where qj[o] > yi[o] { yi[o] = qj[o]; winners[o] = near[t] }
                        }
                        for o in 0..<d { yi[o] = max(0, yi[o] + pi[o] + bias.value.data[o]) }
                    }
                    start += rows
                }
            }
        }
        c.save(0, x)
        c.save(1, y)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0), y = c.savedTensor(1)
        let (b, n, ch, d) = (x.shape[0], x.shape[1], inputChannels, outputChannels)
        let rows = b * n
        let g = c.buffer(6, [rows, d]), dq = c.buffer(7, [rows, d])
        for i in 0..<(rows * d) { g.data[i] = y.data[i] > 0 ? dy.data[i] : 0 }
        dq.zero()
        c.indices.withUnsafeBufferPointer { arg in
            for s in 0..<b {
                for i in 0..<n {
                    let gi = g.data + (s * n + i) * d, winners = arg.baseAddress! + (s * n + i) * d
                    for o in 0..<d where gi[o] != 0 { dq.data[(s * n + Int(winners[o])) * d + o] += gi[o] }
                }
            }
        }
        let wDiff = c.buffer(3, [d, ch])
        if c.parameterGradients && !weight.frozen {
            let t = c.buffer(8, [d, ch])
            // T (D, C) = Gᵀ X;  dW₁ += T;  dW₂ += dQᵀ X − T
            BLAS.gemm(transA: true, m: d, n: ch, k: rows, a: g.data, lda: d, b: x.data, ldb: ch, c: t.data, ldc: ch)
            BLAS.gemm(transA: true, m: d, n: ch, k: rows, a: dq.data, lda: d, b: x.data, ldb: ch,
                      beta: 1, c: weight.grad.data + ch, ldc: 2 * ch)
            for o in 0..<d {
                for i in 0..<ch {
                    weight.grad.data[o * 2 * ch + i] += t.data[o * ch + i]
                    weight.grad.data[o * 2 * ch + ch + i] -= t.data[o * ch + i]
                }
            }
        }
        if c.parameterGradients && !bias.frozen {
            for r in 0..<rows { for o in 0..<d { bias.grad.data[o] += g.data[r * d + o] } }
        }
        let dx = c.buffer(9, x.shape)
        guard c.inputGradient else { return dx }
        // dX (BN, C) = G · (W₁ − W₂) + dQ · W₂
        BLAS.gemm(m: rows, n: ch, k: d, a: g.data, lda: d, b: wDiff.data, ldb: ch, c: dx.data, ldc: ch)
        BLAS.gemm(m: rows, n: ch, k: d, a: dq.data, lda: d, b: weight.value.data + ch, ldb: 2 * ch, beta: 1, c: dx.data, ldc: ch)
        return dx
    }
}
