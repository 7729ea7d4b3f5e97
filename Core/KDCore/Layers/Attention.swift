import Foundation
import _CKernels

// Multi-head self-attention and the pre-LN transformer encoder layer.
// B batch, T tokens, D model width, H heads, E = D / H head width, F feed-forward width.
// x, y: (B, T, D)   qkv: (B, T, 3D) = [Q | K | V], head h of Q is columns h·E ..< (h+1)·E
// attention probabilities P: (B, H, T, T)

/// Scaled dot-product self-attention over H heads, with a key-padding mask and no dropout.
///
/// ```
/// [Q | K | V] = x W_inᵀ + b_in                     (in_proj: D → 3D)
/// P_h = softmax_keys(Q_h K_hᵀ / √E)                 (per batch item and head, rows sum to 1)
/// O   = [P_1 V_1 | … | P_H V_H]
/// y   = O W_outᵀ + b_out                            (out_proj: D → D)
/// ```
/// Key-padding mask: when ``LayerContext/validLengths`` is set, keys at positions ≥ L_b (the real length
/// of batch item b) get score −∞, i.e. probability exactly 0, so padding never changes a real position's
/// output. The softmax runs over the first L_b columns of each row and the rest are set to 0; backward
/// needs no change, because dS = P ⊙ (…) is 0 wherever P is. Query rows at padded positions still attend
/// to the real keys (their outputs are defined but meaningless; later layers ignore them).
///
/// The two projections are child `Linear` layers, so parameters are named `in_proj.weight` (3D, D),
/// `in_proj.bias`, `out_proj.weight`, `out_proj.bias`; PyTorch's `nn.MultiheadAttention` stores the
/// first two as `in_proj_weight` / `in_proj_bias` with the same layout. Heads are never copied out:
/// the per-head products (T × T × E each) run on the head kernels of `_CKernels` (`kd_small_gemm`,
/// unpacked, register-blocked) on strided views of qkv (row stride 3D) and O (row stride D); only Kᵀ
/// (forward) and Vᵀ (backward) of the current head are transposed into an E × T scratch block, so the
/// kernel reads whole rows. OpenBLAS packs both operands on every call, which at 64 × 64 × 32 costs
/// about as much as the arithmetic.
///
/// Initialisation follows PyTorch: in_proj Glorot-uniform over the stacked (3D, D) matrix,
/// bound √(6 / 4D), which keeps the initial logits O(1) so the softmax is neither flat nor one-hot;
/// both biases start at zero; out_proj keeps `Linear`'s weight initialisation.
///
/// Backward, per batch item and head, with G = dL/dO_h:
/// ```
/// dV_h = P_hᵀ G,   dP_h = G V_hᵀ,   dS = P_h ⊙ (dP_h − rowsum(dP_h ⊙ P_h))
/// dQ_h = dS K_h / √E,   dK_h = dSᵀ Q_h / √E
/// ```
///
/// ### References
/// Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
public final class MultiHeadSelfAttention: Layer {
    public let kind = "multihead-attention"
    public let dimension: Int
    public let heads: Int
    public let headDimension: Int
    public let inProjection: Linear
    public let outProjection: Linear
    /// Runs the per-head products through OpenBLAS instead of the head kernels (`kd_small_gemm`), the
    /// path before them; for tests and comparisons only (results agree to rounding).
    var useBLAS = false

    public init(dimension: Int, heads: Int, generator: inout SeededGenerator) {
        precondition(heads > 0 && dimension > 0 && dimension % heads == 0,
                     "attention width \(dimension) must be a positive multiple of the head count \(heads)")
        self.dimension = dimension
        self.heads = heads
        headDimension = dimension / heads
        inProjection = Linear(dimension, 3 * dimension, generator: &generator)
        outProjection = Linear(dimension, dimension, generator: &generator)
        Initializer.uniform(inProjection.weight.value, bound: (6 / Float(4 * dimension)).squareRoot(),
                            generator: &generator)
        inProjection.bias!.value.zero()
        outProjection.bias!.value.zero()
    }

    public var children: [(String, Layer)] { [("in_proj", inProjection), ("out_proj", outProjection)] }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 3 && inputShape[2] == dimension,
                     "attention expects (B, T, \(dimension)), got \(inputShape)")
        return inputShape
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        _ = outputShape(for: x.shape)
        let (b, t, d, e) = (x.shape[0], x.shape[1], dimension, headDimension)
        let inContext = c.children[0], outContext = c.children[1]
        inContext.training = c.training
        inContext.validLengths = c.validLengths
        outContext.training = c.training
        outContext.validLengths = c.validLengths
        let qkv = inProjection.forward(x, inContext)              // (B, T, 3D)
        let probabilities = c.buffer(0, [b, heads, t, t])         // P
        let attended = c.buffer(1, [b, t, d])                     // O, heads side by side
        let scale = 1 / Float(e).squareRoot()
        let lengths = c.validLengths
        precondition(lengths == nil || lengths!.count == b, "attention: \(lengths!.count) valid lengths for a batch of \(b)")
        let transposed = c.buffer(4, [e, t])                     // K_hᵀ of the current head
        for s in 0..<b {
            let valid = lengths.map { min(max($0[s], 1), t) } ?? t
            for h in 0..<heads {
                let q = qkv.data + s * t * 3 * d + h * e, k = q + d, v = q + 2 * d
                let p = probabilities.data + (s * heads + h) * t * t
                let o = attended.data + s * t * d + h * e
                if useBLAS {
                    // S (T, T) = Q_h (T, E) · K_hᵀ (E, T) / √E
                    BLAS.gemm(transB: true, m: t, n: t, k: e, alpha: scale, a: q, lda: 3 * d, b: k, ldb: 3 * d,
                              c: p, ldc: t)
                } else {
                    // The same product on the head kernels: Kᵀ once (E × T), then S's first `valid` columns.
                    kd_transpose(Int32(t), Int32(e), k, 3 * d, transposed.data, t)
                    kd_small_gemm(Int32(t), Int32(valid), Int32(e), scale, q, 3 * d, 1, transposed.data, t, p, t, 0)
                }
                if !useBLAS {
                    // Softmax over the real columns (8-wide AVX2 kernel), probability 0 for the padded ones.
                    kd_softmax_rows(p, t, valid, t)
                    if valid < t { for r in 0..<t { (p + r * t + valid).update(repeating: 0, count: t - valid) } }
                } else if valid == t {
                    Self.softmaxRows(p, rows: t, columns: t)
                } else {
                    // Masked keys: softmax over the real columns, probability 0 for the padded ones.
                    for r in 0..<t {
                        let row = p + r * t
                        Self.softmaxRows(row, rows: 1, columns: valid)
                        (row + valid).update(repeating: 0, count: t - valid)
                    }
                }
                // O_h (T, E) = P_h (T, T) · V_h (T, E); P's columns ≥ valid are 0, so the head kernel stops there.
                if useBLAS {
                    BLAS.gemm(m: t, n: e, k: t, a: p, lda: t, b: v, ldb: 3 * d, c: o, ldc: d)
                } else {
                    kd_small_gemm(Int32(t), Int32(e), Int32(valid), 1, p, t, 1, v, 3 * d, o, d, 0)
                }
            }
        }
        c.save(0, qkv)
        c.save(1, probabilities)
        return outProjection.forward(attended, outContext)
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let qkv = c.savedTensor(0), probabilities = c.savedTensor(1)
        let (b, t, d, e) = (qkv.shape[0], qkv.shape[1], dimension, headDimension)
        let inContext = c.children[0], outContext = c.children[1]
        outContext.parameterGradients = c.parameterGradients
        outContext.inputGradient = true
        let dAttended = outProjection.backward(dy, outContext)    // dO (B, T, D)
        let dqkv = c.buffer(2, [b, t, 3 * d])
        let dScores = c.buffer(3, [t, t])                         // dP, then dS in place
        let scale = 1 / Float(e).squareRoot()
        let transposed = c.buffer(4, [e, t])                     // V_hᵀ of the current head
        for s in 0..<b {
            for h in 0..<heads {
                let q = qkv.data + s * t * 3 * d + h * e, k = q + d, v = q + 2 * d
                let dq = dqkv.data + s * t * 3 * d + h * e, dk = dq + d, dv = dq + 2 * d
                let g = dAttended.data + s * t * d + h * e
                let p = probabilities.data + (s * heads + h) * t * t
                let ds = dScores.data
                if useBLAS {
                    Self.headBackwardBLAS(t: t, e: e, d: d, scale: scale, q: q, k: k, v: v, p: p, g: g,
                                          dq: dq, dk: dk, dv: dv, ds: ds)
                    continue
                }
                // dV_h (T, E) = P_hᵀ (T, T) · G (T, E)
                kd_small_gemm(Int32(t), Int32(e), Int32(t), 1, p, 1, t, g, d, dv, 3 * d, 0)
                // dP_h (T, T) = G (T, E) · V_hᵀ (E, T)
                kd_transpose(Int32(t), Int32(e), v, 3 * d, transposed.data, t)
                kd_small_gemm(Int32(t), Int32(t), Int32(e), 1, g, d, 1, transposed.data, t, ds, t, 0)
                kd_softmax_backward_rows(p, ds, t, t)
                // dQ_h (T, E) = dS (T, T) · K_h (T, E) / √E
                kd_small_gemm(Int32(t), Int32(e), Int32(t), scale, ds, t, 1, k, 3 * d, dq, 3 * d, 0)
                // dK_h (T, E) = dSᵀ (T, T) · Q_h (T, E) / √E
                kd_small_gemm(Int32(t), Int32(e), Int32(t), scale, ds, 1, t, q, 3 * d, dk, 3 * d, 0)
            }
        }
        inContext.parameterGradients = c.parameterGradients
        inContext.inputGradient = c.inputGradient
        return inProjection.backward(dqkv, inContext)
    }

    /// One head's backward through OpenBLAS, the path before the head kernels (``useBLAS``).
    static func headBackwardBLAS(t: Int, e: Int, d: Int, scale: Float, q: UnsafeMutablePointer<Float>,
                                 k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                                 p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>,
                                 dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                 dv: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: true, m: t, n: e, k: t, a: p, lda: t, b: g, ldb: d, c: dv, ldc: 3 * d)
        BLAS.gemm(transB: true, m: t, n: t, k: e, a: g, lda: d, b: v, ldb: 3 * d, c: ds, ldc: t)
        softmaxBackwardRows(probabilities: p, gradient: ds, rows: t, columns: t)
        BLAS.gemm(m: t, n: e, k: t, alpha: scale, a: ds, lda: t, b: k, ldb: 3 * d, c: dq, ldc: 3 * d)
        BLAS.gemm(transA: true, m: t, n: e, k: t, alpha: scale, a: ds, lda: t, b: q, ldb: 3 * d, c: dk, ldc: 3 * d)
    }

    /// In-place softmax of each row, shifted by the row maximum so every exponent is ≤ 0 (no overflow,
    /// and ``FastMath/expNonPositive(_:)`` applies).
    @inline(__always)
    static func softmaxRows(_ m: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let wide = columns / 8 * 8
        for r in 0..<rows {
            let row = m + r * columns
            // 8 lanes at a time (see `load8`): max, then exp and sum, then scale; a scalar tail after each.
            var top = row[0]
            if wide > 0 {
                var lanes = row.load8(0)
                for j in stride(from: 8, to: wide, by: 8) {
                    let v = row.load8(j)
                    lanes.replace(with: v, where: v .> lanes)
                }
                top = lanes.max()
            }
            for j in wide..<columns where row[j] > top { top = row[j] }
            var sums = SIMD8<Float>(repeating: 0)
            for j in stride(from: 0, to: wide, by: 8) {
                let v = FastMath.expNonPositive(row.load8(j) - top)
                row.store8(v, j)
                sums += v
            }
            var sum = sums.sum()
            for j in wide..<columns { let v = FastMath.expNonPositive(row[j] - top); row[j] = v; sum += v }
            let inv = 1 / sum
            for j in stride(from: 0, to: wide, by: 8) { row.store8(row.load8(j) * inv, j) }
            for j in wide..<columns { row[j] *= inv }
        }
    }

    /// Turns dL/dP into dL/dS in place: dS = P ⊙ (dP − Σ_j dP_j P_j), row by row.
    @inline(__always)
    static func softmaxBackwardRows(probabilities p: UnsafeMutablePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                                    rows: Int, columns: Int) {
        let wide = columns / 8 * 8
        for r in 0..<rows {
            let pr = p + r * columns, gr = g + r * columns
            // 8 lanes at a time (see `load8`), a scalar tail after each pass.
            var dots = SIMD8<Float>(repeating: 0)
            for j in stride(from: 0, to: wide, by: 8) { dots += gr.load8(j) * pr.load8(j) }
            var dot = dots.sum()
            for j in wide..<columns { dot += gr[j] * pr[j] }
            for j in stride(from: 0, to: wide, by: 8) { gr.store8(pr.load8(j) * (gr.load8(j) - dot), j) }
            for j in wide..<columns { gr[j] = pr[j] * (gr[j] - dot) }
        }
    }
}

/// A pre-LN transformer encoder layer (the GPT-2 / ViT arrangement), built from two residuals.
///
/// ```
/// h = x + MHSA(LN₁(x))
/// y = h + W₂ GELU(W₁ LN₂(h) + b₁) + b₂
/// ```
/// Children and parameter names (relative to the layer):
/// `attention.body.norm1.*`, `attention.body.self_attn.{in_proj,out_proj}.*`,
/// `feedforward.body.norm2.*`, `feedforward.body.linear1.*`, `feedforward.body.linear2.*`; the leaf
/// names follow PyTorch's `nn.TransformerEncoderLayer`. Pre-LN keeps an identity path from output to
/// input, so a small encoder trains from scratch without learning-rate warm-up.
///
/// ### References
/// Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.
public final class TransformerEncoderLayer: Layer {
    public let kind = "transformer-encoder"
    public let dimension: Int
    public let feedForward: Int
    public let selfAttention: MultiHeadSelfAttention
    /// `[("attention", Residual), ("feedforward", Residual)]`, run in order.
    public let block: Sequential

    public init(dimension: Int, heads: Int, feedForward: Int, generator: inout SeededGenerator) {
        self.dimension = dimension
        self.feedForward = feedForward
        selfAttention = MultiHeadSelfAttention(dimension: dimension, heads: heads, generator: &generator)
        let attention = Residual(body: Sequential([
            ("norm1", LayerNorm(dimension)),
            ("self_attn", selfAttention),
        ]))
        let mlp = Residual(body: Sequential([
            ("norm2", LayerNorm(dimension)),
            ("linear1", Linear(dimension, feedForward, generator: &generator)),
            ("gelu", GELU()),
            ("linear2", Linear(feedForward, dimension, generator: &generator)),
        ]))
        block = Sequential([("attention", attention), ("feedforward", mlp)])
    }

    public var children: [(String, Layer)] { block.children }

    public func outputShape(for inputShape: [Int]) -> [Int] { block.outputShape(for: inputShape) }

    // The context's children are the block's children, so the block runs on this context directly.
    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor { block.forward(x, c) }
    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor { block.backward(dy, c) }
}
