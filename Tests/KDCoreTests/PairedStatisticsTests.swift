import Foundation
import KDCore
import Testing
import _TestSupport

// Known answers for the paired statistics of Method.md §10. The Wilcoxon p-values were worked out by hand
// (the counts are in the comments) and agree with scipy.stats.wilcoxon (zero_method="wilcox", correction=True).

@Suite struct WilcoxonTests {
    @Test func exactSmallSamples() {
        // n = 5, all positive: W⁺ = 15 is the largest of 2⁵ equally likely sums → p = 2 · 1/32.
        let all = PairedStatistics.wilcoxon([1, 2, 3, 4, 5])
        #expect(all.n == 5 && all.positiveRankSum == 15 && all.negativeRankSum == 0 && all.method == .exact)
        expectClose(all.pValue, 2.0 / 32, tol: 1e-15)
        #expect(all.direction == 1)
        // W⁺ = 10, W⁻ = 5: sign patterns with W⁻ ≤ 5 are the subsets of {1..5} summing to ≤ 5:
        // {}, {1}, {2}, {3}, {1,2}, {4}, {1,3}, {5}, {1,4}, {2,3} = 10 → p = 2 · 10/32.
        let mixed = PairedStatistics.wilcoxon([1, 2, 3, 4, -5])
        expectClose(mixed.pValue, 20.0 / 32, tol: 1e-15)
        #expect(mixed.direction == 1)
        // A zero difference is dropped (Wilcoxon's method), not ranked (Pratt's).
        let zero = PairedStatistics.wilcoxon([0, -1, -2, -3, -4, -5])
        #expect(zero.n == 5 && zero.zeros == 1 && zero.direction == -1)
        expectClose(zero.pValue, 2.0 / 32, tol: 1e-15)
        // Ties: |1| = |−1| share rank 1.5; ranks 1.5, 1.5, 3, 4, W⁺ = 8.5. Of the 16 sign patterns, 3 give
        // W⁺ ≥ 8.5 ({1.5, 3, 4} twice and all four) → p = 2 · 3/16.
        let tied = PairedStatistics.wilcoxon([1, -1, 2, 3])
        #expect(tied.positiveRankSum == 8.5)
        expectClose(tied.pValue, 6.0 / 16, tol: 1e-15)
        // Nothing but zeros: no evidence.
        let none = PairedStatistics.wilcoxon([0, 0, 0])
        #expect(none.n == 0 && none.pValue == 1 && none.direction == 0)
    }

    @Test func normalApproximationAboveTwentyFive() {
        // n = 30, all positive: W⁺ = 465, mean 232.5, variance 30·31·61/24 = 2363.75,
        // z = (465 − 232.5 − ½)/√2363.75 = 4.77193 → p = erfc(z/√2) = 1.8253714563612e-6.
        let all = PairedStatistics.wilcoxon((1...30).map(Double.init))
        #expect(all.method == .normal)
        expectClose(all.pValue, 1.8253714563612e-6, tol: 1e-15)
        // Ten each of 1, 2, −3: ranks 5.5, 15.5, 25.5, W⁺ = 210; ties remove 3·(10³ − 10)/48 = 61.875 from the
        // variance (2301.875); z = (232.5 − 210 − ½)/√2301.875 → p = 0.6465610538419845.
        let ties = PairedStatistics.wilcoxon(Array(repeating: 1, count: 10) + Array(repeating: 2, count: 10) + Array(repeating: -3, count: 10))
        #expect(ties.positiveRankSum == 210 && ties.method == .normal)
        expectClose(ties.pValue, 0.6465610538419845, tol: 1e-12)
        // 25 → exact, 26 → normal.
        #expect(PairedStatistics.wilcoxon((1...25).map(Double.init)).method == .exact)
        expectClose(PairedStatistics.wilcoxon((1...25).map(Double.init)).pValue, 2 / pow(2, 25), tol: 1e-20)
        #expect(PairedStatistics.wilcoxon((1...26).map(Double.init)).method == .normal)
    }

    @Test func holmOnAKnownList() {
        // Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06.
        let adjusted = PairedStatistics.holm([0.01, 0.04, 0.03, 0.005])
        for (a, e) in zip(adjusted, [0.03, 0.06, 0.06, 0.02]) { expectClose(a, e, tol: 1e-15) }
        #expect(PairedStatistics.holm([0.5, 0.6]) == [1, 1])
        #expect(PairedStatistics.holm([]) == [])
    }

    @Test func pairedBootstrapInterval() throws {
        var g = SeededGenerator(seed: 4)
        func draws(_ n: Int) -> [Double] { (0..<n).map { _ in 0.3 + Double(g.gaussian()) } }
        let small = draws(20), large = draws(2000)
        let a = try #require(PairedStatistics.bootstrapInterval(small, replicates: 2000, seed: 1, stream: 1))
        let b = try #require(PairedStatistics.bootstrapInterval(large, replicates: 2000, seed: 1, stream: 1))
        let ma = Uncertainty.mean(small), mb = Uncertainty.mean(large)
        #expect(a.lower < ma && ma < a.upper && b.lower < mb && mb < b.upper)
        // The width shrinks like 1/√n: 2000 vs 20 draws → about 10× narrower (within ±40 %: the spread of 20
        // draws is itself uncertain by about 16 %).
        let ratio = (a.upper - a.lower) / (b.upper - b.lower)
        print("paired bootstrap width ratio n = 20 vs 2000: \(ratio)")
        #expect(ratio > 6 && ratio < 14)
        // A constant difference has a degenerate interval; too few pairs have none.
        let constant = try #require(PairedStatistics.bootstrapInterval([0.25, 0.25, 0.25, 0.25], replicates: 500, seed: 1, stream: 1))
        #expect(constant.lower == 0.25 && constant.upper == 0.25)
        #expect(PairedStatistics.bootstrapInterval([1], replicates: 500, seed: 1, stream: 1) == nil)
        // Seeded: the same interval again.
        #expect(PairedStatistics.bootstrapInterval(small, replicates: 2000, seed: 1, stream: 1)! == a)
    }

    @Test func meanAndSpreadOverSeeds() throws {
        let s = try #require(SeedSpread([1, 2, 3]))
        #expect(s.count == 3 && s.mean == 2 && s.standardDeviation == 1)
        #expect(s.formatted("%.2f") == "2.00 ± 1.00 (3 seeds)")
        #expect(SeedSpread([5])?.standardDeviation == nil && SeedSpread([]) == nil)
    }
}

// MARK: - Verdicts from maps

/// 24 inputs, 6 units (fg = units 0-2), checkpoints 1 and 2, per-input H̄, b = 0.5, distance D(1) = 1, D(2) = 3.
///
/// Student, even inputs: epoch 1 fg points {0,1,2}, epoch 2 {0,1} → N_fg 2, N_bg 0, λ 1, ρ 2/3, m̂ = 1, D = 1.
/// Student, odd inputs:  epoch 1 none,           epoch 2 {0,1} → N_fg 2, N_bg 0, λ 1, ρ 1,   m̂ = 2, D = 3.
/// Baseline, all: epoch 1 {0}, epoch 2 unit 0 (fg) and unit 3 (bg) against H̄ = −1/3 → N_fg 1, N_bg 1, λ ½, ρ 1,
/// m̂ = 1 (first maximum), D = 1.
/// Paired differences: N_fg +1 ×24, N_bg −1 ×24, λ +½ ×24 (H1 supported); D_mean +2 on the 12 odd inputs, 0 on
/// the even ones (dropped); D_var contributions (D − 2)² = 1 against (1 − 1)² = 0 → +1 ×24 (H2 contradicted);
/// ρ −⅓ on the 12 even inputs (H3 contradicted). Exact p = 2/2²⁴ or 2/2¹², times at most 6 by Holm: all < 0.05.
private func pairedMaps(inputs: Int = 24) throws -> (EntropyMapSet, EntropyMapSet, WeightTrajectory, WeightTrajectory) {
    let fg = [true, true, true, false, false, false]
    var student: [EntropyMap] = [], baseline: [EntropyMap] = []
    for i in 0..<inputs {
        let id = String(format: "x%02d", i)
        let s1: [Float] = i % 2 == 0 ? [-1, -1, -1, 0, 0, 0] : [0, 0, 0, 0, 0, 0]
        student.append(EntropyMap(inputID: id, epoch: 1, entropies: s1, foreground: fg, lossFlattened: true, targetReached: true))
        student.append(EntropyMap(inputID: id, epoch: 2, entropies: [-1, -1, 0, 0, 0, 0], foreground: fg,
                                  lossFlattened: i >= 3, targetReached: true))
        baseline.append(EntropyMap(inputID: id, epoch: 1, entropies: [-1, 0, 0, 0, 0, 0], foreground: fg))
        baseline.append(EntropyMap(inputID: id, epoch: 2, entropies: [-1, 0, 0, -1, 0, 0], foreground: fg))
    }
    let t = try WeightTrajectory(initialNorm: 1, epochs: [0, 1, 2], stepDistances: [1, 2])
    return (try EntropyMapSet(network: "student", maps: student), try EntropyMapSet(network: "baseline", maps: baseline), t, t)
}

@Suite struct PairedVerdictTests {
    @Test func hypothesesAreJudgedInputByInput() throws {
        let (s, b, ts, tb) = try pairedMaps()
        let c = try KnowledgeMetrics.compare(student: s, studentTrajectory: ts, baseline: b, baselineTrajectory: tb,
                                             settings: MetricSettings(threshold: 0.5))
        #expect(c.paired.map(\.metric) == ["N_fg", "N_bg", "λ", "D_mean", "D_var", "ρ"])
        #expect(c.paired.map(\.pairs) == [24, 24, 24, 24, 24, 24])
        let means = c.paired.map { $0.meanDifference! }
        for (m, e) in zip(means, [1, -1, 0.5, 1, 1, -1.0 / 6]) { expectClose(m, e, tol: 1e-12) }
        // D_var's per-input contributions average to the difference of the population variances.
        expectClose(means[4], c.student.distanceVariance!.value - c.baseline.distanceVariance!.value, tol: 1e-12)
        #expect(c.paired.map { $0.wilcoxon!.n } == [24, 24, 24, 12, 24, 12])
        #expect(c.paired.allSatisfy { $0.significant })
        #expect(c.paired.map(\.verdict) == [.supported, .supported, .supported, .contradicted, .contradicted, .contradicted])
        #expect(c.hypotheses.map(\.verdict) == [.supported, .contradicted, .contradicted])
        #expect(c.hypotheses[0].comparisons[0].paired == c.paired[0])
        // Holm: four raw p of 2/2²⁴ times 6, 5, 4, 3 → 6·2/2²⁴ for all four (running maximum); the two of
        // 2/2¹² (D_mean, ρ) times 2 and 1 → 2·2/2¹² for both.
        for i in [0, 1, 2, 4] { expectClose(c.paired[i].holmPValue, 6 * 2 / pow(2, 24), tol: 1e-18) }
        for i in [3, 5] { expectClose(c.paired[i].holmPValue, 2 * 2 / pow(2, 12), tol: 1e-15) }
        #expect(c.significanceLevel == 0.05 && c.verdictRule.contains("SUPPORTED") && c.verdictRule.contains("Holm"))
        // A constant difference gives a degenerate interval.
        #expect(c.paired[0].ci95Lower == 1 && c.paired[0].ci95Upper == 1)
    }

    @Test func fewInputsAreInconclusive() throws {
        // Four inputs all pointing the supported way: exact p = 2/16 at best → nothing is significant.
        let (s, b, ts, tb) = try pairedMaps(inputs: 4)
        let c = try KnowledgeMetrics.compare(student: s, studentTrajectory: ts, baseline: b, baselineTrajectory: tb,
                                             settings: MetricSettings(threshold: 0.5))
        #expect(c.paired.allSatisfy { !$0.significant })
        #expect(c.hypotheses.allSatisfy { $0.verdict == .inconclusive })
        // A stricter level in the other direction: with 24 inputs even 1e-3 leaves H1 supported.
        let (s24, b24, _, _) = try pairedMaps()
        let strict = try KnowledgeMetrics.compare(student: s24, baseline: b24, settings: MetricSettings(threshold: 0.5), level: 1e-3)
        #expect(strict.hypotheses[0].verdict == .supported)
        // No trajectory: D is undefined for every input → no pair → H2 inconclusive, not a verdict.
        #expect(strict.paired[3].pairs == 0 && strict.paired[3].wilcoxon == nil && strict.hypotheses[1].verdict == .inconclusive)
    }

    @Test func convergenceIsCountedPerReport() throws {
        let (s, b, ts, tb) = try pairedMaps()
        let c = try KnowledgeMetrics.compare(student: s, studentTrajectory: ts, baseline: b, baselineTrajectory: tb,
                                             settings: MetricSettings(threshold: 0.5))
        // 24 inputs × 2 checkpoints; inputs 0-2 unflattened at epoch 2 → 3/48 = 6.25 %: counted, not marked.
        let conv = try #require(c.student.convergence)
        #expect(conv.maps == 48 && conv.lossNotFlattened == 3 && conv.pinned == 48 && conv.targetNotReached == 0 && conv.neither == 0)
        #expect(!conv.needsMark)
        #expect(c.baseline.convergence == nil, "maps without flags give no summary")
        // 11 % marks a row, 10 % does not.
        var eleven = ConvergenceSummary(), ten = ConvergenceSummary()
        for i in 0..<100 { eleven.add(lossFlattened: i >= 11, targetReached: i % 2 == 0) }
        for i in 0..<100 { ten.add(lossFlattened: i >= 10, targetReached: nil) }
        #expect(eleven.needsMark && !ten.needsMark)
        #expect(eleven.targetNotReached == 50 && eleven.neither == 5 && ten.neither == 10)
        #expect(eleven.description == "11/100 maps unconverged (11.0 %), 50/100 missed the entropy target")
    }

    @Test func datasetBaselineAveragesTheKeptInputs() throws {
        // p passes the filter (bg 0 > fg −1), q fails (bg −2 < fg 0), r passes (bg 1 > fg −0.5).
        // Kept: H̄ = (0 + 1)/2 = 0.5; all: (0 − 2 + 1)/3 = −1/3.
        let fg = [true, true, false, false]
        let maps = [("p", [Float](arrayLiteral: -1, -1, 0, 0)), ("q", [0, 0, -2, -2]), ("r", [-1, 0, 1, 1])]
            .map { EntropyMap(inputID: $0.0, epoch: 1, entropies: $0.1, foreground: fg) }
        let set = try EntropyMapSet(network: "n", maps: maps)
        var settings = MetricSettings.authorsCode(threshold: 0.5, effectiveFilter: EffectiveInputFilter(fromEpoch: 1))
        settings.rhoIncludesInitial = false
        #expect(settings.datasetBaselineInputs == .kept)
        let kept = try KnowledgeMetrics.report(maps: set, settings: settings)
        expectClose(kept.checkpoints[0].datasetBaselineEntropy!, 0.5, tol: 1e-12)
        settings.datasetBaselineInputs = .all
        let all = try KnowledgeMetrics.report(maps: set, settings: settings)
        expectClose(all.checkpoints[0].datasetBaselineEntropy!, -1.0 / 3, tol: 1e-12)
        #expect(kept.counts.droppedByFilter == 1 && all.counts.droppedByFilter == 1)
        // r's points: H̄ − H > 0.5 ⇔ H < 0 (kept) → unit 0 only; H < −0.833 (all) → unit 0 as well; p: units 0, 1.
        #expect(kept.inputs.first { $0.inputID == "r" }?.baselineEntropy == 0.5)
    }
}

@Suite struct EstimatorAgreementTests {
    @Test func spearmanKnownValues() throws {
        // b's ranks with the tie at 7 averaged: 1, 2, 3.5, 5, 3.5; Σ d_a d_b = 8, √(10 · 9.5) → 0.8207826816681233
        // (scipy.stats.spearmanr agrees).
        expectClose(try #require(EstimatorAgreement.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])), 0.8207826816681233, tol: 1e-12)
        #expect(EstimatorAgreement.averageRanks([3, 1, 3, 2]) == [3.5, 1, 3.5, 2])
        #expect(EstimatorAgreement.spearman([1, 2, 3], [10, 20, 1000]) == 1)
        #expect(EstimatorAgreement.spearman([1, 2, 3], [3, 2, 1]) == -1)
        #expect(EstimatorAgreement.spearman([1, 1, 1], [3, 2, 1]) == nil)
        let summary = EstimatorAgreement.summary([[1, 2, 3, 4], [1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 2, 1]],
                                                 [[2, 4, 6, 9], [1, 2, 4, 3], [1, 2, 3, 4], [1, 2, 3, 4]])
        // ρ = 1, 0.8, undefined, −1 → 1 of 4 agree at 0.9.
        #expect(summary.maps == 4 && summary.undefined == 1 && summary.agreeing == 1 && summary.fractionAgreeing == 0.25)
        expectClose(summary.medianSpearman!, 0.8, tol: 1e-12)
        #expect(summary.minimumSpearman == -1)
    }
}
