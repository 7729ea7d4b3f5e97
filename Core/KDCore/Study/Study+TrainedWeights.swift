import Foundation

// Networks brought trained from elsewhere (StudyConfig.trainedWeights): analysed only, never trained here.

extension Study {
    /// A network brought trained from elsewhere: a folder of checkpoints (its trajectory) or one file (its
    /// final weights only).
    struct BroughtNetwork {
        var name: String
        /// As given in the settings.
        var path: String
        /// The folder of `epoch-N.safetensors` checkpoints; nil for a single file.
        var folder: URL?
        /// The single file; nil for a folder.
        var single: URL?
        /// The checkpoints' epochs (ascending); for a single file, the one label its maps are stored under.
        var epochs: [Int]

        func file(epoch: Int) -> URL {
            single ?? Trainer.checkpointURL(in: folder!, epoch: epoch)
        }
        /// Whether D and ρ can be measured (Method.md §4–5 need the checkpoints of the training).
        var hasTrajectory: Bool { single == nil }
    }

    /// The network names ``StudyConfig/trainedWeights`` accepts: each method's student and `baseline`.
    var broughtNetworkNames: [String] {
        config.methods.map { Self.networkName($0, config: config) } + ["baseline"]
    }

    /// ``StudyConfig/trainedWeights`` resolved and checked: the names, the paths, and that a folder holds
    /// checkpoints. A student's folder may be the student's folder of another run (holding `stage1/` and
    /// `stage2/`): the analysed stage's subfolder is used.
    func broughtNetworks() throws -> [String: BroughtNetwork] {
        guard let given = config.trainedWeights, !given.isEmpty else { return [:] }
        let valid = broughtNetworkNames
        var problems: [String] = [], out: [String: BroughtNetwork] = [:]
        let fm = FileManager.default
        for (name, path) in given.sorted(by: { $0.key < $1.key }) {
            guard valid.contains(name) else {
                problems.append("trained-weights: no network '\(name)' in this study; the networks that can be brought trained are: \(valid.joined(separator: ", "))")
                continue
            }
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isFolder) else {
                problems.append("trained-weights \(name): no file or folder at \(path); give a folder of epoch-N.safetensors checkpoints or one .safetensors file")
                continue
            }
            if !isFolder.boolValue {
                // One final checkpoint: stored under its own epoch when its name says it (epoch-N.safetensors).
                let base = URL(fileURLWithPath: path).lastPathComponent
                var epoch = 1
                if base.hasPrefix("epoch-"), base.hasSuffix(".safetensors"), let e = Int(base.dropFirst(6).dropLast(12)), e >= 1 { epoch = e }
                out[name] = BroughtNetwork(name: name, path: path, folder: nil, single: URL(fileURLWithPath: path), epochs: [epoch])
                continue
            }
            var folder = URL(fileURLWithPath: path, isDirectory: true)
            var epochs = Self.checkpointEpochsIfAny(in: folder)
            if epochs.isEmpty, let stage = try analysedStage(ofNetwork: name) {
                let sub = folder.appendingPathComponent(stage, isDirectory: true)
                let inStage = Self.checkpointEpochsIfAny(in: sub)
                if !inStage.isEmpty { folder = sub; epochs = inStage }
            }
            guard !epochs.isEmpty else {
                problems.append("trained-weights \(name): the folder \(path) holds no epoch-N.safetensors checkpoints; give the folder a run wrote them in (for a two-stage student, its \(try analysedStage(ofNetwork: name) ?? "stage1")/ subfolder) or one .safetensors file")
                continue
            }
            guard epochs.contains(where: { $0 >= 1 }) else {
                problems.append("trained-weights \(name): the folder \(path) holds only the initialisation (epoch 0), no trained checkpoint")
                continue
            }
            out[name] = BroughtNetwork(name: name, path: path, folder: folder, single: nil, epochs: epochs)
        }
        if !problems.isEmpty { throw StudyError.invalidConfig(problems) }
        return out
    }

    /// The analysed stage folder (stage1/stage2) of a network, nil for one-stage methods and the baseline.
    func analysedStage(ofNetwork name: String) throws -> String? {
        guard let method = config.methods.first(where: { Self.networkName($0, config: config) == name }) else { return nil }
        let probe = try network(width: config.studentWidth, seed: config.seed)
        return try MethodLayers.analysedStage(method, model: probe, analysedTap: config.tap,
                                              distillationTap: config.effectiveDistillationTap)
    }

    /// Whether any student is trained here (and so needs the teacher).
    var studentsTrainedHere: [DistillationMethod] {
        let brought = Set((config.trainedWeights ?? [:]).keys)
        return config.methods.filter { !brought.contains(Self.networkName($0, config: config)) }
    }
}
