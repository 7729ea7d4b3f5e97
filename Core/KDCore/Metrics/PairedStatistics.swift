import Foundation

// Paired statistics of Method.md §10: S and B are measured on the same inputs with the same noise
// streams, so they are compared input by input.

/// The paired tests that judge a student S against its baseline B.
///
/// For one metric with per-input values s(x), b(x) on the inputs both networks use:
/// ```
/// d(x)        = s(x) − b(x)
/// mean        = (1/n) Σ d(x)
/// 95 % CI     = percentile interval of the mean of n pairs drawn with replacement (paired bootstrap)
/// p           = Wilcoxon signed-rank test of "d is symmetric about 0", two-sided
/// p_Holm      = Holm's step-down adjustment over the metrics judged together
/// ```
///
/// **Wilcoxon conventions** (those of `scipy.stats.wilcoxon` with `zero_method="wilcox"`,
/// `correction=True`, `alternative="two-sided"`, except where noted):
/// - Zero differences are dropped before ranking (Wilcoxon's method, not Pratt's); n counts the rest.
/// - |d| is ranked with average ranks for ties. W⁺ = Σ ranks of positive d, W⁻ = Σ ranks of negative d.
/// - n ≤ ``exactLimit`` (25): the exact distribution of W⁺ under the 2ⁿ equally likely sign patterns of
///   the observed ranks, p = min(1, 2 · min(P(W ≤ W⁺), P(W ≥ W⁺))). With tied ranks this is the exact
///   conditional (permutation) distribution of the midranks; scipy would switch to the normal
///   approximation there, so tied small samples can differ from scipy slightly.
/// - n > 25: the normal approximation, mean n(n+1)/4, variance n(n+1)(2n+1)/24 − Σ(t³ − t)/48 over
///   groups of t tied |d|, with a continuity correction of ½ towards the mean; p = erfc(|z|/√2).
/// - n = 0 (every difference is zero): p = 1, no evidence either way.
///
/// ### References
/// Wilcoxon, "Individual Comparisons by Ranking Methods", 1945. Holm, "A Simple Sequentially
/// Rejective Multiple Test Procedure", 1979. Efron & Tibshirani, "An Introduction to the Bootstrap", 1993.
public enum PairedStatistics {
    /// Samples of at most this many non-zero differences use the exact distribution.
    public static let exactLimit = 25

    /// How a p-value was obtained.
    public enum Method: String, Codable, Sendable {
        case exact
        case normal = "normal-approximation"
    }

    /// One Wilcoxon signed-rank test.
    public struct Wilcoxon: Codable, Sendable, Equatable {
        /// Non-zero differences ranked.
        public var n: Int
        /// Zero differences dropped.
        public var zeros: Int
        /// W⁺ and W⁻ (W⁺ + W⁻ = n(n+1)/2).
        public var positiveRankSum: Double
        public var negativeRankSum: Double
        /// Two-sided p-value.
        public var pValue: Double
        public var method: Method
        /// The way the differences lean: +1 when W⁺ > W⁻ (S tends higher), −1 when W⁺ < W⁻, 0 when equal.
        public var direction: Int { positiveRankSum > negativeRankSum ? 1 : (positiveRankSum < negativeRankSum ? -1 : 0) }
    }

    /// The two-sided Wilcoxon signed-rank test of the differences `d` (conventions above).
    public static func wilcoxon(_ d: [Double]) -> Wilcoxon {
        precondition(d.allSatisfy(\.isFinite), "Wilcoxon: differences must be finite")
        let nonZero = d.filter { $0 != 0 }
        let n = nonZero.count
        guard n > 0 else {
            return Wilcoxon(n: 0, zeros: d.count, positiveRankSum: 0, negativeRankSum: 0, pValue: 1, method: .exact)
        }
        // Average ranks of |d|, and the sizes of tied groups.
        let order = (0..<n).sorted { abs(nonZero[$0]) < abs(nonZero[$1]) }
        var ranks = [Double](repeating: 0, count: n)
        var tieGroups: [Int] = []
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && abs(nonZero[order[j + 1]]) == abs(nonZero[order[i]]) { j += 1 }
            let average = Double(i + j + 2) / 2          // ranks i+1 ... j+1
            for m in i...j { ranks[order[m]] = average }
            if j > i { tieGroups.append(j - i + 1) }
            i = j + 1
        }
        var plus = 0.0, minus = 0.0
        for m in 0..<n { if nonZero[m] > 0 { plus += ranks[m] } else { minus += ranks[m] } }

        let p: Double, method: Method
        if n <= exactLimit {
            // Doubled ranks are integers; count the sign patterns giving each doubled sum.
            let doubled = ranks.map { Int(($0 * 2).rounded()) }
            let total = doubled.reduce(0, +)
            var counts = [Double](repeating: 0, count: total + 1)
            counts[0] = 1
            var reach = 0
            for r in doubled {
                reach += r
                for s in stride(from: reach, through: r, by: -1) { counts[s] += counts[s - r] }
            }
            let observed = Int((plus * 2).rounded())
            let all = Foundation.pow(2.0, Double(n))
            var lower = 0.0, upper = 0.0
            for s in 0...total {
                if s <= observed { lower += counts[s] }
                if s >= observed { upper += counts[s] }
            }
            p = min(1, 2 * min(lower, upper) / all)
            method = .exact
        } else {
            let nd = Double(n)
            let mean = nd * (nd + 1) / 4
            var variance = nd * (nd + 1) * (2 * nd + 1) / 24
            for t in tieGroups { variance -= Double(t * t * t - t) / 48 }
            if variance <= 0 { p = 1 } else {
                let distance = max(abs(plus - mean) - 0.5, 0)
                p = min(1, erfc(distance / variance.squareRoot() / 2.0.squareRoot()))
            }
            method = .normal
        }
        return Wilcoxon(n: n, zeros: d.count - n, positiveRankSum: plus, negativeRankSum: minus, pValue: p, method: method)
    }

    /// Holm's step-down adjusted p-values, in the order given:
    /// sort p ascending, p̃_(j) = max_{i ≤ j} min(1, (m − i + 1) · p_(i)). Rejecting where p̃ < level
    /// controls the family-wise error rate at that level.
    public static func holm(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = (0..<m).sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: m)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * p[index]))
            adjusted[index] = running
        }
        return adjusted
    }

    /// The percentile 95 % interval of the mean of `d` over `replicates` resamples of its entries drawn
    /// with replacement (each entry is one input's pair, so this is the paired bootstrap); nil when fewer
    /// than 2 values or no replicates. All values equal gives the degenerate interval [d, d].
    public static func bootstrapInterval(_ d: [Double], replicates: Int, seed: UInt64, stream: UInt64) -> (lower: Double, upper: Double)? {
        guard d.count >= 2, replicates > 0 else { return nil }
        let means = Uncertainty.resampled(d, .init(replicates: replicates, seed: seed, stream: stream), statistic: Uncertainty.mean)
        return Uncertainty.percentileInterval(means)
    }
}

/// The paired comparison of one metric, student against baseline.
public struct PairedDifference: Codable, Sendable, Equatable {
    /// "N_fg", "N_bg", "λ", "D_mean", "D_var" or "ρ".
    public var metric: String
    /// The direction the paper predicts for the student.
    public var expected: MetricComparison.Direction
    /// Inputs with a value for both networks.
    public var pairs: Int
    /// mean(S − B) over the pairs; nil when there is none.
    public var meanDifference: Double?
    /// Paired-bootstrap 95 % interval of that mean; nil when fewer than 2 pairs or the bootstrap is off.
    public var ci95Lower: Double?
    public var ci95Upper: Double?
    /// The signed-rank test; nil when there is no pair.
    public var wilcoxon: PairedStatistics.Wilcoxon?
    /// Holm-adjusted p over the metrics judged together (1 when there is no test).
    public var holmPValue: Double
    /// Holm-adjusted p below the significance level.
    public var significant: Bool
    /// supported: significant in the expected direction; contradicted: significant the other way; else inconclusive.
    public var verdict: HypothesisVerdict

    /// Builds the comparison from per-input values (nil = no value for that input), Holm not yet applied.
    public init(metric: String, expected: MetricComparison.Direction, student: [Double?], baseline: [Double?],
                replicates: Int, seed: UInt64, stream: UInt64) {
        precondition(student.count == baseline.count, "paired values of different lengths")
        var d: [Double] = []
        for i in 0..<student.count { if let s = student[i], let b = baseline[i] { d.append(s - b) } }
        self.metric = metric
        self.expected = expected
        self.pairs = d.count
        self.meanDifference = d.isEmpty ? nil : Uncertainty.mean(d)
        let interval = PairedStatistics.bootstrapInterval(d, replicates: replicates, seed: seed, stream: stream)
        self.ci95Lower = interval?.lower
        self.ci95Upper = interval?.upper
        self.wilcoxon = d.isEmpty ? nil : PairedStatistics.wilcoxon(d)
        self.holmPValue = wilcoxon?.pValue ?? 1
        self.significant = false
        self.verdict = .inconclusive
    }

    /// Applies a Holm-adjusted p and the verdict rule at `level`.
    mutating func judge(holmPValue p: Double, level: Double) {
        holmPValue = p
        significant = wilcoxon != nil && p < level
        guard significant, let w = wilcoxon, w.direction != 0 else { verdict = .inconclusive; return }
        verdict = (w.direction > 0) == (expected == .higher) ? .supported : .contradicted
    }
}

/// Mean ± standard deviation of one number over independent seed sets (Method.md §10).
public struct SeedSpread: Codable, Sendable, Equatable {
    public var count: Int
    public var mean: Double
    /// The sample standard deviation (n − 1); nil for fewer than 2 seeds.
    public var standardDeviation: Double?

    /// nil for no values.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        count = values.count
        mean = Uncertainty.mean(values)
        standardDeviation = values.count < 2 ? nil
            : (Uncertainty.populationVariance(values) * Double(values.count) / Double(values.count - 1)).squareRoot()
    }

    /// "12.3 ± 0.4 (3 seeds)".
    public func formatted(_ format: String = "%.3g") -> String {
        let sd = standardDeviation.map { " ± " + String(format: format, $0) } ?? ""
        return String(format: format, mean) + sd + " (\(count) seed\(count == 1 ? "" : "s"))"
    }
}
