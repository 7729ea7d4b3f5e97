import Foundation
@testable import KDCore
import Testing
import _TestSupport

/// A study with one student per distillation method (Docs/Methods.md) on the synthetic squares.
@Suite struct StudyMethodsTests {
    /// conv1 → relu1 → conv2 → relu2 → pool → flatten → fc1 → relu3 → fc2, on 8×8×1 inputs.
    static let family = ModelFamily(name: "tiny-cnn", summary: "two 3×3 convs, pool, two FC", taps: ["relu2", "relu3"]) { shape, classes, width, seed in
        var g = SeededGenerator(seed: seed)
        let c = max(2, Int(4 * width))
        return Model(name: "tiny-cnn", inputShape: shape, layers: [
            ("conv1", Conv2D(shape[2], c, kernel: 3, padding: 1, generator: &g)), ("relu1", ReLU()),
            ("conv2", Conv2D(c, c, kernel: 3, padding: 1, generator: &g)), ("relu2", ReLU()),
            ("pool", AvgPool2D(kernel: 2)), ("flatten", Flatten()),
            ("fc1", Linear(16 * c, 8, generator: &g)), ("relu3", ReLU()), ("fc2", Linear(8, classes, generator: &g)),
        ])
    }

    static func setUp(_ name: String) throws -> (URL, DatasetSource) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-methods-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 24, size: 8)
        return (dir, try SyntheticSquaresPlugin().open(archive, options: [:]))
    }

    static func config() -> StudyConfig {
        var c = StudyConfig(family: "tiny-cnn", tap: "relu2")
        c.teacherEpochs = 2; c.studentEpochs = 2; c.studentStage2Epochs = 1; c.baselineEpochs = 2
        c.batchSize = 8
        c.analysedInputs = 4
        c.analyseTeacher = false
        c.entropy = .fast
        c.entropy.steps = 10
        c.metrics.bootstrapReplicates = 20
        c.checkpoints = .everyEpoch
        return c
    }

    @Test func everyMethodTrainsItsOwnStudentAndGetsARow() throws {
        let (dir, data) = try Self.setUp("all")
        // Pretrained weights for fine-tuning: a fresh network of the family, saved as a checkpoint.
        let weights = dir.appendingPathComponent("pretrained.safetensors")
        try Checkpoint.save(try Self.family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: 1, seed: 77)), to: weights)
        var c = Self.config()
        c.methods = [.paper, .hinton(temperature: 4, beta: 0.9),
                     .fitNets(studentLayer: "relu1", teacherLayer: "relu1", temperature: 2, beta: 0.5),
                     .attentionTransfer(pairs: [LayerPair(student: "relu1", teacher: "relu1"), LayerPair(student: "relu2", teacher: "relu2")], beta: 1000),
                     .flowOfSolution(pairs: [FlowPair(from: "relu1", to: "relu2")]),
                     .mutualLearning(peers: 1), .fineTuning(weights: weights.path)]
        let folder = dir.appendingPathComponent("run")
        let study = try Study(config: c, family: Self.family, data: data, folder: folder)
        let o = try study.run()
        #expect(o.methods.map(\.network) == ["student-feature", "student-hinton", "student-fitnets", "student-attention",
                                             "student-fsp", "student-mutual", "student-fine-tune"])
        #expect(o.methods.map(\.analysedStage) == ["stage1", nil, "stage2", nil, "stage1", nil, nil])
        #expect(o.analysedEpochs["student-hinton"] == [0, 1, 2])
        #expect(o.analysedEpochs["student-fitnets"] == [0, 1])
        for m in o.methods {
            #expect(m.comparison.baseline == o.methods[0].comparison.baseline, "one baseline row for all methods")
            #expect(m.comparison.student.network == m.network)
            #expect(o.weightDistances[m.network]?["epoch"]?.count == o.analysedEpochs[m.network]?.count)
            #expect(o.weightDistances[m.network]?["path"]?.count == o.analysedEpochs[m.network]?.count)
        }
        for name in ["student-feature/stage1", "student-fitnets/stage2", "student-fsp/stage2", "student-mutual", "student-fine-tune"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(name)/epoch-0000.safetensors").path), "\(name)")
        }
        // The hyper-parameters are in the checkpoint metadata.
        let meta = try Safetensors.read(folder.appendingPathComponent("student-attention/epoch-0001.safetensors")).metadata
        #expect(meta.values.contains { $0.contains("\"kind\":\"attention-transfer\"") && $0.contains("relu1->relu1") && $0.contains("1000") })
        let fine = try Safetensors.read(folder.appendingPathComponent("student-fine-tune/epoch-0000.safetensors")).metadata
        #expect(fine.values.contains { $0.contains("fine-tune") && $0.contains("pretrained.safetensors") })
        let text = StudyReport.text(o)
        for label in ["S feature", "S hinton", "S fitnets", "S attention", "S fsp", "S mutual", "S fine-tune", "B (baseline)", "accuracy"] {
            #expect(text.contains(label), "\(label) missing from\n\(text)")
        }
        try StudyReport.write(o, to: folder)
        let csv = try String(contentsOf: folder.appendingPathComponent("table5.csv"), encoding: .utf8)
        #expect(csv.contains("student-fsp,N_fg") && csv.contains("baseline,N_fg"))

        // A second run resumes everything (mutual learning's peer included) and reproduces the numbers.
        let again = try Study(config: c, family: Self.family, data: data, folder: folder).run()
        #expect(again.methods == o.methods)
    }

    @Test func aMethodNeedingMissingLayersIsRefusedBeforeTraining() throws {
        let (dir, data) = try Self.setUp("bad")
        let cases: [(DistillationMethod, String)] = [
            (.attentionTransfer(pairs: [LayerPair(student: "convX", teacher: "conv1")], beta: 1000), "attention.pairs.student: the student has no layer 'convX'; its layers are: conv1, relu1"),
            (.attentionTransfer(pairs: [LayerPair(student: "fc1", teacher: "fc1")], beta: 1000), "must be conv features"),
            (.flowOfSolution(pairs: [FlowPair(from: "relu1", to: "fc1")]), "fsp.pairs"),
            (.fitNets(studentLayer: "nope", teacherLayer: nil, temperature: 4, beta: 0.9), "fitnets.student-layer"),
            (.fineTuning(weights: "/no/such/file.safetensors"), "fine-tune.weights: no file at /no/such/file.safetensors"),
        ]
        for (k, (method, message)) in cases.enumerated() {
            var c = Self.config()
            c.methods = [method]
            let folder = dir.appendingPathComponent("run-\(k)")
            let study = try Study(config: c, family: Self.family, data: data, folder: folder)
            do { _ = try study.run(); Issue.record("\(method) was accepted") } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("teacher").path), "nothing may be trained")
        }
        // FSP with different widths (channel counts) is refused with the reason.
        var c = Self.config()
        c.studentWidth = 0.5
        c.methods = [.flowOfSolution(pairs: [FlowPair(from: "relu1", to: "relu2")])]
        do { _ = try Study(config: c, family: Self.family, data: data, folder: dir.appendingPathComponent("run-w")).run(); Issue.record("accepted") } catch {
            #expect("\(error)".contains("equal channel counts"), "\(error)")
        }
        // Hyper-parameters out of range and duplicates are refused when the study is made.
        for bad in [[DistillationMethod.hinton(temperature: -1, beta: 0.5)], [.paper, .paper], [],
                    [.fineTuning(weights: "")], [.mutualLearning(peers: 0)]] {
            var c = Self.config()
            c.methods = bad
            #expect(throws: StudyError.self) { try Study(config: c, family: Self.family, data: data, folder: dir) }
        }
    }
}
