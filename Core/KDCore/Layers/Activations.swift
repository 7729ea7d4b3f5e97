import Foundation

// Elementwise activations. x, y: any shape.

/// Unaligned 8-wide loads and stores for elementwise hot loops: the compiler does not vectorise loops
/// over raw pointers it cannot prove disjoint, and a per-element branch on the sign of random data
/// mispredicts half the time.
extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func load8(_ i: Int) -> SIMD8<Float> { UnsafeRawPointer(self + i).loadUnaligned(as: SIMD8<Float>.self) }

    @inline(__always)
    func store8(_ v: SIMD8<Float>, _ i: Int) { UnsafeMutableRawPointer(self + i).storeBytes(of: v, as: SIMD8<Float>.self) }
}

public final class ReLU: Layer {
    public let kind = "relu"
    public init() {}
    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    /// Threads for one pass: `nil` (the default) follows ``Parallel`` (both cores for a long pass in
    /// training, one inside the entropy engine's per-sample threads); a number forces that many (tests).
    /// Elementwise, so the result is the same for any count.
    public var threads: Int? = nil

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        let (xp, yp) = (x.data, y.data)
        Parallel.chunks(count: x.count, threads: threads) { r in
            Self.forward(xp + r.lowerBound, into: yp + r.lowerBound, count: r.count)
        }
        c.save(0, y)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.savedTensor(0)
        let dx = c.buffer(1, y.shape)
        let (yp, gp, dp) = (y.data, dy.data, dx.data)
        Parallel.chunks(count: y.count, threads: threads) { r in
            Self.backward(output: yp + r.lowerBound, gradient: gp + r.lowerBound, into: dp + r.lowerBound, count: r.count)
        }
        return dx
    }

    /// y = max(x, 0); a NaN stays NaN (as `max(x, 0)` does), so the engine's finiteness checks see it.
    @inline(__always)
    static func forward(_ x: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        // 8 lanes at a time, branch-free (see load8).
        while i + 8 <= count {
            let v = x.load8(i)
            y.store8(v.replacing(with: zero, where: v .< zero), i)
            i += 8
        }
        while i < count { y[i] = max(x[i], 0); i += 1 }
    }

    /// dx = dy where y > 0, else 0.
    @inline(__always)
    static func backward(output y: UnsafeMutablePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                         into d: UnsafeMutablePointer<Float>, count: Int) {
        let zero = SIMD8<Float>(repeating: 0)
        var i = 0
        // 8 lanes at a time, branch-free within a chunk (see load8). An all-zero chunk of dy (most of
        // them below a max over points) is stored without reading y.
        while i + 8 <= count {
            let gv = g.load8(i)
            d.store8(any(gv .!= zero) ? zero.replacing(with: gv, where: y.load8(i) .> zero) : zero, i)
            i += 8
        }
        while i < count { d[i] = y[i] > 0 ? g[i] : 0; i += 1 }
    }
}
