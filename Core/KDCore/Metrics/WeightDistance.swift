// Learning simultaneously or sequentially (Method.md §4, Hypothesis 2): how far the weights travelled
// before an input's foreground knowledge peaked.

/// The distance the weights travelled from the initialisation to each checkpoint, normalised by ||w_0||.
///
/// ```
/// epoch: D(m) = Σ_{k ∈ K, 0 < k ≤ m} ||w_k − w_prev(k)|| / ||w_0||     K = analysed checkpoints ∪ {0}
/// path:  D(m) = Σ_{e=1..m} Σ_{steps s of epoch e} ||Δw_s|| / ||w_0||
/// ```
/// With sparse checkpoints (0, 1, …, 10, 15, 20) the `epoch` definition measures straight lines between
/// consecutive *analysed* checkpoints (10 → 15 is one chord), so it is at most the `path` length, which
/// follows every optimiser step. Norms are Euclidean over the concatenation of the tensors in scope
/// (``WeightScope``); sums run in Double. For a distilled student the authors count only the distillation
/// stage: pass that stage's initialisation as w_0.
public struct WeightTrajectory: Codable, Sendable, Equatable {
    public let definition: WeightDistanceDefinition
    /// ||w_0||.
    public let initialNorm: Double
    /// The epochs D is known at, ascending, starting at 0.
    public let epochs: [Int]
    /// Σ ||·|| up to `epochs[k]`, not yet divided by ||w_0||; `cumulativeDistance[0] == 0`.
    public let cumulativeDistance: [Double]

    /// D(m) = Σ … / ||w_0|| at epoch m; nil when the trajectory does not reach m.
    public func distance(toEpoch m: Int) -> Double? {
        guard let k = epochs.firstIndex(of: m) else { return nil }
        return cumulativeDistance[k] / initialNorm
    }

    /// The `epoch` definition from the distances between consecutive checkpoints, already measured.
    /// - Parameters:
    ///   - epochs: the checkpoints, ascending, starting at 0 (the initialisation).
    ///   - stepDistances: `stepDistances[k-1] = ||w_{epochs[k]} − w_{epochs[k-1]}||` for k ≥ 1.
    public init(initialNorm: Double, epochs: [Int], stepDistances: [Double]) throws {
        try WeightTrajectory.checkNorm(initialNorm)
        guard epochs.first == 0, zip(epochs, epochs.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw MetricsError.invalidTrajectory(problem: "checkpoint epochs must ascend strictly from 0, found \(epochs)")
        }
        guard stepDistances.count == epochs.count - 1 else {
            throw MetricsError.invalidTrajectory(problem: "\(epochs.count) checkpoints need \(epochs.count - 1) distances between them, found \(stepDistances.count)")
        }
        if let bad = stepDistances.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw MetricsError.invalidTrajectory(problem: "distance \(stepDistances[bad]) between epochs \(epochs[bad]) and \(epochs[bad + 1]) is not a finite norm")
        }
        var cumulative = [0.0]
        for d in stepDistances { cumulative.append(cumulative[cumulative.count - 1] + d) }
        self.definition = .epoch
        self.initialNorm = initialNorm
        self.epochs = epochs
        self.cumulativeDistance = cumulative
    }

    /// The `path` definition from the logged per-step norms, summed per epoch.
    /// - Parameter epochPathLengths: `epochPathLengths[e-1]` = Σ ||Δw_s|| over the optimiser steps of epoch e,
    ///   for e = 1…E, every epoch present. When several tensors are in scope, each step's norm must be the norm
    ///   of the concatenation, √(Σ_t ||Δw_{s,t}||²), before the sum over steps (``combinedStepNorm(_:)``).
    public init(initialNorm: Double, epochPathLengths: [Double]) throws {
        try WeightTrajectory.checkNorm(initialNorm)
        if let bad = epochPathLengths.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw MetricsError.invalidTrajectory(problem: "path length \(epochPathLengths[bad]) of epoch \(bad + 1) is not a finite sum of norms")
        }
        var cumulative = [0.0]
        for d in epochPathLengths { cumulative.append(cumulative[cumulative.count - 1] + d) }
        self.definition = .path
        self.initialNorm = initialNorm
        self.epochs = Array(0...epochPathLengths.count)
        self.cumulativeDistance = cumulative
    }

    /// The `epoch` definition measured on the weights themselves, one checkpoint in memory at a time.
    /// - Parameters:
    ///   - epochs: the checkpoints, ascending from 0; pass exactly the analysed checkpoints (plus 0).
    ///   - weights: the tensors in scope at an epoch, flattened (the tap's weight matrix alone, or every
    ///     parameter up to the tap); same count and sizes at every epoch.
    public static func measuring(epochs: [Int], weights: (Int) throws -> [[Float]]) throws -> WeightTrajectory {
        guard epochs.first == 0, zip(epochs, epochs.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw MetricsError.invalidTrajectory(problem: "checkpoint epochs must ascend strictly from 0, found \(epochs)")
        }
        var previous = try weights(0)
        var squared = 0.0
        for t in previous { t.withUnsafeBufferPointer { p in for v in p { squared += Double(v) * Double(v) } } }
        var steps: [Double] = []
        for e in epochs.dropFirst() {
            let current = try weights(e)
            guard current.map(\.count) == previous.map(\.count) else {
                throw MetricsError.invalidTrajectory(problem: "the tensors in scope at epoch \(e) have sizes \(current.map(\.count)), expected \(previous.map(\.count)) as at epoch 0")
            }
            steps.append(distance(previous, current))
            previous = current
        }
        return try WeightTrajectory(initialNorm: squared.squareRoot(), epochs: epochs, stepDistances: steps)
    }

    /// ||a − b|| over the concatenation of equally sized tensors, in Double.
    public static func distance(_ a: [[Float]], _ b: [[Float]]) -> Double {
        precondition(a.count == b.count, "different tensor counts")
        var s = 0.0
        for t in 0..<a.count {
            precondition(a[t].count == b[t].count, "tensor \(t) differs in size")
            a[t].withUnsafeBufferPointer { pa in
                b[t].withUnsafeBufferPointer { pb in
                    for i in 0..<pa.count { let d = Double(pa[i]) - Double(pb[i]); s += d * d }
                }
            }
        }
        return s.squareRoot()
    }

    /// One optimiser step's norm over several tensors from their own norms: √(Σ_t n_t²).
    public static func combinedStepNorm(_ perTensorNorms: [Double]) -> Double {
        var s = 0.0
        for n in perTensorNorms { s += n * n }
        return s.squareRoot()
    }

    private static func checkNorm(_ n: Double) throws {
        guard n.isFinite, n > 0 else {
            throw MetricsError.invalidTrajectory(problem: "||w_0|| = \(n); the distance is normalised by it, so it must be finite and > 0 (are the initial weights all zero?)")
        }
    }
}

/// m̂_x of Method.md §4.
public enum LearningPace {
    /// The index of the first maximum of `foregroundCounts` (N_fg per analysed checkpoint, in epoch order):
    /// m̂_x is the first checkpoint at which x's foreground knowledge peaks, so later ties do not move it.
    public static func firstPeak(_ foregroundCounts: [Int]) -> Int {
        precondition(!foregroundCounts.isEmpty, "no checkpoints")
        var best = 0
        for k in 1..<foregroundCounts.count where foregroundCounts[k] > foregroundCounts[best] { best = k }
        return best
    }
}
