// Gradient explanations for the coherency comparison (Docs/Method.md §8): gradient saliency and Grad-CAM,
// aggregated to the same units as the entropy maps, so the three can be drawn side by side.
import Foundation

/// What an explanation explains: one class logit of the network's output, or the output of an
/// intermediate layer (its sum over every feature), the "knowledge encoded at layer L" of Method.md §8.
public enum ExplanationTarget: Sendable, Equatable, Codable, CustomStringConvertible {
    /// ∂ logit_class / ∂ ·, at the network's last layer.
    case logit(class: Int)
    /// ∂ Σ_j f_j / ∂ ·, with f the output of the layer at this index.
    case feature(layer: Int)

    public var description: String {
        switch self {
        case let .logit(c): return "logit of class \(c)"
        case let .feature(l): return "sum of layer \(l)'s output"
        }
    }
}

public enum ExplanationError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(inputID: String, expected: [Int], found: [Int])
    case classOutOfRange(Int, outputs: Int)
    case layerOutOfRange(Int, layers: Int)
    case noSpatialLayer(below: Int)
    case notRescalable(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(id, e, f): return "input \(id): shape \(f), the model expects \(e)"
        case let .classOutOfRange(c, n): return "class \(c) is not one of the model's \(n) outputs"
        case let .layerOutOfRange(l, n): return "layer index \(l) is not in 0..<\(n)"
        case let .noSpatialLayer(b): return "no layer below index \(b) has a (B, H, W, C) output for Grad-CAM"
        case let .notRescalable(why): return "cannot rescale: \(why)"
        }
    }
}

/// Gradient saliency and Grad-CAM of one sample, per unit of the sample's ``UnitMap``.
///
/// ```
/// saliency_u  = Σ_{v ∈ u} |∂ y / ∂ x_v|                              (x the network input)
/// Grad-CAM:   w_c = mean_{h,w} ∂ y / ∂ A[h,w,c],  M[h,w] = ReLU(Σ_c w_c A[h,w,c])   (A a (H, W, C) layer output)
///             cam_u = mean over the input pixels p of unit u of M[⌊p_y·H/H₀⌋, ⌊p_x·W/W₀⌋]
/// ```
/// y is the chosen ``ExplanationTarget``. Both run on the network input (images: (H₀, W₀, C₀), units are
/// grid cells); the model is run in evaluation mode (dropout off, BatchNorm on its running statistics).
public enum Explanations {
    /// One forward pass to `target`'s layer and one backward pass; returns y and ∂y/∂(output of `layer`)
    /// together with that output (layer −1 = the network input).
    static func gradient(_ model: Model, _ sample: Sample, target: ExplanationTarget,
                         at layer: Int) throws -> (value: Float, activation: Tensor, gradient: Tensor) {
        guard sample.input.shape == model.inputShape else {
            throw ExplanationError.shapeMismatch(inputID: sample.id, expected: model.inputShape, found: sample.input.shape)
        }
        let count = model.body.layers.count
        let top: Int
        switch target {
        case .logit: top = count - 1
        case let .feature(l):
            guard l >= 0 && l < count else { throw ExplanationError.layerOutOfRange(l, layers: count) }
            top = l
        }
        guard layer >= -1 && layer < top else { throw ExplanationError.layerOutOfRange(layer, layers: top) }
        let c = model.makeContext()
        c.training = false
        c.parameterGradients = false
        c.inputGradient = true
        c.validLengths = sample.length.map { [$0] }
        let x = Tensor(shape: [1] + model.inputShape)
        x.data.update(from: sample.input.data, count: sample.input.count)
        // Below `layer`: run once, keep A; above: run and back-propagate to A.
        let a: Tensor = layer >= 0 ? model.body.forward(x, c, range: 0..<(layer + 1)).copy() : x
        let out = model.body.forward(a, c, range: (layer + 1)..<(top + 1))
        let dy = Tensor(shape: out.shape)
        var value: Float = 0
        switch target {
        case let .logit(k):
            let outputs = out.lastDim
            guard k >= 0 && k < outputs else { throw ExplanationError.classOutOfRange(k, outputs: outputs) }
            dy.data[k] = 1
            value = out.data[k]
        case .feature:
            dy.fill(1)
            for i in 0..<out.count { value += out.data[i] }
        }
        let g = model.body.backward(dy, c, range: (layer + 1)..<(top + 1)).copy()
        return (value, a, g)
    }

    /// Gradient saliency per unit: Σ over the unit's input variables of |∂y/∂x_v|.
    public static func saliency(_ model: Model, _ sample: Sample, target: ExplanationTarget) throws -> [Float] {
        let (_, _, g) = try gradient(model, sample, target: target, at: -1)
        var out = [Double](repeating: 0, count: sample.units.unitCount)
        for (v, u) in sample.units.unitOf.enumerated() { out[Int(u)] += Double(abs(g.data[v])) }
        return out.map { Float($0) }
    }

    /// The layer Grad-CAM uses below `top` (exclusive): the last ReLU with a (B, H, W, C) output of at least
    /// 2×2 positions (a conv layer's activations); else the last such non-pooling layer; else the last layer
    /// with a (B, H, W, C) output.
    public static func camLayer(_ model: Model, below top: Int) throws -> Int {
        var relu: Int? = nil, other: Int? = nil, any: Int? = nil
        for i in stride(from: min(top, model.body.layers.count) - 1, through: 0, by: -1) {
            let s = model.outputShape(batch: 1, through: i)
            guard s.count == 4 else { continue }
            if any == nil { any = i }
            let kind = model.body.layers[i].1.kind
            guard s[1] * s[2] >= 4, kind != "maxpool2d", kind != "avgpool2d" else { continue }
            if kind == "relu" { relu = i; break }
            if other == nil { other = i }
        }
        guard let pick = relu ?? other ?? any else { throw ExplanationError.noSpatialLayer(below: top) }
        return pick
    }

    /// Grad-CAM at `layer` (a (B, H, W, C) output) for `target`, per unit: the mean of the (nearest-neighbour
    /// upsampled) map over the unit's pixels. Also returns the map at the layer's resolution (H·W, row-major).
    public static func gradCAM(_ model: Model, _ sample: Sample, target: ExplanationTarget,
                               layer: Int) throws -> (units: [Float], map: [Float], height: Int, width: Int) {
        let (_, a, g) = try gradient(model, sample, target: target, at: layer)
        guard a.rank == 4 else { throw ExplanationError.noSpatialLayer(below: layer + 1) }
        let h = a.shape[1], w = a.shape[2], ch = a.shape[3]
        var weights = [Double](repeating: 0, count: ch)
        for p in 0..<(h * w) { for k in 0..<ch { weights[k] += Double(g.data[p * ch + k]) } }
        for k in 0..<ch { weights[k] /= Double(h * w) }
        var map = [Float](repeating: 0, count: h * w)
        for p in 0..<(h * w) {
            var s = 0.0
            for k in 0..<ch { s += weights[k] * Double(a.data[p * ch + k]) }
            map[p] = Float(max(0, s))
        }
        // Input pixels → cells of the map → units.
        let shape = model.inputShape
        let h0 = shape[0], w0 = shape.count > 1 ? shape[1] : 1
        let c0 = shape.count > 2 ? shape[2...].reduce(1, *) : 1
        var sum = [Double](repeating: 0, count: sample.units.unitCount), n = [Int](repeating: 0, count: sample.units.unitCount)
        for (v, u) in sample.units.unitOf.enumerated() {
            let pixel = v / c0, y = pixel / w0, x = pixel % w0
            sum[Int(u)] += Double(map[(y * h / h0) * w + x * w / w0]); n[Int(u)] += 1
        }
        return (zip(sum, n).map { Float($1 == 0 ? 0 : $0 / Double($1)) }, map, h, w)
    }
}
