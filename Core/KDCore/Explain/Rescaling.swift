// The function-preserving rescaling of Docs/Method.md §8: layer L's weights and bias × s, the next weight
// layer's weights × 1/s. Through ReLU (relu(s·z) = s·relu(z) for s > 0), max-pooling, flattening and
// dropout the network computes the same function.

/// Rescales a ReLU network without changing its function.
public enum Rescaling {
    /// What was rescaled.
    public struct Plan: Sendable, Equatable, Codable {
        /// The layer whose weights and bias were multiplied by s (a linear, conv2d or batchnorm layer).
        public var layer: String
        public var layerIndex: Int
        /// The next layer with weights, whose weights (not its bias) were multiplied by 1/s.
        public var next: String
        public var nextIndex: Int
        public var scale: Double
        /// The layers in between (all positively homogeneous).
        public var between: [String]
    }

    /// Layer kinds f with f(s·z) = s·f(z) for s > 0 (in evaluation mode).
    public static let homogeneousKinds: Set<String> = ["relu", "maxpool2d", "avgpool2d", "globalavgpool", "flatten", "dropout", "max-over-points"]

    /// The plan for rescaling `layer` of `model` by `scale`, or an error saying why the function would change.
    public static func plan(_ model: Model, layer: String, scale: Double) throws -> Plan {
        guard scale.isFinite, scale > 0 else { throw ExplanationError.notRescalable("the scale must be finite and > 0, got \(scale)") }
        let i = try model.layerIndex(layer)
        let l = model.body.layers[i].1
        guard l is Linear || l is Conv2D || l is BatchNorm else {
            throw ExplanationError.notRescalable("\(layer) is a \(l.kind) layer; choose a linear, conv2d or batchnorm layer")
        }
        var between: [String] = []
        for j in (i + 1)..<model.body.layers.count {
            let (name, next) = model.body.layers[j]
            if next is Linear || next is Conv2D {
                return Plan(layer: layer, layerIndex: i, next: name, nextIndex: j, scale: scale, between: between)
            }
            guard homogeneousKinds.contains(next.kind) else {
                throw ExplanationError.notRescalable("between \(layer) and the next weight layer lies \(name) (\(next.kind)), which does not commute with scaling; choose the last affine layer before a ReLU (a batchnorm's scale when there is one)")
            }
            between.append(name)
        }
        throw ExplanationError.notRescalable("no linear or conv2d layer follows \(layer)")
    }

    /// Layers of `model` that can be rescaled, in order.
    public static func candidates(_ model: Model) -> [String] {
        model.layerNames.filter { (try? plan(model, layer: $0, scale: 2)) != nil }
    }

    /// Applies `plan` to `model` in place.
    public static func apply(_ plan: Plan, to model: Model) {
        let s = Float(plan.scale)
        func scale(_ p: Parameter?, _ f: Float) { if let p { for k in 0..<p.value.count { p.value.data[k] *= f } } }
        let l = model.body.layers[plan.layerIndex].1
        switch l {
        case let x as Linear: scale(x.weight, s); scale(x.bias, s)
        case let x as Conv2D: scale(x.weight, s); scale(x.bias, s)
        case let x as BatchNorm: scale(x.weight, s); scale(x.bias, s)
        default: preconditionFailure("not a rescalable layer")
        }
        switch model.body.layers[plan.nextIndex].1 {
        case let x as Linear: scale(x.weight, 1 / s)
        case let x as Conv2D: scale(x.weight, 1 / s)
        default: preconditionFailure("not a weight layer")
        }
    }
}
