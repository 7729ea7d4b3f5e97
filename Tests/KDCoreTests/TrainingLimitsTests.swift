import Foundation
import KDCore
import Testing
import _TestSupport

/// Options that used to reach a crash (Docs/Robustness.md, the audit): a BatchNorm over (B, C) given a batch of
/// one sample, an infinite width or learning rate. Each is now a typed error before training, or (a last batch
/// of one sample) trains by joining the batch before it.
@Suite struct TrainingLimitsTests {
    /// Two classes in R³ by the sign of the first coordinate.
    struct Points: TrainingData {
        var inputs: [Float] = []
        var labels: [Int] = []
        init(count: Int) {
            var g = SeededGenerator(seed: 5)
            for _ in 0..<count {
                let v = (0..<3).map { _ in g.gaussian() }
                inputs += v
                labels.append(v[0] > 0 ? 1 : 0)
            }
        }
        var count: Int { labels.count }
        func batch(_ indices: [Int], into x: Tensor, labels out: inout [Int]) {
            for (k, i) in indices.enumerated() {
                for j in 0..<3 { x[k * 3 + j] = inputs[i * 3 + j] }
                out[k] = labels[i]
            }
        }
    }

    /// fc1 → BatchNorm over (B, C), as pointnet-s's bn_fc1 → relu → fc2.
    static func model() -> Model {
        var g = SeededGenerator(seed: 3)
        return Model(name: "bn-mlp", inputShape: [3], layers: [
            ("fc1", Linear(3, 8, generator: &g)), ("bn1", BatchNorm(8)), ("relu1", ReLU()),
            ("fc2", Linear(8, 2, generator: &g)),
        ])
    }

    static func config(_ folder: URL, batch: Int) -> TrainingConfig {
        TrainingConfig(epochs: 2, batchSize: batch, learningRate: .constant(0.05), seed: 1, checkpoints: .paper,
                       outputFolder: folder.path)
    }

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("kd-limits-\(UUID().uuidString)")
    }

    @Test func aLastBatchOfOneSampleJoinsTheBatchBefore() throws {
        let f = Self.folder()
        defer { try? FileManager.default.removeItem(at: f) }
        let trainer = Trainer(model: Self.model(), config: Self.config(f, batch: 8))
        var batches: [Int] = []
        trainer.augmentation = BatchAugmentation(description: "count") { x, _, _ in batches.append(x.shape[0]) }
        try trainer.run(.scratch, data: Points(count: 17))   // 8 + 8 + 1 → 8 + 9
        #expect(batches == [8, 9, 8, 9], "batch sizes \(batches)")
        // Without BatchNorm nothing changes: 8 + 8 + 1.
        var g = SeededGenerator(seed: 3)
        let plain = Model(name: "mlp", inputShape: [3], layers: [("fc1", Linear(3, 2, generator: &g))])
        let f2 = Self.folder()
        defer { try? FileManager.default.removeItem(at: f2) }
        let t2 = Trainer(model: plain, config: Self.config(f2, batch: 8))
        var plainBatches: [Int] = []
        t2.augmentation = BatchAugmentation(description: "count") { x, _, _ in plainBatches.append(x.shape[0]) }
        try t2.run(.scratch, data: Points(count: 17))
        #expect(plainBatches == [8, 8, 1, 8, 8, 1])
    }

    @Test func batchSizeOneWithBatchNormIsRefused() throws {
        let f = Self.folder()
        defer { try? FileManager.default.removeItem(at: f) }
        let trainer = Trainer(model: Self.model(), config: Self.config(f, batch: 1))
        #expect {
            try trainer.run(.scratch, data: Points(count: 6))
        } throws: { error in
            "\(error)".contains("batch size 1") && "\(error)".contains("BatchNorm")
        }
    }

    @Test func nonFiniteSettingsAreRefusedNotCrashed() throws {
        var c = StudyConfig(family: "any", tap: "fc1")
        c.teacherWidth = .infinity
        #expect(throws: StudyError.self) { try c.validate() }
        c.teacherWidth = 1
        c.studentWidth = 1e300
        #expect(throws: StudyError.self) { try c.validate() }
        var t = Self.config(Self.folder(), batch: 4)
        t.learningRate = .constant(.infinity)
        #expect(throws: TrainingError.self) { try t.validate() }
        t.learningRate = .constant(0.1)
        t.optimizer = .sgd(momentum: 0.9, weightDecay: .infinity, nesterov: false)
        #expect(throws: TrainingError.self) { try t.validate() }
    }
}
