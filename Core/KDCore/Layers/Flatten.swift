// Flatten: (B, H, W, C) → (B, C·H·W) in channel-major order (C, H, W), the order PyTorch's
// flatten produces from NCHW, so a fully connected layer trained elsewhere reads the same features.
// Any other rank: (B, ...) → (B, prod(...)) unchanged in order.

public final class Flatten: Layer {
    public let kind = "flatten"
    public init() {}

    public func outputShape(for inputShape: [Int]) -> [Int] {
        [inputShape[0], inputShape.dropFirst().reduce(1, *)]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, outputShape(for: x.shape))
        c.save(0, x)
        if x.rank == 4 {
            let (b, h, w, ch) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let hw = h * w
            for n in 0..<b {
                let src = x.data + n * hw * ch, dst = y.data + n * hw * ch
                for p in 0..<hw { for k in 0..<ch { dst[k * hw + p] = src[p * ch + k] } }
            }
        } else {
            y.data.update(from: x.data, count: x.count)
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        if x.rank == 4 {
            let (b, h, w, ch) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let hw = h * w
            for n in 0..<b {
                let src = dy.data + n * hw * ch, dst = dx.data + n * hw * ch
                for p in 0..<hw { for k in 0..<ch { dst[p * ch + k] = src[k * hw + p] } }
            }
        } else {
            dx.data.update(from: dy.data, count: dy.count)
        }
        return dx
    }
}
