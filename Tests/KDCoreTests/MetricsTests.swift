import Foundation
import KDCore
import Testing
import _TestSupport

// Hand-built entropy maps with every expected number worked out by hand in the comments.
// Units: 4 per input, fg = units 0, 1; bg = units 2, 3. Checkpoints are sparse: 0, 1, 2, 5, 10.
// Threshold b = 0.5 nats, per-input H̄ unless stated.

private let fg4: [Bool] = [true, true, false, false]
private let epochs = [0, 1, 2, 5, 10]

/// a: H̄ = 0 up to epoch 5, 0.5 at 10.  S0 = {}, S1 = {0}, S2 = {0, 1}, S5 = {1}, S10 = {1}; N_bg(10) = 1 (unit 2:
///    0.5 − (−1) = 1.5 > 0.5; unit 0: 0.5 − 0.25 = 0.25, no).  N_fg curve 0 1 2 1 1 → m̂ = 2.
/// b: H̄ = 0.  S0 = {0}, S1 = {}, S2 = S5 = S10 = {1}.  N_fg curve 1 0 1 1 1 → m̂ = 0 (first maximum).
/// c: every unit fg (no background): per-input H̄ undefined → excluded and counted.
/// d: all zeros: no point anywhere (λ = 0, counted; ρ = 0/0).
private let fixture: [String: (fg: [Bool], h: [[Float]])] = [
    "a": (fg4, [[0, 0, 0, 0], [-1, 0, 0, 0], [-1, -1, 0, 0], [0, -1, 0, 0], [0.25, -1, -1, 2]]),
    "b": (fg4, [[-1, 0, 0, 0], [0, 0, 0, 0], [0, -1, 0, 0], [0, -1, 0, 0], [0, -1, 0, 0]]),
    "c": ([true, true, true, true], Array(repeating: [-1, 0, 0, 0], count: 5)),
    "d": (fg4, Array(repeating: [0, 0, 0, 0], count: 5)),
]

private func mapSet(_ table: [String: (fg: [Bool], h: [[Float]])], epochs: [Int] = epochs,
                    network: String = "student") throws -> EntropyMapSet {
    var maps: [EntropyMap] = []
    for (id, entry) in table {
        for (k, e) in epochs.enumerated() {
            maps.append(EntropyMap(inputID: id, epoch: e, entropies: entry.h[k], foreground: entry.fg))
        }
    }
    var g = SeededGenerator(seed: 3)   // the order maps arrive in must not matter
    return try EntropyMapSet(network: network, maps: maps.shuffled(using: &g))
}

private func settings(_ change: (inout MetricSettings) -> Void = { _ in }) -> MetricSettings {
    var s = MetricSettings(threshold: 0.5)
    change(&s)
    return s
}

private func input(_ r: MetricsReport, _ id: String) -> MetricsReport.InputMetrics {
    r.inputs.first { $0.inputID == id }!
}

@Suite struct KnowledgePointTests {
    @Test func pointsAreStrictlyBeyondTheThreshold() {
        // bg = {0.25, 0.75} → H̄ = 0.5 exactly. b = 0.25: H = 0.25 gives H̄ − H = 0.25 = b → not a point;
        // H = 0.125 → 0.375 > b → a point; the bg unit at 0.25 is on the boundary too → not a point.
        let h: [Float] = [0.25, 0.125, 0.25, 0.75]
        #expect(KnowledgePoints.backgroundMean(h, fg4) == 0.5)
        let c = KnowledgePoints.count(h, fg4, baseline: 0.5, threshold: 0.25)
        #expect(c == KnowledgePoints.Counts(foreground: 1, background: 0))
        #expect(KnowledgePoints.foregroundPoints(h, fg4, baseline: 0.5, threshold: 0.25) == [1])
        #expect(KnowledgePoints.isPoint(entropy: 0.25, baseline: 0.5, threshold: 0.2))
    }

    @Test func lambdaAndTheNoPointCase() {
        // H = [−1, 0, 0.5, 0], H̄ = 0.25, b = 0.2: points where H < 0.05 → units 0, 1 (fg) and 3 (bg): λ = 2/3.
        let c = KnowledgePoints.count([-1, 0, 0.5, 0], fg4, baseline: 0.25, threshold: 0.2)
        #expect(c.foreground == 2 && c.background == 1)
        expectClose(c.foregroundRatio!, 2.0 / 3, tol: 1e-12)
        #expect(KnowledgePoints.Counts(foreground: 0, background: 0).foregroundRatio == nil)
        #expect(KnowledgePoints.backgroundMean([1, 2], [true, true]) == nil)
    }

    @Test func datasetLevelBaselineAveragesPerInputMeans() {
        // Per-input bg means 0.5 and −0.5 (the all-fg map has none and does not count): H̄ = 0, not the
        // mean of all three bg units pooled ((1 + 0 − 0.5) / 3).
        let h = KnowledgePoints.datasetBaseline([([-0.5, 1, 0], [true, false, false]),
                                                 ([0, 0.75, -0.5], [true, true, false]),
                                                 ([-0.5, 0.5], [true, true])])
        #expect(h == 0)
        #expect(KnowledgePoints.datasetBaseline([([1], [true])]) == nil)
    }
}

@Suite struct MetricsReportTests {
    @Test func perInputBaselineHandComputed() throws {
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings())
        #expect(r.epochs == epochs && r.finalEpoch == 10)
        #expect(r.counts == MetricsReport.Counts(inputsAnalysed: 4, inputsUsed: 3, noBackground: 1, excludedNoBackground: 1,
                                                 droppedByFilter: 0, droppedByOtherNetwork: 0, noPoints: 1,
                                                 emptyUnion: 1, rhoUndefined: 1))
        // N_fg(10): a 1, b 1, d 0.  N_bg(10): a 1, b 0, d 0.  λ: 1/2, 1, 0 (d has no points).
        expectClose(r.foregroundPoints!.value, 2.0 / 3, tol: 1e-12, "N_fg")
        expectClose(r.backgroundPoints!.value, 1.0 / 3, tol: 1e-12, "N_bg")
        expectClose(r.lambda!.value, 0.5, tol: 1e-12, "λ")
        #expect(r.foregroundPoints!.count == 3)
        // SE of N_fg: values {1, 1, 0}, s² = 1/3, SE = √(1/9) = 1/3.
        expectClose(r.foregroundPoints!.standardError!, 1.0 / 3, tol: 1e-12, "SE N_fg")
        #expect(input(r, "c").status == .excludedNoBackground && input(r, "c").foregroundPoints == nil)
        #expect(input(r, "a").baselineEntropy == 0.5)
        #expect(input(r, "a").foregroundCurve == [0, 1, 2, 1, 1] && input(r, "a").peakEpoch == 2)
        #expect(input(r, "b").foregroundCurve == [1, 0, 1, 1, 1] && input(r, "b").peakEpoch == 0)
        #expect(input(r, "d").lambda == 0 && input(r, "d").peakEpoch == 0)
        // ρ, paper: union over 1...10. a: |{1}| / |{0, 1}| = 1/2; b: |{1}| / |{1}| = 1; d: 0/0, left out.
        #expect(input(r, "a").rho == 0.5 && input(r, "b").rho == 1 && input(r, "d").rho == nil)
        expectClose(r.rho!.value, 0.75, tol: 1e-12, "ρ")
        #expect(r.rho!.count == 2)
        // No trajectory: no distance, and nothing pretends otherwise.
        #expect(r.distanceMean == nil && r.distanceVariance == nil && r.initialWeightNorm == nil)
        // Curves: at epoch 2, N_fg = 2, 1, 0 → 1; λ = 1, 1, 0 → 2/3; the dataset-level H̄ is 0 throughout.
        let e2 = r.checkpoints[2]
        #expect(e2.epoch == 2 && e2.meanForegroundPoints == 1 && e2.meanBackgroundPoints == 0)
        expectClose(e2.meanLambda!, 2.0 / 3, tol: 1e-12)
        #expect(r.checkpoints[0].datasetBaselineEntropy == 0)
        // At 10 the dataset-level H̄ = mean of a 0.5, b 0, d 0 = 1/6 (c has no background).
        expectClose(r.checkpoints[4].datasetBaselineEntropy!, 1.0 / 6, tol: 1e-12)
    }

    @Test func rhoConventions() throws {
        let set = try mapSet(fixture)
        // (includes 0, 0/0 rule) → a, b, d and expected mean; counts of empty unions and of undefined.
        // With 0: a: S0 = {} → 1/2; b: S0 = {0} → |{1}| / |{0, 1}| = 1/2.
        let cases: [(Bool, EmptyUnionConvention, Double, Double, Int)] = [
            (false, .undefined, 0.75, 1, 1),      // (1/2 + 1) / 2, d left out
            (false, .zero, 0.5, 1, 0),            // (1/2 + 1 + 0) / 3
            (true, .undefined, 0.5, 0.5, 1),      // (1/2 + 1/2) / 2
            (true, .zero, 1.0 / 3, 0.5, 0),       // (1/2 + 1/2 + 0) / 3: the authors' code
        ]
        for (withInitial, convention, expected, rhoB, undefined) in cases {
            let r = try KnowledgeMetrics.report(maps: set, settings: settings {
                $0.rhoIncludesInitial = withInitial; $0.rhoEmptyUnion = convention })
            expectClose(r.rho!.value, expected, tol: 1e-12, "ρ with initial \(withInitial), \(convention)")
            #expect(input(r, "b").rho == rhoB)
            #expect(r.counts.emptyUnion == 1 && r.counts.rhoUndefined == undefined)
            #expect(r.settings.rhoIncludesInitial == withInitial && r.settings.rhoEmptyUnion == convention)
        }
    }

    @Test func rhoWithInitialNeedsCheckpointZero() throws {
        let later = fixture.mapValues { (fg: $0.fg, h: Array($0.h.dropFirst())) }
        let set = try mapSet(later, epochs: [1, 2, 5, 10])
        #expect(throws: MetricsError.initialCheckpointMissing(network: "student")) {
            try KnowledgeMetrics.report(maps: set, settings: settings { $0.rhoIncludesInitial = true })
        }
    }

    @Test func datasetLevelBaselineHandComputed() throws {
        // One checkpoint (epoch 1), b = 0.2.  p: bg mean 0.5; q: bg mean −0.5; r: no background.
        // Per input:  p: H̄ 0.5 → unit 0 (1.0) fg point, unit 2 (0.5) bg point; q: H̄ −0.5 → none; r excluded.
        //   N_fg (1 + 0) / 2, N_bg (1 + 0) / 2, λ (1/2 + 0) / 2 = 1/4, one input without points.
        // Dataset: H̄ = (0.5 − 0.5) / 2 = 0.  p: unit 0 only; q: unit 2 only (bg); r: unit 0 (it stays in).
        //   N_fg (1 + 0 + 1) / 3, N_bg 1/3, λ (1 + 0 + 1) / 3.
        let table: [String: (fg: [Bool], h: [[Float]])] = [
            "p": ([true, false, false], [[-0.5, 1, 0]]),
            "q": ([true, true, false], [[0, 0.75, -0.5]]),
            "r": ([true, true], [[-0.5, 0.5]]),
        ]
        let set = try mapSet(table, epochs: [1])
        let perInput = try KnowledgeMetrics.report(maps: set, settings: settings { $0.threshold = 0.2 })
        #expect(perInput.counts.inputsUsed == 2 && perInput.counts.excludedNoBackground == 1 && perInput.counts.noPoints == 1)
        #expect(perInput.foregroundPoints!.value == 0.5 && perInput.backgroundPoints!.value == 0.5)
        #expect(perInput.lambda!.value == 0.25)

        let dataset = try KnowledgeMetrics.report(maps: set, settings: settings { $0.threshold = 0.2; $0.baselineEntropy = .datasetLevel })
        #expect(dataset.counts.inputsUsed == 3 && dataset.counts.excludedNoBackground == 0)
        #expect(dataset.counts.noBackground == 1 && dataset.counts.noPoints == 0)
        expectClose(dataset.foregroundPoints!.value, 2.0 / 3, tol: 1e-12)
        expectClose(dataset.backgroundPoints!.value, 1.0 / 3, tol: 1e-12)
        expectClose(dataset.lambda!.value, 2.0 / 3, tol: 1e-12)
        #expect(input(dataset, "r").baselineEntropy == 0 && input(dataset, "q").backgroundPoints == 1)
        #expect(dataset.settings.baselineEntropy == .datasetLevel)
    }

    @Test func finalEpochTruncatesTheSeries() throws {
        // M = 5: N_fg(5) a 1, b 1, d 0; no bg points at 5; λ 1, 1, 0.  ρ over 1...5: a |{1}| / |{0, 1}|, b 1.
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings { $0.finalEpoch = 5 })
        #expect(r.epochs == [0, 1, 2, 5] && r.finalEpoch == 5)
        expectClose(r.foregroundPoints!.value, 2.0 / 3, tol: 1e-12)
        #expect(r.backgroundPoints!.value == 0)
        expectClose(r.lambda!.value, 2.0 / 3, tol: 1e-12)
        expectClose(r.rho!.value, 0.75, tol: 1e-12)
        #expect(throws: MetricsError.self) {
            try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings { $0.finalEpoch = 4 })
        }
    }
}

@Suite struct WeightDistanceTests {
    @Test func epochDistanceHandComputed() throws {
        // ||w_0|| = 2; chords 1, 2, 3, 4 between 0-1, 1-2, 2-5, 5-10 → D = 0, 0.5, 1.5, 3, 5.
        // m̂: a 2, b 0, d 0 → D = 1.5, 0, 0: D_mean = 0.5, D_var = (2.25 + 0 + 0) / 3 − 0.25 = 0.5.
        let t = try WeightTrajectory(initialNorm: 2, epochs: epochs, stepDistances: [1, 2, 3, 4])
        #expect(t.distance(toEpoch: 5) == 3 && t.distance(toEpoch: 3) == nil)
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: t, settings: settings())
        #expect(input(r, "a").distance == 1.5 && input(r, "b").distance == 0)
        expectClose(r.distanceMean!.value, 0.5, tol: 1e-12, "D_mean")
        expectClose(r.distanceVariance!.value, 0.5, tol: 1e-12, "D_var")
        #expect(r.initialWeightNorm == 2)
    }

    @Test func epochDistanceMeasuresChordsBetweenAnalysedCheckpoints() throws {
        // Two tensors in scope (sizes 1 and 2), norms over their concatenation: w_0 = (2 | 0, 0), ||w_0|| = 2;
        // w_1 = (2 | 1, 0), w_2 = (2 | 1, 2), w_5 = (5 | 1, 2), w_10 = (5 | 1, 6): chords 1, 2, 3, 4 as above.
        // Only the analysed checkpoints are read: epochs 3, 4 and 6-9 never are.
        let weights: [Int: [[Float]]] = [0: [[2], [0, 0]], 1: [[2], [1, 0]], 2: [[2], [1, 2]], 5: [[5], [1, 2]], 10: [[5], [1, 6]]]
        var asked: [Int] = []
        let t = try WeightTrajectory.measuring(epochs: epochs) { e in asked.append(e); return weights[e]! }
        #expect(asked == epochs)
        #expect(t.initialNorm == 2 && t.cumulativeDistance == [0, 1, 3, 6, 10])
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: t, settings: settings())
        expectClose(r.distanceMean!.value, 0.5, tol: 1e-12)
        // A trajectory with every epoch is not the paper's distance over these checkpoints.
        let dense = try WeightTrajectory(initialNorm: 2, epochs: Array(0...10), stepDistances: Array(repeating: 1, count: 10))
        #expect(throws: MetricsError.self) {
            try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: dense, settings: settings())
        }
        #expect(throws: MetricsError.self) {
            try WeightTrajectory.measuring(epochs: [0, 1]) { e in e == 0 ? [[1, 2]] : [[1, 2, 3]] }
        }
    }

    @Test func pathDistanceSumsEveryEpochUpToThePeak() throws {
        // Per-epoch path lengths 2, 2, 1, … (epochs 1-10), ||w_0|| = 2: D(2) = (2 + 2) / 2 = 2, D(0) = 0.
        // Epochs 3 and 4, never analysed, still count towards D(5) = (2 + 2 + 1 + 1 + 1) / 2 = 3.5.
        // D over a, b, d: 2, 0, 0 → D_mean = 2/3, D_var = 4/3 − 4/9 = 8/9.
        let t = try WeightTrajectory(initialNorm: 2, epochPathLengths: [2, 2, 1, 1, 1, 1, 1, 1, 1, 1])
        #expect(t.distance(toEpoch: 5) == 3.5)
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: t, settings: settings { $0.weightDistance = .path })
        expectClose(r.distanceMean!.value, 2.0 / 3, tol: 1e-12)
        expectClose(r.distanceVariance!.value, 8.0 / 9, tol: 1e-12)
        #expect(r.settings.weightDistance == .path)
        // A path log that stops before M, or a trajectory of the other definition, is refused.
        let short = try WeightTrajectory(initialNorm: 2, epochPathLengths: [1, 1, 1])
        #expect(throws: MetricsError.self) {
            try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: short, settings: settings { $0.weightDistance = .path })
        }
        #expect(throws: MetricsError.self) {
            try KnowledgeMetrics.report(maps: try mapSet(fixture), trajectory: t, settings: settings())
        }
        #expect(WeightTrajectory.combinedStepNorm([3, 4]) == 5)
        #expect(throws: MetricsError.self) { try WeightTrajectory(initialNorm: 0, epochPathLengths: [1]) }
    }

    @Test func firstPeakIgnoresLaterTies() {
        #expect(LearningPace.firstPeak([0, 3, 1, 3]) == 1)
        #expect(LearningPace.firstPeak([0, 0, 0]) == 0)
    }
}

@Suite struct EffectiveFilterTests {
    @Test func filterDropsAndCounts() throws {
        // From epoch 5: a (fg −0.5 < bg 0 at 5; −0.375 < 0.5 at 10) and b (−0.5 < 0) pass; d (0 = 0) fails;
        // c was already excluded (no background). Used a, b: N_fg 1, λ (1/2 + 1) / 2.
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings {
            $0.effectiveFilter = EffectiveInputFilter(fromEpoch: 5) })
        #expect(r.counts.inputsUsed == 2 && r.counts.droppedByFilter == 1 && r.counts.excludedNoBackground == 1)
        #expect(input(r, "d").status == .droppedByFilter)
        #expect(r.foregroundPoints!.value == 1)
        expectClose(r.lambda!.value, 0.75, tol: 1e-12)
        #expect(r.settings.effectiveFilter == EffectiveInputFilter(fromEpoch: 5))
    }

    @Test func everythingDroppedGivesNoNumbersAndNoNaN() throws {
        // From epoch 0: a (0 = 0 at epoch 0) and b (all zeros at epoch 1) fail too. Nothing is left.
        let r = try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings {
            $0.effectiveFilter = EffectiveInputFilter(fromEpoch: 0) })
        #expect(r.counts.inputsUsed == 0 && r.counts.droppedByFilter == 3)
        #expect(r.foregroundPoints == nil && r.lambda == nil && r.rho == nil && r.checkpoints[0].meanLambda == nil)
        // JSONEncoder refuses NaN and infinities: a report that encodes holds none.
        let json = try JSONEncoder().encode(r)
        #expect(try JSONDecoder().decode(MetricsReport.self, from: json) == r)
    }

    @Test func comparisonUsesInputsKeptForBoth() throws {
        // The baseline's b has fg mean 1 > bg mean 0 at epoch 10: dropped there, so the student drops it too.
        var other = fixture
        other["b"]!.h[4] = [1, 1, 0, 0]
        let c = try KnowledgeMetrics.compare(student: try mapSet(fixture), baseline: try mapSet(other, network: "baseline"),
                                             settings: settings { $0.effectiveFilter = EffectiveInputFilter(fromEpoch: 5) })
        #expect(c.student.counts.inputsUsed == 1 && c.student.counts.droppedByFilter == 1 && c.student.counts.droppedByOtherNetwork == 1)
        #expect(c.baseline.counts.inputsUsed == 1 && c.baseline.counts.droppedByFilter == 2 && c.baseline.counts.droppedByOtherNetwork == 0)
        #expect(input(c.student, "b").status == .droppedByOtherNetwork)
        #expect(c.student.inputs.filter { $0.status == .used }.map(\.inputID) == ["a"])
        #expect(c.baseline.inputs.filter { $0.status == .used }.map(\.inputID) == ["a"])
        #expect(c.hypotheses.count == 3)
    }

    @Test func comparisonNeedsTheSameInputs() throws {
        var fewer = fixture
        fewer["d"] = nil
        #expect(throws: MetricsError.inputSetsDiffer(onlyInStudent: ["d"], onlyInBaseline: [])) {
            try KnowledgeMetrics.compare(student: try mapSet(fixture), baseline: try mapSet(fewer), settings: settings())
        }
        var relabelled = fixture
        relabelled["a"]!.fg = [true, false, true, false]
        #expect(throws: MetricsError.foregroundDiffersBetweenNetworks(inputID: "a")) {
            try KnowledgeMetrics.compare(student: try mapSet(fixture), baseline: try mapSet(relabelled), settings: settings())
        }
    }
}

@Suite struct MetricsInputValidationTests {
    @Test func badMapsAreTypedErrors() throws {
        let ok = EntropyMap(inputID: "x", epoch: 1, entropies: [0, 1], foreground: [true, false])
        var nan = ok; nan.epoch = 2; nan.entropies[1] = .nan
        #expect(throws: MetricsError.self) { try EntropyMapSet(network: "n", maps: [ok, nan]) }
        #expect(throws: MetricsError.self) { try EntropyMapSet(network: "n", maps: [ok, ok]) }
        #expect(throws: MetricsError.noMaps(network: "n")) { try EntropyMapSet(network: "n", maps: []) }
        var other = ok; other.inputID = "y"; other.epoch = 2
        #expect(throws: MetricsError.missingCheckpoint(network: "n", inputID: "x", epoch: 2)) {
            try EntropyMapSet(network: "n", maps: [ok, other, EntropyMap(inputID: "y", epoch: 1, entropies: [0, 0], foreground: [true, false])])
        }
        var relabelled = ok; relabelled.epoch = 2; relabelled.foreground = [false, true]
        #expect(throws: MetricsError.self) { try EntropyMapSet(network: "n", maps: [ok, relabelled]) }
        let description = "\(MetricsError.missingCheckpoint(network: "student", inputID: "x", epoch: 2))"
        #expect(description.contains("student") && description.contains("'x'") && description.contains("epoch 2"))
    }

    @Test func badSettingsAreTypedErrors() throws {
        let set = try mapSet(fixture)
        #expect(throws: MetricsError.self) { try KnowledgeMetrics.report(maps: set, settings: settings { $0.threshold = -1 }) }
        #expect(throws: MetricsError.self) { try KnowledgeMetrics.report(maps: set, settings: settings { $0.threshold = .nan }) }
        #expect(throws: MetricsError.filterHasNoCheckpoint(network: "student", fromEpoch: 11, finalEpoch: 10)) {
            try KnowledgeMetrics.report(maps: set, settings: settings { $0.effectiveFilter = EffectiveInputFilter(fromEpoch: 11) })
        }
    }
}

@Suite struct UncertaintyTests {
    private let boot = Uncertainty.Bootstrap(replicates: 2000, seed: 11, stream: 1)

    @Test func meanStandardErrorClosedForm() throws {
        // {1, 2, 3, 4}: mean 2.5, s² = 5/3, SE = √(5/12).
        let e = try #require(Uncertainty.meanEstimate([1, 2, 3, 4], bootstrap: boot))
        #expect(e.value == 2.5 && e.count == 4)
        expectClose(e.standardError!, (5.0 / 12).squareRoot(), tol: 1e-12)
        #expect(e.ci95Lower! >= 1 && e.ci95Lower! < 2.5 && e.ci95Upper! > 2.5 && e.ci95Upper! <= 4)
        #expect(Uncertainty.meanEstimate([], bootstrap: boot) == nil)
        let single = try #require(Uncertainty.meanEstimate([3], bootstrap: boot))
        #expect(single.value == 3 && single.standardError == nil && single.ci95Lower == nil)
        #expect(Uncertainty.quantile([1, 2, 3, 4, 5], 0.5) == 3)
        expectClose(Uncertainty.quantile([1, 2, 3, 4, 5], 0.1), 1.4, tol: 1e-12)
    }

    @Test func bootstrapAgreesWithLargeSampleTheory() throws {
        // 400 draws of N(0, 1): the percentile interval of the mean ≈ ±1.96 SE, and the bootstrap SE of the
        // population variance ≈ σ²·√(2/n) = 0.0707 (normal data). Both within 20 %.
        var g = SeededGenerator(seed: 5)
        let xs = (0..<400).map { _ in Double(g.gaussian()) }
        let m = try #require(Uncertainty.meanEstimate(xs, bootstrap: boot))
        let halfWidth = (m.ci95Upper! - m.ci95Lower!) / 2
        print("bootstrap 95 % half-width \(halfWidth) vs 1.96·SE \(1.96 * m.standardError!)")
        #expect(abs(halfWidth / (1.96 * m.standardError!) - 1) < 0.2)
        let v = try #require(Uncertainty.varianceEstimate(xs, bootstrap: boot))
        let theory = v.value * (2.0 / 400).squareRoot()
        print("bootstrap SE of the variance \(v.standardError!) vs √(2/n)·σ² \(theory)")
        #expect(abs(v.standardError! / theory - 1) < 0.2)
        // Reproducible from the seed, different with another seed.
        #expect(Uncertainty.meanEstimate(xs, bootstrap: boot) == m)
        let other = Uncertainty.meanEstimate(xs, bootstrap: .init(replicates: 2000, seed: 12, stream: 1))
        #expect(other?.ci95Lower != m.ci95Lower)
    }
}

@Suite struct HypothesesTests {
    private func estimate(_ v: Double, _ se: Double?) -> MetricEstimate {
        MetricEstimate(value: v, count: 50, standardError: se, ci95Lower: nil, ci95Upper: nil)
    }

    /// The older unpaired reading, kept in `unpairedVerdict`: |S − B| > margin · √(SE_S² + SE_B²).
    @Test func unpairedVerdicts() throws {
        let base = try KnowledgeMetrics.report(maps: try mapSet(fixture), settings: settings())
        var s = base, b = base
        // H1: N_fg 10 ± 1 vs 7 ± 1 (3 > √2), λ 0.6 ± 0.01 vs 0.5 ± 0.01 → supported.
        s.foregroundPoints = estimate(10, 1); b.foregroundPoints = estimate(7, 1)
        s.lambda = estimate(0.6, 0.01); b.lambda = estimate(0.5, 0.01)
        // H2: D_mean 1.0 vs 1.05, SE 0.1 each (0.05 < 0.14) → inconclusive, though D_var is clearly lower.
        s.distanceMean = estimate(1.0, 0.1); b.distanceMean = estimate(1.05, 0.1)
        s.distanceVariance = estimate(0.1, 0.01); b.distanceVariance = estimate(0.5, 0.01)
        // H3: ρ 0.3 vs 0.5 ± 0.01 → the opposite of the prediction.
        s.rho = estimate(0.3, 0.01); b.rho = estimate(0.5, 0.01)
        let h = try Hypotheses.evaluate(student: s, baseline: b)
        let unpaired = h.map { Hypotheses.combine($0.comparisons.map(\.unpairedVerdict)) }
        #expect(unpaired == [.supported, .inconclusive, .contradicted])
        #expect(h[1].comparisons.map(\.unpairedVerdict) == [.inconclusive, .supported])
        // The per-input values are identical in s and b: the paired verdicts, which decide, are inconclusive.
        #expect(h.allSatisfy { $0.verdict == .inconclusive })
        let nfg = h[0].comparisons[0]
        #expect(nfg.student == 10 && nfg.baseline == 7 && nfg.difference == 3)
        expectClose(nfg.combinedStandardError!, 2.0.squareRoot(), tol: 1e-12)
        // A wider margin turns the N_fg difference (3 < 2.5·√2) inconclusive.
        #expect(try Hypotheses.evaluate(student: s, baseline: b, margin: 2.5)[0].comparisons[0].unpairedVerdict == .inconclusive)
        // A missing value or standard error is inconclusive, never a verdict.
        s.rho = nil
        #expect(try Hypotheses.evaluate(student: s, baseline: b)[2].comparisons[0].unpairedVerdict == .inconclusive)
        s.rho = estimate(0.9, nil)
        #expect(try Hypotheses.evaluate(student: s, baseline: b)[2].comparisons[0].unpairedVerdict == .inconclusive)
        // Reports computed under different settings are not compared.
        b.settings.threshold = 0.25
        #expect(throws: MetricsError.self) { try Hypotheses.evaluate(student: s, baseline: b) }
    }

    @Test func comparisonRoundTripsThroughJSON() throws {
        let t = try WeightTrajectory(initialNorm: 2, epochs: epochs, stepDistances: [1, 2, 3, 4])
        let c = try KnowledgeMetrics.compare(student: try mapSet(fixture), studentTrajectory: t,
                                             baseline: try mapSet(fixture, network: "baseline"), baselineTrajectory: t,
                                             settings: settings())
        // Identical networks: every difference is 0, within any error → inconclusive.
        #expect(c.hypotheses.allSatisfy { $0.verdict == .inconclusive })
        let json = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(MetricsComparison.self, from: json) == c)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"baselineEntropy\":\"per-input\"") && text.contains("\"weightDistance\":\"epoch\""))
    }
}
