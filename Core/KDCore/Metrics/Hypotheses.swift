// What a student's and a baseline's numbers say about the paper's three hypotheses.

/// The reading of one comparison or hypothesis.
public enum HypothesisVerdict: String, Codable, Sendable {
    /// Every difference goes the predicted way by more than the margin.
    case supported
    /// Some difference goes the opposite way by more than the margin.
    case notSupported = "not supported"
    /// Otherwise: a difference within the margin, or a value or standard error that is undefined.
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
    /// √(SE_S² + SE_B²): the inputs of the two reports are treated as independent samples.
    public var combinedStandardError: Double?
    public var verdict: HypothesisVerdict
}

/// One hypothesis with its comparisons.
public struct HypothesisResult: Codable, Sendable, Equatable {
    /// 1, 2 or 3 (Method.md §3-5).
    public var number: Int
    public var statement: String
    public var comparisons: [MetricComparison]
    /// Supported when every comparison is, not supported when any is, inconclusive otherwise.
    public var verdict: HypothesisVerdict
    /// The margin in combined standard errors a difference had to exceed.
    public var margin: Double
}

/// Hypotheses 1-3 of the paper, read from two reports.
///
/// ```
/// H1: N_fg(S) > N_fg(B) and λ(S) > λ(B)        (more, and better placed, knowledge)
/// H2: D_mean(S) < D_mean(B) and D_var(S) < D_var(B)  (learned simultaneously)
/// H3: ρ(S) > ρ(B)                              (fewer detours)
/// a difference counts when |S − B| > margin · √(SE_S² + SE_B²)
/// ```
/// The default margin is 1 combined standard error: a deliberately weak bar that separates "the numbers
/// point this way" from noise, not a significance test (margin 1.96 gives a rough two-sided 5 % z-test).
/// Both reports use the same inputs, so their errors are correlated; combining them as if independent
/// overstates the error of the difference when the correlation is positive, which errs towards "inconclusive".
public enum Hypotheses {
    public static func evaluate(student s: MetricsReport, baseline b: MetricsReport, margin: Double = 1) throws -> [HypothesisResult] {
        guard s.settings == b.settings else { throw MetricsError.settingsDiffer(student: s.settings, baseline: b.settings) }
        guard margin.isFinite, margin >= 0 else {
            throw MetricsError.invalidSetting(name: "margin", expected: "a finite number of standard errors ≥ 0", found: "\(margin)")
        }
        func compare(_ name: String, _ expected: MetricComparison.Direction, _ key: KeyPath<MetricsReport, MetricEstimate?>) -> MetricComparison {
            let x = s[keyPath: key], y = b[keyPath: key]
            var c = MetricComparison(metric: name, expected: expected, student: x?.value, baseline: y?.value,
                                     studentStandardError: x?.standardError, baselineStandardError: y?.standardError,
                                     difference: nil, combinedStandardError: nil, verdict: .inconclusive)
            guard let x, let y else { return c }
            let d = x.value - y.value
            c.difference = d
            guard let sx = x.standardError, let sy = y.standardError else { return c }
            let se = (sx * sx + sy * sy).squareRoot()
            c.combinedStandardError = se
            if abs(d) > margin * se {
                c.verdict = (d > 0) == (expected == .higher) ? .supported : .notSupported
            }
            return c
        }
        func hypothesis(_ number: Int, _ statement: String, _ comparisons: [MetricComparison]) -> HypothesisResult {
            let verdict: HypothesisVerdict
            if comparisons.contains(where: { $0.verdict == .notSupported }) { verdict = .notSupported }
            else if comparisons.allSatisfy({ $0.verdict == .supported }) { verdict = .supported }
            else { verdict = .inconclusive }
            return HypothesisResult(number: number, statement: statement, comparisons: comparisons, verdict: verdict, margin: margin)
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
}
