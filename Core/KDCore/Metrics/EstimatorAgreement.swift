// Whether two entropy estimators (e.g. `direct` and `log`) rank the units of the same input alike.

/// Spearman rank correlation between entropy maps, and how often two estimators agree.
///
/// ```
/// ρ_s(a, b) = Pearson correlation of rank(a) and rank(b),   ties get the average of their ranks
/// ```
/// Knowledge points depend on each unit's entropy relative to the background mean, so two estimators
/// that rank units alike find nearly the same points even when their entropy levels differ. A map pair
/// with ρ_s ≥ 0.9 counts as agreeing. A constant map has no ranking: its correlation is undefined (nil)
/// and it is counted, not agreeing.
public enum EstimatorAgreement {
    /// The threshold a pair must reach to count as agreeing.
    public static let agreementThreshold = 0.9

    /// Average ranks (1-based) of `values`; tied values share the mean of their ranks.
    public static func averageRanks(_ values: [Float]) -> [Double] {
        let n = values.count
        let order = (0..<n).sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: n)
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && values[order[j + 1]] == values[order[i]] { j += 1 }
            let r = Double(i + j + 2) / 2
            for m in i...j { ranks[order[m]] = r }
            i = j + 1
        }
        return ranks
    }

    /// Spearman's ρ between two maps of the same units; nil when either map is constant or has fewer
    /// than 2 units.
    public static func spearman(_ a: [Float], _ b: [Float]) -> Double? {
        precondition(a.count == b.count, "Spearman: maps of \(a.count) and \(b.count) units")
        guard a.count >= 2 else { return nil }
        let ra = averageRanks(a), rb = averageRanks(b)
        let ma = Uncertainty.mean(ra), mb = Uncertainty.mean(rb)
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in 0..<a.count {
            let da = ra[i] - ma, db = rb[i] - mb
            sab += da * db; saa += da * da; sbb += db * db
        }
        guard saa > 0, sbb > 0 else { return nil }
        return sab / (saa * sbb).squareRoot()
    }

    /// The agreement of two estimators over many maps.
    public struct Summary: Codable, Sendable, Equatable {
        /// Map pairs compared.
        public var maps: Int
        /// Pairs with an undefined correlation (a constant map).
        public var undefined: Int
        /// Pairs with ρ_s ≥ ``EstimatorAgreement/agreementThreshold``.
        public var agreeing: Int
        /// agreeing / maps (0 without maps): undefined pairs count as not agreeing.
        public var fractionAgreeing: Double
        /// Median and minimum ρ_s over the defined pairs; nil when none is defined.
        public var medianSpearman: Double?
        public var minimumSpearman: Double?
    }

    /// Compares maps pairwise: `first[i]` and `second[i]` are the two estimators' maps of the same input.
    public static func summary(_ first: [[Float]], _ second: [[Float]], threshold: Double = agreementThreshold) -> Summary {
        precondition(first.count == second.count, "\(first.count) maps against \(second.count)")
        let values = zip(first, second).map { spearman($0, $1) }
        let defined = values.compactMap { $0 }.sorted()
        let agreeing = defined.filter { $0 >= threshold }.count
        return Summary(maps: values.count, undefined: values.count - defined.count, agreeing: agreeing,
                       fractionAgreeing: values.isEmpty ? 0 : Double(agreeing) / Double(values.count),
                       medianSpearman: defined.isEmpty ? nil : Uncertainty.quantile(defined, 0.5),
                       minimumSpearman: defined.first)
    }
}
