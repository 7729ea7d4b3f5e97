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
        // dx (rows, In) = dy (rows, Out) · W (Out, In)
        BLAS.gemm(m: rows, n: inputFeatures, k: outputFeatures,
                  a: dy.data, lda: outputFeatures, b: weight.value.data, ldb: inputFeatures,
                  c: dx.data, ldc: inputFeatures)
        return dx
    }
}
