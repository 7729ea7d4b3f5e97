import Foundation
import KDCore
import KDPluginTesting
import Testing
@testable import TabularRows

@Suite struct TabularRowsTests {
    static func file(_ name: String, _ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tabular-\(UUID().uuidString)-\(name)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The shared suite every kd-tool plugin passes, from kd-tool's KDPluginTesting product.
    @Test func passesTheSharedConformanceSuite() throws {
        let table = try Self.file("t.csv", TabularDataset.synthetic(rows: 40, seed: 1))
        let junk = try Self.file("junk.csv", "split,label,a\ntrain,1,2\n")
        try PluginConformance.check(TabularRowsPlugin(), archive: table, notAnArchive: junk)
    }

    @Test func starredColumnsAreForegroundAndFeaturesAreStandardised() throws {
        let text = "kd-tabular,1\nsplit,label,a*,b,c*\ntrain,x,1,10,0\ntrain,y,3,30,0\ntest,x,2,20,0\n"
        let data = try TabularRowsPlugin().open(try Self.file("s.csv", text), options: [:])
        let s = try data.sample(.test, 0)
        #expect(s.roles == [.foreground, .background, .foreground])
        #expect(data.classNames == ["x", "y"] && s.label == 0)
        // a: train mean 2, std √2 → (2 − 2)/√2 = 0; b likewise 0; c constant → 0.
        #expect(s.input.array == [0, 0, 0])
    }

    @Test func badRowsAreReportedAndSkipped() throws {
        let text = "kd-tabular,1\nsplit,label,a*,b\ntrain,x,1,2\ntrain,y,1\ntrain,y,nan,2\ntest,x,1,2\n"
        let data = try TabularRowsPlugin().open(try Self.file("b.csv", text), options: [:])
        #expect(data.count(.train) == 1)
        #expect(data.problems.count == 2 && data.problems[0].contains(":4:") && data.problems[1].contains(":5:"))
    }

    @Test func theMLPLearnsTheForegroundRule() throws {
        let data = try TabularRowsPlugin().open(try Self.file("l.csv", TabularDataset.synthetic(rows: 400, seed: 3)), options: [:])
        let family = try TabularRowsPlugin().family("mlp-s")
        let model = try family.build(data.sampleShape, data.classNames.count, 1, 1)
        let train = InMemoryData(data, split: .train), test = InMemoryData(data, split: .test)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tabular-train-\(UUID().uuidString)")
        let trainer = Trainer(model: model, config: TrainingConfig(epochs: 15, batchSize: 32, optimizer: .paper,
                                                                  learningRate: .constant(0.05), seed: 1,
                                                                  checkpoints: .paper, outputFolder: dir.path))
        _ = try trainer.run(.scratch, data: train)
        #expect(Trainer.evaluate(model, on: test) > 0.85)
    }
}
