// The layer protocol: forward and backward side by side, parameters by name, per-execution state
// kept outside the layer so one set of weights can run on several threads at once.

/// A named, trainable tensor and its gradient.
public final class Parameter: @unchecked Sendable {
    /// The name relative to its layer ("weight", "bias"); the model prefixes the layer's name.
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    /// A frozen parameter receives no gradient and is skipped by the optimisers.
    public var frozen = false
    /// How the value is laid out in checkpoint files, when that differs from memory: the file tensor is
    /// the memory tensor with its axes permuted by this list (file axis i = memory axis `filePermutation[i]`).
    /// Conv2D keeps weights as (Out, kH, kW, In) in memory and writes PyTorch's (Out, In, kH, kW),
    /// i.e. `[0, 3, 1, 2]`, so checkpoints are interchangeable with other tools.
    public var filePermutation: [Int]? = nil

    public init(_ name: String, shape: [Int]) {
        self.name = name
        self.value = Tensor(shape: shape)
        self.grad = Tensor(shape: shape)
    }
}

/// Per-layer execution state: what forward keeps for backward, and reusable output buffers.
///
/// One context exists per layer per execution stream (thread). Tensors returned from
/// ``buffer(_:_:)`` are reused on the next call with the same slot, so a caller must not keep a
/// layer's output past the next forward of that layer.
public final class LayerContext: @unchecked Sendable {
    /// Training mode: BatchNorm uses batch statistics and updates running ones; Dropout drops.
    public var training = false
    /// Real positions along each sample's first axis, one per batch entry, when a batch holds padded
    /// samples of varying length (Sample.length); nil when every sample fills its shape. Layers that mix
    /// positions (attention's keys, the max over points) must ignore positions at or beyond the length;
    /// position-wise layers need not look at it. Composite layers pass it to their children like `training`.
    public var validLengths: [Int]? = nil
    /// Products in bfloat16 (float32 sums) where a layer has such a path: oneDNN convolutions (their direct
    /// kernels). Set by the entropy engine for `EntropySettings.precision` bf16; composites pass it on.
    public var bfloat16 = false
    /// When false, backward computes only the input gradient (weights are frozen, e.g. the entropy engine).
    public var parameterGradients = true
    /// When false, backward may skip computing the input gradient (the first layer during training).
    public var inputGradient = true
    /// Randomness for Dropout; seeded by the owner of the execution stream.
    public var generator = SeededGenerator(seed: 0)

    /// Tensors saved by forward for backward (layer-defined meaning per index).
    public var saved: [Tensor?] = []
    /// Integer state saved by forward (e.g. max-pool arg-max indices).
    public var indices: [Int32] = []
    /// Set by a ``Sequential`` whose forward ran this layer inside a oneDNN chain (its backward then runs
    /// the chain's backward); nil when the layer ran on its own.
    var fusedRun: FusedRun? = nil
    /// Contexts of a composite layer's children, in the order of `Layer.children`.
    public var children: [LayerContext] = []
    private var slots: [Tensor] = []

    public init() {}

    /// A reusable tensor in slot `i`, resized to `shape` (contents unspecified).
    public func buffer(_ i: Int, _ shape: [Int]) -> Tensor {
        while slots.count <= i { slots.append(Tensor(shape: [0])) }
        let t = slots[i]
        t.resize(shape)
        return t
    }

    /// Keeps a reference for backward.
    public func save(_ i: Int, _ t: Tensor?) {
        while saved.count <= i { saved.append(nil) }
        saved[i] = t
    }

    public func savedTensor(_ i: Int) -> Tensor {
        guard i < saved.count, let t = saved[i] else {
            preconditionFailure("backward called without a matching forward (saved slot \(i) empty)")
        }
        return t
    }
}

/// A differentiable layer. Shapes exclude nothing: tensors carry their batch dimension first.
///
/// Rules every layer follows:
/// - `forward` writes its output into a ``LayerContext`` buffer and saves what `backward` needs;
///   it never allocates once the shapes are warm.
/// - `backward(dy)` returns dL/dx, and when `context.parameterGradients` is true it *adds*
///   dL/dθ into each unfrozen parameter's `grad` (callers zero gradients between steps).
/// - The input tensor passed to `forward` must stay unchanged until `backward` has run.
public protocol Layer: AnyObject {
    /// A short type name used in summaries and checkpoints ("linear", "conv2d").
    var kind: String { get }
    /// Parameters, in a fixed order.
    var parameters: [Parameter] { get }
    /// Sub-layers (for composites such as residual blocks), with their names.
    var children: [(String, Layer)] { get }
    /// The output shape for a batch input shape (batch dimension included).
    func outputShape(for inputShape: [Int]) -> [Int]
    func forward(_ x: Tensor, _ context: LayerContext) -> Tensor
    func backward(_ dy: Tensor, _ context: LayerContext) -> Tensor
    /// Non-trainable state that checkpoints must carry (BatchNorm running statistics).
    var buffers: [(String, Tensor)] { get }
    /// A context tree matching this layer (composites create one per child).
    func makeContext() -> LayerContext
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var children: [(String, Layer)] { [] }
    public var buffers: [(String, Tensor)] { [] }
    public func makeContext() -> LayerContext {
        let c = LayerContext()
        c.children = children.map { $0.1.makeContext() }
        return c
    }
}

/// Glorot/He initialisation helpers.
public enum Initializer {
    /// Kaiming-uniform as in PyTorch's default for Linear/Conv: U(−1/√fanIn, 1/√fanIn) for the bias,
    /// U(−√(6/fanIn)·gain/√2 …) simplified to He-uniform for ReLU nets: bound = √(6 / fanIn).
    public static func heUniform(_ t: Tensor, fanIn: Int, generator: inout SeededGenerator) {
        let bound = (6.0 / Float(max(fanIn, 1))).squareRoot()
        generator.fillUniform(t.data, count: t.count, low: -bound, high: bound)
    }

    public static func uniform(_ t: Tensor, bound: Float, generator: inout SeededGenerator) {
        generator.fillUniform(t.data, count: t.count, low: -bound, high: bound)
    }
}
