// Linear: y = x Wᵀ + b over the last dimension; all leading dimensions are rows
// (so a per-point shared MLP is a Linear applied to (B, N, C)).
// x: (..., In)   W: (Out, In) (PyTorch layout)   b: (Out)   y: (..., Out)

public final class Linear: Layer {
    public let kind = "linear"
    public let inputFeatures: Int
    public let outputFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = Parameter("weight", shape: [outputFeatures, inputFeatures])
        self.bias = bias ? Parameter("bias", shape: [outputFeatures]) : nil
        let bound = 1 / Float(inputFeatures).squareRoot()
        Initializer.heUniform(weight.value, fanIn: inputFeatures, generator: &generator)
        if let b = self.bias { Initializer.uniform(b.value, bound: bound, generator: &generator) }
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.last == inputFeatures, "linear expects last dim \(inputFeatures), got \(inputShape)")
        return inputShape.dropLast() + [outputFeatures]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let rows = x.leadingCount
        let y = c.buffer(0, outputShape(for: x.shape))
        if let b = bias {
            for r in 0..<rows { (y.data + r * outputFeatures).update(from: b.value.data, count: outputFeatures) }
        }
        // y (rows, Out) = x (rows, In) · Wᵀ (In, Out)
        BLAS.gemm(transB: true, m: rows, n: outputFeatures, k: inputFeatures,
                  a: x.data, lda: inputFeatures, b: weight.value.data, ldb: inputFeatures,
                  beta: bias == nil ? 0 : 1, c: y.data, ldc: outputFeatures)
        c.save(0, x)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let rows = x.leadingCount
        if c.parameterGradients && !weight.frozen {
            // dW (Out, In) += dyᵀ (Out, rows) · x (rows, In)
            BLAS.gemm(transA: true, m: outputFeatures, n: inputFeatures, k: rows,
                      a: dy.data, lda: outputFeatures, b: x.data, ldb: inputFeatures,
                      beta: 1, c: weight.grad.data, ldc: inputFeatures)
        }
        if let b = bias, c.parameterGradients && !b.frozen {
            let g = b.grad.data
            for r in 0..<rows {
                let row = dy.data + r * outputFeatures
                for j in 0..<outputFeatures { g[j] += row[j] }
            }
        }
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        if rows >= Self.sparseMinimumRows && inputGradientOfLiveRows(dy, into: dx, rows: rows, c) { return dx }
        // dx (rows, In) = dy (rows, Out) · W (Out, In)
        BLAS.gemm(m: rows, n: inputFeatures, k: outputFeatures,
                  a: dy.data, lda: outputFeatures, b: weight.value.data, ldb: inputFeatures,
                  c: dx.data, ldc: inputFeatures)
        return dx
    }

    /// Below this many rows the row scan is not worth it.
    static let sparseMinimumRows = 64

    /// dx = dy · W computed over the rows of dy that are not all zero, when at most half of them are;
    /// returns false (and does nothing) otherwise.
    ///
    /// A max over points passes gradient to its winning points only, so below it most rows of dy are
    /// exactly zero (in e2, 1524 points share 512 winners per noise sample), and they stay zero through
    /// the ReLUs and Linears of the shared MLP. Those rows of dx are zero; the others are one GEMM over
    /// the gathered live rows. The scan stops at a row's first non-zero, so a dense dy costs one load
    /// per row. A NaN counts as non-zero, so it still propagates.
    private func inputGradientOfLiveRows(_ dy: Tensor, into dx: Tensor, rows: Int, _ c: LayerContext) -> Bool {
        let (inp, out) = (inputFeatures, outputFeatures)
        if c.indices.count < rows { c.indices = [Int32](repeating: 0, count: rows) }
        let live = c.indices.withUnsafeMutableBufferPointer { list -> Int in
            var count = 0
            for r in 0..<rows where !Self.isZeroRow(dy.data + r * out, count: out) {
                if 2 * (count + 1) > rows { return rows }   // dense enough: one GEMM over all rows
                list[count] = Int32(r)
                count += 1
            }
            return count
        }
        if live == rows { return false }
        let liveGradient = c.buffer(2, [rows / 2, out]), liveInput = c.buffer(3, [rows / 2, inp])
        c.indices.withUnsafeBufferPointer { list in
            for i in 0..<live { (liveGradient.data + i * out).update(from: dy.data + Int(list[i]) * out, count: out) }
            // dx_live (live, In) = dy_live (live, Out) · W (Out, In)
            BLAS.gemm(m: live, n: inp, k: out, a: liveGradient.data, lda: out, b: weight.value.data, ldb: inp,
                      c: liveInput.data, ldc: inp)
            dx.zero()
            for i in 0..<live { (dx.data + Int(list[i]) * inp).update(from: liveInput.data + i * inp, count: inp) }
        }
        return true
    }

    /// Whether `count` floats from `p` are all zero (±0), 8 lanes at a time (see `load8`).
    @inline(__always)
    static func isZeroRow(_ p: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        let zero = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 8 <= count {
            if any(p.load8(j) .!= zero) { return false }
            j += 8
        }
        while j < count { if p[j] != 0 { return false }; j += 1 }
        return true
    }
}
