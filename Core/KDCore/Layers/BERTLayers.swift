import Foundation

// The pieces a BERT-style encoder needs beyond the pre-LN transformer: the post-LN encoder layer, the
// first-token selection of a classification head, and tanh (the pooler's activation).
// B batch, T tokens, D model width, F feed-forward width.   x, y: (B, T, D)

/// A post-LN transformer encoder layer, the arrangement of BERT (and of MiniLM, distilled from it).
///
/// ```
/// h = LN₁(x + MHSA(x))
/// y = LN₂(h + W₂ GELU(W₁ h + b₁) + b₂)
/// ```
/// Children and parameter names (relative to the layer): `attention.body.self_attn.{in_proj,out_proj}.*`,
/// `attention_norm.*`, `feedforward.body.{linear1,linear2}.*`, `output_norm.*`. BERT checkpoints map
/// onto them one to one (`attention.self.{query,key,value}` stacked into `in_proj`, `attention.output.dense`
/// = `out_proj`, `attention.output.LayerNorm` = `attention_norm`, `intermediate.dense` = `linear1`,
/// `output.dense` = `linear2`, `output.LayerNorm` = `output_norm`). Padding reaches the attention as
/// ``LayerContext/validLengths`` (key mask); every other part works position by position.
///
/// ### References
/// Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
/// NAACL 2019.
public final class PostLNEncoderLayer: Layer {
    public let kind = "post-ln-encoder"
    public let dimension: Int
    public let feedForward: Int
    public let selfAttention: MultiHeadSelfAttention
    let block: Sequential

    /// `epsilon` of both LayerNorms: BERT uses 1e-12.
    public init(dimension: Int, heads: Int, feedForward: Int, epsilon: Float = 1e-12, generator: inout SeededGenerator) {
        self.dimension = dimension
        self.feedForward = feedForward
        selfAttention = MultiHeadSelfAttention(dimension: dimension, heads: heads, generator: &generator)
        let attention = Residual(body: Sequential([("self_attn", selfAttention)]))
        let mlp = Residual(body: Sequential([
            ("linear1", Linear(dimension, feedForward, generator: &generator)),
            ("gelu", GELU()),
            ("linear2", Linear(feedForward, dimension, generator: &generator)),
        ]))
        block = Sequential([("attention", attention), ("attention_norm", LayerNorm(dimension, epsilon: epsilon)),
                            ("feedforward", mlp), ("output_norm", LayerNorm(dimension, epsilon: epsilon))])
    }

    public var children: [(String, Layer)] { block.children }
    public func outputShape(for inputShape: [Int]) -> [Int] { block.outputShape(for: inputShape) }
    // The context's children are the block's children, so the block runs on this context directly.
    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor { block.forward(x, c) }
    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor { block.backward(dy, c) }
}

/// Keeps position 0 of every sequence: (B, T, D) → (B, D). BERT's classification heads read the `[CLS]`
/// token there. Backward puts dy at position 0 and zeros elsewhere.
public final class FirstToken: Layer {
    public let kind = "first-token"
    public init() {}

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 3 && inputShape[1] >= 1, "first-token expects (B, T ≥ 1, D), got \(inputShape)")
        return [inputShape[0], inputShape[2]]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        let y = c.buffer(0, outputShape(for: x.shape))
        for n in 0..<b { (y.data + n * d).update(from: x.data + n * t * d, count: d) }
        c.indices = [Int32(t)]
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let (b, d) = (dy.shape[0], dy.shape[1])
        let t = Int(c.indices[0])
        let dx = c.buffer(1, [b, t, d])
        guard c.inputGradient else { return dx }
        dx.zero()
        for n in 0..<b { (dx.data + n * t * d).update(from: dy.data + n * d, count: d) }
        return dx
    }
}

/// y = tanh(x), elementwise (BERT's pooler activation). dy/dx = 1 − y².
public final class Tanh: Layer {
    public let kind = "tanh"
    public init() {}
    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        for i in 0..<x.count { y.data[i] = Foundation.tanh(x.data[i]) }
        c.save(0, y)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.savedTensor(0)
        let dx = c.buffer(1, y.shape)
        for i in 0..<y.count { dx.data[i] = dy.data[i] * (1 - y.data[i] * y.data[i]) }
        return dx
    }
}
