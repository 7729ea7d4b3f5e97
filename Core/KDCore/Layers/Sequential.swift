// Sequential composition of named layers, and the Model that wraps it with taps, freezing and
// parameter enumeration by name.

/// Layers applied in order; each has a name unique within the sequence.
public final class Sequential: Layer {
    public let kind = "sequential"
    public private(set) var layers: [(String, Layer)]
    /// Whether runs of oneDNN convolutions, ReLUs and max-pools run as oneDNN chains when only input
    /// gradients are wanted (on by default; the same numbers as layer by layer, see Sequential+DNNL.swift).
    public var fusesDNNLChains = true
    let dnnlChains = DNNLCache<DNNLChainKey>.forChains()

    public init(_ layers: [(String, Layer)]) {
        let names = layers.map(\.0)
        precondition(Set(names).count == names.count, "duplicate layer names in \(names)")
        self.layers = layers
    }

    public var children: [(String, Layer)] { layers }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        layers.reduce(inputShape) { $1.1.outputShape(for: $0) }
    }

    public func index(of name: String) -> Int? { layers.firstIndex { $0.0 == name } }

    /// Runs layers `range` (indices into `layers`). When the context is not training and wants no parameter
    /// gradients (`c.parameterGradients` false before the forward: the entropy engine, gradient
    /// explanations), runs of oneDNN convolutions, ReLUs and max-pools go through one oneDNN chain each
    /// (``fusesDNNLChains``; Sequential+DNNL.swift).
    public func forward(_ x: Tensor, _ c: LayerContext, range: Range<Int>) -> Tensor {
        var h = x
        let fuse = fusesDNNLChains && !c.training && !c.parameterGradients && !c.bfloat16
        var i = range.lowerBound
        while i < range.upperBound {
            let lc = c.children[i]
            lc.training = c.training
            lc.bfloat16 = c.bfloat16
            lc.validLengths = c.validLengths
            if fuse, let run = fusableRun(at: i, within: range), let y = forwardChain(h, c, run: run) {
                h = y
                i = run.upperBound
                continue
            }
            lc.fusedRun = nil
            h = layers[i].1.forward(h, lc)
            i += 1
        }
        return h
    }

    /// Back-propagates through layers `range` in reverse order. The input gradient of the first
    /// layer of the range is skipped when `c.inputGradient` is false.
    public func backward(_ dy: Tensor, _ c: LayerContext, range: Range<Int>) -> Tensor {
        var g = dy
        var i = range.upperBound - 1
        while i >= range.lowerBound {
            let lc = c.children[i]
            if let record = lc.fusedRun {
                let bottom = max(record.layers.lowerBound, range.lowerBound)
                let wantInput = bottom == range.lowerBound ? c.inputGradient : true
                if !c.parameterGradients,
                   let dx = backwardChain(g, c, record: record, top: i, bottom: bottom, wantInput: wantInput) {
                    g = dx
                    i = bottom - 1
                    continue
                }
                // Parameter gradients after all (or a oneDNN error): the run's layers forward again, one by one.
                var h = record.input
                for j in record.layers {
                    let jc = c.children[j]
                    jc.fusedRun = nil
                    (jc.training, jc.bfloat16, jc.validLengths) = (c.training, c.bfloat16, c.validLengths)
                    h = layers[j].1.forward(h, jc)
                }
            }
            lc.parameterGradients = c.parameterGradients
            lc.inputGradient = (i == range.lowerBound) ? c.inputGradient : true
            g = layers[i].1.backward(g, lc)
            i -= 1
        }
        return g
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor { forward(x, c, range: 0..<layers.count) }
    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor { backward(dy, c, range: 0..<layers.count) }
}

/// Errors a user's choice of tap or layer name can cause.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unknownLayer(String, known: [String])

    public var description: String {
        switch self {
        case let .unknownLayer(name, known):
            return "no layer named '\(name)'; the model's layers are: \(known.joined(separator: ", "))"
        }
    }
}

/// A network built from named layers. Any top-level layer's output can be a tap.
///
/// Parameter names are dotted paths (`block1.conv1.weight`), the keys used in checkpoints.
public final class Model: @unchecked Sendable {
    public let name: String
    public let body: Sequential
    /// The shape of one input sample (no batch dimension), e.g. [64, 64, 3] for a 64×64 RGB image.
    public let inputShape: [Int]

    public init(name: String, inputShape: [Int], layers: [(String, Layer)]) {
        self.name = name
        self.inputShape = inputShape
        self.body = Sequential(layers)
    }

    public var layerNames: [String] { body.layers.map(\.0) }

    public func layerIndex(_ name: String) throws -> Int {
        guard let i = body.index(of: name) else { throw ModelError.unknownLayer(name, known: layerNames) }
        return i
    }

    /// All parameters with their dotted names, in a fixed order.
    public var namedParameters: [(String, Parameter)] {
        var out: [(String, Parameter)] = []
        func walk(_ prefix: String, _ layer: Layer) {
            for p in layer.parameters { out.append((prefix + p.name, p)) }
            for (n, child) in layer.children { walk(prefix + n + ".", child) }
        }
        for (n, l) in body.layers { walk(n + ".", l) }
        return out
    }

    /// Parameters of the top-level layers `0...index` (all parameters up to and including a tap).
    public func namedParameters(through index: Int) -> [(String, Parameter)] {
        let prefixes = body.layers[0...index].map { $0.0 + "." }
        return namedParameters.filter { p in prefixes.contains { p.0.hasPrefix($0) } }
    }

    /// Non-trainable state (BatchNorm running statistics) with dotted names.
    public var namedBuffers: [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        func walk(_ prefix: String, _ layer: Layer) {
            for (n, t) in layer.buffers { out.append((prefix + n, t)) }
            for (n, child) in layer.children { walk(prefix + n + ".", child) }
        }
        for (n, l) in body.layers { walk(n + ".", l) }
        return out
    }

    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.1.value.count } }

    /// Freezes (or unfreezes) every parameter of the top-level layers `0...index`.
    public func setFrozen(_ frozen: Bool, through index: Int) {
        for (_, p) in namedParameters(through: index) { p.frozen = frozen }
    }

    public func zeroGradients() { for (_, p) in namedParameters { p.grad.zero() } }

    /// A fresh execution context (one per thread that runs this model).
    public func makeContext() -> LayerContext { body.makeContext() }

    /// Runs the network on a batch `x` (shape [B] + inputShape) up to and including layer `through`
    /// (the whole network when nil).
    public func forward(_ x: Tensor, _ c: LayerContext, through: Int? = nil) -> Tensor {
        body.forward(x, c, range: 0..<((through ?? (body.layers.count - 1)) + 1))
    }

    /// Back-propagates `dy` from the output of layer `from` (the last layer when nil) down to the
    /// input of layer `down` (0 = the network input). Returns the gradient at that point.
    public func backward(_ dy: Tensor, _ c: LayerContext, from: Int? = nil, downTo: Int = 0) -> Tensor {
        body.backward(dy, c, range: downTo..<((from ?? (body.layers.count - 1)) + 1))
    }

    /// The batch output shape of layer `through` for a batch of `batch` samples.
    public func outputShape(batch: Int, through: Int? = nil) -> [Int] {
        let last = through ?? (body.layers.count - 1)
        return body.layers[0...last].reduce([batch] + inputShape) { $1.1.outputShape(for: $0) }
    }
}
