import Foundation

// When things happen during training: the learning rate at every step, and the epochs after which a
// checkpoint is written. Epochs are numbered from 1; epoch 0 is the initialisation.

/// A learning rate as a function of the epoch (and, during warm-up, the step).
///
/// ```
/// e = epoch − 1 (0-based), E = total epochs
/// constant:  lr = base
/// step:      lr = base · γ^⌊e / n⌋
/// cosine:    lr = floor + (base − floor) · (1 + cos(π e / E)) / 2
/// warm-up:   lr · min(1, (s + 1) / (W · S))    s = 0-based global step, S = steps per epoch
/// ```
/// Decay changes once per epoch, as PyTorch's `StepLR` and `CosineAnnealingLR` stepped per epoch do,
/// so a run's learning rate per epoch can be read from its configuration. Warm-up is linear per step
/// (Goyal et al. 2017), because its point is to avoid the first few large steps.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public enum Decay: Codable, Equatable, Sendable {
        case constant
        /// Multiply by `gamma` every `everyEpochs` epochs.
        case step(everyEpochs: Int, gamma: Double)
        /// Cosine annealing from `base` at the first epoch towards `floor` at the end.
        case cosine(floor: Double)
    }

    public var base: Double
    public var decay: Decay
    /// Epochs of linear warm-up from ≈0 to the scheduled rate (0 = none).
    public var warmupEpochs: Int

    public init(base: Double, decay: Decay = .constant, warmupEpochs: Int = 0) {
        self.base = base
        self.decay = decay
        self.warmupEpochs = warmupEpochs
    }

    public static func constant(_ lr: Double) -> LearningRateSchedule { .init(base: lr) }

    /// The learning rate for step `step` (0-based within the epoch) of epoch `epoch` (1-based).
    public func learningRate(epoch: Int, step: Int, stepsPerEpoch: Int, totalEpochs: Int) -> Float {
        precondition(epoch >= 1 && step >= 0, "epochs count from 1 and steps from 0")
        let e = Double(epoch - 1)
        var lr = base
        switch decay {
        case .constant:
            break
        case let .step(every, gamma):
            lr = base * pow(gamma, Double((epoch - 1) / max(every, 1)))
        case let .cosine(floor):
            lr = floor + (base - floor) * (1 + cos(Double.pi * e / Double(max(totalEpochs, 1)))) / 2
        }
        if warmupEpochs > 0 {
            let globalStep = Double((epoch - 1) * stepsPerEpoch + step)
            lr *= min(1, (globalStep + 1) / Double(warmupEpochs * max(stepsPerEpoch, 1)))
        }
        return Float(lr)
    }

    /// Problems with these settings, as sentences (empty when valid).
    public var problems: [String] {
        var out: [String] = []
        if !(base > 0 && base.isFinite) { out.append("the learning rate must be positive and finite, got \(base)") }
        if warmupEpochs < 0 { out.append("warm-up epochs must be ≥ 0, got \(warmupEpochs)") }
        switch decay {
        case .constant: break
        case let .step(every, gamma):
            if every < 1 { out.append("step decay needs every ≥ 1 epoch, got \(every)") }
            if !(gamma > 0 && gamma.isFinite) { out.append("step decay needs a finite γ > 0, got \(gamma)") }
        case let .cosine(floor):
            if !(floor >= 0 && floor <= base) { out.append("the cosine floor must be in [0, \(base)], got \(floor)") }
        }
        return out
    }
}

/// The epochs after which a checkpoint is written.
///
/// Epoch 0 (the initialisation, w₀ in Method.md §4) and the final epoch (M in Method.md §5, and where a
/// resumed run ends) are always written, whatever the schedule says.
public enum CheckpointSchedule: Codable, Equatable, Sendable {
    /// Every epoch up to and including `upTo`, then every epoch that is a multiple of `thenEvery`.
    case dense(upTo: Int, thenEvery: Int)
    /// Exactly these epochs (plus 0 and the final one).
    case explicit([Int])

    /// The authors' schedule: every epoch up to 10, then every 5th (Method.md §6).
    public static let paper = CheckpointSchedule.dense(upTo: 10, thenEvery: 5)

    /// Whether a checkpoint is written after `epoch` of a run of `total` epochs.
    public func writes(after epoch: Int, total: Int) -> Bool {
        if epoch == 0 || epoch == total { return true }
        if epoch < 0 || epoch > total { return false }
        switch self {
        case let .dense(upTo, every): return epoch <= upTo || (every > 0 && epoch % every == 0)
        case let .explicit(list): return list.contains(epoch)
        }
    }

    /// All checkpoint epochs of a run of `total` epochs, ascending, starting with 0.
    public func epochs(total: Int) -> [Int] { (0...max(total, 0)).filter { writes(after: $0, total: total) } }

    /// Problems with these settings for a run of `total` epochs (empty when valid).
    public func problems(total: Int) -> [String] {
        switch self {
        case let .dense(upTo, every):
            var out: [String] = []
            if upTo < 0 { out.append("dense checkpoints up to epoch \(upTo): must be ≥ 0") }
            if every < 1 { out.append("checkpoints every \(every) epochs: must be ≥ 1") }
            return out
        case let .explicit(list):
            let bad = list.filter { $0 < 0 || $0 > total }
            return bad.isEmpty ? [] : ["checkpoint epochs \(bad) are outside 0...\(total)"]
        }
    }
}
