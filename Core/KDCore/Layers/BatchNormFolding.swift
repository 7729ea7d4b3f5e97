// Folding inference-mode BatchNorm into the Linear or Conv2D before it, for frozen-network passes.
// Shape key: C channels (the BatchNorm's, = the preceding layer's outputs), In the Linear's inputs.

/// Builds, from a model, a network that computes the same function in inference mode with every BatchNorm
/// that directly follows a ``Linear`` or ``Conv2D`` in a ``Sequential`` (at any depth) folded into it:
///
/// ```
/// BatchNorm in inference: y = γ · (z − μ) / √(σ² + ε) + β = scale · z + shift   (per channel)
/// z = W x + b   ⇒   y = (scale ∘ W) x + (scale · b + shift)
/// ```
///
/// so a layer pair costs one GEMM instead of a GEMM and two elementwise passes (forward and backward) over
/// the activations. The BatchNorm's place is taken by a pass-through layer of the same name, so layer names
/// and indices (taps) are unchanged. Layers not folded are shared with the model, not copied; the folded
/// layers are copies made from the weights at the time of the call, so the result must be rebuilt after the
/// model's weights or running statistics change. It is for frozen-weight, inference-mode use only (the
/// entropy engine): in training mode BatchNorm uses batch statistics, which cannot be folded.
public enum BatchNormFolding {
    /// The folded network, or `model` itself when it has nothing to fold.
    public static func folded(_ model: Model) -> Model {
        guard let layers = fold(model.body.layers) else { return model }
        return Model(name: model.name, inputShape: model.inputShape, layers: layers)
    }

    /// The number of BatchNorm layers ``folded(_:)`` removes from `model`.
    public static func foldableCount(_ model: Model) -> Int {
        func count(_ layers: [(String, Layer)]) -> Int {
            var n = 0
            for (i, (_, l)) in layers.enumerated() {
                if let s = l as? Sequential { n += count(s.layers) }
                if i > 0, let bn = l as? BatchNorm, foldedPair(layers[i - 1].1, bn) != nil { n += 1 }
            }
            return n
        }
        return count(model.body.layers)
    }

    /// The layers with every foldable pair folded, or nil when nothing changed.
    static func fold(_ layers: [(String, Layer)]) -> [(String, Layer)]? {
        var out = layers, changed = false
        for i in out.indices {
            if let s = out[i].1 as? Sequential, let inner = fold(s.layers) {
                out[i].1 = Sequential(inner); changed = true
            }
            if i > 0, let bn = out[i].1 as? BatchNorm, let merged = foldedPair(out[i - 1].1, bn) {
                out[i - 1].1 = merged
                out[i].1 = FoldedBatchNorm(channels: bn.channels)
                changed = true
            }
        }
        return changed ? out : nil
    }

    /// `layer` followed by `bn` as one layer, when `layer` is a Linear or Conv2D with `bn.channels` outputs.
    static func foldedPair(_ layer: Layer, _ bn: BatchNorm) -> Layer? {
        let c = bn.channels
        var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
        for j in 0..<c {
            scale[j] = bn.weight.value[j] / (bn.runningVar[j] + bn.epsilon).squareRoot()
            shift[j] = bn.bias.value[j] - bn.runningMean[j] * scale[j]
        }
        var g = SeededGenerator(seed: 0)   // the initial weights are overwritten below
        switch layer {
        case let l as Linear where l.outputFeatures == c:
            let f = Linear(l.inputFeatures, c, bias: true, generator: &g)
            fill(f.weight, f.bias!, from: l.weight, l.bias, scale: scale, shift: shift)
            return f
        case let l as Conv2D where l.outputChannels == c:
            let f = Conv2D(l.inputChannels, c, kernel: l.kernel, stride: l.stride, padding: l.padding, bias: true, generator: &g)
            f.workspaceBytes = l.workspaceBytes
            f.winograd = l.winograd
            f.backend = l.backend
            f.dnnlBFloat16 = l.dnnlBFloat16
            f.threads = l.threads
            fill(f.weight, f.bias!, from: l.weight, l.bias, scale: scale, shift: shift)
            return f
        default:
            return nil
        }
    }

    /// W'[o, …] = scale[o] · W[o, …],  b'[o] = scale[o] · b[o] + shift[o]  (W's output channel is its first axis).
    private static func fill(_ w: Parameter, _ b: Parameter, from sw: Parameter, _ sb: Parameter?, scale: [Float], shift: [Float]) {
        let perOutput = sw.value.count / scale.count
        for o in 0..<scale.count {
            for k in 0..<perOutput { w.value.data[o * perOutput + k] = scale[o] * sw.value.data[o * perOutput + k] }
            b.value.data[o] = scale[o] * (sb?.value[o] ?? 0) + shift[o]
        }
        w.frozen = true
        b.frozen = true
    }
}

/// The place of a BatchNorm folded into the layer before it: passes values and gradients through.
final class FoldedBatchNorm: Layer {
    let kind = "batchnorm-folded"
    let channels: Int
    init(channels: Int) { self.channels = channels }
    func outputShape(for inputShape: [Int]) -> [Int] { inputShape }
    func forward(_ x: Tensor, _ context: LayerContext) -> Tensor { x }
    func backward(_ dy: Tensor, _ context: LayerContext) -> Tensor { dy }
}
