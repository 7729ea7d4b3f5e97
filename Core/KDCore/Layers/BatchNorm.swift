// Batch normalisation over the last axis (channels), statistics over all leading axes, so the same
// layer serves images (B, H, W, C), points (B, N, C) and vectors (B, C).
// Shape key: C channels, n = the number of rows (the product of all leading dimensions).
// x, y: (..., C)   γ (weight), β (bias), running_mean, running_var: (C)

/// Batch normalisation over the channel (last) axis, with PyTorch's conventions.
///
/// ```
/// training:   μ = (1/n) Σ x            σ² = (1/n) Σ (x − μ)²        (biased, used to normalise)
///             running_mean ← (1 − m) · running_mean + m · μ
///             running_var  ← (1 − m) · running_var  + m · σ² · n / (n − 1)   (unbiased)
/// inference:  μ = running_mean,  σ² = running_var
/// both:       x̂ = (x − μ) / √(σ² + ε),     y = γ · x̂ + β
/// ```
///
/// Backward in training mode goes through the batch statistics:
///
/// ```
/// dβ = Σ dy,   dγ = Σ dy · x̂,   dx = γ / √(σ² + ε) · (dy − dβ / n − x̂ · dγ / n)
/// ```
///
/// and in inference mode the layer is a per-channel affine map, `dx = γ / √(σ² + ε) · dy`.
/// Sums over rows are accumulated in Double, and the variance is computed from centred values
/// (two passes), so large batches of images keep their statistics to Float precision.
///
/// Defaults are PyTorch's (momentum 0.1, ε = 1e-5), so checkpoints trained elsewhere behave the same.
/// Backward uses `context.training` to pick the mode, so it must match the forward it follows.
/// Running statistics are shared by all contexts: train on one execution stream at a time.
public final class BatchNorm: Layer {
    public let kind = "batchnorm"
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    /// γ, initialised to 1.
    public let weight: Parameter
    /// β, initialised to 0.
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(channels > 0 && momentum >= 0 && momentum <= 1 && epsilon > 0,
                     "batchnorm: invalid configuration channels \(channels) momentum \(momentum) epsilon \(epsilon)")
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        weight = Parameter("weight", shape: [channels])
        weight.value.fill(1)
        bias = Parameter("bias", shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [(String, Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.count >= 2 && inputShape.last == channels,
                     "batchnorm expects (..., \(channels)), got \(inputShape)")
        return inputShape
    }

    // Context: saved 0 = x; buffer 0 = y, 1 = dx, 2 = stats (6, C) with rows μ, 1/√(σ²+ε),
    // scale = γ/√(σ²+ε), shift = β − μ·scale (forward) and mean(dy), mean(dy·x̂) (training backward).

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, outputShape(for: x.shape))
        let stats = c.buffer(2, [6, channels])
        let (n, ch) = (x.leadingCount, channels)
        let mean = stats.data, invStd = stats.data + ch, scale = stats.data + 2 * ch, shift = stats.data + 3 * ch
        let xp = x.data
        c.save(0, x)
        if c.training {
            precondition(n > 1, "batchnorm: training needs more than one value per channel, got input \(x.shape)")
            withUnsafeTemporaryAllocation(of: Double.self, capacity: ch) { acc in
                let a = acc.baseAddress!
                a.initialize(repeating: 0, count: ch)
                for r in 0..<n { let row = xp + r * ch; for j in 0..<ch { a[j] += Double(row[j]) } }
                for j in 0..<ch { mean[j] = Float(a[j] / Double(n)) }
                a.update(repeating: 0, count: ch)
                for r in 0..<n {
                    let row = xp + r * ch
                    for j in 0..<ch { let d = Double(row[j] - mean[j]); a[j] += d * d }
                }
                let rm = runningMean.data, rv = runningVar.data
                for j in 0..<ch {
                    let variance = a[j] / Double(n)
                    invStd[j] = Float(1 / (variance + Double(epsilon)).squareRoot())
                    rm[j] = (1 - momentum) * rm[j] + momentum * mean[j]
                    rv[j] = (1 - momentum) * rv[j] + momentum * Float(a[j] / Double(n - 1))
                }
            }
        } else {
            for j in 0..<ch {
                mean[j] = runningMean.data[j]
                invStd[j] = 1 / (runningVar.data[j] + epsilon).squareRoot()
            }
        }
        let g = weight.value.data, b = bias.value.data
        for j in 0..<ch { scale[j] = g[j] * invStd[j]; shift[j] = b[j] - mean[j] * scale[j] }
        let yp = y.data
        for r in 0..<n {
            let src = xp + r * ch, dst = yp + r * ch
            for j in 0..<ch { dst[j] = src[j] * scale[j] + shift[j] }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        let stats = c.buffer(2, [6, channels])
        let (n, ch) = (x.leadingCount, channels)
        let mean = stats.data, invStd = stats.data + ch, scale = stats.data + 2 * ch
        let xp = x.data, g = dy.data
        let needSums = c.training && c.inputGradient
        let wantWeight = c.parameterGradients && !weight.frozen, wantBias = c.parameterGradients && !bias.frozen
        if needSums || wantWeight || wantBias {
            // sums (2, C): Σ dy and Σ dy · x̂ over all rows, in Double.
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * ch) { acc in
                let sumDy = acc.baseAddress!, sumDyXhat = acc.baseAddress! + ch
                sumDy.initialize(repeating: 0, count: 2 * ch)
                for r in 0..<n {
                    let xr = xp + r * ch, gr = g + r * ch
                    for j in 0..<ch {
                        let xhat = (xr[j] - mean[j]) * invStd[j]
                        sumDy[j] += Double(gr[j])
                        sumDyXhat[j] += Double(gr[j] * xhat)
                    }
                }
                if wantWeight { for j in 0..<ch { weight.grad.data[j] += Float(sumDyXhat[j]) } }
                if wantBias { for j in 0..<ch { bias.grad.data[j] += Float(sumDy[j]) } }
                guard needSums else { return }
                // dx = scale · (dy − Σdy / n − x̂ · Σ(dy x̂) / n)
                let meanDy = stats.data + 4 * ch, meanDyXhat = stats.data + 5 * ch
                for j in 0..<ch {
                    meanDy[j] = Float(sumDy[j] / Double(n))
                    meanDyXhat[j] = Float(sumDyXhat[j] / Double(n))
                }
                let dxp = dx.data
                for r in 0..<n {
                    let xr = xp + r * ch, gr = g + r * ch, dr = dxp + r * ch
                    for j in 0..<ch {
                        let xhat = (xr[j] - mean[j]) * invStd[j]
                        dr[j] = scale[j] * (gr[j] - meanDy[j] - xhat * meanDyXhat[j])
                    }
                }
            }
        }
        if c.inputGradient && !c.training {
            let dxp = dx.data
            for r in 0..<n {
                let gr = g + r * ch, dr = dxp + r * ch
                for j in 0..<ch { dr[j] = scale[j] * gr[j] }
            }
        }
        return dx
    }
}
