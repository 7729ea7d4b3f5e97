import Foundation

// The study's second step: every setting checked before anything trains, and the run's identity
// recorded in (and compared with) the folder's store.

extension Study {
    /// Step 2: checks the taps, every method's settings and layers (Docs/Methods.md) and the networks
    /// brought trained from elsewhere (``StudyConfig/trainedWeights``), before any training: an unknown
    /// tap, a student distilled at the last layer, a missing weights file are errors now, not after the
    /// teacher has trained.
    public func validateSettings() throws {
        let c = config
        let probe = try network(width: c.studentWidth, seed: c.seed)
        _ = try probe.layerIndex(c.tap)
        if c.methods.contains(.paper), try probe.layerIndex(c.effectiveDistillationTap) == probe.layerNames.count - 1 {
            throw StudyError.invalidConfig(["the student cannot be distilled at \(c.effectiveDistillationTap), the network's last layer: stage 2 trains the layers above the distillation layer; distil at an earlier layer (e.g. --distill-at \(family.taps[0])) and analyse \(c.tap)"])
        }
        let teacherProbe = try network(width: c.teacherWidth, seed: c.seed &+ 1)
        var problems: [String] = []
        for m in c.methods {
            if case let .fineTuning(w) = m, !FileManager.default.fileExists(atPath: w) {
                problems.append("fine-tune.weights: no file at \(w)")
            }
            problems += MethodLayers.problems(m, student: probe, teacher: teacherProbe, tap: c.effectiveDistillationTap)
        }
        if !problems.isEmpty { throw StudyError.invalidConfig(problems) }
        // Every brought network is resolved and its final weights loaded into a probe now: a missing file, a
        // folder without checkpoints or a tensor of the wrong shape is reported before any training.
        for (name, brought) in try broughtNetworks().sorted(by: { $0.key < $1.key }) {
            let model = try network(width: c.studentWidth, seed: c.seed)
            do {
                _ = try Checkpoint.load(into: model, from: brought.file(epoch: brought.epochs.last!))
            } catch {
                throw StudyError.invalidConfig(["trained-weights \(name): \(brought.file(epoch: brought.epochs.last!).path): \(error)"])
            }
        }
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
        /// Networks brought trained from elsewhere; nil when every network is trained here.
        var trainedWeights: [String: String]? = nil
    }

    func register(_ run: String, in store: ResultsStore) throws {
        let c = config
        let identity = RunIdentity(dataset: data.name, datasetSettings: data.settings, family: c.family,
                                   distillationTap: c.effectiveDistillationTap, teacherSource: c.teacherSource,
                                   augmentation: augmentation?.description, teacherWidth: c.teacherWidth,
                                   studentWidth: c.studentWidth, studentDataFraction: c.studentDataFraction,
                                   teacherEpochs: c.teacherEpochs, studentEpochs: c.studentEpochs,
                                   studentStage2Epochs: c.studentStage2Epochs, baselineEpochs: c.baselineEpochs,
                                   batchSize: c.batchSize, optimizer: c.optimizer, learningRate: c.learningRate,
                                   checkpoints: c.checkpoints, seed: c.seed,
                                   methods: c.methods == [.paper] ? nil : c.methods,
                                   trainedWeights: c.trainedWeights?.isEmpty == false ? c.trainedWeights : nil)
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
        var meta = storeMetadata
        meta[ResultsStore.settingsHashKey] = Self.settingsHash(config: c, datasetSettings: data.settings)
        for (k, v) in meta { try store.setMetadata(k, v) }
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

    /// Epochs with a checkpoint in `folder` (`epoch-NNNN.safetensors`), ascending.
    public static func checkpointEpochs(in folder: URL) throws -> [Int] {
        let epochs = checkpointEpochsIfAny(in: folder)
        if epochs.isEmpty { throw StudyError.missingCheckpoints(folder: folder.path) }
        return epochs
    }

    /// Epochs with a checkpoint in `folder`, ascending; empty when there are none (or no folder).
    static func checkpointEpochsIfAny(in folder: URL) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { n -> Int? in
            guard n.hasPrefix("epoch-"), n.hasSuffix(".safetensors"), !n.hasSuffix(".state.safetensors") else { return nil }
            return Int(n.dropFirst(6).dropLast(12))
        }.sorted()
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
