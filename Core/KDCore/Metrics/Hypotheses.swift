// What a student's and a baseline's numbers say about the paper's three hypotheses.

/// The reading of one comparison or hypothesis.
public enum HypothesisVerdict: String, Codable, Sendable {
    /// Every metric differs significantly in the predicted direction.
    case supported
    /// Some metric differs significantly in the opposite direction.
    case contradicted
    /// Otherwise: no significant difference, or a value that is undefined.
    case inconclusive
}

/// One metric of one hypothesis, student against baseline.
public struct MetricComparison: Codable, Sendable, Equatable {
    public enum Direction: String, Codable, Sendable { case higher, lower }
    /// The report field ("N_fg", "λ", "D_mean", "D_var", "ρ").
    public var metric: String
    /// What the hypothesis predicts for the student.
    public var expected: Direction
    public var student: Double?
    public var baseline: Double?
    public var studentStandardError: Double?
    public var baselineStandardError: Double?
    /// student − baseline.
    public var difference: Double?
    /// √(SE_S² + SE_B²): the inputs of the two reports treated as independent samples (unpaired).
    public var combinedStandardError: Double?
    /// The paired verdict of this metric (``PairedDifference/verdict``); the hypothesis is judged on these.
    public var verdict: HypothesisVerdict
    /// The older unpaired reading: |S − B| > margin · combined SE. Kept for comparison only.
    public var unpairedVerdict: HypothesisVerdict
    /// The paired test of this metric; nil only when built from reports without per-input values.
    public var paired: PairedDifference?
}

/// One hypothesis with its comparisons.
public struct HypothesisResult: Codable, Sendable, Equatable {
    /// 1, 2 or 3 (Method.md §3-5).
    public var number: Int
    public var statement: String
    public var comparisons: [MetricComparison]
    /// By the paired rule (``Hypotheses/rule(level:)``).
    public var verdict: HypothesisVerdict
    /// The margin in combined standard errors of the unpaired reading (``MetricComparison/unpairedVerdict``).
    public var margin: Double
}

/// Hypotheses 1-3 of the paper, judged by paired tests (Method.md §10).
///
/// ```
/// H1: N_fg(S) > N_fg(B) and λ(S) > λ(B)                 (more, and better placed, knowledge)
/// H2: D_mean(S) < D_mean(B) and D_var(S) < D_var(B)     (learned simultaneously)
/// H3: ρ(S) > ρ(B)                                       (fewer detours)
/// ```
/// Every metric is compared input by input (``PairedDifference``): the per-input values are N_fg(x),
/// N_bg(x), λ(x), D(m̂_x), ρ(x), and for D_var the per-input contribution (D(m̂_x) − D̄)², D̄ = that
/// network's D_mean, whose mean over the inputs is exactly the population variance D_var. The six
/// metrics (N_bg included, reported with the prediction "lower" but not part of a hypothesis) form one
/// Holm family. A hypothesis is supported when each of its metrics is significant (Holm-adjusted
/// p < level) in the expected direction, contradicted when one is significant the other way, and
/// inconclusive otherwise. The direction of a metric is the way its signed ranks lean (W⁺ > W⁻: S higher).
public enum Hypotheses {
    /// The verdict rule, to print with the verdicts.
    public static func rule(level: Double = 0.05) -> String {
        "Each metric is compared input by input (S − B): Wilcoxon signed-rank test, two-sided, zero differences dropped, " +
        "exact for n ≤ \(PairedStatistics.exactLimit), normal approximation with tie and continuity correction above; " +
        "Holm-adjusted over the six metrics N_fg, N_bg, λ, D_mean, D_var, ρ. A hypothesis is SUPPORTED when every one of its " +
        "metrics is significant (Holm-adjusted p < \(level)) in the expected direction, CONTRADICTED when one is significant " +
        "in the opposite direction, INCONCLUSIVE otherwise. Intervals: 95 % paired bootstrap of the mean difference."
    }

    /// The six paired comparisons, in the order N_fg, N_bg, λ, D_mean, D_var, ρ, Holm-adjusted and judged.
    /// Inputs are matched by id; an input counts for a metric when both reports use it and both have a value.
    public static func pairedDifferences(student s: MetricsReport, baseline b: MetricsReport, level: Double = 0.05) -> [PairedDifference] {
        var baselineByID: [String: MetricsReport.InputMetrics] = [:]
        for r in b.inputs where r.status == .used { baselineByID[r.inputID] = r }
        var pairs: [(MetricsReport.InputMetrics, MetricsReport.InputMetrics)] = []
        for r in s.inputs where r.status == .used {
            if let o = baselineByID[r.inputID] { pairs.append((r, o)) }
        }
        let sMean = s.distanceMean?.value, bMean = b.distanceMean?.value
        func squared(_ d: Double?, _ m: Double?) -> Double? {
            guard let d, let m else { return nil }
            return (d - m) * (d - m)
        }
        let definitions: [(String, MetricComparison.Direction, (MetricsReport.InputMetrics, Bool) -> Double?)] = [
            ("N_fg", .higher, { r, _ in r.foregroundPoints.map(Double.init) }),
            ("N_bg", .lower, { r, _ in r.backgroundPoints.map(Double.init) }),
            ("λ", .higher, { r, _ in r.lambda }),
            ("D_mean", .lower, { r, _ in r.distance }),
            ("D_var", .lower, { r, isStudent in squared(r.distance, isStudent ? sMean : bMean) }),
            ("ρ", .higher, { r, _ in r.rho }),
        ]
        var out = definitions.enumerated().map { (i, def) in
            PairedDifference(metric: def.0, expected: def.1,
                             student: pairs.map { def.2($0.0, true) }, baseline: pairs.map { def.2($0.1, false) },
                             replicates: s.settings.bootstrapReplicates, seed: s.settings.bootstrapSeed,
                             stream: 101 + UInt64(i))
        }
        let adjusted = PairedStatistics.holm(out.map { $0.wilcoxon?.pValue ?? 1 })
        for i in out.indices { out[i].judge(holmPValue: adjusted[i], level: level) }
        return out
    }

    /// The hypotheses, judged by the paired rule; the unpaired reading (margin in combined standard
    /// errors) is kept in each comparison's ``MetricComparison/unpairedVerdict``.
    public static func evaluate(student s: MetricsReport, baseline b: MetricsReport, margin: Double = 1,
                                level: Double = 0.05) throws -> [HypothesisResult] {
        guard s.settings == b.settings else { throw MetricsError.settingsDiffer(student: s.settings, baseline: b.settings) }
        guard margin.isFinite, margin >= 0 else {
            throw MetricsError.invalidSetting(name: "margin", expected: "a finite number of standard errors ≥ 0", found: "\(margin)")
        }
        guard level > 0, level < 1 else {
            throw MetricsError.invalidSetting(name: "significance level", expected: "a probability in (0, 1)", found: "\(level)")
        }
        let paired = pairedDifferences(student: s, baseline: b, level: level)
        func compare(_ name: String, _ expected: MetricComparison.Direction, _ key: KeyPath<MetricsReport, MetricEstimate?>) -> MetricComparison {
            let x = s[keyPath: key], y = b[keyPath: key]
            let p = paired.first { $0.metric == name }
            var c = MetricComparison(metric: name, expected: expected, student: x?.value, baseline: y?.value,
                                     studentStandardError: x?.standardError, baselineStandardError: y?.standardError,
                                     difference: nil, combinedStandardError: nil, verdict: p?.verdict ?? .inconclusive,
                                     unpairedVerdict: .inconclusive, paired: p)
            guard let x, let y else { return c }
            let d = x.value - y.value
            c.difference = d
            guard let sx = x.standardError, let sy = y.standardError else { return c }
            let se = (sx * sx + sy * sy).squareRoot()
            c.combinedStandardError = se
            if abs(d) > margin * se {
                c.unpairedVerdict = (d > 0) == (expected == .higher) ? .supported : .contradicted
            }
            return c
        }
        func hypothesis(_ number: Int, _ statement: String, _ comparisons: [MetricComparison]) -> HypothesisResult {
            HypothesisResult(number: number, statement: statement, comparisons: comparisons,
                             verdict: combine(comparisons.map(\.verdict)), margin: margin)
        }
        return [
            hypothesis(1, "Distillation makes the network learn more visual concepts (higher N_fg) and more of them on the foreground (higher λ) than learning from raw data.",
                       [compare("N_fg", .higher, \.foregroundPoints), compare("λ", .higher, \.lambda)]),
            hypothesis(2, "Distillation makes the network learn concepts simultaneously rather than sequentially (lower D_mean and D_var).",
                       [compare("D_mean", .lower, \.distanceMean), compare("D_var", .lower, \.distanceVariance)]),
            hypothesis(3, "Distillation gives more stable optimisation directions, with fewer detours (higher ρ).",
                       [compare("ρ", .higher, \.rho)]),
        ]
    }

    /// Contradicted when any metric is, supported when all are, inconclusive otherwise.
    public static func combine(_ verdicts: [HypothesisVerdict]) -> HypothesisVerdict {
        if verdicts.contains(.contradicted) { return .contradicted }
        if !verdicts.isEmpty && verdicts.allSatisfy({ $0 == .supported }) { return .supported }
        return .inconclusive
    }
}
