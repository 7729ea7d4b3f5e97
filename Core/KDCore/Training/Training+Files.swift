import Foundation

// The trainer's files: checkpoints, optimiser state, the resume point and the per-step logs, and how
// an interrupted run is found and continued.

extension Trainer {
    static let configKey = "kd-tool.config"
    static let modeKey = "kd-tool.mode"
    static let epochKey = "kd-tool.epoch"
    static let stageKey = "kd-tool.stage"
    static let modelKey = "kd-tool.model"
    static let lossKey = "kd-tool.mean-loss"

    static let weightPathHeader = "epoch,step,parameter,delta_norm\n"
    static let stepsHeader = "epoch,step,loss,learning_rate\n"

    /// The checkpoint file of `epoch` in a stage folder: `epoch-0007.safetensors`.
    public static func checkpointURL(in folder: URL, epoch: Int) -> URL {
        folder.appendingPathComponent(String(format: "epoch-%04d.safetensors", epoch))
    }

    /// The optimiser-state file written alongside a checkpoint: `epoch-0007.state.safetensors`.
    public static func stateURL(in folder: URL, epoch: Int) -> URL {
        folder.appendingPathComponent(String(format: "epoch-%04d.state.safetensors", epoch))
    }

    static func resumeURL(in folder: URL) -> URL { folder.appendingPathComponent("resume.safetensors") }

    // MARK: - Start or resume

    /// Creates the stage folder and either restores the last completed epoch of an earlier run with the
    /// same settings, or writes the initial checkpoint and empty logs. Returns the epoch to continue after.
    func prepare(_ stage: Stage, optimizer: Optimizer) throws -> Int {
        do {
            try FileManager.default.createDirectory(at: stage.folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(file: stage.folder.path, message: "cannot create the folder: \(error.localizedDescription)")
        }
        if let epoch = try resume(stage, optimizer: optimizer) {
            try truncateLogs(stage, after: epoch)
            return epoch
        }
        // Checkpoints without a resumable run (copied in, or from another tool) are never overwritten.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: stage.folder.path)) ?? []
        if let foreign = names.sorted().first(where: { $0.hasPrefix("epoch-") && $0.hasSuffix(".safetensors") && !$0.hasSuffix(".state.safetensors") }) {
            throw TrainingError.foreignFiles(folder: stage.folder.path, file: foreign)
        }
        try writeFile(Array((Self.weightPathHeader).utf8), to: stage.folder.appendingPathComponent("weight_path.csv"))
        try writeFile(Array((Self.stepsHeader).utf8), to: stage.folder.appendingPathComponent("steps.csv"))
        try saveEpoch(stage, epoch: 0, optimizer: optimizer, meanLoss: nil, checkpoint: true)
        return 0
    }

    /// Restores model, optimiser and adapter from `resume.safetensors`, or else from the latest checkpoint
    /// that has its state file. Returns the restored epoch, or nil when the folder holds no run.
    private func resume(_ stage: Stage, optimizer: Optimizer) throws -> Int? {
        let fm = FileManager.default
        let resumeFile = Self.resumeURL(in: stage.folder)
        if fm.fileExists(atPath: resumeFile.path) {
            let contents = try Safetensors.read(resumeFile)
            let epoch = try checkRecorded(contents.metadata, stage: stage, file: resumeFile.path)
            var modelTensors: [(String, Tensor)] = [], state: [(String, Tensor)] = []
            for (name, t) in contents.tensors {
                if name.hasPrefix("model/") { modelTensors.append((String(name.dropFirst(6)), t)) } else { state.append((name, t)) }
            }
            try restoreState(state, stage: stage, optimizer: optimizer, file: resumeFile.path, checkOnly: true)
            try Checkpoint.assign(modelTensors, to: model, file: resumeFile.path)
            try restoreState(state, stage: stage, optimizer: optimizer, file: resumeFile.path, checkOnly: false)
            return epoch
        }
        let names = (try? fm.contentsOfDirectory(atPath: stage.folder.path)) ?? []
        let epochs = names.compactMap { name -> Int? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".state.safetensors") else { return nil }
            return Int(name.dropFirst(6).dropLast(18))
        }.filter { fm.fileExists(atPath: Self.checkpointURL(in: stage.folder, epoch: $0).path) }
        guard let epoch = epochs.max() else { return nil }
        let stateFile = Self.stateURL(in: stage.folder, epoch: epoch)
        let modelFile = Self.checkpointURL(in: stage.folder, epoch: epoch)
        let state = try Safetensors.read(stateFile)
        let recorded = try checkRecorded(state.metadata, stage: stage, file: stateFile.path)
        guard recorded == epoch else {
            throw CheckpointError.metadata(file: stateFile.path, key: Self.epochKey,
                                           reason: "says epoch \(recorded) but the file name says \(epoch); was it renamed?")
        }
        let weights = try Safetensors.read(modelFile)
        let tensors = state.tensors.map { ($0.name, $0.tensor) }
        try restoreState(tensors, stage: stage, optimizer: optimizer, file: stateFile.path, checkOnly: true)
        try Checkpoint.assign(weights.tensors.map { ($0.name, $0.tensor) }, to: model, file: modelFile.path)
        try restoreState(tensors, stage: stage, optimizer: optimizer, file: stateFile.path, checkOnly: false)
        return epoch
    }

    /// Checks a file's recorded settings against this run's and returns its epoch.
    private func checkRecorded(_ metadata: [String: String], stage: Stage, file: String) throws -> Int {
        func value(_ key: String) throws -> String {
            guard let v = metadata[key] else {
                throw CheckpointError.metadata(file: file, key: key, reason: "is missing: the folder was not written by "
                    + "kd-tool's trainer; choose an empty output folder")
            }
            return v
        }
        var differences: [TrainingError.Difference] = []
        differences += try jsonDifferences(recorded: value(Self.configKey), requested: config, prefix: "",
                                           ignoring: ["outputFolder"], file: file, key: Self.configKey)
        differences += try jsonDifferences(recorded: value(Self.modeKey), requested: stage.record, prefix: "mode.",
                                           ignoring: [], file: file, key: Self.modeKey)
        let modelName = try value(Self.modelKey)
        if modelName != model.name {
            differences.append(.init(setting: "model", recorded: modelName, requested: model.name))
        }
        if !differences.isEmpty { throw TrainingError.configMismatch(folder: stage.folder.path, differences: differences) }
        guard let epoch = Int(try value(Self.epochKey)), epoch >= 0, epoch <= stage.epochs else {
            throw CheckpointError.metadata(file: file, key: Self.epochKey, reason: "is not an epoch in 0...\(stage.epochs)")
        }
        return epoch
    }

    /// Settings whose JSON values differ between a recorded JSON object and `requested`.
    private func jsonDifferences<T: Encodable>(recorded: String, requested: T, prefix: String, ignoring: Set<String>,
                                               file: String, key: String) throws -> [TrainingError.Difference] {
        guard let old = (try? JSONSerialization.jsonObject(with: Data(recorded.utf8))) as? [String: Any] else {
            throw CheckpointError.metadata(file: file, key: key, reason: "is not a JSON object")
        }
        let new = try JSONSerialization.jsonObject(with: Self.json(requested)) as! [String: Any]
        func text(_ v: Any?) -> String {
            guard let v else { return "nothing" }
            let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])
            return data.map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
        }
        return Set(old.keys).union(new.keys).subtracting(ignoring).sorted().compactMap { k in
            let (a, b) = (text(old[k]), text(new[k]))
            return a == b ? nil : .init(setting: prefix + k, recorded: a, requested: b)
        }
    }

    /// Splits state tensors into optimiser (`optimizer/…`) and adapter (`adapter/…`) parts, validates
    /// them, and (unless `checkOnly`) assigns them.
    private func restoreState(_ tensors: [(String, Tensor)], stage: Stage, optimizer: Optimizer, file: String,
                              checkOnly: Bool) throws {
        var optimizerState: [(String, Tensor)] = []
        var adapterTensors: [String: Tensor] = [:]
        for (name, t) in tensors {
            // A step count becomes an Int inside the optimiser: range-check it here first (NaN, ±∞
            // or 1e20 would make that conversion undefined in a release build). Float32 counts
            // exactly up to 2²⁴ steps, far more than any run of kd-tool takes.
            if name.hasPrefix("optimizer/"), name.hasSuffix(".step"), t.count == 1,
               FileNumbers.int(exactly: t[0], in: 1...(1 << 24)) == nil {
                throw CheckpointError.invalidEntry(file: file, tensor: name,
                                                   reason: "the optimiser step count \(t[0]) is not a whole number in 1...\(1 << 24)")
            }
            if name.hasPrefix("optimizer/") {
                optimizerState.append((String(name.dropFirst(10)), t))
            } else if name.hasPrefix("adapter/"), stage.adapter != nil {
                adapterTensors[String(name.dropFirst(8))] = t
            } else {
                throw CheckpointError.unexpectedTensor(file: file, tensor: name, shape: t.shape)
            }
        }
        if let adapter = stage.adapter {
            let expected = Self.adapterTensors(adapter)
            for (name, t) in expected {
                guard let found = adapterTensors[name] else {
                    throw CheckpointError.missingTensor(file: file, tensor: "adapter/" + name, expectedShape: t.shape)
                }
                guard found.shape == t.shape else {
                    throw CheckpointError.shapeMismatch(file: file, tensor: "adapter/" + name, expected: t.shape, found: found.shape)
                }
                if !checkOnly { t.assign(found) }
            }
            let known = Set(expected.map(\.0))
            if let extra = adapterTensors.keys.sorted().first(where: { !known.contains($0) }) {
                throw CheckpointError.unexpectedTensor(file: file, tensor: "adapter/" + extra, shape: adapterTensors[extra]!.shape)
            }
        }
        // Validate against a scratch optimiser first so a bad file leaves the real one untouched.
        let target = checkOnly ? config.optimizer.make() : optimizer
        do {
            try target.setState(optimizerState, parameters: stage.trained)
        } catch let error as OptimizerStateError {
            switch error {
            case let .unknownTensor(name, _):
                let shape = optimizerState.first { $0.0 == name }?.1.shape ?? []
                throw CheckpointError.unexpectedTensor(file: file, tensor: "optimizer/" + name, shape: shape)
            case let .shapeMismatch(name, expected, found):
                throw CheckpointError.shapeMismatch(file: file, tensor: "optimizer/" + name, expected: expected, found: found)
            case let .invalidStep(name, found):
                throw CheckpointError.invalidEntry(file: file, tensor: "optimizer/" + name,
                                                   reason: "step \(found) is not a whole number of steps from 1 to 16777216")
            }
        }
    }

    /// The adapter's parameters and buffers by name (without the `adapter/` prefix).
    static func adapterTensors(_ adapter: Layer) -> [(String, Tensor)] {
        namedParameters(of: adapter, prefix: "").map { ($0.0, $0.1.value) } + namedBuffers(of: adapter, prefix: "")
    }

    // MARK: - Reading the weight path

    /// Σ of the logged per-step ‖Δw‖₂ by epoch and parameter, from a stage folder's `weight_path.csv`:
    /// the `path` weight distance of Method.md §4 for each epoch (divide by ‖w₀‖ and sum over epochs).
    public static func pathLengths(in folder: URL) throws -> [Int: [String: Double]] {
        let url = folder.appendingPathComponent("weight_path.csv")
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw CheckpointError.io(file: url.path, message: "cannot read the weight-path log: \(error.localizedDescription)")
        }
        var out: [Int: [String: Double]] = [:]
        for (number, line) in text.split(separator: "\n").enumerated().dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == 4, let epoch = Int(fields[0]), Int(fields[1]) != nil, let norm = Double(fields[3]) else {
                throw CheckpointError.io(file: url.path, message: "line \(number + 1) is not 'epoch,step,parameter,delta_norm': \(line)")
            }
            out[epoch, default: [:]][String(fields[2]), default: 0] += norm
        }
        return out
    }

    // MARK: - Writing

    /// Writes the checkpoint and state of `epoch` (when `checkpoint`), then the resume point.
    func saveEpoch(_ stage: Stage, epoch: Int, optimizer: Optimizer, meanLoss: Double?, checkpoint: Bool) throws {
        var metadata = [
            Self.configKey: String(decoding: try Self.json(config), as: UTF8.self),
            Self.modeKey: String(decoding: try Self.json(stage.record), as: UTF8.self),
            Self.epochKey: String(epoch),
            Self.stageKey: stage.name ?? "single",
            Self.modelKey: model.name,
        ]
        if let meanLoss { metadata[Self.lossKey] = "\(meanLoss)" }
        var state = optimizer.state.map { ("optimizer/" + $0.0, $0.1) }
        if let adapter = stage.adapter { state += Self.adapterTensors(adapter).map { ("adapter/" + $0.0, $0.1) } }
        if checkpoint {
            // State first: a checkpoint without its state file would look like a foreign file on restart.
            try Safetensors.write(state, metadata: metadata, to: Self.stateURL(in: stage.folder, epoch: epoch))
            try Checkpoint.save(model, to: Self.checkpointURL(in: stage.folder, epoch: epoch), metadata: metadata)
        }
        let modelTensors = Checkpoint.fileTensors(of: model).map { ("model/" + $0.0, $0.1) }
        try Safetensors.write(modelTensors + state, metadata: metadata, to: Self.resumeURL(in: stage.folder))
    }

    func appendLogs(_ stage: Stage, weightPath: String, steps: String) throws {
        try append(weightPath, to: stage.folder.appendingPathComponent("weight_path.csv"), header: Self.weightPathHeader)
        try append(steps, to: stage.folder.appendingPathComponent("steps.csv"), header: Self.stepsHeader)
    }

    private func append(_ text: String, to url: URL, header: String) throws {
        if !FileManager.default.fileExists(atPath: url.path) { try writeFile(Array(header.utf8), to: url) }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            throw CheckpointError.io(file: url.path, message: "cannot append to the log: \(error.localizedDescription)")
        }
    }

    /// Drops log rows of epochs after `epoch` (left by the interrupted run) so they are not counted twice.
    private func truncateLogs(_ stage: Stage, after epoch: Int) throws {
        for (name, header) in [("weight_path.csv", Self.weightPathHeader), ("steps.csv", Self.stepsHeader)] {
            let url = stage.folder.appendingPathComponent(name)
            let text = (try? String(contentsOf: url, encoding: .utf8)) ?? header
            var kept = header
            for line in text.split(separator: "\n", omittingEmptySubsequences: true).dropFirst() {
                // A partly written last line has too few fields or no parsable epoch: dropped too.
                guard line.split(separator: ",").count == 4, let e = Int(line.prefix { $0 != "," }), e <= epoch else { continue }
                kept += line + "\n"
            }
            try writeFile(Array(kept.utf8), to: url)
        }
    }

    private func writeFile(_ bytes: [UInt8], to url: URL) throws { try Safetensors.writeAtomically(bytes, to: url) }

    /// The settings as JSON; a setting JSON cannot hold (an infinite or NaN number that validation let
    /// through) is an error naming it rather than a crash.
    static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return try encoder.encode(value) } catch {
            throw TrainingError.invalidConfig(["the training settings cannot be recorded (\(error)); every number must be finite"])
        }
    }
}
