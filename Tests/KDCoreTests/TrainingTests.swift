import Foundation
import KDCore
import Testing
import _TestSupport

/// Two linearly separable classes in R⁴: label = [u·x > 0], points pushed 0.5 away from the plane.
private struct Blobs: TrainingData {
    static let dim = 4
    var inputs: [Float] = []
    var labels: [Int] = []

    init(count: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let u: [Float] = [0.5, -0.5, 0.25, 0.8]
        let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for _ in 0..<count {
            var v = (0..<Self.dim).map { _ in g.gaussian() }
            let side: Float = zip(v, u).reduce(0) { $0 + $1.0 * $1.1 } > 0 ? 1 : -1
            for j in 0..<Self.dim { v[j] += side * 0.5 * u[j] / norm }
            inputs += v
            labels.append(side > 0 ? 1 : 0)
        }
    }

    var count: Int { labels.count }

    func batch(_ indices: [Int], into x: Tensor, labels out: inout [Int]) {
        for (k, i) in indices.enumerated() {
            for j in 0..<Self.dim { x[k * Self.dim + j] = inputs[i * Self.dim + j] }
            out[k] = labels[i]
        }
    }
}

/// fc1 (4→8) relu1 fc2 (8→tapWidth) relu2 fc3 (→2).
private func mlp(_ name: String, seed: UInt64, tapWidth: Int = 6) -> Model {
    var g = SeededGenerator(seed: seed)
    return Model(name: name, inputShape: [Blobs.dim], layers: [
        ("fc1", Linear(Blobs.dim, 8, generator: &g)), ("relu1", ReLU()),
        ("fc2", Linear(8, tapWidth, generator: &g)), ("relu2", ReLU()),
        ("fc3", Linear(tapWidth, 2, generator: &g)),
    ])
}

private func temporaryFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("kd-training-\(UUID().uuidString)")
}

private func config(_ folder: URL, epochs: Int = 4, batch: Int = 16, optimizer: OptimizerSettings = .paper,
                    lr: Double = 0.05, checkpoints: CheckpointSchedule = .paper) -> TrainingConfig {
    TrainingConfig(epochs: epochs, batchSize: batch, optimizer: optimizer, learningRate: .constant(lr), seed: 42,
                   checkpoints: checkpoints, outputFolder: folder.path)
}

private func bitPatterns(_ model: Model) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.0, $0.1.value.array.map(\.bitPattern)) })
}

/// Mean squared difference between two models' tap outputs over `data`.
private func tapDistance(_ student: Model, _ studentTap: Int, adapter: Layer?, _ teacher: Model, _ teacherTap: Int,
                         _ data: Blobs) -> Double {
    let x = Tensor(shape: [data.count, Blobs.dim])
    var labels = [Int](repeating: 0, count: data.count)
    data.batch(Array(0..<data.count), into: x, labels: &labels)
    var s = student.forward(x, student.makeContext(), through: studentTap)
    if let adapter { s = adapter.forward(s, adapter.makeContext()) }
    return Loss.meanSquaredError(s, teacher.forward(x, teacher.makeContext(), through: teacherTap))
}

@Suite struct TrainingTests {
    @Test func scratchTrainingLearnsASeparableProblem() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let train = Blobs(count: 256, seed: 1), test = Blobs(count: 256, seed: 2)
        let model = mlp("mlp", seed: 3)
        let before = Trainer.evaluate(model, on: test)
        let trainer = Trainer(model: model, config: config(folder, epochs: 5))
        var reports: [EpochReport] = []
        trainer.progress = { reports.append($0) }
        try trainer.run(.scratch, data: train)
        let after = Trainer.evaluate(model, on: test)
        print("scratch: held-out accuracy \(before) → \(after); losses \(reports.map(\.meanLoss))")
        #expect(after >= 0.95)
        #expect(reports.map(\.epoch) == [1, 2, 3, 4, 5])
        #expect(reports.last!.meanLoss < reports.first!.meanLoss)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        for e in 0...5 { #expect(files.contains(String(format: "epoch-%04d.safetensors", e))) }
        #expect(files.contains("weight_path.csv") && files.contains("steps.csv"))
        // The final checkpoint is the trained model and records the configuration.
        let copy = mlp("mlp", seed: 99)
        let metadata = try Checkpoint.load(into: copy, from: folder.appendingPathComponent("epoch-0005.safetensors"))
        #expect(bitPatterns(copy) == bitPatterns(model))
        let recorded = try JSONDecoder().decode(TrainingConfig.self, from: Data(metadata["kd-tool.config"]!.utf8))
        #expect(recorded == trainer.config)
    }

    /// The optional batch augmentation sees every training batch once, after it is assembled, with a
    /// generator that depends only on (seed, stage, epoch, step): two runs end bit-identical.
    @Test func augmentationSeesEveryBatchAndIsDeterministic() throws {
        let train = Blobs(count: 40, seed: 1)
        func run() throws -> ([String: [UInt32]], Int, Int) {
            let folder = temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let model = mlp("mlp", seed: 3)
            let trainer = Trainer(model: model, config: config(folder, epochs: 2, batch: 16))
            var batches = 0, rows = 0
            trainer.augmentation = BatchAugmentation(description: "noise") { x, lengths, g in
                batches += 1; rows += x.shape[0]
                #expect(lengths == nil)
                for k in 0..<x.count { x[k] += 0.1 * g.gaussian() }
            }
            try trainer.run(.scratch, data: train)
            return (bitPatterns(model), batches, rows)
        }
        let (a, batches, rows) = try run(), (b, _, _) = try run()
        #expect(batches == 2 * 3 && rows == 2 * 40)
        #expect(a == b)
    }

    @Test func weightPathLogBoundsEpochDisplacement() throws {
        for (batch, single) in [(64, true), (16, false)] {
            let folder = temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let model = mlp("mlp", seed: 4)
            try Trainer(model: model, config: config(folder, epochs: 3, batch: batch)).run(.scratch, data: Blobs(count: 64, seed: 5))
            // Σ over the epoch's steps of ‖Δw‖ per parameter, from the log.
            let log = try String(contentsOf: folder.appendingPathComponent("weight_path.csv"), encoding: .utf8)
            #expect(log.split(separator: "\n").count == 1 + 3 * (64 / batch) * 6)
            let logged = try Trainer.pathLengths(in: folder)
            #expect(logged.keys.sorted() == [1, 2, 3])
            var worst = 0.0
            for epoch in 1...3 {
                let a = try Safetensors.read(Trainer.checkpointURL(in: folder, epoch: epoch - 1))
                let b = try Safetensors.read(Trainer.checkpointURL(in: folder, epoch: epoch))
                for (name, p) in model.namedParameters {
                    let (wa, wb) = (a[name]!, b[name]!)
                    let displacement = (0..<wa.count).reduce(0.0) { $0 + pow(Double(wb[$1]) - Double(wa[$1]), 2) }.squareRoot()
                    let pathLength = logged[epoch]![name]!
                    #expect(p.value.count == wa.count)
                    if single {
                        // One step per epoch: the logged norm is the displacement (up to the Float32 log value).
                        expectClose(pathLength, displacement, tol: 1e-6 * displacement + 1e-12, "epoch \(epoch) \(name)")
                    } else {
                        #expect(pathLength >= displacement * (1 - 1e-6), "triangle inequality, epoch \(epoch) \(name)")
                        worst = max(worst, pathLength / displacement)
                    }
                }
            }
            if !single { print("weight path: Σ step norms / epoch displacement up to \(worst) with 4 steps per epoch") }
        }
    }

    @Test func featureDistillationStagesBehave() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = Blobs(count: 128, seed: 6)
        let teacher = mlp("teacher", seed: 7)
        // The student's tap is 5 wide, the teacher's 6: a linear adapter maps one to the other.
        let student = mlp("student", seed: 8, tapWidth: 5)
        var g = SeededGenerator(seed: 9)
        let adapter = Linear(5, 6, generator: &g)
        let tap = try student.layerIndex("relu2"), teacherTap = try teacher.layerIndex("relu2")
        let initial = tapDistance(student, tap, adapter: adapter, teacher, teacherTap, data)
        let upperBefore = bitPatterns(student).filter { $0.key.hasPrefix("fc3") }
        var cfg = config(folder, epochs: 10, optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0), lr: 0.01)
        cfg.stage2Epochs = 3
        let trainer = Trainer(model: student, config: cfg)
        var stages: [String?] = []
        trainer.progress = { stages.append($0.stage) }
        let summaries = try trainer.run(.featureDistillation(teacher: teacher, teacherTap: "relu2", studentTap: "relu2",
                                                             adapter: adapter), data: data)
        #expect(summaries.count == 2 && stages == Array(repeating: "stage1", count: 10) + Array(repeating: "stage2", count: 3))

        // Stage 1 pulled the (adapted) tap towards the teacher's and did not touch the layers above.
        let stage1 = folder.appendingPathComponent("stage1")
        let afterStage1 = mlp("student", seed: 10, tapWidth: 5)
        try Checkpoint.load(into: afterStage1, from: Trainer.checkpointURL(in: stage1, epoch: 10))
        let state = try Safetensors.read(Trainer.stateURL(in: stage1, epoch: 10))
        let trainedAdapter = Linear(5, 6, generator: &g)
        trainedAdapter.weight.value.assign(state["adapter/weight"]!)
        trainedAdapter.bias!.value.assign(state["adapter/bias"]!)
        let distilled = tapDistance(afterStage1, tap, adapter: trainedAdapter, teacher, teacherTap, data)
        print("feature distillation: tap MSE to the teacher \(initial) → \(distilled) after stage 1")
        #expect(distilled < 0.25 * initial)
        #expect(bitPatterns(afterStage1).filter { $0.key.hasPrefix("fc3") } == upperBefore)

        // Stage 2 left layers 0...tap bit-identical, trained the layers above, and unfroze on exit.
        let final = bitPatterns(student)
        let lower = bitPatterns(afterStage1).filter { !$0.key.hasPrefix("fc3") }
        #expect(final.filter { !$0.key.hasPrefix("fc3") } == lower)
        #expect(final.filter { $0.key.hasPrefix("fc3") } != upperBefore)
        #expect(!student.namedParameters.contains { $0.1.frozen })
        #expect(FileManager.default.fileExists(atPath: Trainer.checkpointURL(in: folder.appendingPathComponent("stage2"), epoch: 3).path))
        // Stage 2's weight path only has the layers it trains.
        let log = try String(contentsOf: folder.appendingPathComponent("stage2/weight_path.csv"), encoding: .utf8)
        #expect(Set(log.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[2] }) == ["fc3.weight", "fc3.bias"])
    }

    @Test func hintonWithBetaZeroIsScratchTraining() throws {
        let data = Blobs(count: 96, seed: 11)
        let teacher = mlp("teacher", seed: 12)
        var results: [[String: [UInt32]]] = []
        for mode in [TrainingMode.scratch, .hinton(teacher: teacher, temperature: 4, beta: 0)] {
            let folder = temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let student = mlp("student", seed: 13)
            try Trainer(model: student, config: config(folder, epochs: 2)).run(mode, data: data)
            results.append(bitPatterns(student))
        }
        #expect(results[0] == results[1])

        // With soft targets from a trained teacher the student still learns the problem.
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Trainer(model: teacher, config: config(folder.appendingPathComponent("teacher"), epochs: 5)).run(.scratch, data: data)
        let student = mlp("student", seed: 14)
        try Trainer(model: student, config: config(folder.appendingPathComponent("student"), epochs: 5))
            .run(.hinton(teacher: teacher, temperature: 4, beta: 0.5), data: data)
        let accuracy = Trainer.evaluate(student, on: Blobs(count: 256, seed: 15))
        print("Hinton KD (T = 4, β = 0.5): student held-out accuracy \(accuracy)")
        #expect(accuracy >= 0.9)
    }

    @Test func resumedRunsEndBitIdentical() throws {
        let data = Blobs(count: 80, seed: 16)
        let teacher = mlp("teacher", seed: 17)
        var g = SeededGenerator(seed: 18)
        let adapterSeed = Linear(6, 6, generator: &g)
        func freshAdapter() -> Linear {
            var h = SeededGenerator(seed: 0)
            let a = Linear(6, 6, generator: &h)
            a.weight.value.assign(adapterSeed.weight.value); a.bias!.value.assign(adapterSeed.bias!.value)
            return a
        }
        let sgd = OptimizerSettings.sgd(momentum: 0.9, weightDecay: 1e-4, nesterov: false)
        let adam = OptimizerSettings.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4)
        // (mode, optimiser, checkpoints, stop after, delete the resume file so the last checkpoint is used)
        let cases: [(String, OptimizerSettings, CheckpointSchedule, Int, Bool)] = [
            ("scratch", sgd, .paper, 2, false),
            ("scratch", adam, .explicit([2]), 3, true),
            ("feature", adam, .paper, 3, false),
        ]
        for (kind, optimizer, checkpoints, stopAfter, deleteResume) in cases {
            func mode() -> TrainingMode {
                kind == "scratch" ? .scratch
                    : .featureDistillation(teacher: teacher, teacherTap: "fc2", studentTap: "fc2", adapter: freshAdapter())
            }
            let a = temporaryFolder(), b = temporaryFolder()
            defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }
            var ca = config(a, epochs: 5, batch: 16, optimizer: optimizer, checkpoints: checkpoints), cb = ca
            cb.outputFolder = b.path
            ca.stage2Epochs = 2; cb.stage2Epochs = 2

            let uninterrupted = mlp("student", seed: 19)
            try Trainer(model: uninterrupted, config: ca).run(mode(), data: data)

            let first = Trainer(model: mlp("student", seed: 19), config: cb)
            var epochsRun = 0
            first.progress = { _ in epochsRun += 1 }
            first.shouldStop = { epochsRun == stopAfter }
            #expect(throws: TrainingError.stopped(stage: kind == "scratch" ? nil : "stage1", epoch: stopAfter)) {
                try first.run(mode(), data: data)
            }
            let stage = kind == "scratch" ? b : b.appendingPathComponent("stage1")
            // A crash mid-epoch leaves rows of the unfinished epoch, one of them half written.
            let log = FileHandle(forWritingAtPath: stage.appendingPathComponent("weight_path.csv").path)!
            _ = try log.seekToEnd()
            try log.write(contentsOf: Data("\(stopAfter + 1),1,fc1.weight,0.5\n\(stopAfter + 1),2,fc1.wei".utf8))
            try log.close()
            if deleteResume { try FileManager.default.removeItem(at: stage.appendingPathComponent("resume.safetensors")) }

            // A different model instance (other initial weights) resumes from the folder.
            let resumed = mlp("student", seed: 20)
            let second = Trainer(model: resumed, config: cb)
            var resumedEpochs: [Int] = []
            second.progress = { if $0.stage != "stage2" { resumedEpochs.append($0.epoch) } }
            let summaries = try second.run(mode(), data: data)
            #expect(summaries[0].resumedAfter == (deleteResume ? 2 : stopAfter), "\(kind)")
            #expect(resumedEpochs.first == (deleteResume ? 3 : stopAfter + 1))
            #expect(bitPatterns(resumed) == bitPatterns(uninterrupted), "\(kind) with \(optimizer): weights differ after resuming")
            for sub in kind == "scratch" ? [""] : ["stage1", "stage2"] {
                let logA = try String(contentsOf: a.appendingPathComponent(sub).appendingPathComponent("weight_path.csv"), encoding: .utf8)
                let logB = try String(contentsOf: b.appendingPathComponent(sub).appendingPathComponent("weight_path.csv"), encoding: .utf8)
                #expect(logA == logB, "\(kind) \(sub): the resumed weight-path log differs")
            }
        }
    }

    /// A resume file whose Adam step count is NaN, ±∞, 1e20 or 0 is refused with the tensor named,
    /// before the count becomes an Int (undefined behaviour in a release build).
    @Test func aResumeFileWithAnImpossibleStepCountIsRefused() throws {
        let data = Blobs(count: 32, seed: 23)
        let adam = OptimizerSettings.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
        for bad: Float in [.nan, .infinity, -.infinity, 1e20, 0, 2.5] {
            let folder = temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let c = config(folder, epochs: 3, batch: 16, optimizer: adam)
            let first = Trainer(model: mlp("m", seed: 24), config: c)
            var epochs = 0
            first.progress = { _ in epochs += 1 }
            first.shouldStop = { epochs == 1 }
            #expect(throws: TrainingError.self) { try first.run(.scratch, data: data) }
            let resume = folder.appendingPathComponent("resume.safetensors")
            let contents = try Safetensors.read(resume)
            var tensors: [(String, Tensor)] = []
            var changed = 0
            for (name, t) in contents.tensors {
                if name.hasSuffix(".step") { let u = t.copy(); u.data[0] = bad; tensors.append((name, u)); changed += 1 } else { tensors.append((name, t)) }
            }
            #expect(changed > 0)
            try Safetensors.write(tensors, metadata: contents.metadata, to: resume)
            do {
                _ = try Trainer(model: mlp("m", seed: 24), config: c).run(.scratch, data: data)
                Issue.record("a step count of \(bad) was accepted")
            } catch let error as CheckpointError {
                guard case let .invalidEntry(_, tensor, _) = error else { Issue.record("\(error)"); continue }
                #expect(tensor.hasSuffix(".step"))
            }
        }
    }

    @Test func aDifferentConfigurationCannotResume() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = Blobs(count: 32, seed: 21)
        try Trainer(model: mlp("m", seed: 22), config: config(folder, epochs: 1)).run(.scratch, data: data)
        var other = config(folder, epochs: 1, batch: 8)
        other.seed = 7
        do {
            try Trainer(model: mlp("m", seed: 22), config: other).run(.scratch, data: data)
            Issue.record("a run with another batch size and seed resumed")
        } catch let TrainingError.configMismatch(_, differences) {
            #expect(differences.map(\.setting) == ["batchSize", "seed"])
            #expect(differences[0].recorded == "16" && differences[0].requested == "8")
            print(TrainingError.configMismatch(folder: folder.path, differences: differences))
        }
        let teacher = mlp("t", seed: 23)
        #expect(throws: TrainingError.self) {
            try Trainer(model: mlp("m", seed: 22), config: config(folder, epochs: 1))
                .run(.hinton(teacher: teacher, temperature: 2, beta: 0.5), data: data)
        }
        // The same settings find the run complete and change nothing.
        let model = mlp("m", seed: 24)
        let summary = try Trainer(model: model, config: config(folder, epochs: 1)).run(.scratch, data: data)
        #expect(summary[0].resumedAfter == 1 && summary[0].finalLoss == nil)
        let saved = mlp("m", seed: 25)
        try Checkpoint.load(into: saved, from: Trainer.checkpointURL(in: folder, epoch: 1))
        #expect(bitPatterns(model) == bitPatterns(saved))
    }

    @Test func badSettingsAreRejected() {
        let folder = temporaryFolder()
        var bad = config(folder, epochs: 0, batch: 0)
        bad.learningRate = .init(base: -1)
        #expect(throws: TrainingError.self) { try bad.validate() }
        do { try bad.validate() } catch { print(error); #expect("\(error)".contains("epochs") && "\(error)".contains("batch size")) }
        let student = mlp("s", seed: 26, tapWidth: 5), teacher = mlp("t", seed: 27)
        #expect(throws: TrainingError.tapShapeMismatch(student: [5], teacher: [6])) {
            try Trainer(model: student, config: config(folder)).run(
                .featureDistillation(teacher: teacher, teacherTap: "fc2", studentTap: "fc2", adapter: nil), data: Blobs(count: 8, seed: 1))
        }
        #expect(throws: ModelError.self) {
            try Trainer(model: student, config: config(folder)).run(
                .featureDistillation(teacher: teacher, teacherTap: "conv9", studentTap: "fc2", adapter: nil), data: Blobs(count: 8, seed: 1))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path), "a rejected run wrote files")

        var mislabelled = Blobs(count: 8, seed: 2)
        mislabelled.labels[5] = 2
        let labelFolder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: labelFolder) }
        #expect(throws: TrainingError.labelOutOfRange(sample: 5, label: 2, classes: 2)) {
            try Trainer(model: mlp("m", seed: 28), config: config(labelFolder, batch: 8)).run(.scratch, data: mislabelled)
        }
    }

    @Test func foreignCheckpointsAreNeverOverwritten() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let model = mlp("m", seed: 29)
        let copied = Trainer.checkpointURL(in: folder, epoch: 0)
        try Checkpoint.save(mlp("other", seed: 30), to: copied)
        let before = try Data(contentsOf: copied)
        #expect(throws: TrainingError.foreignFiles(folder: folder.path, file: "epoch-0000.safetensors")) {
            try Trainer(model: model, config: config(folder, epochs: 1)).run(.scratch, data: Blobs(count: 8, seed: 3))
        }
        #expect(try Data(contentsOf: copied) == before)
    }
}

@Suite struct ScheduleTests {
    @Test func checkpointEpochs() {
        #expect(CheckpointSchedule.paper.epochs(total: 30) == Array(0...10) + [15, 20, 25, 30])
        #expect(CheckpointSchedule.paper.epochs(total: 12) == Array(0...10) + [12])
        #expect(CheckpointSchedule.dense(upTo: 2, thenEvery: 3).epochs(total: 8) == [0, 1, 2, 3, 6, 8])
        #expect(CheckpointSchedule.explicit([3, 7]).epochs(total: 9) == [0, 3, 7, 9])
        #expect(!CheckpointSchedule.explicit([12]).problems(total: 9).isEmpty)
    }

    @Test func learningRates() {
        func lr(_ s: LearningRateSchedule, _ epoch: Int, step: Int = 0, steps: Int = 10, total: Int = 10) -> Float {
            s.learningRate(epoch: epoch, step: step, stepsPerEpoch: steps, totalEpochs: total)
        }
        #expect(lr(.constant(0.1), 7) == 0.1)
        let step = LearningRateSchedule(base: 0.1, decay: .step(everyEpochs: 3, gamma: 0.5))
        #expect([1, 3, 4, 6, 7].map { lr(step, $0) } == [0.1, 0.1, 0.05, 0.05, 0.025])
        let cosine = LearningRateSchedule(base: 0.1, decay: .cosine(floor: 0.001))
        #expect(lr(cosine, 1) == 0.1)
        // Epoch 6 of 10 is half-way (e = 5): the midpoint of base and floor.
        #expect(abs(lr(cosine, 6) - 0.0505) < 1e-7)
        #expect(lr(cosine, 10) > 0.001 && lr(cosine, 10) < lr(cosine, 9))
        let warm = LearningRateSchedule(base: 0.1, warmupEpochs: 2)
        #expect(abs(lr(warm, 1, step: 0) - 0.1 / 20) < 1e-9)
        #expect(abs(lr(warm, 2, step: 4) - 0.1 * 15 / 20) < 1e-8)
        #expect(lr(warm, 2, step: 9) == 0.1 && lr(warm, 3) == 0.1)
    }

    @Test func configurationRoundTripsThroughJSON() throws {
        var c = TrainingConfig(epochs: 30, optimizer: .adam(beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0),
                               learningRate: .init(base: 0.01, decay: .cosine(floor: 1e-4), warmupEpochs: 1),
                               seed: 123, checkpoints: .explicit([1, 5]), outputFolder: "/tmp/x")
        c.stage2Epochs = 10
        let back = try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(c))
        #expect(back == c)
    }
}
