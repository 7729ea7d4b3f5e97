import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// Experiment files (Docs/Methods.md): strict reading with line and column, defaults filled in, refusal of
/// bad files before any training, a tiny run reproduced bit for bit, and the shipped examples.
@Suite(.serialized) struct ExperimentTests {
    static func registry() throws -> PluginRegistry {
        let r = PluginRegistry()
        try r.register(SyntheticSquaresPlugin())
        return r
    }

    static func folder(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-experiment-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try SyntheticSquaresPlugin.write(to: dir.appendingPathComponent("squares.txt").path, perSplit: 24, size: 8)
        return dir
    }

    static let base = """
    plugin: synthetic-squares
    data: squares.txt
    family: tiny-mlp
    tap: relu1
    teacher: {epochs: 3}
    student: {epochs: 2, stage2-epochs: 1}
    baseline: {epochs: 2}
    training: {batch-size: 8}
    analysed-inputs: 4
    analyse-teacher: false
    entropy: {sigma-param: log, steps: 10, noise-samples: 4, pinning: false}
    metrics: {bootstrap: 20}

    """

    static func parse(_ yaml: String, in dir: URL) throws -> Experiment {
        try Experiment.parse(yaml: yaml, file: dir.appendingPathComponent("e.yaml").path, registry: registry())
    }

    /// The error a file gives (nil when it is accepted), reading and checking against the data.
    static func failure(_ yaml: String, in dir: URL) -> String? {
        do {
            let e = try parse(yaml, in: dir)
            _ = try e.checkAgainstData(plugin: SyntheticSquaresPlugin())
            return nil
        } catch { return "\(error)" }
    }

    @Test func defaultsAreFilledInAndTheResolvedFileReadsBackTheSame() throws {
        let dir = try Self.folder("resolve")
        let e = try Self.parse(Self.base + "methods: [feature, {hinton: {temperature: 3}}, mutual]\nseeds: [4, 5]\n", in: dir)
        #expect(e.config.methods == [.featureDistillation(layer: nil), .hinton(temperature: 3, beta: 0.9), .mutualLearning(peers: 1)])
        #expect(e.seeds == [4, 5] && e.config.seed == 4)
        #expect(e.options == ["grid": "4"], "plugin options get their defaults")
        #expect(e.config.metrics.threshold == 0.2 && e.config.entropy.alpha == 1, "the plugin's defaults")
        #expect(e.config.checkpoints == .paper && e.config.teacherEpochs == 3 && e.config.batchSize == 8)
        let resolved = try e.resolvedYAML()
        #expect(resolved.contains("temperature: 3.0") && resolved.contains("beta: 0.9") && resolved.contains("layer: relu1"))
        let file = dir.appendingPathComponent("out/resolved.yaml")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try resolved.write(to: file, atomically: true, encoding: .utf8)
        let again = try Experiment.read(file: file.path, registry: Self.registry())
        var b = e.config
        b.entropy.learningRate = b.entropy.effectiveLearningRate   // written out as the value used
        #expect(again.config == b, "every setting reads back")
        #expect(again.dataPath == e.dataPath && again.seeds == e.seeds && again.options == e.options)
        #expect(try again.resolvedYAML() == resolved, "resolving a resolved file changes nothing")
    }

    /// `entropy.precision`: bf16 is read, written out and read back; fp32 is the default (and writes the
    /// same summary as before the key existed); anything else names the choices.
    @Test func precisionIsASetting() throws {
        let dir = try Self.folder("precision")
        let yaml = Self.base.replacingOccurrences(of: "pinning: false}", with: "pinning: false, precision: bf16}")
        let e = try Self.parse(yaml, in: dir)
        #expect(e.config.entropy.precision == .bfloat16)
        #expect(e.config.entropy.summary.hasSuffix(" precision=bf16"))
        let resolved = try e.resolvedYAML()
        #expect(resolved.contains("precision: bf16"))
        let plain = try Self.parse(Self.base, in: dir)
        let plainResolved = try plain.resolvedYAML()
        #expect(plain.config.entropy.precision == nil && plainResolved.contains("precision: fp32"))
        let bad = Self.failure(Self.base.replacingOccurrences(of: "pinning: false}", with: "pinning: false, precision: fp16}"), in: dir)
        #expect(bad?.contains("fp32") == true && bad?.contains("bf16") == true, "\(bad ?? "accepted")")
    }

    /// The help screens, reviewed like HelpTests does for the other subcommands.
    @Test func theExperimentCommandHasFullHelpNamingNoModality() {
        let root = KDTool.helpMessage()
        #expect(root.contains("experiment"))
        for (command, usage) in [(ExperimentCommand.self as ParsableCommand.Type, "USAGE: kd-tool experiment"),
                                 (ExperimentCommand.Run.self, "USAGE: kd-tool experiment run"),
                                 (ExperimentCommand.Check.self, "USAGE: kd-tool experiment check")] {
            let help = KDTool.helpMessage(for: command)
            #expect(help.contains(usage) && help.contains("-h, --help"), "\(help.prefix(300))")
            #expect(command.configuration.abstract.hasSuffix("."))
            let words = Set(help.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
            let found = HelpTests.modalityWords.filter { words.contains($0) || words.contains($0 + "s") }
            #expect(found.isEmpty, "experiment help names \(found)")
        }
    }

    @Test func schedulesSourcesAndSweepsAreSettings() throws {
        let dir = try Self.folder("settings")
        #expect(try Self.parse(Self.base + "checkpoints: every-epoch\n", in: dir).config.checkpoints == .everyEpoch)
        #expect(try Self.parse(Self.base + "checkpoints: [1, 2, 5]\n", in: dir).config.checkpoints == .explicit([1, 2, 5]))
        #expect(try Self.parse(Self.base + "checkpoints: {dense-up-to: 3, then-every: 2}\n", in: dir).config.checkpoints == .dense(upTo: 3, thenEvery: 2))
        let bad = Self.failure(Self.base + "checkpoints: sometimes\n", in: dir)
        #expect(bad?.contains("'sometimes' is not one of: paper, every-epoch") == true, "\(bad ?? "accepted")")
        let source = try Self.parse(Self.base.replacingOccurrences(of: "teacher: {epochs: 3}", with: "teacher: {epochs: 3, source: {fine-tune: w.safetensors}}"), in: dir)
        #expect(source.config.teacherSource == .fineTuned(path: dir.appendingPathComponent("w.safetensors").path), "paths are relative to the file")
        let optimizer = try Self.parse(Self.base.replacingOccurrences(of: "training: {batch-size: 8}",
                                                                     with: "training: {batch-size: 8, optimizer: {adam: {beta1: 0.8}}, decay: {cosine: {floor: 0.001}}}"), in: dir)
        #expect(optimizer.config.optimizer == .adam(beta1: 0.8, beta2: 0.999, epsilon: 1e-8, weightDecay: 0))
        #expect(optimizer.config.learningRate.decay == .cosine(floor: 0.001))
        let sweeps = try Self.parse(Self.base + """
        sweeps:
          - {name: table3, options: {grid: [2, 4]}, threshold: [0.1, 0.2, 0.3]}
          - {name: table2, teacher-width: [1, 2]}
          - {name: fraction, data-fraction: [0.25, 1]}
        """, in: dir).sweeps
        #expect(sweeps.map(\.name) == ["table3", "table2", "fraction"])
        #expect(sweeps[0].points.map(\.label) == ["grid=2 threshold=0.1", "grid=2 threshold=0.2", "grid=2 threshold=0.3",
                                                   "grid=4 threshold=0.1", "grid=4 threshold=0.2", "grid=4 threshold=0.3"])
        #expect(sweeps[1].points.map(\.teacherWidth) == [1, 2] && sweeps[2].points.map(\.dataFraction) == [0.25, 1])
        let fraction = Self.failure(Self.base + "sweeps:\n  - {data-fraction: [0]}\n", in: dir)
        #expect(fraction?.contains("sweeps[0].data-fraction") == true, "\(fraction ?? "accepted")")
    }

    @Test func unknownKeysAndWrongTypesNameTheLineAndColumn() throws {
        let dir = try Self.folder("strict")
        let unknown = Self.failure(Self.base + "student: {epochs: 2, stage-2-epochs: 1}\n", in: dir)
        // The base has 'student' already: a duplicate key is refused too.
        #expect(unknown?.contains("appears twice") == true, "\(unknown ?? "accepted")")
        let typo = Self.failure(Self.base.replacingOccurrences(of: "student: {epochs: 2, stage2-epochs: 1}", with: "student: {epochs: 2, stage-2-epochs: 1}"), in: dir)
        #expect(typo?.contains("e.yaml:6:") == true && typo?.contains("unknown key 'stage-2-epochs'") == true
                && typo?.contains("stage2-epochs") == true, "\(typo ?? "accepted")")
        let top = Self.failure(Self.base + "sedes: [1]\n", in: dir)
        #expect(top?.contains(":13:1: sedes: unknown key") == true && top?.contains("seeds") == true, "\(top ?? "accepted")")
        let type = Self.failure(Self.base + "methods:\n  - hinton: {temperature: hot}\n", in: dir)
        #expect(type?.contains("e.yaml:14:27") == true && type?.contains("temperature: expected a number, got 'hot'") == true, "\(type ?? "accepted")")
        let negative = Self.failure(Self.base + "methods:\n  - hinton: {temperature: -2, beta: 0.5}\n", in: dir)
        #expect(negative?.contains("e.yaml:14:27") == true && negative?.contains("methods[0].hinton.temperature") == true
                && negative?.contains("must be > 0") == true, "\(negative ?? "accepted")")
        let method = Self.failure(Self.base + "methods: [distil-harder]\n", in: dir)
        #expect(method?.contains("'distil-harder' is not a method") == true && method?.contains("attention") == true, "\(method ?? "accepted")")
        let list = Self.failure(Self.base + "seeds: {one: 1}\n", in: dir)
        #expect(list?.contains("e.yaml:13:8") == true && list?.contains("seeds: expected a whole number") == true, "\(list ?? "accepted")")
    }

    @Test func badFilesAreRefusedBeforeAnyTrainingNamingTheKeyAndTheChoices() throws {
        let dir = try Self.folder("refuse")
        func expect(_ yaml: String, _ parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            let message = Self.failure(yaml, in: dir)
            for p in parts { #expect(message?.contains(p) == true, "\(p) not in: \(message ?? "accepted")", sourceLocation: sourceLocation) }
        }
        expect(Self.base.replacingOccurrences(of: "squares.txt", with: "missing.txt"), ["data: no file or folder at", "missing.txt"])
        expect(Self.base.replacingOccurrences(of: "family: tiny-mlp", with: "family: resnet"),
               ["e.yaml:3:9: family: plugin synthetic-squares has no family 'resnet'; its families are: tiny-mlp"])
        expect(Self.base.replacingOccurrences(of: "plugin: synthetic-squares", with: "plugin: sound"),
               ["plugin: no plugin named 'sound'; the plugins are: synthetic-squares"])
        expect(Self.base.replacingOccurrences(of: "tap: relu1", with: "tap: relu9"),
               ["e.yaml:4:6: tap: the student", "has no layer 'relu9'; its layers are: flatten, fc1, relu1, fc2"])
        expect(Self.base + "methods:\n  - attention: {pairs: [relu1]}\n",
               ["methods[0]", "attention.pairs: relu1 must be conv features"])
        expect(Self.base + "methods:\n  - fsp: {pairs: [{from: fc1, to: relu7}]}\n",
               ["methods[0]", "fsp.pairs.to: the student has no layer 'relu7'; its layers are: flatten, fc1, relu1, fc2"])
        expect(Self.base + "options: {grids: 4}\n", ["options.grids", "has no option 'grids'; its options are: grid"])
        expect(Self.base + "methods:\n  - fine-tune: {weights: none.safetensors}\n", ["fine-tune.weights: no file at"])
        expect(Self.base + "sweeps:\n  - {name: x}\n", ["a sweep needs at least one of"])
        expect(Self.base + "student: {data-fraction: 2}\n", ["appears twice"])
        expect(Self.base.replacingOccurrences(of: "student: {epochs: 2, stage2-epochs: 1}", with: "student: {epochs: 2, data-fraction: 2}"),
               ["student-data-fraction must be in (0, 1]"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("kd-runs").path))
    }

    @Test func aTinyExperimentRunsAndRunsAgainBitForBit() throws {
        let dir = try Self.folder("run")
        let yaml = Self.base + """
        methods: [feature, hinton]
        seeds: [1]
        checkpoints: every-epoch
        output: out
        sweeps:
          - {name: b, threshold: [0.1, 0.3]}
        """
        var e = try Self.parse(yaml, in: dir)
        e.output = dir.appendingPathComponent("out").path
        var lines: [String] = []
        var runner = try ExperimentRunner(experiment: e, registry: Self.registry())
        runner.log = { lines.append($0) }
        let text = try runner.run()
        #expect(text.contains("S feature") && text.contains("S hinton") && text.contains("B (baseline)") && text.contains("Sweep b"))
        #expect(text.contains("threshold=0.1  S hinton"), "\(text)")
        let out = dir.appendingPathComponent("out")
        for f in ["resolved.yaml", "experiment.csv", "experiment.txt", "seed-1/study.json", "seed-1/student-hinton/epoch-0002.safetensors",
                  "b/threshold=0.3/seed-1/report.txt"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), "\(f) missing")
        }
        let csv = try String(contentsOf: out.appendingPathComponent("experiment.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 3 * 3, "\(csv)")
        // Again, from the resolved file: nothing trains, the numbers are identical.
        lines.removeAll()
        let resolved = try Experiment.read(file: out.appendingPathComponent("resolved.yaml").path, registry: Self.registry())
        var again = try ExperimentRunner(experiment: resolved, registry: Self.registry())
        again.log = { lines.append($0) }
        try again.run()
        #expect(!lines.contains { $0.contains(", checkpoint") }, "nothing may train again")
        #expect(try String(contentsOf: out.appendingPathComponent("experiment.csv"), encoding: .utf8) == csv)
    }

    /// `experiment run|check --data --option`: one file, another dataset of the same plugin (the reproduction
    /// file on the real CUB archive); the overrides are checked like the file's own keys and recorded.
    @Test func dataAndOptionsCanBeReplacedFromTheCommandLine() throws {
        let dir = try Self.folder("override")
        try SyntheticSquaresPlugin.write(to: dir.appendingPathComponent("other.txt").path, perSplit: 24, size: 8)
        var e = try Self.parse(Self.base, in: dir)
        #expect(e.dataPath == dir.appendingPathComponent("squares.txt").path && e.options == ["grid": "4"])
        try e.override(data: dir.appendingPathComponent("other.txt").path, options: ["grid=2"], plugin: SyntheticSquaresPlugin())
        #expect(e.dataPath == dir.appendingPathComponent("other.txt").path)
        #expect(e.options == ["grid": "2"])
        _ = try e.checkAgainstData(plugin: SyntheticSquaresPlugin())
        let resolved = try e.resolvedYAML()
        #expect(resolved.contains("other.txt"), "resolved.yaml records the dataset used: \(resolved)")
        #expect(try Experiment.parse(yaml: resolved, file: dir.appendingPathComponent("r.yaml").path, registry: Self.registry()).options == ["grid": "2"],
                "and the option used")
        for (bad, says) in [("size=3", "no option 'size'; its options are: grid"), ("grid", "expects KEY=VALUE, got 'grid'"),
                            ("=2", "expects KEY=VALUE")] {
            var f = try Self.parse(Self.base, in: dir)
            #expect(throws: ExperimentError.self) { try f.override(data: nil, options: [bad], plugin: SyntheticSquaresPlugin()) }
            do { try f.override(data: nil, options: [bad], plugin: SyntheticSquaresPlugin()) } catch {
                #expect("\(error)".contains(says), "\(error)")
            }
        }
        var g = try Self.parse(Self.base, in: dir)
        try g.override(data: "relative/none.txt", options: [], plugin: SyntheticSquaresPlugin())
        #expect(g.dataPath == FileManager.default.currentDirectoryPath + "/relative/none.txt", "a command-line path is relative to the current folder")
    }

    /// Every shipped example is read by the real kd-tool (`experiment check --schema-only`); files naming a
    /// plugin this kd-tool was not built with are skipped, with that reason checked.
    @Test func shippedExperimentFilesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("Docs/experiments")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 7 && files.contains("methods-images.yaml"))
        let candidates = [Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("kd-tool"),
                          root.appendingPathComponent(".build/release/kd-tool"), root.appendingPathComponent(".build/debug/kd-tool")]
        guard let tool = candidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            Issue.record("kd-tool is not built next to the tests"); return
        }
        var checked = 0
        for f in files {
            let p = Process()
            p.executableURL = tool
            p.arguments = ["experiment", "check", "--schema-only", folder.appendingPathComponent(f).path]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus == 0 {
                #expect(stdout.contains("methods:") && stdout.contains("seeds:"), "\(f): \(stdout)")
                checked += 1
            } else {
                #expect(stderr.contains("plugin: no plugin named"), "\(f) is invalid: \(stderr)")
            }
        }
        #expect(checked >= 5, "the image examples must be checked")
    }
}
