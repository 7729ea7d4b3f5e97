// From entropy maps (and weight trajectories) to the reports of Method.md §3-5.

/// Computes ``MetricsReport``s from ``EntropyMapSet``s.
///
/// Order of decisions for every input, each counted: (1) H̄ undefined (per-input H̄, no background
/// unit) → excluded; (2) the network's effective-input filter, if set → dropped; (3) in a comparison,
/// dropped by the other network's filter → dropped. What remains is used by every mean of the report,
/// so N_fg, λ, D and ρ are averaged over the same inputs. A dataset-level H̄ averages over those same
/// kept inputs (the authors' code) unless ``MetricSettings/datasetBaselineInputs`` is `.all`.
public enum KnowledgeMetrics {
    /// One network on its own (its own filter only).
    public static func report(maps: EntropyMapSet, trajectory: WeightTrajectory? = nil,
                              settings: MetricSettings) throws -> MetricsReport {
        try settings.validate()
        let analysis = try Analysis(maps, trajectory, settings)
        return analysis.report(otherEligible: nil)
    }

    /// A student and its baseline over the same inputs: with the filter on, both use only the inputs
    /// both keep. Hypotheses 1-3 are evaluated with ``Hypotheses/evaluate(student:baseline:margin:)``.
    ///
    /// The hypotheses are judged by the paired rule at `level` (``Hypotheses/rule(level:)``); `margin` only
    /// sets the older unpaired reading kept in ``MetricComparison/unpairedVerdict``.
    public static func compare(student: EntropyMapSet, studentTrajectory: WeightTrajectory? = nil,
                               baseline: EntropyMapSet, baselineTrajectory: WeightTrajectory? = nil,
                               settings: MetricSettings, margin: Double = 1, level: Double = 0.05) throws -> MetricsComparison {
        try settings.validate()
        if student.inputIDs != baseline.inputIDs {
            let s = Set(student.inputIDs), b = Set(baseline.inputIDs)
            throw MetricsError.inputSetsDiffer(onlyInStudent: s.subtracting(b).sorted(),
                                               onlyInBaseline: b.subtracting(s).sorted())
        }
        for i in 0..<student.inputIDs.count where student.foreground[i] != baseline.foreground[i] {
            throw MetricsError.foregroundDiffersBetweenNetworks(inputID: student.inputIDs[i])
        }
        let s = try Analysis(student, studentTrajectory, settings)
        let b = try Analysis(baseline, baselineTrajectory, settings)
        let sr = s.report(otherEligible: b.eligible)
        let br = b.report(otherEligible: s.eligible)
        let hypotheses = try Hypotheses.evaluate(student: sr, baseline: br, margin: margin, level: level)
        return MetricsComparison(settings: settings, student: sr, baseline: br, hypotheses: hypotheses,
                                 paired: Hypotheses.pairedDifferences(student: sr, baseline: br, level: level),
                                 significanceLevel: level, verdictRule: Hypotheses.rule(level: level))
    }
}

/// The per-input, per-checkpoint quantities of one network, before the choice of inputs.
private struct Analysis {
    let maps: EntropyMapSet
    let settings: MetricSettings
    let trajectory: WeightTrajectory?
    /// Analysed checkpoints up to M; `maps.entropies[i][k]` for k < epochs.count.
    let epochs: [Int]
    /// H̄ of input i at checkpoint k; nil when undefined.
    let baseline: [[Double?]]
    let datasetBaseline: [Double?]
    /// Not excluded for an undefined H̄.
    let hasBaseline: [Bool]
    /// Eligible for the means: has H̄ and passes this network's filter.
    let eligible: [Bool]
    let passesFilter: [Bool]

    init(_ maps: EntropyMapSet, _ trajectory: WeightTrajectory?, _ settings: MetricSettings) throws {
        self.maps = maps; self.settings = settings; self.trajectory = trajectory
        let finalEpoch = settings.finalEpoch ?? maps.epochs[maps.epochs.count - 1]
        guard maps.epochs.contains(finalEpoch) else {
            throw MetricsError.finalEpochNotAnalysed(network: maps.network, epoch: finalEpoch, analysed: maps.epochs)
        }
        guard finalEpoch >= 1 else {
            throw MetricsError.invalidSetting(name: "finalEpoch", expected: "a trained checkpoint (epoch ≥ 1) among the analysed \(maps.epochs)",
                                              found: "only the initialisation (epoch 0) of '\(maps.network)'")
        }
        let epochs = maps.epochs.filter { $0 <= finalEpoch }
        self.epochs = epochs
        if settings.rhoIncludesInitial && epochs.first != 0 {
            throw MetricsError.initialCheckpointMissing(network: maps.network)
        }
        let n = maps.inputIDs.count
        var dataset: [Double?] = []
        for k in 0..<epochs.count {
            dataset.append(KnowledgePoints.datasetBaseline((0..<n).map { (maps.entropies[$0][k], maps.foreground[$0]) }))
        }
        self.datasetBaseline = dataset
        var baseline: [[Double?]] = []
        for i in 0..<n {
            switch settings.baselineEntropy {
            case .perInput: baseline.append((0..<epochs.count).map { KnowledgePoints.backgroundMean(maps.entropies[i][$0], maps.foreground[i]) })
            case .datasetLevel: baseline.append(dataset)
            }
        }
        self.baseline = baseline
        let hasBaseline = baseline.map { $0.allSatisfy { $0 != nil } }
        self.hasBaseline = hasBaseline

        var passes = [Bool](repeating: true, count: n)
        if let filter = settings.effectiveFilter {
            let tested = (0..<epochs.count).filter { epochs[$0] >= filter.fromEpoch }
            guard !tested.isEmpty else {
                throw MetricsError.filterHasNoCheckpoint(network: maps.network, fromEpoch: filter.fromEpoch, finalEpoch: finalEpoch)
            }
            for i in 0..<n {
                passes[i] = tested.allSatisfy { k in
                    guard let bg = KnowledgePoints.regionMean(maps.entropies[i][k], maps.foreground[i], foregroundRegion: false),
                          let fg = KnowledgePoints.regionMean(maps.entropies[i][k], maps.foreground[i], foregroundRegion: true)
                    else { return false }
                    return bg > fg
                }
            }
        }
        self.passesFilter = passes
        self.eligible = (0..<n).map { hasBaseline[$0] && passes[$0] }

        if let t = trajectory {
            guard t.definition == settings.weightDistance else {
                throw MetricsError.trajectoryMismatch(network: maps.network, expected: "the '\(settings.weightDistance.rawValue)' distance of the settings",
                                                      found: "a '\(t.definition.rawValue)' trajectory")
            }
            switch t.definition {
            case .epoch:
                // Chords between consecutive analysed checkpoints: exactly those, plus the initialisation.
                let expected = Array(Set(epochs + [0])).sorted()
                let found = t.epochs.filter { $0 <= finalEpoch }
                guard found == expected else {
                    throw MetricsError.trajectoryMismatch(network: maps.network, expected: "checkpoints \(expected) (the analysed ones and 0)",
                                                          found: "\(found)")
                }
            case .path:
                guard t.epochs.last! >= finalEpoch else {
                    throw MetricsError.trajectoryMismatch(network: maps.network, expected: "path lengths for every epoch up to \(finalEpoch)",
                                                          found: "epochs up to \(t.epochs.last!)")
                }
            }
        }
    }

    /// H̄ per input and checkpoint, and the dataset-level H̄ per checkpoint, for the inputs kept given the
    /// other network's eligibility.
    func baselines(otherEligible: [Bool]?) -> (perInput: [[Double?]], dataset: [Double?]) {
        guard settings.baselineEntropy == .datasetLevel, settings.datasetBaselineInputs == .kept else {
            return (baseline, datasetBaseline)
        }
        let n = maps.inputIDs.count
        let kept = (0..<n).filter { passesFilter[$0] && (otherEligible?[$0] ?? true) }
        let dataset = (0..<epochs.count).map { k in
            KnowledgePoints.datasetBaseline(kept.map { (maps.entropies[$0][k], maps.foreground[$0]) })
        }
        return ([[Double?]](repeating: dataset, count: n), dataset)
    }

    func report(otherEligible: [Bool]?) -> MetricsReport {
        let n = maps.inputIDs.count
        let (baseline, datasetBaseline) = baselines(otherEligible: otherEligible)
        let hasBaseline = baseline.map { $0.allSatisfy { $0 != nil } }
        var convergence = ConvergenceSummary()
        let last = epochs.count - 1
        let b = settings.threshold
        // The checkpoints of ρ's union: 1...M, or 0...M when the initialisation is included.
        let unionCheckpoints = (0..<epochs.count).filter { settings.rhoIncludesInitial || epochs[$0] >= 1 }

        var inputs: [MetricsReport.InputMetrics] = []
        var nFg: [Double] = [], nBg: [Double] = [], lambdas: [Double] = [], distances: [Double] = [], rhos: [Double] = []
        var noPoints = 0, emptyUnion = 0, rhoUndefined = 0
        var droppedByFilter = 0, droppedByOther = 0, excluded = 0
        var curveSums = [(fg: Double, bg: Double, lambda: Double)](repeating: (0, 0, 0), count: epochs.count)

        for i in 0..<n {
            var record = MetricsReport.InputMetrics(inputID: maps.inputIDs[i], status: .used)
            if !hasBaseline[i] { record.status = .excludedNoBackground; excluded += 1 }
            else if !passesFilter[i] { record.status = .droppedByFilter; droppedByFilter += 1 }
            else if let other = otherEligible, !other[i] { record.status = .droppedByOtherNetwork; droppedByOther += 1 }
            guard record.status == .used else { inputs.append(record); continue }

            let fg = maps.foreground[i]
            var curve: [Int] = []
            var pointSets: [[Int]] = []
            for k in 0..<epochs.count {
                let h = maps.entropies[i][k], hBar = baseline[i][k]!
                let c = KnowledgePoints.count(h, fg, baseline: hBar, threshold: b)
                curve.append(c.foreground)
                curveSums[k].fg += Double(c.foreground)
                curveSums[k].bg += Double(c.background)
                curveSums[k].lambda += c.foregroundRatio ?? 0
                if unionCheckpoints.contains(k) {
                    pointSets.append(KnowledgePoints.foregroundPoints(h, fg, baseline: hBar, threshold: b))
                }
            }
            let final = KnowledgePoints.count(maps.entropies[i][last], fg, baseline: baseline[i][last]!, threshold: b)
            record.baselineEntropy = baseline[i][last]
            record.foregroundPoints = final.foreground
            record.backgroundPoints = final.background
            record.lambda = final.foregroundRatio ?? 0
            if final.total == 0 { noPoints += 1 }
            nFg.append(Double(final.foreground)); nBg.append(Double(final.background)); lambdas.append(record.lambda!)

            for k in 0..<epochs.count {
                let f = maps.convergence[i][k]
                convergence.add(lossFlattened: f.lossFlattened, targetReached: f.targetReached)
            }
            record.foregroundCurve = curve
            let peak = epochs[LearningPace.firstPeak(curve)]
            record.peakEpoch = peak
            if let t = trajectory {
                let d = t.distance(toEpoch: peak)!
                record.distance = d
                distances.append(d)
            }

            let ratio = Detours.ratio(pointSets: pointSets, unitCount: fg.count)
            record.finalForegroundPoints = ratio.finalCount
            record.unionForegroundPoints = ratio.unionCount
            record.rho = ratio.value(settings.rhoEmptyUnion)
            if ratio.unionCount == 0 { emptyUnion += 1 }
            if let r = record.rho { rhos.append(r) } else { rhoUndefined += 1 }
            inputs.append(record)
        }

        func boot(_ stream: UInt64) -> Uncertainty.Bootstrap {
            Uncertainty.Bootstrap(replicates: settings.bootstrapReplicates, seed: settings.bootstrapSeed, stream: stream)
        }
        let used = nFg.count
        let checkpoints = (0..<epochs.count).map { k in
            MetricsReport.CheckpointSummary(
                epoch: epochs[k], datasetBaselineEntropy: datasetBaseline[k],
                meanForegroundPoints: used == 0 ? nil : curveSums[k].fg / Double(used),
                meanBackgroundPoints: used == 0 ? nil : curveSums[k].bg / Double(used),
                meanLambda: used == 0 ? nil : curveSums[k].lambda / Double(used))
        }
        let counts = MetricsReport.Counts(
            inputsAnalysed: n, inputsUsed: used,
            noBackground: maps.foreground.filter { !$0.contains(false) }.count,
            excludedNoBackground: excluded, droppedByFilter: droppedByFilter, droppedByOtherNetwork: droppedByOther,
            noPoints: noPoints, emptyUnion: emptyUnion, rhoUndefined: rhoUndefined)
        return MetricsReport(
            network: maps.network, settings: settings, epochs: epochs, finalEpoch: epochs[last],
            initialWeightNorm: trajectory?.initialNorm, counts: counts,
            foregroundPoints: Uncertainty.meanEstimate(nFg, bootstrap: boot(1)),
            backgroundPoints: Uncertainty.meanEstimate(nBg, bootstrap: boot(2)),
            lambda: Uncertainty.meanEstimate(lambdas, bootstrap: boot(3)),
            distanceMean: Uncertainty.meanEstimate(distances, bootstrap: boot(4)),
            distanceVariance: Uncertainty.varianceEstimate(distances, bootstrap: boot(5)),
            rho: Uncertainty.meanEstimate(rhos, bootstrap: boot(6)),
            checkpoints: checkpoints, inputs: inputs, convergence: convergence.maps == 0 ? nil : convergence)
    }
}
