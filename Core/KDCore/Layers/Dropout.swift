// Dropout. x, y: any shape.

/// Inverted dropout: in training mode each value is zeroed with probability `rate` and the survivors
/// are scaled by 1/(1 − rate), so the expected output equals the input and inference is the identity.
///
/// ```
/// training:   m_i = 0 with probability rate, else 1/(1 − rate);   y = m ⊙ x,   dx = m ⊙ dy
/// inference:  y = x,   dx = dy
/// ```
///
/// The mask is drawn from `context.generator` (so a run is reproducible from the stream's seed) and
/// kept in the context for backward. Backward uses `context.training` to pick the mode, so it must
/// match the forward it follows.
public final class Dropout: Layer {
    public let kind = "dropout"
    public let rate: Float

    public init(rate: Float) {
        precondition(rate >= 0 && rate < 1, "dropout: rate must be in [0, 1), got \(rate)")
        self.rate = rate
    }

    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    // Context: buffer 0 = y, 1 = dx, 2 = mask (values 0 or 1/(1 − rate)), saved 0 = the mask.

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        guard c.training else {
            y.data.update(from: x.data, count: x.count)
            return y
        }
        let mask = c.buffer(2, x.shape)
        let keep = 1 / (1 - rate)
        let m = mask.data, xp = x.data, yp = y.data
        var g = c.generator
        for i in 0..<x.count { m[i] = g.uniform() < rate ? 0 : keep }
        c.generator = g
        c.save(0, mask)
        for i in 0..<x.count { yp[i] = xp[i] * m[i] }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let dx = c.buffer(1, dy.shape)
        guard c.inputGradient else { return dx }
        guard c.training else {
            dx.data.update(from: dy.data, count: dy.count)
            return dx
        }
        let mask = c.savedTensor(0)
        precondition(mask.shape == dy.shape, "dropout backward: dy \(dy.shape), forward made \(mask.shape)")
        let m = mask.data, g = dy.data, d = dx.data
        for i in 0..<dy.count { d[i] = g[i] * m[i] }
        return dx
    }
}
