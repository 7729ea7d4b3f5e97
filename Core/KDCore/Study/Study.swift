import Foundation

/// A teacher–student–baseline study, end to end (Architecture.md "How data flows"): train the three
/// networks with dense checkpoints, analyse a fixed set of inputs at every checkpoint of the student
/// (distillation stage) and the baseline, and compute the metrics and hypotheses.
///
/// Resumable: training resumes from the last completed epoch, and entropy maps already in the results
/// store (`results.sqlite`) are not computed again, so an interrupted run loses no finished work.
public final class Study {
    public let config: StudyConfig
    public let family: ModelFamily
    public let data: DatasetSource
    public let folder: URL
    /// Progress lines (already formatted); the CLI prints them to stderr.
    public var log: (String) -> Void = { _ in }
    /// Random transformations of every training batch (a plugin's ``TrainingAugmenting``), nil for none.
    /// Its description is part of the run's recorded identity.
    public var augmentation: BatchAugmentation? = nil
    /// Inputs whose map could not be computed at some checkpoint: left out of every comparison.
    private var failedInputs = Set<String>()

    public init(config: StudyConfig, family: ModelFamily, data: DatasetSource, folder: URL) throws {
        try config.validate()
        self.config = config
        self.family = family
        self.data = data
        self.folder = folder
    }

    /// What a study produces. Everything is Codable and written to `study.json`.
    public struct Outcome: Codable {
        public var config: StudyConfig
        public var dataset: String
        public var datasetIsComposite: Bool
        public var datasetSettings: [String: String]
        public var classes: [String]
        public var trainSamples: [String: Int]
        public var testSamples: Int
        public var skippedSamples: [String]
        public var accuracy: [String: Double]
        public var analysedEpochs: [String: [Int]]
        public var failedMaps: [String]
        public var flaggedMaps: [String: Int]
        public var comparison: MetricsComparison
        public var seconds: [String: Double]
        /// The analysed inputs, in order, and for heat maps the final maps of every analysed network.
        public var inputIDs: [String]
        /// The test-split index of each analysed input.
        public var inputIndices: [Int]
        /// The final map of every analysed network, by network and input id (inputs whose map failed are
        /// absent), full length: ignored units carry 0.
        public var finalMaps: [String: [String: [Float]]]
        /// The dataset-level H̄ of each network's final maps (the mean of per-input background means over the
        /// inputs the metrics keep), when the metrics use it; pictures mark knowledge points against it.
        public var datasetBaselines: [String: Double]
        /// The training augmentation, when there was one (Study.augmentation).
        public var augmentation: String? = nil
        /// One entry per method of ``StudyConfig/methods``, in order; `comparison` is the first one's.
        public var methods: [MethodResult]
        /// Per network and weight-distance definition (`epoch`, `path`): the cumulative distance from w₀ at
        /// each analysed checkpoint (Method.md §4). The table's D uses `config.metrics.weightDistance`.
        public var weightDistances: [String: [String: [Double]]]
    }

    public func run() throws -> Outcome {
        var seconds: [String: Double] = [:]
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let t0 = Date()
            defer { seconds[name] = Date().timeIntervalSince(t0) }
            return try body()
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // One run per folder at a time: a second process is refused, not allowed to corrupt the store.
        let lock = try RunFolderLock(folder: folder.path)
        defer { lock.release() }
        let c = config
        let store = try ResultsStore(path: folder.appendingPathComponent("results.sqlite").path)
        defer { store.close() }
        let run = "study"

        // Data: the teacher sees the whole training split, the student and baseline a seeded subset.
        log("loading \(data.name) …")
        let trainCount = data.count(.train)
        var rng = SeededGenerator(seed: c.seed, stream: 11)
        var order = Array(0..<trainCount)
        order.shuffle(using: &rng)
        let subset = Array(order.prefix(max(1, Int((Double(trainCount) * c.studentDataFraction).rounded())))).sorted()
        let teacherData = InMemoryData(data, split: .train)
        let studentData = InMemoryData(data, split: .train, indices: subset)
        let testData = InMemoryData(data, split: .test)
        let skipped = data.problems + (teacherData.skipped + testData.skipped).map { "sample \($0.index): \($0.reason)" }
        for s in (teacherData.skipped + testData.skipped).prefix(20) { log("skipped sample \(s.index): \(s.reason)") }
        guard teacherData.count >= 2 else { throw StudyError.tooFewSamples(split: "train", found: teacherData.count, needed: 2) }
        guard testData.count >= c.analysedInputs else {
            throw StudyError.tooFewSamples(split: "test", found: testData.count, needed: c.analysedInputs)
        }
        // Check the taps before any training: an unknown tap, or distilling at the last layer (stage 2 would
        // have nothing to train), is an error now, not after the teacher has trained.
        let probe = try network(width: c.studentWidth, seed: c.seed)
        _ = try probe.layerIndex(c.tap)
        if c.methods.contains(.paper), try probe.layerIndex(c.effectiveDistillationTap) == probe.layerNames.count - 1 {
            throw StudyError.invalidConfig(["the student cannot be distilled at \(c.effectiveDistillationTap), the network's last layer: stage 2 trains the layers above the distillation layer; distil at an earlier layer (e.g. --distill-at \(family.taps[0])) and analyse \(c.tap)"])
        }

        // Every method's settings and layers (Docs/Methods.md), also before any training.
        let teacherProbe = try network(width: c.teacherWidth, seed: c.seed &+ 1)
        var methodProblems: [String] = []
        for m in c.methods {
            if case let .fineTuning(w) = m, !FileManager.default.fileExists(atPath: w) {
                methodProblems.append("fine-tune.weights: no file at \(w)")
            }
            methodProblems += MethodLayers.problems(m, student: probe, teacher: teacherProbe, tap: c.effectiveDistillationTap)
        }
        if !methodProblems.isEmpty { throw StudyError.invalidConfig(methodProblems) }
        // Recorded only once the settings are known to be usable, so a refused run leaves the folder free.
        try register(run, in: store)

        // Training
        func trainingConfig(_ name: String, epochs: Int, stage2: Int? = nil, seedOffset: UInt64) -> TrainingConfig {
            TrainingConfig(epochs: epochs, batchSize: c.batchSize, optimizer: c.optimizer, learningRate: c.learningRate,
                           seed: c.seed &+ seedOffset, checkpoints: c.checkpoints,
                           outputFolder: folder.appendingPathComponent(name).path, stage2Epochs: stage2)
        }
        /// Trains (or resumes) one network in its own folder, logging every epoch.
        func train(_ who: String, _ model: Model, _ config: TrainingConfig, _ mode: TrainingMode, _ data: TrainingData,
                   _ what: String) throws {
            log("training the \(who) \(what)")
            try timed("train-\(who)") {
                let trainer = Trainer(model: model, config: config)
                trainer.augmentation = augmentation
                trainer.progress = { [log] r in
                    log(String(format: "  %@%@ epoch %d/%d: loss %.4f (%.1f s)%@", who, r.stage.map { " \($0)" } ?? "",
                               r.epoch, r.epochs, r.meanLoss, r.seconds, r.checkpointWritten ? ", checkpoint" : ""))
                }
                _ = try trainer.run(mode, data: data)
            }
        }
        let distillAt = c.effectiveDistillationTap
        let teacher = try network(width: c.teacherWidth, seed: c.seed &+ 1)
        switch c.teacherSource {
        case .scratch:
            try train("teacher", teacher, trainingConfig("teacher", epochs: c.teacherEpochs, seedOffset: 1), .scratch, teacherData,
                      "(\(family.name) ×\(c.teacherWidth), \(teacherData.count) samples, \(c.teacherEpochs) epochs)")
        case let .fineTuned(path):
            try loadPretrained(teacher, from: path, who: "teacher")
            try train("teacher", teacher, trainingConfig("teacher", epochs: c.teacherEpochs, seedOffset: 1), .scratch, teacherData,
                      "fine-tuned from \(path) (\(family.name) ×\(c.teacherWidth), \(teacherData.count) samples, \(c.teacherEpochs) epochs)")
        case let .trained(path):
            try loadPretrained(teacher, from: path, who: "teacher")
            log("teacher: trained weights from \(path), used as they are")
        }
        let baseline = try network(width: c.studentWidth, seed: c.seed &+ 2)
        try train("baseline", baseline, trainingConfig("baseline", epochs: c.baselineEpochs, seedOffset: 2), .scratch, studentData,
                  "from scratch (\(studentData.count) images, \(c.baselineEpochs) epochs)")
        // One student per method (Docs/Methods.md), each in its own folder; all start from the baseline's w_0
        // (fine-tuning from the given weights instead).
        var students: [(method: DistillationMethod, name: String, model: Model, stage: String?)] = []
        for method in c.methods {
            let name = Self.networkName(method, config: c)
            let student = try network(width: c.studentWidth, seed: c.seed &+ 2)   // same w_0 as the baseline
            let twoStage = trainingConfig(name, epochs: c.studentEpochs, stage2: c.studentStage2Epochs, seedOffset: 2)
            let oneStage = trainingConfig(name, epochs: c.baselineEpochs, seedOffset: 2)
            let stages = "(\(c.studentEpochs) + \(c.studentStage2Epochs) epochs)", epochs = "(\(c.baselineEpochs) epochs)"
            switch method {
            case let .featureDistillation(layer):
                let at = layer ?? distillAt
                let adapter = try makeAdapter(student: student, teacher: teacher, studentTap: at, teacherTap: at)
                try train(name, student, twoStage,
                          .featureDistillation(teacher: teacher, teacherTap: at, studentTap: at, adapter: adapter),
                          studentData, "by feature distillation at \(at) \(stages)")
            case let .hinton(t, b):
                try train(name, student, oneStage, .hinton(teacher: teacher, temperature: Float(t), beta: Float(b)),
                          studentData, "by Hinton KD (T = \(t), β = \(b)) \(epochs)")
            case let .fitNets(sl, tl, t, b):
                let (s, tt) = (sl ?? distillAt, tl ?? distillAt)
                let adapter = try makeAdapter(student: student, teacher: teacher, studentTap: s, teacherTap: tt)
                try train(name, student, twoStage,
                          .fitNets(teacher: teacher, teacherLayer: tt, studentLayer: s, adapter: adapter,
                                   temperature: Float(t), beta: Float(b)),
                          studentData, "by FitNets (hint \(tt) → \(s), then KD T = \(t), β = \(b)) \(stages)")
            case let .attentionTransfer(pairs, b):
                let p = pairs ?? [LayerPair(student: distillAt, teacher: distillAt)]
                try train(name, student, oneStage, .attentionTransfer(teacher: teacher, pairs: p, beta: Float(b)),
                          studentData, "by attention transfer (\(p.map(\.description).joined(separator: ", ")), β = \(b)) \(epochs)")
            case let .flowOfSolution(pairs):
                try train(name, student, twoStage, .flowOfSolution(teacher: teacher, pairs: pairs),
                          studentData, "by FSP (\(pairs.map { "\($0.from)→\($0.to)" }.joined(separator: ", "))) \(stages)")
            case let .mutualLearning(n):
                let peers = try (1...n).map { try network(width: c.studentWidth, seed: c.seed &+ 100 &+ UInt64($0)) }
                try train(name, student, oneStage, .mutualLearning(peers: peers), studentData,
                          "by deep mutual learning with \(n) peer\(n == 1 ? "" : "s") \(epochs)")
            case let .fineTuning(weights):
                try loadPretrained(student, from: weights, who: name)
                try train(name, student, oneStage, .fineTuning(source: weights), studentData,
                          "fine-tuned from \(weights) \(epochs)")
            }
            let stage = try MethodLayers.analysedStage(method, model: student, analysedTap: c.tap, distillationTap: distillAt)
            students.append((method, name, student, stage))
        }
        var accuracy = [
            "teacher": Trainer.evaluate(teacher, on: testData),
            "baseline": Trainer.evaluate(baseline, on: testData),
        ]
        for s in students { accuracy[s.name] = Trainer.evaluate(s.model, on: testData) }
        if students.count == 1 && students[0].name == "student" {
            log(String(format: "test accuracy: teacher %.1f %%, student %.1f %%, baseline %.1f %%",
                       100 * accuracy["teacher"]!, 100 * accuracy["student"]!, 100 * accuracy["baseline"]!))
        } else {
            log("test accuracy: " + (["teacher"] + students.map(\.name) + ["baseline"])
                .map { String(format: "%@ %.1f %%", $0, 100 * accuracy[$0]!) }.joined(separator: ", "))
        }

        // Analysis: N test inputs, class by class in turn, at every checkpoint of each student's distillation
        // stage (for two-stage methods the stage in which the analysed layer learns; Docs/Methods.md) and of
        // the baseline.
        let inputIndices = Self.balancedSelection(labels: testData.labels, count: c.analysedInputs).map { testData.indices[$0] }
        let inputs = try inputIndices.map { try data.sample(.test, $0) }
        let networks: [(name: String, folder: URL, width: Double)] = students.map { s in
            (s.name, folder.appendingPathComponent(s.name + (s.stage.map { "/" + $0 } ?? "")), c.studentWidth)
        } + [("baseline", folder.appendingPathComponent("baseline"), c.studentWidth)]
        let settingsHash = Self.settingsHash(config: c, datasetSettings: data.settings)
        var failed: [String] = [], flagged: [String: Int] = [:], analysedEpochs: [String: [Int]] = [:]
        var finalMaps: [String: [String: [Float]]] = [:]
        var sets: [String: EntropyMapSet] = [:]
        var keptMaps: [String: [EntropyMap]] = [:]
        var trajectories: [String: WeightTrajectory] = [:]
        var weightDistances: [String: [String: [Double]]] = [:]
        for net in networks {
            let epochs = try Self.checkpointEpochs(in: net.folder)
            analysedEpochs[net.name] = epochs
            var maps: [EntropyMap] = []
            try timed("analyse-\(net.name)") {
                for epoch in epochs {
                    let model = try network(width: net.width, seed: c.seed)
                    _ = try Checkpoint.load(into: model, from: Trainer.checkpointURL(in: net.folder, epoch: epoch))
                    let produced = try analyse(model, network: net.name, epoch: epoch, inputs: inputs, store: store,
                                               run: run, settingsHash: settingsHash, failed: &failed, flagged: &flagged)
                    maps += produced.map(Self.analysedUnits)
                    if epoch == epochs.last { finalMaps[net.name] = Dictionary(uniqueKeysWithValues: produced.map { ($0.inputID, $0.entropies) }) }
                }
            }
            let usable = Set(inputs.map(\.id)).subtracting(failedInputs)
            let kept = maps.filter { usable.contains($0.inputID) }
            guard !kept.isEmpty else { throw StudyError.noUsableInputs("every map of \(net.name) failed") }
            sets[net.name] = try EntropyMapSet(network: net.name, maps: kept)
            keptMaps[net.name] = kept
            trajectories[net.name] = try trajectory(network: net.name, folder: net.folder, epochs: epochs, width: net.width)
            // Both weight distances are recorded; the metric setting picks the one the table uses.
            for definition in [WeightDistanceDefinition.epoch, .path] {
                let t = definition == c.metrics.weightDistance ? trajectories[net.name]!
                    : try trajectory(network: net.name, folder: net.folder, epochs: epochs, width: net.width, definition: definition)
                weightDistances[net.name, default: [:]][definition.rawValue] = epochs.map { t.distance(toEpoch: $0) ?? .nan }
            }
        }
        if c.analyseTeacher {
            let epochs = try Self.checkpointEpochs(in: folder.appendingPathComponent("teacher"))
            if let last = epochs.last {
                let produced = try analyse(teacher, network: "teacher", epoch: last, inputs: inputs, store: store, run: run,
                                           settingsHash: settingsHash, failed: &failed, flagged: &flagged)
                finalMaps["teacher"] = Dictionary(uniqueKeysWithValues: produced.map { ($0.inputID, $0.entropies) })
                analysedEpochs["teacher"] = [last]
            }
        }
        // Every network must be compared on the same inputs: drop an input that failed for any of them.
        let common = networks.map { Set(sets[$0.name]!.inputIDs) }.reduce(Set(sets["baseline"]!.inputIDs)) { $0.intersection($1) }
        func restrict(_ network: String) throws -> EntropyMapSet {
            try EntropyMapSet(network: network, maps: keptMaps[network]!.filter { common.contains($0.inputID) })
        }
        // Pictures mark knowledge points against the same H̄ as the metrics.
        var datasetBaselines: [String: Double] = [:]
        if c.metrics.baselineEntropy == .datasetLevel {
            for (net, byInput) in finalMaps {
                let pairs = inputs.compactMap { s -> ([Float], [Bool])? in
                    guard common.contains(s.id) || net == "teacher", let h = byInput[s.id] else { return nil }
                    let m = Self.analysedUnits(EntropyMap(inputID: s.id, epoch: 0, entropies: h, roles: s.roles))
                    return (m.entropies, m.foreground)
                }
                if let b = KnowledgePoints.datasetBaseline(pairs) { datasetBaselines[net] = b }
            }
        }
        let baselineSet = try restrict("baseline")
        var methodResults: [MethodResult] = []
        for s in students {
            let comparison = try compare(student: try restrict(s.name), studentTrajectory: trajectories[s.name],
                                         baseline: baselineSet, baselineTrajectory: trajectories["baseline"])
            methodResults.append(MethodResult(method: s.method, network: s.name, analysedStage: s.stage,
                                              comparison: comparison, accuracy: accuracy[s.name]!))
        }
        let comparison = methodResults[0].comparison
        var trainSamples = ["teacher": teacherData.count, "baseline": studentData.count]
        for s in students { trainSamples[s.name] = studentData.count }
        var outcome = Outcome(config: c, dataset: data.name, datasetIsComposite: data.isComposite, datasetSettings: data.settings,
                       classes: data.classNames,
                       trainSamples: trainSamples,
                       testSamples: testData.count, skippedSamples: skipped, accuracy: accuracy,
                       analysedEpochs: analysedEpochs, failedMaps: failed, flaggedMaps: flagged,
                       comparison: comparison, seconds: seconds, inputIDs: inputs.map(\.id), inputIndices: inputIndices,
                       finalMaps: finalMaps, datasetBaselines: datasetBaselines, methods: methodResults,
                       weightDistances: weightDistances)
        outcome.augmentation = augmentation?.description
        return outcome
    }

    /// The one place a student is compared with the baseline (the metrics and hypotheses of Method.md §3–5).
    private func compare(student: EntropyMapSet, studentTrajectory: WeightTrajectory?,
                         baseline: EntropyMapSet, baselineTrajectory: WeightTrajectory?) throws -> MetricsComparison {
        try KnowledgeMetrics.compare(student: student, studentTrajectory: studentTrajectory,
                                     baseline: baseline, baselineTrajectory: baselineTrajectory, settings: config.metrics)
    }

    /// The network (and folder) name of a method's student: `student` for the paper's study with its one
    /// default method, `student-<id>` otherwise.
    public static func networkName(_ method: DistillationMethod, config: StudyConfig) -> String {
        config.methods == [.paper] ? "student" : "student-\(method.id)"
    }

    /// One method's student, compared with the baseline.
    public struct MethodResult: Codable, Equatable {
        public var method: DistillationMethod
        /// The student's network name (`student` or `student-<id>`), also its folder.
        public var network: String
        /// The analysed stage folder (stage1/stage2) of a two-stage method; nil for one-stage methods.
        public var analysedStage: String?
        public var comparison: MetricsComparison
        public var accuracy: Double
    }

    /// Entropy maps of `inputs` for one network and checkpoint: from the store when present, else computed
    /// (in parallel) and stored at once.
    private func analyse(_ model: Model, network: String, epoch: Int, inputs: [Sample], store: ResultsStore,
                         run: String, settingsHash: String, failed: inout [String], flagged: inout [String: Int]) throws -> [EntropyMap] {
        func key(_ s: Sample) -> EntropyMapKey {
            EntropyMapKey(run: run, network: network, tap: config.tap, settingsHash: settingsHash, epoch: epoch, inputID: s.id)
        }
        var todo: [Sample] = []
        for s in inputs where try !store.hasMap(key(s)) { todo.append(s) }
        let t0 = Date()
        if !todo.isEmpty {
            let engine = try EntropyEngine(model: model, tap: config.tap, settings: config.entropy,
                                           analysedInput: family.analysedInput)
            let results = engine.analyse(todo)
            var rows: [StoredEntropyMap] = []
            for (s, r) in zip(todo, results) {
                switch r {
                case let .success(m):
                    rows.append(StoredEntropyMap(key: key(s), entropies: m.entropies, foreground: s.foreground,
                                                 featureVariance: m.sigmaF2, finalLoss: m.finalLoss, alpha: Double(m.alphaUsed),
                                                 chosenStep: m.chosenStep, meanEntropy: m.meanEntropy,
                                                 lossFlattened: m.lossFlattened,
                                                 targetReached: config.entropy.pinning == nil ? nil : m.pinningReached))
                    if m.flagged { flagged[network, default: 0] += 1 }
                case let .failure(e):
                    failed.append("\(s.id) \(network) epoch \(epoch): \(e)")
                    failedInputs.insert(s.id)
                    log("  could not analyse \(s.id) (\(network), epoch \(epoch)): \(e)")
                }
            }
            try store.putMaps(rows)
        }
        log(String(format: "  %@ epoch %d: %d maps (%d computed in %.1f s, %d from the store)", network, epoch,
                   inputs.count, todo.count, Date().timeIntervalSince(t0), inputs.count - todo.count))
        var out: [EntropyMap] = []
        for s in inputs {
            if let m = try store.map(key(s)) {
                out.append(EntropyMap(inputID: s.id, epoch: epoch, entropies: m.entropies, roles: s.roles,
                                      lossFlattened: m.lossFlattened, targetReached: m.targetReached))
            }
        }
        return out
    }

    /// The weight-distance trajectory of Method.md §4 for one network, by the configured definition and scope.
    private func trajectory(network: String, folder: URL, epochs: [Int], width: Double,
                            definition: WeightDistanceDefinition? = nil) throws -> WeightTrajectory {
        let probe = try self.network(width: width, seed: config.seed)
        let names = try scopeParameterNames(probe)
        switch definition ?? config.metrics.weightDistance {
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

    /// A freshly initialised network of the study's family for this dataset's task.
    func network(width: Double, seed: UInt64) throws -> Model {
        try family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: width, seed: seed,
                                     resources: data.modelResources))
    }

    /// Loads weights trained elsewhere into `model` through the family's declared name mapping.
    func loadPretrained(_ model: Model, from path: String, who: String) throws {
        let report = try PretrainedWeights.load(into: model, from: URL(fileURLWithPath: path), mapping: family.pretrained)
        log("\(who): \(report.loaded) tensors loaded from \(path) (\(family.pretrained.summary))"
            + (report.unused.isEmpty ? "" : "; not used: \(report.unused.prefix(8).joined(separator: ", "))\(report.unused.count > 8 ? ", …" : "")"))
    }

    /// The units the metrics use: ignored units (padding, special tokens) removed from the map, so they take
    /// no part in H̄, N_fg, N_bg or λ (Docs/Method.md §3).
    static func analysedUnits(_ m: EntropyMap) -> EntropyMap {
        guard let roles = m.roles, roles.contains(.ignored) else { return m }
        var h: [Float] = [], r: [UnitRole] = []
        for (e, role) in zip(m.entropies, roles) where role != .ignored { h.append(e); r.append(role) }
        return EntropyMap(inputID: m.inputID, epoch: m.epoch, entropies: h, roles: r,
                          lossFlattened: m.lossFlattened, targetReached: m.targetReached)
    }

    /// A linear or 1×1-conv adapter when the student's tap output differs from the teacher's.
    func makeAdapter(student: Model, teacher: Model, tap: String) throws -> Layer? {
        try makeAdapter(student: student, teacher: teacher, studentTap: tap, teacherTap: tap)
    }

    /// A linear or 1×1-conv adapter from the student's `studentTap` output to the teacher's `teacherTap`.
    func makeAdapter(student: Model, teacher: Model, studentTap: String, teacherTap: String) throws -> Layer? {
        let s = student.outputShape(batch: 1, through: try student.layerIndex(studentTap))
        let t = teacher.outputShape(batch: 1, through: try teacher.layerIndex(teacherTap))
        if s == t { return nil }
        var g = SeededGenerator(seed: config.seed, stream: 99)
        if s.count == t.count, s.dropLast() == t.dropLast() {
            return s.count == 4 ? Conv2D(s[3], t[3], kernel: 1, generator: &g) : Linear(s.last!, t.last!, generator: &g)
        }
        throw TrainingError.tapShapeMismatch(student: Array(s.dropFirst()), teacher: Array(t.dropFirst()))
    }

    /// Positions of `count` samples taken class by class in turn (the first sample of every class in class
    /// order, then the second, …), so a small analysed set still covers every class. Deterministic.
    public static func balancedSelection(labels: [Int], count: Int) -> [Int] {
        var byClass: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
        let classes = byClass.keys.sorted()
        var out: [Int] = [], round = 0
        while out.count < min(count, labels.count) {
            for k in classes where round < byClass[k]!.count && out.count < count { out.append(byClass[k]![round]) }
            round += 1
        }
        return out
    }

    /// What fixes the trained networks and the analysed samples: the dataset and its settings and the
    /// training side of the configuration. A folder holds one such run; a change is reported setting by
    /// setting before anything is trained. Entropy settings may change (maps are keyed by them), and metric
    /// settings may change freely (they are computed from the stored maps).
    struct RunIdentity: Codable, Equatable {
        var dataset: String
        var datasetSettings: [String: String]
        var family, distillationTap: String
        var teacherSource: NetworkSource
        /// The training augmentation's description; absent (nil) when there is none, so older folders match.
        var augmentation: String? = nil
        var teacherWidth, studentWidth, studentDataFraction: Double
        var teacherEpochs, studentEpochs, studentStage2Epochs, baselineEpochs, batchSize: Int
        var optimizer: OptimizerSettings
        var learningRate: LearningRateSchedule
        var checkpoints: CheckpointSchedule
        var seed: UInt64
        /// nil for the default (the paper's one feature-distillation student), so older folders still match.
        var methods: [DistillationMethod]? = nil
    }

    private func register(_ run: String, in store: ResultsStore) throws {
        let c = config
        let identity = RunIdentity(dataset: data.name, datasetSettings: data.settings, family: c.family,
                                   distillationTap: c.effectiveDistillationTap, teacherSource: c.teacherSource,
                                   augmentation: augmentation?.description, teacherWidth: c.teacherWidth,
                                   studentWidth: c.studentWidth, studentDataFraction: c.studentDataFraction,
                                   teacherEpochs: c.teacherEpochs, studentEpochs: c.studentEpochs,
                                   studentStage2Epochs: c.studentStage2Epochs, baselineEpochs: c.baselineEpochs,
                                   batchSize: c.batchSize, optimizer: c.optimizer, learningRate: c.learningRate,
                                   checkpoints: c.checkpoints, seed: c.seed,
                                   methods: c.methods == [.paper] ? nil : c.methods)
        let json = String(decoding: try JSONEncoder.sorted.encode(identity), as: UTF8.self)
        if let old = try store.runSettings(run), old != json {
            var differences: [String] = []
            if let previous = try? JSONDecoder().decode(RunIdentity.self, from: Data(old.utf8)) {
                let a = Mirror(reflecting: previous).children, b = Mirror(reflecting: identity).children
                for (x, y) in zip(a, b) where "\(x.value)" != "\(y.value)" {
                    differences.append("\(x.label ?? "?"): the folder has \(x.value), this run asks for \(y.value)")
                }
            }
            throw StudyError.settingsDiffer(folder: folder.path, differences: differences.isEmpty ? ["(unreadable record)"] : differences)
        }
        try store.registerRun(run, settingsJSON: json)
    }

    /// Epochs with a checkpoint in `folder` (`epoch-NNNN.safetensors`), ascending.
    public static func checkpointEpochs(in folder: URL) throws -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let epochs = names.compactMap { n -> Int? in
            guard n.hasPrefix("epoch-"), n.hasSuffix(".safetensors"), !n.hasSuffix(".state.safetensors") else { return nil }
            return Int(n.dropFirst(6).dropLast(12))
        }.sorted()
        if epochs.isEmpty { throw StudyError.missingCheckpoints(folder: folder.path) }
        return epochs
    }

    /// The key under which a run's entropy maps are stored: the entropy settings, the tap and the dataset's
    /// settings (metric settings are not part of it: metrics are computed from stored maps). The report reads
    /// the store with the same key.
    public static func settingsHash(config c: StudyConfig, datasetSettings: [String: String]) -> String {
        hash(c.entropy.summary + " tap=\(c.tap) " + datasetSettings.sorted { $0.key < $1.key }.description)
    }

    static func hash(_ s: String) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16)
    }
}

extension JSONEncoder {
    /// Pretty, key-sorted JSON: stable output for files meant to be read and diffed.
    public static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
}
