// Point-cloud layers. B batch, N points, C channels; points are laid out (B, N, C), so one point's
// channels are contiguous.
//
// The per-point shared MLP of PointNet needs no layer of its own: `Linear` treats every leading
// axis as rows, so `Linear` on (B, N, C) applies the same weights to every point as one GEMM over
// B·N rows. `Sequential.sharedMLP(_:generator:)` builds the usual Linear+ReLU stack.

/// The symmetric max over points: (B, N, C) → (B, C), y[b, c] = max_n x[b, n, c].
///
/// The loop runs points outer and channels inner, so it reads memory contiguously (a max across a
/// strided axis is several times slower at PointNet sizes). The arg-max is kept for backward, which
/// routes dy[b, c] to the winning point only; ties go to the first point reaching the maximum,
/// the subgradient PyTorch's `max` also picks.
///
/// ### References
/// Qi, Su, Mo, Guibas, "PointNet: Deep Learning on Point Sets for 3D Classification and
/// Segmentation", CVPR 2017.
public final class MaxOverPoints: Layer {
    public let kind = "max-over-points"
    public init() {}

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 3 && inputShape[1] > 0,
                     "max over points expects (B, N ≥ 1, C), got \(inputShape)")
        return [inputShape[0], inputShape[2]]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, outputShape(for: x.shape))
        let (b, n, ch) = (x.shape[0], x.shape[1], x.shape[2])
        if c.indices.count != b * ch { c.indices = [Int32](repeating: 0, count: b * ch) }
        c.indices.withUnsafeMutableBufferPointer { arg in
            let winner = arg.baseAddress!
            for s in 0..<b {
                let xs = x.data + s * n * ch, ys = y.data + s * ch, ws = winner + s * ch
                ys.update(from: xs, count: ch)
                for k in 0..<ch { ws[k] = 0 }
                for p in 1..<n {
                    let row = xs + p * ch
                    let point = SIMD8<Int32>(repeating: Int32(p))
                    var k = 0
                    // 8 channels at a time, branch-free (see `load8`); the running maxima stay in L1.
                    while k + 8 <= ch {
                        let v = row.load8(k), top = ys.load8(k)
                        let wins = v .> top
                        ys.store8(top.replacing(with: v, where: wins), k)
                        let w = UnsafeRawPointer(ws + k).loadUnaligned(as: SIMD8<Int32>.self)
                        UnsafeMutableRawPointer(ws + k).storeBytes(of: w.replacing(with: point, where: wins),
                                                                   as: SIMD8<Int32>.self)
                        k += 8
                    }
                    while k < ch {
                        if row[k] > ys[k] { ys[k] = row[k]; ws[k] = Int32(p) }
                        k += 1
                    }
                }
            }
        }
        c.save(0, x)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        let (b, n, ch) = (x.shape[0], x.shape[1], x.shape[2])
        dx.zero()
        c.indices.withUnsafeBufferPointer { arg in
            let winner = arg.baseAddress!
            for s in 0..<b {
                let ds = dx.data + s * n * ch, gs = dy.data + s * ch, ws = winner + s * ch
                for k in 0..<ch { ds[Int(ws[k]) * ch + k] = gs[k] }
            }
        }
        return dx
    }
}

extension Sequential {
    /// PointNet's per-point shared MLP: `Linear(widths[i] → widths[i+1])` then ReLU for each step,
    /// named "linear0", "relu0", "linear1", … . Applied to (B, N, C) it transforms every point with
    /// the same weights (see `Linear`).
    ///
    /// `sharedMLP([3, 64, 128, 512], generator: &g)` is the e2 benchmark's point MLP.
    public static func sharedMLP(_ widths: [Int], generator: inout SeededGenerator) -> Sequential {
        precondition(widths.count >= 2, "a shared MLP needs an input width and at least one layer width")
        var layers: [(String, Layer)] = []
        for i in 0..<(widths.count - 1) {
            layers.append(("linear\(i)", Linear(widths[i], widths[i + 1], generator: &generator)))
            layers.append(("relu\(i)", ReLU()))
        }
        return Sequential(layers)
    }
}
