import Foundation
import _CKernels

// Layer normalisation over the last axis. Every leading index is one row.
// x, y: (..., D)   weight (γ), bias (β): (D)

/// Normalises each row of the last axis to zero mean and unit variance, then scales and shifts it.
///
/// ```
/// μ = mean(x),  σ² = mean((x − μ)²)          (biased, as PyTorch)
/// x̂ = (x − μ) / √(σ² + ε)
/// y = γ ⊙ x̂ + β
/// ```
/// `weight` (γ) starts at 1 and `bias` (β) at 0, so a fresh layer is a pure normalisation.
/// ε = 1e-5 is PyTorch's default; it only matters for rows that are (nearly) constant, which come
/// out as β instead of dividing by zero.
///
/// ### References
/// Ba, Kiros, Hinton, "Layer Normalization", 2016.
public final class LayerNorm: Layer {
    public let kind = "layernorm"
    public let features: Int
    public let epsilon: Float
    public let weight: Parameter
    public let bias: Parameter

    public init(_ features: Int, epsilon: Float = 1e-5) {
        precondition(features > 0, "layernorm needs at least one feature")
        self.features = features
        self.epsilon = epsilon
        weight = Parameter("weight", shape: [features])
        bias = Parameter("bias", shape: [features])
        weight.value.fill(1)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        precondition(inputShape.last == features, "layernorm expects last dim \(features), got \(inputShape)")
        return inputShape
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let d = features
        let rows = x.leadingCount
        let y = c.buffer(0, outputShape(for: x.shape))
        let normalized = c.buffer(1, x.shape)          // x̂, kept for backward
        let inverseStd = c.buffer(2, [rows])           // 1/√(σ²+ε) per row
        // Two passes (mean, then centred squares) keep the variance accurate when |μ| ≫ σ; 8 lanes at a
        // time on AVX2 (`_CKernels/elementwise.c`).
        kd_layernorm_forward(x.data, weight.value.data, bias.value.data, y.data, normalized.data, inverseStd.data,
                             rows, d, epsilon)
        c.save(0, normalized)
        c.save(1, inverseStd)
        return y
    }

    /// ```
    /// dγ += Σ_rows dy ⊙ x̂,   dβ += Σ_rows dy
    /// g = dy ⊙ γ
    /// dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / √(σ² + ε)
    /// ```
    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let normalized = c.savedTensor(0), inverseStd = c.savedTensor(1)
        let d = features
        let rows = normalized.leadingCount
        if c.parameterGradients {
            let dGamma = weight.grad.data, dBeta = bias.grad.data
            let updateGamma = !weight.frozen, updateBeta = !bias.frozen
            for r in 0..<rows {
                let g = dy.data + r * d, nr = normalized.data + r * d
                if updateGamma { for j in 0..<d { dGamma[j] += g[j] * nr[j] } }
                if updateBeta { for j in 0..<d { dBeta[j] += g[j] } }
            }
        }
        let dx = c.buffer(3, normalized.shape)
        guard c.inputGradient else { return dx }
        kd_layernorm_backward(dy.data, normalized.data, inverseStd.data, weight.value.data, dx.data, rows, d)
        return dx
    }
}
