// Pooling over NHWC images, no padding.
// Shape key: B batch, H/W input height/width, Ho/Wo output height/width, C channels, k window, s stride.
// x: (B, H, W, C)   y: (B, Ho, Wo, C) with Ho = ⌊(H − k) / s⌋ + 1 (likewise Wo); GlobalAvgPool y: (B, C)

import Foundation

/// The output shape of a k×k window with stride s and no padding over (B, H, W, C).
private func pooledShape(_ kind: String, _ x: [Int], kernel k: Int, stride s: Int) -> [Int] {
    precondition(x.count == 4, "\(kind) expects (B, H, W, C), got \(x)")
    precondition(x[1] >= k && x[2] >= k, "\(kind): window \(k) larger than the input \(x[1])×\(x[2])")
    return [x[0], (x[1] - k) / s + 1, (x[2] - k) / s + 1, x[3]]
}

/// Max pooling over k×k windows.
///
/// ```
/// y[b, oy, ox, c] = max_{ky, kx < k} x[b, oy·s + ky, ox·s + kx, c]
/// ```
///
/// Forward records, per output, the flat input index of the maximum (`context.indices`, Int32);
/// ties go to the first in scan order (ky, then kx), so the gradient is a subgradient that picks one
/// winner, as PyTorch does. Backward scatter-adds dy at those indices (overlapping windows accumulate).
/// The stride defaults to the window size (non-overlapping windows, the PyTorch default).
public final class MaxPool2D: Layer {
    public let kind = "maxpool2d"
    public let kernel: Int
    public let stride: Int

    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? 1) > 0, "maxpool2d: invalid kernel \(kernel) stride \(String(describing: stride))")
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        pooledShape(kind, inputShape, kernel: kernel, stride: stride)
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        precondition(x.count < Int(Int32.max), "maxpool2d: input of \(x.count) values overflows Int32 indices")
        let ys = outputShape(for: x.shape)
        let y = c.buffer(0, ys)
        let (h, w, ch) = (x.shape[1], x.shape[2], x.shape[3])
        let (bn, ho, wo, k, s) = (ys[0], ys[1], ys[2], kernel, stride)
        if c.indices.count != y.count { c.indices = [Int32](repeating: 0, count: y.count) }
        c.save(0, x)
        let xp = x.data, yp = y.data
        let perImage = ho * wo * ch
        c.indices.withUnsafeMutableBufferPointer { ib in
            let idx = ib.baseAddress!
            forEachImageBlock(batch: bn, values: x.count) { images in
                var o = images.lowerBound * perImage
                for b in images {
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            let yr = yp + o, ir = idx + o
                            let first = ((b * h + oy * s) * w + ox * s) * ch
                            for j in 0..<ch { yr[j] = xp[first + j]; ir[j] = Int32(first + j) }
                            for ky in 0..<k {
                                for kx in 0..<k where ky != 0 || kx != 0 {
                                    let p = ((b * h + oy * s + ky) * w + ox * s + kx) * ch
                                    maxUpdate(yr, ir, xp + p, base: Int32(truncatingIfNeeded: p), count: ch)
                                }
                            }
                            o += ch
                        }
                    }
                }
            }
        }
        return y
    }

    /// `y = max(y, x)` elementwise over `count` channels, recording `base + j` in `index` where x wins.
    /// Explicit 8-lane SIMD: the compiler does not vectorise the scalar select over two arrays of
    /// different types (measured, forward of a (16, 64, 64, 32) input: 6.6 ms scalar, 1.1 ms SIMD). Strict > keeps the first
    /// of equal values.
    @inline(__always)
    private func maxUpdate(_ y: UnsafeMutablePointer<Float>, _ index: UnsafeMutablePointer<Int32>,
                           _ x: UnsafePointer<Float>, base: Int32, count: Int) {
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        var j = 0
        while j + 8 <= count {
            let v = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            let cur = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self)
            let old = UnsafeRawPointer(index + j).loadUnaligned(as: SIMD8<Int32>.self)
            let better = v .> cur
            UnsafeMutableRawPointer(y + j).storeBytes(of: cur.replacing(with: v, where: better), as: SIMD8<Float>.self)
            let candidate = lanes &+ (base &+ Int32(truncatingIfNeeded: j))
            UnsafeMutableRawPointer(index + j).storeBytes(of: old.replacing(with: candidate, where: better),
                                                          as: SIMD8<Int32>.self)
            j += 8
        }
        while j < count {
            if x[j] > y[j] { y[j] = x[j]; index[j] = base &+ Int32(truncatingIfNeeded: j) }
            j += 1
        }
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        precondition(c.indices.count == dy.count, "maxpool2d backward: dy has \(dy.count) values, forward made \(c.indices.count)")
        let d = dx.data, g = dy.data
        let (bn, perImage, perOutput) = (x.shape[0], x.count / max(x.shape[0], 1), dy.count / max(x.shape[0], 1))
        c.indices.withUnsafeBufferPointer { ib in
            // An image's indices point into the same image of dx, so blocks of images never collide.
            forEachImageBlock(batch: bn, values: x.count) { images in
                (d + images.lowerBound * perImage).update(repeating: 0, count: images.count * perImage)
                for o in (images.lowerBound * perOutput)..<(images.upperBound * perOutput) { d[Int(ib[o])] += g[o] }
            }
        }
        return dx
    }

    /// Threads for one call. `nil` (the default) follows OpenBLAS, as ``Conv2D/threads`` does: as many as
    /// it may use (a single training stream, where the other core would otherwise wait) when the input
    /// has at least ``parallelMinimumValues`` values, else one; a number forces that many (tests).
    public var threads: Int? = nil

    /// Below this many input values a call stays on one thread (about 0.3 ms of work).
    public static let parallelMinimumValues = 1 << 21

    /// Runs `body` over contiguous blocks of whole images, one block per thread (see ``threads``).
    private func forEachImageBlock(batch: Int, values: Int, _ body: (Range<Int>) -> Void) {
        let wanted = threads ?? (values >= Self.parallelMinimumValues ? BLAS.threads : 1)
        let workers = max(1, min(wanted, batch))
        if workers == 1 { body(0..<batch); return }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            body((batch * w / workers)..<(batch * (w + 1) / workers))
        }
    }
}

/// Average pooling over k×k windows (every window lies inside the image, so the divisor is always k²).
///
/// ```
/// y[b, oy, ox, c] = (1/k²) Σ_{ky, kx < k} x[b, oy·s + ky, ox·s + kx, c]
/// ```
///
/// The stride defaults to the window size, as in PyTorch.
public final class AvgPool2D: Layer {
    public let kind = "avgpool2d"
    public let kernel: Int
    public let stride: Int

    public init(kernel: Int, stride: Int? = nil) {
        precondition(kernel > 0 && (stride ?? 1) > 0, "avgpool2d: invalid kernel \(kernel) stride \(String(describing: stride))")
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        pooledShape(kind, inputShape, kernel: kernel, stride: stride)
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let ys = outputShape(for: x.shape)
        let y = c.buffer(0, ys)
        let (h, w, ch) = (x.shape[1], x.shape[2], x.shape[3])
        let (bn, ho, wo, k, s) = (ys[0], ys[1], ys[2], kernel, stride)
        let scale = 1 / Float(k * k)
        c.save(0, x)
        let xp = x.data
        var o = 0
        for b in 0..<bn {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let yr = y.data + o
                    yr.update(repeating: 0, count: ch)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let src = xp + ((b * h + oy * s + ky) * w + ox * s + kx) * ch
                            for j in 0..<ch { yr[j] += src[j] }
                        }
                    }
                    for j in 0..<ch { yr[j] *= scale }
                    o += ch
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        let ys = outputShape(for: x.shape)
        let (h, w, ch) = (x.shape[1], x.shape[2], x.shape[3])
        let (bn, ho, wo, k, s) = (ys[0], ys[1], ys[2], kernel, stride)
        let scale = 1 / Float(k * k)
        dx.zero()
        var o = 0
        for b in 0..<bn {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let g = dy.data + o
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let d = dx.data + ((b * h + oy * s + ky) * w + ox * s + kx) * ch
                            for j in 0..<ch { d[j] += g[j] * scale }
                        }
                    }
                    o += ch
                }
            }
        }
        return dx
    }
}

/// The mean over all positions of each channel: (B, H, W, C) → (B, C).
///
/// ```
/// y[b, c] = (1 / (H·W)) Σ_{y, x} x[b, y, x, c]        dx[b, y, x, c] = dy[b, c] / (H·W)
/// ```
public final class GlobalAvgPool: Layer {
    public let kind = "globalavgpool"
    public init() {}

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count == 4, "globalavgpool expects (B, H, W, C), got \(inputShape)")
        return [inputShape[0], inputShape[3]]
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, outputShape(for: x.shape))
        let (bn, hw, ch) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        let scale = 1 / Float(max(hw, 1))
        c.save(0, x)
        for b in 0..<bn {
            let yr = y.data + b * ch
            yr.update(repeating: 0, count: ch)
            for p in 0..<hw {
                let src = x.data + (b * hw + p) * ch
                for j in 0..<ch { yr[j] += src[j] }
            }
            for j in 0..<ch { yr[j] *= scale }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        let (bn, hw, ch) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        let scale = 1 / Float(max(hw, 1))
        for b in 0..<bn {
            let g = dy.data + b * ch
            for p in 0..<hw {
                let d = dx.data + (b * hw + p) * ch
                for j in 0..<ch { d[j] = g[j] * scale }
            }
        }
        return dx
    }
}
