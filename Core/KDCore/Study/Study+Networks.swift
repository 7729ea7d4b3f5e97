import Foundation

// The networks of a study: how they are made, trained one at a time, and loaded from weights.

extension Study {
    /// A freshly initialised network of the study's family for this dataset's task.
    func network(width: Double, seed: UInt64) throws -> Model {
        try family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: width, seed: seed,
                                     resources: data.modelResources))
    }

    func trainingConfig(_ name: String, epochs: Int, stage2: Int? = nil, seedOffset: UInt64) -> TrainingConfig {
        let c = config
        return TrainingConfig(epochs: epochs, batchSize: c.batchSize, optimizer: c.optimizer, learningRate: c.learningRate,
                              seed: c.seed &+ seedOffset, checkpoints: c.checkpoints,
                              outputFolder: folder.appendingPathComponent(name).path, stage2Epochs: stage2)
    }

    /// Trains (or resumes) one network in its own folder, logging every epoch and emitting a progress event
    /// per epoch. When ``trainsOnly`` excludes it, the network must be trained already: its final checkpoint
    /// is loaded and nothing is written.
    func train(_ who: String, _ model: Model, _ config: TrainingConfig, _ mode: TrainingMode, _ data: TrainingData,
               _ what: String) throws {
        if let only = trainsOnly, !only.contains(who) {
            let twoStage = config.stage2Epochs != nil
            let root = URL(fileURLWithPath: config.outputFolder, isDirectory: true)
            let final = twoStage ? Trainer.checkpointURL(in: root.appendingPathComponent("stage2"), epoch: config.stage2Epochs!)
                                 : Trainer.checkpointURL(in: root, epoch: config.epochs)
            guard FileManager.default.fileExists(atPath: final.path) else {
                throw StudyError.notTrained(network: who, folder: root.path)
            }
            _ = try Checkpoint.load(into: model, from: final)
            log("\(who): trained already, loaded from \(final.path)")
            return
        }
        log("training the \(who) \(what)")
        try timed("train-\(who)") {
            let trainer = Trainer(model: model, config: config)
            trainer.augmentation = augmentation
            trainer.progress = { [log, progress] r in
                log(String(format: "  %@%@ epoch %d/%d: loss %.4f (%.1f s)%@", who, r.stage.map { " \($0)" } ?? "",
                           r.epoch, r.epochs, r.meanLoss, r.seconds, r.checkpointWritten ? ", checkpoint" : ""))
                progress?(StudyProgress(stage: .training, item: who + (r.stage.map { " \($0)" } ?? ""), done: r.epoch, total: r.epochs))
            }
            _ = try trainer.run(mode, data: data)
        }
    }

    /// Loads weights trained elsewhere into `model` through the family's declared name mapping.
    func loadPretrained(_ model: Model, from path: String, who: String) throws {
        let report = try PretrainedWeights.load(into: model, from: URL(fileURLWithPath: path), mapping: family.pretrained)
        log("\(who): \(report.loaded) tensors loaded from \(path) (\(family.pretrained.summary))"
            + (report.unused.isEmpty ? "" : "; not used: \(report.unused.prefix(8).joined(separator: ", "))\(report.unused.count > 8 ? ", …" : "")"))
    }

    /// Loads the final checkpoint of a network brought trained from elsewhere (analysed only).
    func loadBrought(_ model: Model, _ brought: BroughtNetwork) throws {
        let file = brought.file(epoch: brought.epochs.last!)
        _ = try Checkpoint.load(into: model, from: file)
        log("\(brought.name): trained elsewhere, not trained here: "
            + (brought.hasTrajectory ? "\(brought.epochs.count) checkpoints in \(brought.folder!.path) (epochs \(brought.epochs.first!)–\(brought.epochs.last!))"
                                     : "one final checkpoint \(file.path) (D and ρ cannot be measured without the training's checkpoints)"))
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
}
