import Foundation
import KDCore
import Testing
import _TestSupport

/// The whole study on the synthetic plugin: train T, S, B, analyse every checkpoint, compute metrics,
/// write the files; a second run finds everything done and reproduces the numbers exactly.
@Suite struct StudyTests {
    @Test func studyRunsEndToEndAndResumesFromItsFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-study-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 40, size: 8)
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(archive, options: [:])
        var config = StudyConfig(family: "tiny-mlp", tap: "relu1")
        config.teacherEpochs = 4; config.studentEpochs = 3; config.studentStage2Epochs = 1; config.baselineEpochs = 3
        config.batchSize = 8
        config.analysedInputs = 6
        config.entropy = .fast
        config.entropy.steps = 25
        config.metrics.bootstrapReplicates = 100
        let study = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data,
                              folder: dir.appendingPathComponent("run"))
        var lines: [String] = []
        study.log = { lines.append($0) }
        let first = try study.run()
        #expect(first.analysedEpochs["student"] == [0, 1, 2, 3])
        #expect(first.analysedEpochs["baseline"] == [0, 1, 2, 3])
        #expect(first.comparison.student.counts.inputsAnalysed == 6)
        #expect(first.comparison.student.foregroundPoints != nil)
        // ρ is 0/0 (undefined, counted) for an input with no fg point at any checkpoint.
        let b = first.comparison.baseline
        #expect(b.rho != nil || b.counts.rhoUndefined == b.counts.inputsUsed)
        #expect(first.comparison.hypotheses.map(\.number) == [1, 2, 3])
        #expect(first.finalMaps["teacher"]?.count == 6 && first.finalMaps["student"]?.first?.value.count == 16)
        #expect(first.accuracy["teacher"]! > 0.8, "teacher accuracy \(first.accuracy["teacher"]!)")
        try StudyReport.write(first, to: dir.appendingPathComponent("run"))
        for f in ["study.json", "table5.csv", "per_input.csv", "curves.csv", "results.sqlite"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/\(f)").path), "\(f) missing")
        }
        let text = StudyReport.text(first)
        #expect(text.contains("COMPOSITE") && text.contains("S (distilled)") && text.contains("H1 "))
        #expect(text.contains("sigma-param=log"), "the settings must be printed with the numbers")

        // Second run: training resumes as complete, every map comes from the store, numbers are identical.
        lines.removeAll()
        let again = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data,
                              folder: dir.appendingPathComponent("run"))
        again.log = { lines.append($0) }
        let second = try again.run()
        #expect(lines.contains { $0.contains("0 computed") } && !lines.contains { $0.contains(", checkpoint") })
        #expect(second.comparison == first.comparison)

        // The analysed inputs cover both classes (class by class in turn), not just the first class.
        let labels = try first.inputIndices.map { try data.sample(.test, $0).label }
        #expect(labels == [0, 1, 0, 1, 0, 1], "analysed labels \(labels)")

        // A changed training setting in the same folder is refused before anything runs, naming the setting.
        var changed = config
        changed.baselineEpochs = 5
        let refused = try Study(config: changed, family: try plugin.family("tiny-mlp"), data: data,
                                folder: dir.appendingPathComponent("run"))
        #expect(throws: StudyError.self) { try refused.run() }
        do { _ = try refused.run() } catch { #expect("\(error)".contains("baselineEpochs: the folder has 3, this run asks for 5")) }
        // Metric settings may change: they are computed from the stored maps.
        var metricsOnly = config
        metricsOnly.metrics.threshold = 0.05
        let recomputed = try Study(config: metricsOnly, family: try plugin.family("tiny-mlp"), data: data,
                                   folder: dir.appendingPathComponent("run")).run()
        #expect(recomputed.comparison.settings.threshold == 0.05)
    }

    /// Distilling at the last layer is refused before anything is trained; analysing it while distilling
    /// lower down is allowed.
    @Test func distillingAtTheLastLayerIsRefusedBeforeTraining() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-study-last-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 8, size: 8)
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(archive, options: [:])
        var config = StudyConfig(family: "tiny-mlp", tap: "fc2")
        config.analysedInputs = 2
        let study = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data, folder: dir.appendingPathComponent("run"))
        #expect(throws: StudyError.self) { try study.run() }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/teacher").path), "nothing may be trained")
    }

    @Test func balancedSelectionTakesClassesInTurn() {
        #expect(Study.balancedSelection(labels: [0, 0, 0, 1, 1, 2], count: 5) == [0, 3, 5, 1, 4])
        #expect(Study.balancedSelection(labels: [1, 1], count: 5) == [0, 1])
    }
}

/// A plugin's training augmentation reaches every trainer of a study, is recorded with the results (as are
/// the libraries that computed them), and is
/// part of the run's identity: the same folder refuses the same study without it.
@Suite struct StudyAugmentationTests {
    @Test func augmentationIsAppliedRecordedAndPartOfTheIdentity() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-study-aug-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 12, size: 8)
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(archive, options: [:])
        var config = StudyConfig(family: "tiny-mlp", tap: "relu1")
        config.teacherEpochs = 1; config.studentEpochs = 1; config.studentStage2Epochs = 1; config.baselineEpochs = 1
        config.batchSize = 4; config.analysedInputs = 2
        config.entropy = .fast; config.entropy.steps = 4
        config.metrics.bootstrapReplicates = 20
        final class Counter: @unchecked Sendable { var batches = 0 }
        let counter = Counter()
        let augmentation = BatchAugmentation(description: "flip-sign(test)") { x, _, _ in
            counter.batches += 1
            for i in 0..<x.count { x.data[i] = -x.data[i] }
        }
        let folder = dir.appendingPathComponent("run")
        let study = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data, folder: folder)
        study.augmentation = augmentation
        let outcome = try study.run()
        #expect(counter.batches > 0, "the augmentation never ran")
        #expect(outcome.augmentation == "flip-sign(test)")
        #expect(StudyReport.text(outcome).contains("augmentation: flip-sign(test)"))
        // The libraries that computed the numbers are recorded with them.
        #expect(outcome.compute == BLAS.computeSummary && BLAS.computeSummary.hasPrefix("gemm="))
        #expect(StudyReport.settingsLine(outcome).contains("compute: \(BLAS.computeSummary);"))
        let again = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data, folder: folder)
        #expect(throws: StudyError.self) { _ = try again.run() }
    }
}
