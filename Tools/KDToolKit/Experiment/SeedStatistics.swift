import Foundation
import KDCore

/// The paired comparison of a student S with its baseline B over several independent seed sets (teacher,
/// student and baseline retrained with each seed; Docs/Method.md §10 "Several seeds").
///
/// Every seed analyses the same test inputs (the class-balanced selection does not depend on the seed), so the
/// (seed, input) pairs are not independent: the same input appears once per seed. The input stays the unit of
/// the test, and the seeds average out training noise within it:
/// ```
/// d_k(x) = s_k(x) − b_k(x)                     per seed k, for each input x both networks of seed k use
/// d(x)   = mean over those seeds k of d_k(x)    one paired difference per input
/// ```
/// and d(x) goes through the one-seed machinery: paired bootstrap 95 % interval of mean d, two-sided Wilcoxon
/// signed-rank test, Holm over the six metrics, the verdict rule of ``Hypotheses``. For D_var the per-input
/// value of seed k is (D_k(x) − D̄_k)², D̄_k that network's D_mean in seed k. With one seed this is exactly
/// ``Hypotheses/pairedDifferences(student:baseline:level:)``.
enum SeedStatistics {
    /// One metric's per-input values of one seed: input id → (S, B), nil where the network has no value.
    typealias SeedValues = [(id: String, student: Double?, baseline: Double?)]

    /// Per input (in first-seen order): the mean over the seeds where both S and B have a value of S, and of B.
    /// mean(S̄ − B̄) over inputs therefore equals the mean over inputs of each input's mean seed difference.
    static func combine(_ seeds: [SeedValues]) -> (ids: [String], student: [Double?], baseline: [Double?]) {
        var order: [String] = []
        var sums: [String: (s: Double, b: Double, n: Int)] = [:]
        for seed in seeds {
            for v in seed {
                if sums[v.id] == nil { order.append(v.id); sums[v.id] = (0, 0, 0) }
                guard let s = v.student, let b = v.baseline else { continue }
                sums[v.id]!.s += s; sums[v.id]!.b += b; sums[v.id]!.n += 1
            }
        }
        let s = order.map { id in sums[id].flatMap { $0.n > 0 ? $0.s / Double($0.n) : nil } }
        let b = order.map { id in sums[id].flatMap { $0.n > 0 ? $0.b / Double($0.n) : nil } }
        return (order, s, b)
    }

    /// The six metrics in the order N_fg, N_bg, λ, D_mean, D_var, ρ with the direction the paper predicts.
    static let metrics: [(name: String, expected: MetricComparison.Direction)] = [
        ("N_fg", .higher), ("N_bg", .lower), ("λ", .higher), ("D_mean", .lower), ("D_var", .lower), ("ρ", .higher),
    ]

    /// The per-input values of metric `index` (of ``metrics``) for one seed's S and B reports; inputs are
    /// matched by id and count when both reports use them.
    static func values(_ index: Int, student s: MetricsReport, baseline b: MetricsReport) -> SeedValues {
        var byID: [String: MetricsReport.InputMetrics] = [:]
        for r in b.inputs where r.status == .used { byID[r.inputID] = r }
        func value(_ r: MetricsReport.InputMetrics, _ mean: Double?) -> Double? {
            switch index {
            case 0: return r.foregroundPoints.map(Double.init)
            case 1: return r.backgroundPoints.map(Double.init)
            case 2: return r.lambda
            case 3: return r.distance
            case 4: guard let d = r.distance, let m = mean else { return nil }; return (d - m) * (d - m)
            default: return r.rho
            }
        }
        return s.inputs.filter { $0.status == .used }.compactMap { r -> (id: String, student: Double?, baseline: Double?)? in
            guard let o = byID[r.inputID] else { return nil }
            return (r.inputID, value(r, s.distanceMean?.value), value(o, b.distanceMean?.value))
        }
    }

    /// The six paired comparisons over seeds (`students[k]`, `baselines[k]`: seed k's reports), Holm-adjusted
    /// over the six and judged at `level`.
    static func paired(students: [MetricsReport], baselines: [MetricsReport], level: Double = 0.05) -> [PairedDifference] {
        let seeds = min(students.count, baselines.count)
        guard seeds > 0 else { return [] }
        let settings = students[0].settings
        let perMetric = metrics.indices.map { i in (0..<seeds).map { values(i, student: students[$0], baseline: baselines[$0]) } }
        return paired(perMetric, replicates: settings.bootstrapReplicates, seed: settings.bootstrapSeed, level: level)
    }

    /// The same from the values themselves: `perMetric[i][k]` is metric i's values (``metrics`` order) in seed k.
    static func paired(_ perMetric: [[SeedValues]], replicates: Int, seed: UInt64, level: Double = 0.05) -> [PairedDifference] {
        var out = zip(metrics, perMetric).enumerated().map { (i, pair) -> PairedDifference in
            let c = combine(pair.1)
            return PairedDifference(metric: pair.0.name, expected: pair.0.expected, student: c.student, baseline: c.baseline,
                                    replicates: replicates, seed: seed, stream: 101 + UInt64(i))
        }
        let adjusted = PairedStatistics.holm(out.map { $0.wilcoxon?.pValue ?? 1 })
        for i in out.indices {
            out[i].holmPValue = adjusted[i]
            out[i].significant = out[i].wilcoxon != nil && adjusted[i] < level
            if out[i].significant, let w = out[i].wilcoxon, w.direction != 0 {
                out[i].verdict = (w.direction > 0) == (out[i].expected == .higher) ? .supported : .contradicted
            } else {
                out[i].verdict = .inconclusive
            }
        }
        return out
    }

    /// The hypotheses' verdicts from the paired metrics: H1 (N_fg, λ), H2 (D_mean, D_var), H3 (ρ).
    static func hypotheses(_ paired: [PairedDifference]) -> [(number: Int, metrics: [String], verdict: HypothesisVerdict)] {
        [(1, ["N_fg", "λ"]), (2, ["D_mean", "D_var"]), (3, ["ρ"])].map { n, names in
            (n, names, Hypotheses.combine(names.map { name in paired.first { $0.metric == name }?.verdict ?? .inconclusive }))
        }
    }

    /// The paired table and verdicts as text, with the rule.
    static func text(_ paired: [PairedDifference], seeds: Int, level: Double = 0.05) -> String {
        func g(_ x: Double?) -> String { x.map { String(format: "%+.3g", $0) } ?? "n/a" }
        func p(_ x: Double?) -> String { x.map { $0 < 1e-4 ? String(format: "%.1e", $0) : String(format: "%.4f", $0) } ?? "n/a" }
        var lines = [["metric", "expected", "pairs", "mean S−B", "95 % CI (paired bootstrap)", "Wilcoxon p", "Holm p", "verdict"]]
        for d in paired {
            let ci = d.ci95Lower.map { "[\(g($0)), \(g(d.ci95Upper))]" } ?? "n/a"
            lines.append([d.metric, d.expected.rawValue, "\(d.pairs)", g(d.meanDifference), ci, p(d.wilcoxon?.pValue),
                          p(d.holmPValue), d.verdict.rawValue])
        }
        var out = seeds > 1
            ? "Paired S − B per input (each input's difference is the mean of its differences over the \(seeds) seeds; Method.md §10):\n"
            : "Paired S − B per input (Method.md §10):\n"
        out += TextTable.render(lines)
        for h in hypotheses(paired) {
            out += "  H\(h.number) \(h.verdict.rawValue.uppercased()) (\(h.metrics.joined(separator: ", ")))\n"
        }
        out += "Rule: " + Hypotheses.rule(level: level) + "\n"
        return out
    }
}

/// Left-aligned columns, two spaces apart, indented by two.
enum TextTable {
    static func render(_ lines: [[String]]) -> String {
        guard let columns = lines.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { c in lines.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return lines.map { l in
            "  " + l.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n") + "\n"
    }
}
