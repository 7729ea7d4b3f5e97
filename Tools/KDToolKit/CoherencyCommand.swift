import ArgumentParser
import Foundation
import KDCore
import KDDatasets

/// `coherency.json`: explanations of a few analysed inputs before and after a function-preserving rescaling
/// (Docs/Method.md §8; the paper's Fig. 1b). `kd-tool report` draws it side by side.
struct CoherencyFile: Codable, Equatable {
    struct Explanation: Codable, Equatable {
        /// "entropy at relu8", "saliency of the logit", "Grad-CAM of relu8 at relu7", …
        var name: String
        var before: [Float]
        var after: [Float]
        /// max_u |after_u − before_u|.
        var maxChange: Double
        /// maxChange / max_u |before_u| (0 when before is all 0 and nothing changed).
        var relativeChange: Double
    }
    struct Input: Codable, Equatable {
        var inputID: String
        var testIndex: Int
        var explanations: [Explanation]
    }
    struct Summary: Codable, Equatable {
        var name: String
        var maxChange: Double
        var relativeChange: Double
    }
    var network: String
    var checkpoint: String
    var tap: String
    var layer: String
    var next: String
    /// The layer whose output the feature explanations explain: the ReLU after `layer` (or `layer` itself).
    var layerOutput: String
    var scale: Double
    var maxLogitChange: Double
    var entropySettings: String
    var inputs: [Input]
    /// Per explanation, the largest change over the inputs.
    var summary: [Summary]

    static func change(_ before: [Float], _ after: [Float]) -> (Double, Double) {
        var m = 0.0, top = 0.0
        for (a, b) in zip(before, after) { m = max(m, Double(abs(b - a))); top = max(top, Double(abs(a))) }
        return (m, top > 0 ? m / top : (m > 0 ? .infinity : 0))
    }
}

struct CoherencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coherency",
        abstract: "Show that entropy maps do not change when a network's function does not, while gradient explanations do (writes coherency.json into the run folder).",
        discussion: """
        Loads a finished run's final network (the student by default), rescales layer L's weights and bias \
        by s and the next weight layer's weights by 1/s — for a ReLU network the function does not change \
        (Docs/Method.md §8) — and computes, before and after, for the first analysed inputs: the entropy map at \
        the run's tap and at L's output (the entropy engine with the run's settings), gradient saliency and \
        Grad-CAM of the class logit, and gradient saliency and Grad-CAM of L's output. The dataset is read \
        again from --data with the run's recorded plugin settings. `kd-tool report` then draws the maps side \
        by side.
        """)

    @Argument(help: "The run folder: one study folder (with study.json), or an analyze, quickstart or experiment --output (its first seed-N/ study unless --seed).") var folder: String
    @Option(help: "With an output folder of several seeds: the study of this seed.") var seed: UInt64?
    @Option(help: "The dataset the run was made from (the same file or folder as analyze's --data).") var data: String
    @Option(help: "Use this plugin instead of recognising the dataset.") var plugin: String?
    @Option(name: .customLong("option"), help: "A plugin setting NAME=VALUE (repeatable); the run's recorded settings are used otherwise.")
    var pluginOptions: [String] = []
    @Option(help: "The layer L to rescale (a linear, conv2d or batchnorm layer followed through ReLU/pooling by a weight layer); default: the last such layer at or below the tap.")
    var layer: String?
    @Option(help: "The factor s (> 0).") var scale: Double = 3
    @Option(help: "Which network: student, baseline or teacher.") var network: String = "student"
    @Option(help: "How many of the analysed inputs to explain.") var inputs: Int = 3
    @Option(help: "Output file (default: coherency.json in the run folder).") var output: String?

    func validate() throws {
        guard scale.isFinite, scale > 0 else { throw ValidationError("--scale must be > 0, got \(scale)") }
        guard ["student", "baseline", "teacher"].contains(network) else { throw ValidationError("--network is student, baseline or teacher, got \(network)") }
        guard inputs >= 1 else { throw ValidationError("--inputs must be at least 1") }
        for o in pluginOptions where !o.contains("=") { throw ValidationError("--option takes NAME=VALUE, got '\(o)'") }
    }

    func run() throws {
        let dir = try RunFolders.select(URL(fileURLWithPath: folder), seed: seed)[0]
        if dir.path != URL(fileURLWithPath: folder).path { log("study folder: \(dir.path)") }
        let outcome = try ReportRun.load(dir).outcome
        let registry = try Registration.registry()
        let chosen = try plugin.map { try registry.plugin(named: $0) } ?? registry.recognise(data).plugin
        var options: [String: String] = [:]
        let declared = Set(chosen.options.map(\.name))
        for (k, v) in outcome.datasetSettings where declared.contains(k) { options[k] = v }
        for o in pluginOptions {
            let p = o.split(separator: "=", maxSplits: 1).map(String.init)
            options[p[0]] = p.count > 1 ? p[1] : ""
        }
        let source = try chosen.open(data, options: options)
        if source.name != outcome.dataset { log("warning: the data is \(source.name), the run used \(outcome.dataset)") }
        let family = try chosen.family(outcome.config.family)
        let result = try Self.compute(outcome: outcome, folder: dir, family: family, data: source, network: network,
                                      layer: layer, scale: scale, inputCount: inputs, log: log)
        let url = output.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("coherency.json")
        try JSONEncoder.sorted.encode(result).write(to: url, options: .atomic)
        for s in result.summary {
            print(s.name.padding(toLength: max(44, s.name.count), withPad: " ", startingAt: 0)
                  + String(format: " max change %.3g (relative %.3g): ", s.maxChange, s.relativeChange)
                  + (s.relativeChange > 1e-3 ? "changes" : "unchanged"))
        }
        print(String(format: "largest change of a logit: %.3g", result.maxLogitChange))
        print("wrote \(url.path); `kd-tool report \(dir.path)` draws it")
    }

    func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// The final checkpoint of a network: the student after stage 2 (its whole function), the others' last epoch.
    static func finalCheckpoint(_ folder: URL, network: String) throws -> URL {
        let dir = network == "student" ? folder.appendingPathComponent("student/stage2") : folder.appendingPathComponent(network)
        let epochs = try Study.checkpointEpochs(in: dir)
        return Trainer.checkpointURL(in: dir, epoch: epochs.last!)
    }

    static func compute(outcome o: Study.Outcome, folder: URL, family: ModelFamily, data: DatasetSource, network: String,
                        layer: String?, scale: Double, inputCount: Int, log: (String) -> Void) throws -> CoherencyFile {
        let c = o.config
        guard case .classification = data.task else { throw ExplanationError.notRescalable("coherency explains class logits; this dataset's task is \(data.task)") }
        let width = network == "teacher" ? c.teacherWidth : c.studentWidth
        func load() throws -> Model {
            let m = try family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: width, seed: c.seed,
                                                 resources: data.modelResources))
            try Checkpoint.load(into: m, from: try finalCheckpoint(folder, network: network))
            return m
        }
        let before = try load(), after = try load()
        let tapIndex = try before.layerIndex(c.tap)
        let chosen: String
        if let layer { chosen = layer } else {
            let names = Rescaling.candidates(before)
            guard let pick = names.last(where: { (try? before.layerIndex($0)) ?? .max <= tapIndex }) ?? names.first else {
                throw ExplanationError.notRescalable("no layer of \(before.name) can be rescaled without changing its function")
            }
            chosen = pick
        }
        let plan = try Rescaling.plan(before, layer: chosen, scale: scale)
        Rescaling.apply(plan, to: after)
        let outputIndex = plan.between.first { before.body.layers[(try? before.layerIndex($0)) ?? 0].1.kind == "relu" }
            .flatMap { try? before.layerIndex($0) } ?? plan.layerIndex
        let outputName = before.layerNames[outputIndex]
        log("\(network): \(plan.layer) × \(scale), \(plan.next) × 1/\(scale) (through \(plan.between.joined(separator: ", ")))")

        let samples = try o.inputIndices.prefix(inputCount).map { try data.sample(.test, $0) }
        var maxLogit = 0.0
        for s in samples {
            let x = Tensor(shape: [1] + before.inputShape); x.data.update(from: s.input.data, count: s.input.count)
            let ca = before.makeContext(), cb = after.makeContext()
            ca.validLengths = s.length.map { [$0] }; cb.validLengths = ca.validLengths
            let ya = before.forward(x, ca).array, yb = after.forward(x, cb).array
            for (a, b) in zip(ya, yb) { maxLogit = max(maxLogit, Double(abs(a - b))) }
        }
        // Entropy maps at the tap and at L's output, before and after.
        var taps = [c.tap]
        if outputName != c.tap { taps.append(outputName) }
        var entropy: [String: [[Float]]] = [:]
        for tap in taps {
            for (label, model) in [("before", before), ("after", after)] {
                log("entropy maps at \(tap), \(label) …")
                let engine = try EntropyEngine(model: model, tap: tap, settings: c.entropy, analysedInput: family.analysedInput)
                entropy["\(tap) \(label)"] = try engine.analyse(samples).map { try $0.get().entropies }
            }
        }
        let count = before.body.layers.count
        let logitCAM = try? Explanations.camLayer(before, below: count)
        let featureCAM = try? Explanations.camLayer(before, below: plan.layerIndex)
        var files: [CoherencyFile.Input] = []
        for (i, s) in samples.enumerated() {
            let logit = ExplanationTarget.logit(class: s.label), feature = ExplanationTarget.feature(layer: outputIndex)
            var ex: [CoherencyFile.Explanation] = []
            func add(_ name: String, _ b: [Float], _ a: [Float]) {
                let (m, r) = CoherencyFile.change(b, a)
                ex.append(.init(name: name, before: b, after: a, maxChange: m, relativeChange: r))
            }
            for tap in taps { add("entropy at \(tap)", entropy["\(tap) before"]![i], entropy["\(tap) after"]![i]) }
            add("saliency of the logit", try Explanations.saliency(before, s, target: logit), try Explanations.saliency(after, s, target: logit))
            if let l = logitCAM {
                add("Grad-CAM of the logit at \(before.layerNames[l])", try Explanations.gradCAM(before, s, target: logit, layer: l).units,
                    try Explanations.gradCAM(after, s, target: logit, layer: l).units)
            }
            add("saliency of \(outputName)", try Explanations.saliency(before, s, target: feature), try Explanations.saliency(after, s, target: feature))
            if let l = featureCAM {
                add("Grad-CAM of \(outputName) at \(before.layerNames[l])", try Explanations.gradCAM(before, s, target: feature, layer: l).units,
                    try Explanations.gradCAM(after, s, target: feature, layer: l).units)
            }
            files.append(.init(inputID: s.id, testIndex: o.inputIndices[i], explanations: ex))
        }
        let names = files.first?.explanations.map(\.name) ?? []
        let summary = names.map { n in
            let all = files.compactMap { $0.explanations.first { $0.name == n } }
            return CoherencyFile.Summary(name: n, maxChange: all.map(\.maxChange).max() ?? 0, relativeChange: all.map(\.relativeChange).max() ?? 0)
        }
        return CoherencyFile(network: network, checkpoint: try finalCheckpoint(folder, network: network).path.replacingOccurrences(of: folder.path + "/", with: ""),
                             tap: c.tap, layer: plan.layer, next: plan.next, layerOutput: outputName, scale: scale,
                             maxLogitChange: maxLogit, entropySettings: c.entropy.summary, inputs: files, summary: summary)
    }
}
