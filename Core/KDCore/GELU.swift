import Foundation

// The Gaussian error linear unit, exact form. x, y: any shape.

/// GELU(x) = x · Φ(x), with Φ the standard normal CDF, computed exactly through erf.
///
/// ```
/// y  = ½ · x · (1 + erf(x / √2))
/// dy/dx = Φ(x) + x · φ(x),   φ(x) = exp(−x²/2) / √(2π)
/// ```
/// The exact form is PyTorch's default (`approximate='none'`) and BERT's, so weights trained
/// elsewhere behave the same here; the tanh approximation differs by up to about 1e-3.
///
/// ### References
/// Hendrycks, Gimpel, "Gaussian Error Linear Units (GELUs)", 2016.
public final class GELU: Layer {
    public let kind = "gelu"
    public init() {}
    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        let xp = x.data, yp = y.data
        let invSqrt2: Float = 0.70710678118654752
        for i in 0..<x.count {
            let v = xp[i]
            yp[i] = 0.5 * v * (1 + erff(v * invSqrt2))
        }
        c.save(0, x)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        let xp = x.data, g = dy.data, d = dx.data
        let invSqrt2: Float = 0.70710678118654752
        let invSqrt2Pi: Float = 0.39894228040143268
        for i in 0..<x.count {
            let v = xp[i]
            let cdf = 0.5 * (1 + erff(v * invSqrt2))
            let pdf = invSqrt2Pi * expf(-0.5 * v * v)
            d[i] = g[i] * (cdf + v * pdf)
        }
        return dx
    }
}
