import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// `kd-tool status` follows the recorded methods: one training line per student folder (two for two-stage
/// methods) and one maps line per student, so a finished multi-method study reads as complete.
@Suite struct StatusMethodsTests {
    @Test func aMultiMethodStudyReadsAsComplete() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-status-methods-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 16, size: 8)
        let plugin = SyntheticSquaresPlugin()
        var config = StudyConfig(family: "tiny-mlp", tap: "relu1")
        config.teacherEpochs = 2; config.studentEpochs = 1; config.studentStage2Epochs = 1; config.baselineEpochs = 2
        config.batchSize = 8
        config.analysedInputs = 2
        config.entropy = .fast
        config.entropy.steps = 20
        config.entropy.pinning = nil
        config.metrics.bootstrapReplicates = 20
        config.methods = [.paper, .hinton(temperature: 4, beta: 0.9)]
        let folder = dir.appendingPathComponent("run")
        let study = try Study(config: config, family: try plugin.family("tiny-mlp"), data: try plugin.open(archive, options: [:]),
                              folder: folder)
        let outcome = try study.run()
        try StudyReport.write(outcome, to: folder)
        let (lines, done) = try StatusCommand.status(folder)
        #expect(done, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("train  student-feature stage 1") && $0.contains("1/1 epochs") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("train  student-hinton") && $0.contains("2/2 epochs") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("maps   student-hinton") }, "\(lines)")
        #expect(!lines.contains { $0.hasPrefix("train  student ") }, "no line for a `student` folder the run never had")
    }
}
