import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// analyze and quickstart as front ends to Experiment: seeds and their paired statistics, trained networks
/// brought from elsewhere, the estimator presets, run folders of several seeds, and pictures matched by input id.
@Suite(.serialized) struct FrontEndTests {
    // MARK: seeds

    /// Per input, the seeds' values are averaged over the seeds where both S and B have one.
    @Test func seedsCombinePerInputOverTheSeedsWithBothValues() {
        let c = SeedStatistics.combine([
            [("a", 1, 0), ("b", 4, 1), ("c", nil, 2)],
            [("a", 3, 2), ("b", 6, 5), ("c", 7, 1), ("d", 1, 1)],
        ])
        #expect(c.ids == ["a", "b", "c", "d"])
        #expect(c.student == [2, 5, 7, 1])          // c: only seed 2 has both values
        #expect(c.baseline == [1, 3, 1, 1])
        // mean of S̄ − B̄ = mean over inputs of each input's mean seed difference: (1 + 2 + 6 + 0) / 4.
        let d = zip(c.student, c.baseline).map { $0! - $1! }
        #expect(d.reduce(0, +) / 4 == 2.25)
    }

    /// A case whose answer is known: 8 inputs, 2 seeds; S is higher in N_fg and λ on every input (exact
    /// Wilcoxon p = 2/2⁸), lower in N_bg nowhere (all zero: p = 1), higher in D_mean on every input (the wrong
    /// way). Holm over six: 6·p, 5·p, 4·p, running max → 6/128 = 0.046875 for the three, below 0.05.
    @Test func pairedStatisticsOverSeedsHaveTheKnownAnswer() {
        func values(_ f: (Int, Int) -> (Double, Double)) -> [SeedStatistics.SeedValues] {
            (0..<2).map { k in (0..<8).map { i in let v = f(k, i); return ("x\(i)", v.0, v.1) } }
        }
        let up = values { k, i in (Double(10 + i + k), Double(5 + k)) }          // S − B = 5 + i > 0
        let same = values { k, i in (Double(i), Double(i)) }                      // S − B = 0
        let perMetric = [up, same, up, up, same, same]                            // N_fg, N_bg, λ, D_mean, D_var, ρ
        let p = SeedStatistics.paired(perMetric, replicates: 200, seed: 7)
        #expect(p.map(\.metric) == ["N_fg", "N_bg", "λ", "D_mean", "D_var", "ρ"])
        #expect(p[0].wilcoxon?.pValue == 2.0 / 256)
        #expect(p[0].wilcoxon?.method == .exact && p[0].pairs == 8)
        #expect(abs(p[0].holmPValue - 6.0 / 128) < 1e-12 && abs(p[3].holmPValue - 6.0 / 128) < 1e-12)
        #expect(p[1].holmPValue == 1 && p[1].verdict == .inconclusive)
        #expect(p[0].meanDifference == 8.5)                                        // mean of 5…12
        #expect(p[0].ci95Lower! >= 5 && p[0].ci95Upper! <= 12 && p[0].ci95Lower! < 8.5 && p[0].ci95Upper! > 8.5)
        #expect(p[0].verdict == .supported && p[2].verdict == .supported && p[3].verdict == .contradicted)
        let h = SeedStatistics.hypotheses(p)
        #expect(h.map(\.verdict) == [.supported, .contradicted, .inconclusive])
        let text = SeedStatistics.text(p, seeds: 2)
        #expect(text.contains("H1 SUPPORTED") && text.contains("H2 CONTRADICTED") && text.contains("Rule: "))
        #expect(text.contains("mean of its differences over the 2 seeds"))
    }

    @Test func seedsGiveConsecutiveSeedSetsAndAreValidated() throws {
        let dir = try ExperimentTests.folder("seeds")
        let data = dir.appendingPathComponent("squares.txt").path
        let a = try AnalyzeCommand.parse(["--data", data, "--seed", "5", "--seeds", "3"])
        #expect(a.study.seedList(base: 5) == [5, 6, 7])
        let q = try QuickstartCommand.parse([])
        #expect(q.study.seedList(base: 1, default: QuickstartCommand.defaultSeeds) == [1, 2, 3])
        #expect(throws: (any Error).self) { try AnalyzeCommand.parse(["--data", data, "--seeds", "0"]) }
    }

    /// analyze's path: settings → an Experiment → ExperimentRunner. Two seeds give seed-1/ and seed-2/, the table
    /// over seeds with the paired statistics, and a resolved.yaml that reads back as the same experiment; a
    /// second run with other training settings is refused and leaves the folder's resolved.yaml as it was.
    @Test func frontEndRunsAnExperimentAndKeepsItsResolvedFile() throws {
        let dir = try ExperimentTests.folder("front-end")
        let plugin = SyntheticSquaresPlugin(), family = try plugin.family("tiny-mlp")
        var c = StudyOptions.defaultConfig(plugin: plugin, family: family)
        c.tap = "relu1"; c.teacherEpochs = 2; c.studentEpochs = 2; c.studentStage2Epochs = 1; c.baselineEpochs = 2
        c.batchSize = 8; c.analysedInputs = 4; c.analyseTeacher = false; c.checkpoints = .everyEpoch
        c.entropy.parameterization = .log; c.entropy.steps = 10; c.entropy.noiseSamples = 4; c.entropy.pinning = nil
        c.metrics.bootstrapReplicates = 20
        let out = dir.appendingPathComponent("out")
        let e = try StudyRunner.experiment(plugin: plugin, data: dir.appendingPathComponent("squares.txt").path, options: [:],
                                           config: c, seeds: [1, 2], output: out.path, command: "kd-tool analyze")
        let outcomes = try StudyRunner.run(e, registry: ExperimentTests.registry())
        #expect(outcomes.map(\.config.seed) == [1, 2])
        let text = try String(contentsOf: out.appendingPathComponent("experiment.txt"), encoding: .utf8)
        #expect(text.contains("mean ± standard deviation over the 2 seeds") && text.contains("Paired S − B per input"), "\(text)")
        for f in ["seed-1/study.json", "seed-2/report.txt", "experiment.csv"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "\(f) missing")
        }
        let resolvedURL = out.appendingPathComponent("resolved.yaml")
        let resolved = try String(contentsOf: resolvedURL, encoding: .utf8)
        let again = try Experiment.read(file: resolvedURL.path, registry: ExperimentTests.registry())
        #expect(again.seeds == [1, 2] && again.config.teacherEpochs == 2 && again.config.analysedInputs == 4)
        #expect(try again.resolvedYAML() == resolved, "the resolved file reproduces the run")
        var other = e
        other.config.teacherEpochs = 3
        #expect(throws: StudyError.self) { try StudyRunner.run(other, registry: ExperimentTests.registry()) }
        #expect(try String(contentsOf: resolvedURL, encoding: .utf8) == resolved, "a refused run must not replace resolved.yaml")
    }

    // MARK: trained networks

    @Test func trainedWeightsFlagsAreCheckedAndReachTheStudy() throws {
        let dir = try ExperimentTests.folder("weights-flags")
        let data = dir.appendingPathComponent("squares.txt").path
        let s = dir.appendingPathComponent("student-ckpts"), b = dir.appendingPathComponent("b.safetensors")
        try FileManager.default.createDirectory(at: s, withIntermediateDirectories: true)
        try Data([0]).write(to: b)
        let a = try AnalyzeCommand.parse(["--data", data, "--student-weights", s.path, "--baseline-weights", b.path])
        let plugin = SyntheticSquaresPlugin(), family = try plugin.family("tiny-mlp")
        var c = StudyOptions.defaultConfig(plugin: plugin, family: family)
        a.study.apply(to: &c, plugin: plugin, family: family)
        #expect(c.trainedWeights == ["student": s.standardizedFileURL.path, "baseline": b.standardizedFileURL.path])
        do {
            _ = try AnalyzeCommand.parse(["--data", data, "--baseline-weights", dir.appendingPathComponent("none").path])
            Issue.record("a missing --baseline-weights path was accepted")
        } catch {
            let m = AnalyzeCommand.message(for: error)
            #expect(m.contains("--baseline-weights") && m.contains("no such file or folder"), "\(m)")
        }
    }

    @Test func trainedWeightsKeysAreReadCheckedAndWrittenBack() throws {
        let dir = try ExperimentTests.folder("weights-yaml")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("s"), withIntermediateDirectories: true)
        try Data([0]).write(to: dir.appendingPathComponent("b.safetensors"))
        let yaml = ExperimentTests.base
            .replacingOccurrences(of: "student: {epochs: 2, stage2-epochs: 1}", with: "student: {epochs: 2, stage2-epochs: 1, weights: s}")
            .replacingOccurrences(of: "baseline: {epochs: 2}", with: "baseline: {epochs: 2, weights: b.safetensors}")
        let e = try ExperimentTests.parse(yaml, in: dir)
        #expect(e.config.trainedWeights == ["student": dir.appendingPathComponent("s").path,
                                            "baseline": dir.appendingPathComponent("b.safetensors").path])
        _ = try e.checkAgainstData(plugin: SyntheticSquaresPlugin())
        // The resolved file names them and reads back the same.
        let file = dir.appendingPathComponent("resolved.yaml")
        try e.resolvedYAML().write(to: file, atomically: true, encoding: .utf8)
        let again = try Experiment.read(file: file.path, registry: ExperimentTests.registry())
        #expect(again.config.trainedWeights == e.config.trainedWeights)
        #expect(try again.resolvedYAML() == e.resolvedYAML())
        // A missing path is refused at its key, with line and column.
        let missing = ExperimentTests.failure(yaml.replacingOccurrences(of: "weights: b.safetensors", with: "weights: gone.safetensors"), in: dir)
        #expect(missing?.contains("baseline.weights") == true && missing?.contains("gone.safetensors") == true, "\(missing ?? "accepted")")
        #expect(missing?.contains(":7:") == true, "line of the baseline key: \(missing ?? "")")
        // Wrong type, and several students.
        let wrong = ExperimentTests.failure(yaml.replacingOccurrences(of: "weights: s}", with: "weights: [s]}"), in: dir)
        #expect(wrong?.contains("student.weights") == true, "\(wrong ?? "accepted")")
        let two = ExperimentTests.failure(yaml + "methods: [feature, hinton]\n", in: dir)
        #expect(two?.contains("student.weights names one student") == true, "\(two ?? "accepted")")
    }

    // MARK: estimators

    @Test func estimatorPresetsAreTheAuthorsAndTheFastOne() {
        var base = EntropySettings()
        base.alpha = 3; base.tau = 0.02; base.parameterization = .log; base.learningRate = 0.5
        let a = Estimator.authors.settings(from: base), f = Estimator.fast.settings(from: base)
        #expect(a.parameterization == .direct && a.noiseSamples == 96 && a.steps == 80 && a.effectiveLearningRate == 1e-4)
        #expect(a.pinning == EntropySettings.Pinning(target: -2.8, checkStep: 59, alphaFactor: 1.5, tolerance: 0.05, earlyStop: true))
        #expect(f.parameterization == .log && f.noiseSamples == 16 && f.steps == 100 && f.effectiveLearningRate == 0.01)
        #expect(a.alpha == 3 && a.tau == 0.02 && f.alpha == 3 && f.tau == 0.02)
        #expect(Estimator.of(a) == .authors && Estimator.of(f) == .fast && Estimator.authors.other == .fast)
        let g = EstimatorComparison.agreement([1, 0.95, 0.5, nil, 0.92])
        #expect(g.maps == 5 && g.undefined == 1 && g.agreeing == 3 && g.fraction == 0.6)
    }

    // MARK: run folders and pictures

    @Test func runFoldersListSeedStudiesInSeedOrder() throws {
        let dir = try ExperimentTests.folder("folders")
        for s in ["seed-10", "seed-2", "seed-x"] {
            let f = dir.appendingPathComponent(s)
            try FileManager.default.createDirectory(at: f, withIntermediateDirectories: true)
            try Data().write(to: f.appendingPathComponent("results.sqlite"))
        }
        #expect(RunFolders.studies(in: dir).map(\.lastPathComponent) == ["seed-2", "seed-10"])
        #expect(try RunFolders.select(dir, seed: 10).map(\.lastPathComponent) == ["seed-10"])
        #expect(throws: (any Error).self) { try RunFolders.select(dir, seed: 3) }
        #expect(RunFolders.studies(in: dir.appendingPathComponent("seed-2")).map(\.lastPathComponent) == ["seed-2"])
    }

    /// Draws what it is given: the sample's id and each panel's title and first entropies.
    struct RecordingPainter: ResultPictures {
        func picture(of sample: Sample, from source: DatasetSource, panels: [ResultPanel]) throws -> [UInt8] {
            Array(([sample.id] + panels.map { "\($0.title)=\($0.entropies.prefix(3))" }).joined(separator: "|").utf8)
        }
    }

    /// An input whose δ_f² is 0 has no map (Study leaves it out of finalMaps): its picture has no panel, and the
    /// pictures of the inputs after it still show their own maps (matched by id, never by position).
    @Test func aFailedMapLeavesAGapNotAShiftedPicture() throws {
        let dir = try ExperimentTests.folder("pictures")
        var e = try ExperimentTests.parse(ExperimentTests.base + "seeds: [1]\n", in: dir)
        e.output = dir.appendingPathComponent("out").path
        var runner = try ExperimentRunner(experiment: e, registry: ExperimentTests.registry())
        runner.log = { _ in }
        try runner.run()
        var o = try StudyRunner.outcome(in: dir.appendingPathComponent("out/seed-1"))
        #expect(o.inputIDs.count == 4)
        let failed = o.inputIDs[1]
        for net in o.finalMaps.keys { o.finalMaps[net]![failed] = nil }   // its δ_f² was 0: no map for any network
        let data = try SyntheticSquaresPlugin().open(e.dataPath, options: e.options)
        let pictures = dir.appendingPathComponent("pictures")
        let (written, problems) = try StudyRunner.writePictures(o, painter: RecordingPainter(), data: data, folder: pictures)
        #expect(written == 4 && problems.isEmpty)
        for (i, id) in o.inputIDs.enumerated() {
            let text = try String(contentsOf: pictures.appendingPathComponent(String(format: "input-%03d.png", i)), encoding: .utf8)
            #expect(text.hasPrefix(id + (i == 1 ? "" : "|")), "picture \(i) shows \(text), expected input \(id)")
            for net in ["student", "baseline"] {
                if let h = o.finalMaps[net]?[id] { #expect(text.contains("=\(h.prefix(3))"), "picture \(i): the \(net) map of \(id)") }
            }
            if i == 1 { #expect(text == id, "the failed input has no panel: \(text)") }
        }
        let index = try String(contentsOf: pictures.appendingPathComponent("index.csv"), encoding: .utf8).split(separator: "\n")
        #expect(index[2].hasPrefix("input-001.png,\"\(failed)\",\(o.inputIndices[1]),") && index[2].hasSuffix(","), "\(index[2])")
        #expect(index[3].contains("\"\(o.inputIDs[2])\",\(o.inputIndices[2]),") && index[3].hasSuffix("student+baseline"), "\(index[3])")
    }

    // MARK: shipped examples

    /// Docs/experiments/table6.yaml (text) and table7.yaml (point clouds) are read by the real kd-tool, built
    /// with the token and point plugins: `experiment check --schema-only` must accept them.
    @Test func textAndPointExperimentFilesAreChecked() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("kd-tool"),
                          root.appendingPathComponent(".build/release/kd-tool"), root.appendingPathComponent(".build/debug/kd-tool")]
        guard let tool = candidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            Issue.record("kd-tool is not built next to the tests"); return
        }
        for (file, plugin) in [("table6.yaml", "plugin: token-embedding"), ("table7.yaml", "plugin: point-cloud")] {
            let p = Process()
            p.executableURL = tool
            p.arguments = ["experiment", "check", "--schema-only", root.appendingPathComponent("Docs/experiments/\(file)").path]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(file): \(stderr)")
            #expect(stdout.contains(plugin) && stdout.contains("seeds: [1, 2, 3]"), "\(file): \(stdout)")
        }
    }
}
