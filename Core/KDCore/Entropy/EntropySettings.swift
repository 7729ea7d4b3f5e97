import Foundation

/// Every setting of the entropy engine (Method.md §2). Recorded next to every map it produces.
///
/// Defaults follow the authors' code (`direct` parameterisation, K = 96, 80 steps, lr 1e-4, α = 7,
/// σ clamped to [0.001, 1] and starting at 0.01, τ = 0.01 in input units, φ = ReLU, R = mean over units,
/// entropy pinning at −2.8 nats checked at step 59 with factor 1.5, and the early stop after step 59 when
/// the target was passed), so that numbers are comparable to the paper's; the quickstart uses them too.
/// `EntropySettings.fast` is the `log` parameterisation with Adam: fewer, cheaper steps, ranking units like
/// the authors' estimator but not giving the same Table-5 row (Docs/Quickstart.md, `--compare-estimators`);
/// its choice is recorded like any other.
public struct EntropySettings: Codable, Hashable, Sendable {
    public enum Parameterization: String, Codable, Sendable, CaseIterable {
        /// σ stored directly, clamped to [σmin, σmax] before every forward pass, plain SGD (authors' code).
        case direct
        /// s = log σ, optimised with Adam; no clamping needed.
        case log
    }
    public enum FeatureTransform: String, Codable, Sendable, CaseIterable {
        /// φ(f) = f.
        case identity
        /// φ(f) = max(f, 0), as the authors' code compares relu(f).
        case relu
    }
    /// What τ of δ_f² is measured in.
    public enum TauScale: String, Codable, Sendable, CaseIterable {
        /// τ is in the input's own (normalised) units, as the authors' code: δ_f² uses x + τ·δ.
        case absolute
        /// τ is a fraction of the input's spread: δ_f² uses x + τ·std(x)·δ, std over all elements of x with
        /// the N − 1 denominator (computed in Double, rounded to Float once). Makes δ_f² independent of the
        /// input's scale; the reference fixtures of the `log` parameterisation use it with τ = 0.01.
        case inputStandardDeviation = "input-std"
    }
    public enum Reduction: String, Codable, Sendable, CaseIterable {
        /// R = mean over units (authors' code): α is per unit.
        case mean
        /// R = Σ over units (the paper's equation): α scales with the unit count.
        case sum
    }
    /// The authors' entropy-pinning rule: comparisons between networks are fair only at the same
    /// overall entropy level.
    public struct Pinning: Codable, Hashable, Sendable {
        /// Target mean entropy over units, in nats (authors: −2.8).
        public var target: Double = -2.8
        /// The step (0-based) at which α is raised when the mean H has not yet exceeded the target (authors: 59).
        public var checkStep: Int = 59
        /// The factor applied to α at `checkStep` (authors: 1.5).
        public var alphaFactor: Float = 1.5
        /// A chosen snapshot within this many nats of the target counts as "target reached".
        public var tolerance: Double = 0.05
        /// The authors' early stop: after the update of `checkStep`, if the mean H of some step 0...checkStep
        /// exceeded the target (strictly), the run ends there and the later steps never run. When false, every
        /// step runs (and α is still raised at `checkStep` when the target was not exceeded).
        public var earlyStop: Bool = true
        public init(target: Double = -2.8, checkStep: Int = 59, alphaFactor: Float = 1.5, tolerance: Double = 0.05,
                    earlyStop: Bool = true) {
            self.target = target; self.checkStep = checkStep; self.alphaFactor = alphaFactor; self.tolerance = tolerance
            self.earlyStop = earlyStop
        }
    }

    public var parameterization: Parameterization = .direct
    /// Optimisation steps T.
    public var steps: Int = 80
    /// Noise samples K per step, run through the network as one batch.
    public var noiseSamples: Int = 96
    /// Weight α of the entropy term.
    public var alpha: Float = 7
    /// Learning rate; nil means the parameterisation's default (direct: 1e-4 SGD, log: 0.01 Adam).
    public var learningRate: Float? = nil
    /// Initial σ for every unit (authors: 0.01).
    public var initialSigma: Float = 0.01
    /// Clamp range of σ for the `direct` parameterisation (authors: [0.001, 1]).
    public var sigmaMin: Float = 0.001
    public var sigmaMax: Float = 1
    /// τ of δ_f² = E‖φ(f(x + τδ)) − φ(f*)‖², in normalised input units (or a fraction of std(x), see
    /// ``tauScale``).
    public var tau: Float = 0.01
    /// Whether ``tau`` is absolute (the authors' code, the default) or relative to the input's spread.
    public var tauScale: TauScale = .absolute
    public var featureTransform: FeatureTransform = .relu
    public var reduction: Reduction = .mean
    /// nil disables pinning: the final σ is returned.
    public var pinning: Pinning? = Pinning()
    /// Seed of the noise; each input's stream is derived from it and the input's id, so results do not
    /// depend on the order or thread in which inputs are analysed.
    public var seed: UInt64 = 2020
    /// The precision of the products: nil or `.float32` (the default), or `.bfloat16`: bfloat16 inputs and
    /// float32 sums in the oneDNN convolutions (direct kernels; other layers stay float32), only on CPUs
    /// with native bfloat16 products (AVX512_BF16, AMX). Named in ``summary`` (so maps of either precision
    /// are stored apart) only when bf16. See Docs/Benchmarks.md, "bfloat16", for its speed and agreement.
    public var precision: Precision? = nil

    public enum Precision: String, Codable, Sendable, CaseIterable {
        case float32 = "fp32", bfloat16 = "bf16"
    }
    /// The convergence criterion (Method.md §2 "Convergence"): the loss counts as flattened at the chosen
    /// step t* when the mean loss of the `w` steps ending at t* differs from the mean of the `w` steps
    /// before them by at most this fraction of the larger magnitude of the two, w = max(2, ⌊T/10⌋) for T
    /// planned steps. See ``EntropyEngine/flattened(_:at:window:tolerance:)``.
    public var flatTolerance: Double = 0.02

    public init() {}

    /// The `log` parameterisation with Adam (lr 0.01), K = 16, 200 steps: the setting Benchmarks.md times.
    public static var fast: EntropySettings {
        var s = EntropySettings()
        s.parameterization = .log
        s.noiseSamples = 16
        s.steps = 200
        // No early stop: the 200-step run Benchmarks.md times, unchanged.
        s.pinning = Pinning(checkStep: 149, earlyStop: false)
        return s
    }

    public var effectiveLearningRate: Float {
        learningRate ?? (parameterization == .direct ? 1e-4 : 0.01)
    }

    /// One line naming every setting, for tables and logs.
    public var summary: String {
        var s = "sigma-param=\(parameterization.rawValue) T=\(steps) K=\(noiseSamples) alpha=\(alpha) lr=\(effectiveLearningRate) "
        s += "sigma0=\(initialSigma) "
        if parameterization == .direct { s += "clamp=[\(sigmaMin),\(sigmaMax)] " }
        s += "tau=\(tau)\(tauScale == .absolute ? "" : "*std(x)") phi=\(featureTransform.rawValue) R=\(reduction.rawValue) "
        if let p = pinning {
            s += "pin=\(p.target)@\(p.checkStep)x\(p.alphaFactor) early-stop=\(p.earlyStop ? "on" : "off")"
        } else { s += "pin=off" }
        return s + " seed=\(seed)" + (precision == .bfloat16 ? " precision=bf16" : "")
    }

    /// Checks ranges; the error says which setting and what is allowed.
    public func validate() throws {
        func fail(_ name: String, _ why: String) -> EntropyError { .invalidSetting(name: name, reason: why) }
        if steps < 1 { throw fail("steps", "must be at least 1, got \(steps)") }
        if noiseSamples < 1 { throw fail("noise-samples", "must be at least 1, got \(noiseSamples)") }
        if !(alpha.isFinite && alpha >= 0) { throw fail("alpha", "must be a finite number ≥ 0, got \(alpha)") }
        if !(effectiveLearningRate > 0 && effectiveLearningRate.isFinite) { throw fail("learning-rate", "must be > 0") }
        if !(initialSigma > 0) { throw fail("initial-sigma", "must be > 0, got \(initialSigma)") }
        if !(sigmaMin > 0 && sigmaMin < sigmaMax) { throw fail("sigma-min/max", "need 0 < min < max, got [\(sigmaMin), \(sigmaMax)]") }
        if !(tau > 0) { throw fail("tau", "must be > 0, got \(tau)") }
        if let p = pinning, !(p.target.isFinite && p.alphaFactor > 0 && p.checkStep >= 0) {
            throw fail("pinning", "target must be finite, factor > 0, step ≥ 0")
        }
    }
}

/// Errors of the entropy engine. Per-input failures are reported and the input skipped, never dropped silently.
public enum EntropyError: Error, CustomStringConvertible, Equatable {
    case invalidSetting(name: String, reason: String)
    /// δ_f² = 0: the tap does not react to small noise on this input (e.g. every ReLU output is 0).
    case insensitiveFeature(inputID: String)
    case shapeMismatch(inputID: String, expected: [Int], found: [Int])
    case nonFinite(inputID: String, step: Int)
    /// Every unit of the input is ignored (padding, special tokens): nothing to analyse.
    case noAnalysedUnits(inputID: String)

    public var description: String {
        switch self {
        case let .invalidSetting(name, reason):
            return "invalid entropy setting \(name): \(reason)"
        case let .insensitiveFeature(id):
            return "input \(id) cannot be analysed: δ_f² = 0 (the tap's output does not change under small noise; with φ = relu every tap unit may be inactive). It is reported and skipped."
        case let .shapeMismatch(id, e, f):
            return "input \(id) has shape \(f), the model expects \(e)"
        case let .noAnalysedUnits(id):
            return "input \(id) has no analysed unit (every unit is ignored: padding or special tokens); it is reported and skipped"
        case let .nonFinite(id, step):
            return "input \(id): the entropy optimisation produced a non-finite value at step \(step); try a smaller learning rate"
        }
    }
}

/// The engine's output for one input, tap and checkpoint (Method.md §2 "Output").
public struct EntropyResult: Codable, Sendable, Equatable {
    public var inputID: String
    /// H_i = log σ_i + ½ log(2πe), nats, one per unit, of the chosen snapshot.
    public var entropies: [Float]
    /// δ_f², the normaliser of the feature loss.
    public var sigmaF2: Double
    /// The loss at the chosen snapshot: E‖φ(f(x'))−φ(f*)‖²/δ_f² − α·R(H).
    public var finalLoss: Double
    /// The feature part of that loss alone.
    public var finalFeatureLoss: Double
    /// The step whose σ was returned (0-based), and the α in force at it.
    public var chosenStep: Int
    public var alphaUsed: Float
    /// Mean H over units of the chosen snapshot.
    public var meanEntropy: Double
    /// Whether the loss had flattened at the chosen snapshot, by the criterion of
    /// ``EntropyEngine/flattened(_:at:window:tolerance:)`` (Method.md §2 "Convergence"). Independent of
    /// pinning: a snapshot can hit the entropy target while the loss is still falling.
    public var lossFlattened: Bool
    /// Whether pinning was on and the chosen snapshot's mean H is within tolerance of the target.
    public var pinningReached: Bool
    /// Steps that ran (fewer than the setting's `steps` after an early stop).
    public var stepsRun: Int
    /// Whether the pinning rule's early stop ended the run.
    public var stoppedEarly: Bool
    /// The absolute τ that δ_f² used (``EntropySettings/tau``, times std(x) under `.inputStandardDeviation`).
    public var tau: Float
    /// Neither flattened nor reached the target: treat with care (Method.md §2 "Convergence").
    public var flagged: Bool { !lossFlattened && !pinningReached }

    public init(inputID: String, entropies: [Float], sigmaF2: Double, finalLoss: Double, finalFeatureLoss: Double,
                chosenStep: Int, alphaUsed: Float, meanEntropy: Double, lossFlattened: Bool, pinningReached: Bool,
                stepsRun: Int, stoppedEarly: Bool, tau: Float) {
        self.inputID = inputID; self.entropies = entropies; self.sigmaF2 = sigmaF2; self.finalLoss = finalLoss
        self.finalFeatureLoss = finalFeatureLoss; self.chosenStep = chosenStep; self.alphaUsed = alphaUsed
        self.meanEntropy = meanEntropy; self.lossFlattened = lossFlattened; self.pinningReached = pinningReached
        self.stepsRun = stepsRun; self.stoppedEarly = stoppedEarly; self.tau = tau
    }
}
