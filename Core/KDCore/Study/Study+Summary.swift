import Foundation

// The study's last step: weight trajectories, the metrics and hypotheses of every method's student
// against the baseline (Method.md §3–5), and the outcome written to study.json.

extension Study {
    /// Step 8: the metrics from the stored maps and the checkpoints' weight trajectories.
    public func summarise(_ maps: AnalysedMaps) throws -> Outcome {
        let c = config, p = try prepareData(), inputs = p.inputs
        let accuracy = try measureAccuracy()
        let students = try trainStudents()
        var notes: [String] = []
        var trajectories: [String: WeightTrajectory] = [:]
        var weightDistances: [String: [String: [Double]]] = [:]
        var sets: [String: EntropyMapSet] = [:]
        for net in maps.networks where !net.isTeacher {
            sets[net.name] = try EntropyMapSet(network: net.name, maps: maps.keptMaps[net.name]!)
            guard let f = net.trajectoryFolder else {
                notes.append("\(net.name): brought as one final checkpoint (\(net.files.values.first!.path)), so D_mean, D_var and ρ, which need the training's checkpoints, are not measured (n/a)")
                continue
            }
            // Both weight distances are recorded; the metric setting picks the one the table uses.
            for definition in [WeightDistanceDefinition.epoch, .path] {
                let t: WeightTrajectory
                do {
                    t = try trajectory(folder: f, epochs: net.epochs, width: net.width, definition: definition)
                } catch where net.brought {
                    if definition == c.metrics.weightDistance {
                        notes.append("\(net.name): the '\(definition.rawValue)' weight distance cannot be measured from \(f.path) (\(error)), so D_mean, D_var and ρ are not measured (n/a)")
                    }
                    continue
                }
                if definition == c.metrics.weightDistance { trajectories[net.name] = t }
                weightDistances[net.name, default: [:]][definition.rawValue] = net.epochs.map { t.distance(toEpoch: $0) ?? .nan }
            }
        }
        // Every network must be compared on the same inputs: drop an input that failed for any of them.
        let compared = maps.networks.filter { !$0.isTeacher }
        let common = compared.map { Set(sets[$0.name]!.inputIDs) }.reduce(Set(sets["baseline"]!.inputIDs)) { $0.intersection($1) }
        func restrict(_ network: String) throws -> EntropyMapSet {
            try EntropyMapSet(network: network, maps: maps.keptMaps[network]!.filter { common.contains($0.inputID) })
        }
        // Pictures mark knowledge points against the same H̄ as the metrics.
        var datasetBaselines: [String: Double] = [:]
        if c.metrics.baselineEntropy == .datasetLevel {
            for (net, byInput) in maps.finalMaps {
                let pairs = inputs.compactMap { s -> ([Float], [Bool])? in
                    guard common.contains(s.id) || net == "teacher", let h = byInput[s.id] else { return nil }
                    let m = Self.analysedUnits(EntropyMap(inputID: s.id, epoch: 0, entropies: h, roles: s.roles))
                    return (m.entropies, m.foreground)
                }
                if let b = KnowledgePoints.datasetBaseline(pairs) { datasetBaselines[net] = b }
            }
        }
        let baselineSet = try restrict("baseline")
        let single = Set(compared.filter { $0.trajectoryFolder == nil }.map(\.name))
        var methodResults: [MethodResult] = []
        for s in students {
            let comparison = try compare(student: try restrict(s.name), studentTrajectory: trajectories[s.name],
                                         baseline: baselineSet, baselineTrajectory: trajectories["baseline"],
                                         unmeasured: single.intersection([s.name, "baseline"]))
            methodResults.append(MethodResult(method: s.method, network: s.name, analysedStage: s.stage,
                                              comparison: comparison, accuracy: accuracy[s.name]!))
        }
        var trainSamples = ["baseline": p.studentData.count]
        if accuracy["teacher"] != nil { trainSamples["teacher"] = p.teacherData.count }
        for s in students { trainSamples[s.name] = p.studentData.count }
        var outcome = Outcome(config: c, dataset: data.name, datasetIsComposite: data.isComposite, datasetSettings: data.settings,
                              classes: data.classNames, trainSamples: trainSamples, testSamples: p.testData.count,
                              skippedSamples: p.skipped, accuracy: accuracy, analysedEpochs: maps.analysedEpochs,
                              failedMaps: failedMaps, flaggedMaps: maps.flagged, comparison: methodResults[0].comparison,
                              seconds: seconds, inputIDs: inputs.map(\.id), inputIndices: p.inputIndices,
                              finalMaps: maps.finalMaps, datasetBaselines: datasetBaselines, methods: methodResults,
                              weightDistances: weightDistances)
        outcome.augmentation = augmentation?.description
        outcome.datasetPath = datasetPath
        outcome.notes = notes.isEmpty ? nil : notes
        outcome.compute = BLAS.computeSummary
        for n in notes { log("note: \(n)") }
        return outcome
    }

    /// The one place a student is compared with the baseline (the metrics and hypotheses of Method.md §3–5).
    /// For a network in `unmeasured` (brought as one final checkpoint) D and ρ are not measured: ρ needs
    /// the checkpoints, so it is removed (per input too) and the hypotheses are judged without it.
    private func compare(student: EntropyMapSet, studentTrajectory: WeightTrajectory?, baseline: EntropyMapSet,
                         baselineTrajectory: WeightTrajectory?, unmeasured: Set<String>) throws -> MetricsComparison {
        var settings = config.metrics
        // One final checkpoint has no initialisation to include in ρ's union.
        if !unmeasured.isEmpty { settings.rhoIncludesInitial = false }
        var comparison = try KnowledgeMetrics.compare(student: student, studentTrajectory: studentTrajectory,
                                                      baseline: baseline, baselineTrajectory: baselineTrajectory, settings: settings)
        guard !unmeasured.isEmpty else { return comparison }
        func strip(_ r: inout MetricsReport) {
            guard unmeasured.contains(r.network) else { return }
            r.rho = nil
            r.distanceMean = nil
            r.distanceVariance = nil
            for i in r.inputs.indices { r.inputs[i].rho = nil; r.inputs[i].distance = nil }
        }
        strip(&comparison.student)
        strip(&comparison.baseline)
        comparison.hypotheses = try Hypotheses.evaluate(student: comparison.student, baseline: comparison.baseline,
                                                        level: comparison.significanceLevel)
        comparison.paired = Hypotheses.pairedDifferences(student: comparison.student, baseline: comparison.baseline,
                                                         level: comparison.significanceLevel)
        return comparison
    }

    /// The weight-distance trajectory of Method.md §4 from the checkpoints in `folder`, by the given
    /// definition and the configured scope.
    func trajectory(folder: URL, epochs: [Int], width: Double, definition: WeightDistanceDefinition) throws -> WeightTrajectory {
        let probe = try self.network(width: width, seed: config.seed)
        let names = try scopeParameterNames(probe)
        switch definition {
        case .epoch:
            return try WeightTrajectory.measuring(epochs: epochs) { epoch in
                _ = try Checkpoint.load(into: probe, from: Trainer.checkpointURL(in: folder, epoch: epoch))
                let byName = Dictionary(uniqueKeysWithValues: probe.namedParameters)
                return names.map { byName[$0]!.value.array }
            }
        case .path:
            _ = try Checkpoint.load(into: probe, from: Trainer.checkpointURL(in: folder, epoch: 0))
            let byName = Dictionary(uniqueKeysWithValues: probe.namedParameters)
            var w0 = 0.0
            for n in names { for v in byName[n]!.value.buffer { w0 += Double(v) * Double(v) } }
            let lengths = try Self.stepPathLengths(in: folder, parameters: Set(names))
            let last = epochs.last ?? 0
            return try WeightTrajectory(initialNorm: w0.squareRoot(), epochPathLengths: (1...max(1, last)).map { lengths[$0] ?? 0 })
        }
    }

    /// Σ over the steps of each epoch of √(Σ_t ||Δw_{s,t}||²) over the parameters in scope, from `weight_path.csv`.
    static func stepPathLengths(in folder: URL, parameters: Set<String>) throws -> [Int: Double] {
        let url = folder.appendingPathComponent("weight_path.csv")
        let text = try String(contentsOf: url, encoding: .utf8)
        var perStep: [Int: [Int: Double]] = [:]   // epoch → step → Σ squared norms
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 4, let e = Int(f[0]), let s = Int(f[1]), let n = Double(f[3]) else { continue }
            if parameters.contains(String(f[2])) { perStep[e, default: [:]][s, default: 0] += n * n }
        }
        return perStep.mapValues { $0.values.reduce(0) { $0 + $1.squareRoot() } }
    }

    /// Parameter names in the configured weight scope: the tap's own weight matrix (the nearest Linear or Conv2D
    /// layer at or below the tap — not a BatchNorm scale; bias excluded; authors' code), or every parameter up
    /// to the tap.
    func scopeParameterNames(_ model: Model) throws -> [String] {
        let tapIndex = try model.layerIndex(config.tap)
        switch config.metrics.weightScope {
        case .upToTap:
            return model.namedParameters(through: tapIndex).map(\.0)
        case .tapWeight:
            for i in stride(from: tapIndex, through: 0, by: -1) {
                let (name, layer) = model.body.layers[i]
                if layer is Linear || layer is Conv2D { return [name + ".weight"] }
            }
            throw StudyError.tapHasNoWeight(config.tap)
        }
    }
}
