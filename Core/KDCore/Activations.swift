import Foundation

// Elementwise activations. x, y: any shape.

public final class ReLU: Layer {
    public let kind = "relu"
    public init() {}
    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        let xp = x.data, yp = y.data
        for i in 0..<x.count { yp[i] = max(xp[i], 0) }
        c.save(0, y)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.savedTensor(0)
        let dx = c.buffer(1, y.shape)
        let yp = y.data, g = dy.data, d = dx.data
        for i in 0..<y.count { d[i] = yp[i] > 0 ? g[i] : 0 }
        return dx
    }
}
