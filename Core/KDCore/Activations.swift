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

    /// dx = dy where y > 0, else 0. Written with SIMD selects: a per-element branch on the sign of y is
    /// mispredicted half the time and made this the slowest step of the point-cloud workload.
    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.savedTensor(0)
        let dx = c.buffer(1, y.shape)
        let n = y.count, wide = n / 16 * 16
        let yp = UnsafeRawPointer(y.data), gp = UnsafeRawPointer(dy.data), dp = UnsafeMutableRawPointer(dx.data)
        let zero = SIMD16<Float>(repeating: 0)
        var i = 0
        while i < wide {
            let yv = yp.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let gv = gp.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            dp.storeBytes(of: zero.replacing(with: gv, where: yv .> zero), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        let yt = y.data, gt = dy.data, dt = dx.data
        while i < n { dt[i] = yt[i] > 0 ? gt[i] : 0; i += 1 }
        return dx
    }
}
