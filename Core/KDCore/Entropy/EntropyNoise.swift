// Where the entropy engine's noise comes from, and the full record of one run (for reference checks).

/// Supplies the Gaussian noise batches δ of one input's run (Method.md §2).
///
/// The engine asks for one batch per step, in order: step −1 is the batch of δ_f², then steps 0, 1, …
/// Each batch is laid out exactly as the engine's batch: (K, input shape…), row-major, the model's own
/// layout (NHWC images). A source must return the same values when asked for the same step again.
/// The default (no source given) is the engine's seeded generator, one stream per input id; passing a
/// source lets a test feed stored noise and reproduce reference values bit for bit.
public protocol EntropyNoiseSource {
    /// Writes `count` = K·n values of step `step`'s batch into `buffer`.
    func fill(_ buffer: UnsafeMutablePointer<Float>, count: Int, step: Int)
}

/// Everything one run of the engine did, step by step: what the reference fixtures store.
public struct EntropyTrace: Sendable, Equatable {
    /// φ(f(x)), the unperturbed feature, in the tap's output layout.
    public var feature: [Float]
    /// δ_f².
    public var sigmaF2: Double
    /// The absolute τ used by δ_f².
    public var tau: Float
    /// Per step run: mean H over units of the snapshot (nats), the loss, its feature part, the α in force.
    public var meanEntropy: [Double]
    public var loss: [Double]
    public var featureLoss: [Double]
    public var alpha: [Float]
    /// Per step run, the σ of every unit used in that step's forward (after the clamp), step-major:
    /// `snapshots[t * unitCount + u]`.
    public var snapshots: [Float]
    /// ∂loss/∂parameter at step 0, entropy term included: ∂/∂σ for `direct`, ∂/∂(log σ) for `log`.
    public var firstGradient: [Float]
    public var stepsRun: Int
    public var stoppedEarly: Bool
    /// The chosen snapshot.
    public var chosenStep: Int
}
