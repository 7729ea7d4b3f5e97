import Foundation

// Token and learned positional embeddings.
// ids: (B, T) Float-coded integers   x, y: (B, T, D)   token weight: (V, D)   position weight: (L, D)

/// Looks up one learned D-vector per token id.
///
/// Ids arrive as Float-coded integers (tensors are Float32) and are rounded to the nearest integer,
/// so a value nudged by a finite-difference step still names the same row. The tokenizer guarantees
/// every id is in `0..<vocabulary`; an id outside it is a programmer error (precondition).
///
/// Ids are not differentiable: backward scatter-adds dy into the rows that were read (a row read
/// twice receives both gradients) and returns a zero input gradient. The weight starts N(0, σ²) with
/// σ = 1, PyTorch's `nn.Embedding` default; BERT-style models pass 0.02.
public final class Embedding: Layer {
    public let kind = "embedding"
    public let vocabulary: Int
    public let dimension: Int
    /// (vocabulary, dimension), PyTorch's layout.
    public let weight: Parameter

    public init(vocabulary: Int, dimension: Int, standardDeviation: Float = 1, generator: inout SeededGenerator) {
        precondition(vocabulary > 0 && dimension > 0, "embedding needs a positive vocabulary and dimension")
        self.vocabulary = vocabulary
        self.dimension = dimension
        weight = Parameter("weight", shape: [vocabulary, dimension])
        generator.fillGaussian(weight.value.data, count: weight.value.count, scale: standardDeviation)
    }

    public var parameters: [Parameter] { [weight] }

    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape + [dimension] }

    @inline(__always)
    private func row(_ code: Float) -> Int {
        let id = Int(code.rounded())
        precondition(id >= 0 && id < vocabulary, "token id \(code) outside the vocabulary 0..<\(vocabulary)")
        return id
    }

    public func forward(_ ids: Tensor, _ c: LayerContext) -> Tensor {
        let d = dimension
        let y = c.buffer(0, outputShape(for: ids.shape))
        let w = weight.value.data
        for t in 0..<ids.count { (y.data + t * d).update(from: w + row(ids.data[t]) * d, count: d) }
        c.save(0, ids)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let ids = c.savedTensor(0)
        let d = dimension
        if c.parameterGradients && !weight.frozen {
            let dw = weight.grad.data
            for t in 0..<ids.count {
                let target = dw + row(ids.data[t]) * d, source = dy.data + t * d
                for j in 0..<d { target[j] += source[j] }
            }
        }
        let dx = c.buffer(1, ids.shape)
        dx.zero()
        return dx
    }
}

/// Adds a learned vector per position: y[b, t] = x[b, t] + W[t], for sequences up to `length` long.
///
/// The weight starts at zero: the layer is the identity until training gives positions meaning, and
/// no symmetry needs breaking because each position receives its own gradient
/// (dW[t] = Σ_b dy[b, t]). The input gradient is dy unchanged.
public final class PositionalEmbedding: Layer {
    public let kind = "positional-embedding"
    public let length: Int
    public let dimension: Int
    /// (length, dimension).
    public let weight: Parameter

    public init(length: Int, dimension: Int) {
        precondition(length > 0 && dimension > 0, "positional embedding needs a positive length and dimension")
        self.length = length
        self.dimension = dimension
        weight = Parameter("weight", shape: [length, dimension])
    }

    public var parameters: [Parameter] { [weight] }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 3 && inputShape[2] == dimension && inputShape[1] <= length,
                     "positional embedding expects (B, T ≤ \(length), \(dimension)), got \(inputShape)")
        return inputShape
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, outputShape(for: x.shape))
        let (b, span) = (x.shape[0], x.shape[1] * dimension)
        let w = weight.value.data
        for n in 0..<b {
            let xr = x.data + n * span, yr = y.data + n * span
            for i in 0..<span { yr[i] = xr[i] + w[i] }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let (b, span) = (dy.shape[0], dy.shape[1] * dimension)
        if c.parameterGradients && !weight.frozen {
            let dw = weight.grad.data
            for n in 0..<b {
                let g = dy.data + n * span
                for i in 0..<span { dw[i] += g[i] }
            }
        }
        let dx = c.buffer(1, dy.shape)
        guard c.inputGradient else { return dx }
        dx.data.update(from: dy.data, count: dy.count)
        return dx
    }
}
