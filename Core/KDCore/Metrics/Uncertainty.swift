// Uncertainty of the metrics over inputs: standard errors and bootstrap intervals, so tables can
// show ± values and the hypotheses can tell a difference from noise.

/// A statistic over inputs with its uncertainty. Never NaN: what cannot be estimated is nil.
public struct MetricEstimate: Codable, Sendable, Equatable {
    /// The statistic on all contributing inputs.
    public var value: Double
    /// Number of inputs it is computed on.
    public var count: Int
    /// Standard error: s/√n for a mean (s with n − 1), the bootstrap standard deviation for a variance.
    /// nil when n < 2 (or, for a variance, when the bootstrap is off).
    public var standardError: Double?
    /// Percentile bootstrap 95 % interval (2.5 % and 97.5 % quantiles of the resampled statistic);
    /// nil when n < 2 or the bootstrap is off.
    public var ci95Lower: Double?
    public var ci95Upper: Double?

    public init(value: Double, count: Int, standardError: Double?, ci95Lower: Double?, ci95Upper: Double?) {
        self.value = value; self.count = count; self.standardError = standardError
        self.ci95Lower = ci95Lower; self.ci95Upper = ci95Upper
    }
}

/// Means, population variances and their uncertainty.
public enum Uncertainty {
    /// The bootstrap's resample count and random stream. Each metric uses its own stream of one seed,
    /// so a report's intervals are reproducible and do not depend on which other metrics were computed.
    public struct Bootstrap: Sendable {
        public var replicates: Int
        public var seed: UInt64
        public var stream: UInt64
        public init(replicates: Int, seed: UInt64, stream: UInt64) {
            self.replicates = replicates; self.seed = seed; self.stream = stream
        }
    }

    public static func mean(_ xs: [Double]) -> Double {
        var s = 0.0
        for x in xs { s += x }
        return s / Double(xs.count)
    }

    /// Var = (1/n) Σ (x − x̄)², the population variance (Method.md §4's D_var).
    public static func populationVariance(_ xs: [Double]) -> Double {
        let m = mean(xs)
        var s = 0.0
        for x in xs { s += (x - m) * (x - m) }
        return s / Double(xs.count)
    }

    /// The mean of `xs` with s/√n and a bootstrap interval; nil for no values.
    public static func meanEstimate(_ xs: [Double], bootstrap: Bootstrap) -> MetricEstimate? {
        guard !xs.isEmpty else { return nil }
        let n = xs.count
        let m = mean(xs)
        guard n >= 2 else { return MetricEstimate(value: m, count: n, standardError: nil, ci95Lower: nil, ci95Upper: nil) }
        let sampleVariance = populationVariance(xs) * Double(n) / Double(n - 1)
        let interval = percentileInterval(resampled(xs, bootstrap, statistic: mean))
        return MetricEstimate(value: m, count: n, standardError: (sampleVariance / Double(n)).squareRoot(),
                              ci95Lower: interval?.lower, ci95Upper: interval?.upper)
    }

    /// The population variance of `xs` with a bootstrap standard error and interval; nil for no values.
    public static func varianceEstimate(_ xs: [Double], bootstrap: Bootstrap) -> MetricEstimate? {
        guard !xs.isEmpty else { return nil }
        let v = populationVariance(xs)
        guard xs.count >= 2 else { return MetricEstimate(value: v, count: 1, standardError: nil, ci95Lower: nil, ci95Upper: nil) }
        let replicates = resampled(xs, bootstrap, statistic: populationVariance)
        let interval = percentileInterval(replicates)
        let se = replicates.count >= 2 ? (populationVariance(replicates) * Double(replicates.count) / Double(replicates.count - 1)).squareRoot() : nil
        return MetricEstimate(value: v, count: xs.count, standardError: se,
                              ci95Lower: interval?.lower, ci95Upper: interval?.upper)
    }

    /// The statistic on `replicates` resamples of `xs` (with replacement, same size).
    static func resampled(_ xs: [Double], _ b: Bootstrap, statistic: ([Double]) -> Double) -> [Double] {
        guard b.replicates > 0 else { return [] }
        var g = SeededGenerator(seed: b.seed, stream: b.stream)
        let n = xs.count
        var sample = [Double](repeating: 0, count: n)
        var out: [Double] = []
        out.reserveCapacity(b.replicates)
        xs.withUnsafeBufferPointer { source in
            for _ in 0..<b.replicates {
                sample.withUnsafeMutableBufferPointer { target in
                    for i in 0..<n {
                        // Lemire's multiply-shift: an index in 0..<n, bias below n / 2⁶⁴, no division.
                        target[i] = source[Int(UInt64(n).multipliedFullWidth(by: g.next()).high)]
                    }
                }
                out.append(statistic(sample))
            }
        }
        return out
    }

    /// The 2.5 % and 97.5 % quantiles (linear interpolation between order statistics); nil when empty.
    static func percentileInterval(_ values: [Double]) -> (lower: Double, upper: Double)? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return (quantile(sorted, 0.025), quantile(sorted, 0.975))
    }

    /// Quantile q of ascending `sorted` values: position q·(n − 1), interpolated.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let t = position - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * t
    }
}
