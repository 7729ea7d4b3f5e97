import Foundation
import KDCore

/// `kd-tool analyze` and `kd-tool quickstart` are front ends to ``Experiment``: their flags (or a plugin's
/// default run) become an experiment value, run by ``ExperimentRunner`` exactly as `kd-tool experiment run`
/// runs a file: `resolved.yaml`, `experiment.txt`, `experiment.csv` in the output folder and one `seed-N/`
/// study folder per seed. This adds what the front ends print and draw: the Table-5 text of a one-seed run
/// (the mean ± sd and paired statistics over seeds otherwise), one picture per analysed input under each
/// `seed-N/pictures/`, and with `--compare-estimators` the other estimator's maps and the agreement.
enum StudyRunner {
    /// The experiment a front end runs: `data` and `output` made absolute, every plugin option filled in.
    /// `command` names the front end in errors and tables, where an experiment file names the file.
    static func experiment(plugin: ModalityPlugin, data: String, options: [String: String], config: StudyConfig,
                           seeds: [UInt64], output: String, command: String) throws -> Experiment {
        func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }
        var c = config
        c.seed = seeds[0]
        let out = absolute(output)
        var e = Experiment(plugin: plugin.name, data: absolute(data), options: try plugin.resolveOptions(options), output: out,
                           seeds: seeds, config: c, sweeps: [], marks: [:],
                           file: command)
        try e.checkSettings()
        e.marks = [:]
        return e
    }

    /// Runs `e` and prints its results; returns each seed's outcome.
    @discardableResult
    static func run(_ e: Experiment, registry: PluginRegistry, compareEstimators: Bool = false,
                    comparePrecision: Bool = false) throws -> [Study.Outcome] {
        let start = Date()
        func log(_ line: String) {
            let t = Int(Date().timeIntervalSince(start))
            FileHandle.standardError.write(Data((String(format: "[%02d:%02d] ", t / 60, t % 60) + line + "\n").utf8))
        }
        var runner = try ExperimentRunner(experiment: e, registry: registry)
        runner.log = log
        log("output folder: \(e.output) (resolved.yaml, experiment.txt, experiment.csv, seed-N/)")
        // ExperimentRunner writes resolved.yaml before its studies check the folder; when a study refuses the
        // folder (other training settings), the folder's own resolved.yaml is put back.
        let resolvedURL = URL(fileURLWithPath: e.output).appendingPathComponent("resolved.yaml")
        let previous = try? Data(contentsOf: resolvedURL)
        let tables: String
        do { tables = try runner.run() } catch let error as StudyError {
            if case .settingsDiffer = error, let previous { try? previous.write(to: resolvedURL, options: .atomic) }
            throw error
        }
        let plugin = runner.plugin, root = URL(fileURLWithPath: e.output)
        let painter = plugin as? ResultPictures
        var data: DatasetSource? = nil
        if painter != nil || compareEstimators || comparePrecision { data = try plugin.open(e.dataPath, options: e.options) }
        var outcomes: [Study.Outcome] = []
        var comparisons: [EstimatorComparison.SeedResult] = [], precisions: [EstimatorComparison.SeedResult] = []
        for seed in e.seeds {
            let folder = root.appendingPathComponent("seed-\(seed)")
            let o = try outcome(in: folder)
            outcomes.append(o)
            if let painter, let data {
                let pictures = folder.appendingPathComponent("pictures")
                let (written, failed) = try writePictures(o, painter: painter, data: data, folder: pictures)
                log("wrote \(written) pictures to \(pictures.path)")
                for f in failed.prefix(10) { log("  picture not drawn: \(f)") }
            }
            if compareEstimators, let data {
                comparisons.append(try EstimatorComparison.compare(seed: seed, folder: folder, outcome: o,
                                                                   family: try plugin.family(o.config.family), data: data, log: log))
            }
            if comparePrecision, let data {
                var bf16 = o.config.entropy
                bf16.precision = .bfloat16
                precisions.append(try EstimatorComparison.compare(seed: seed, folder: folder, outcome: o, second: bf16,
                                                                  family: try plugin.family(o.config.family), data: data, log: log))
            }
        }
        var text = e.seeds.count == 1 ? StudyReport.text(outcomes[0]) : tables
        var files = "resolved.yaml, experiment.txt, experiment.csv, seed-N/{report.txt, study.json, table5.csv, per_input.csv, curves.csv, results.sqlite\(painter == nil ? "" : ", pictures/")}"
        // The comparisons asked for: NAME.txt (the text, also printed) and NAME.csv (Spearman per map).
        for (name, results, render) in [("estimators", comparisons, EstimatorComparison.text),
                                         ("precision", precisions, PrecisionComparison.text)] where !results.isEmpty {
            let c = render(results)
            try c.write(to: root.appendingPathComponent("\(name).txt"), atomically: true, encoding: .utf8)
            try EstimatorComparison.csv(results).write(to: root.appendingPathComponent("\(name).csv"), atomically: true, encoding: .utf8)
            text += c
            files += ", \(name).txt, \(name).csv"
        }
        log(String(format: "done in %.1f min", Date().timeIntervalSince(start) / 60))
        print(text, terminator: "")
        print("Files: \(e.output)/{\(files)}")
        return outcomes
    }

    /// The outcome a finished study wrote to `folder`/study.json.
    static func outcome(in folder: URL) throws -> Study.Outcome {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(Study.Outcome.self, from: Data(contentsOf: folder.appendingPathComponent("study.json")))
    }

    /// One PNG per analysed input, drawn by the plugin: the input, and the final map of the teacher, the
    /// student and the baseline with their knowledge points (against the same H̄ as the metrics). Inputs are
    /// matched to maps by id, so an input whose map failed leaves a gap, never a shifted picture.
    static func writePictures(_ o: Study.Outcome, painter: ResultPictures, data: DatasetSource,
                              folder: URL) throws -> (written: Int, failed: [String]) {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let networks = ["teacher", "student", "baseline"].filter { o.finalMaps[$0] != nil }
        var written = 0, failed: [String] = []
        var listing = "file,input_id,test_index,target,networks\n"
        for (i, id) in o.inputIDs.enumerated() {
            let name = String(format: "input-%03d.png", i)
            do {
                let sample = try data.sample(.test, o.inputIndices[i])
                var panels: [ResultPanel] = [], drawn: [String] = []
                for net in networks {
                    guard let h = o.finalMaps[net]?[id] else { continue }
                    let epoch = o.analysedEpochs[net]?.last.map { " E\($0)" } ?? ""
                    panels.append(ResultPanel(title: net.prefix(1).uppercased() + epoch, entropies: h,
                                              knowledgePoints: knowledgePoints(h, roles: sample.roles, threshold: o.config.metrics.threshold,
                                                                               baseline: o.datasetBaselines[net])))
                    drawn.append(net)
                }
                let png = try painter.picture(of: sample, from: data, panels: panels)
                try Data(png).write(to: folder.appendingPathComponent(name), options: .atomic)
                written += 1
                let target: String
                switch sample.target {
                case let .label(l): target = l >= 0 && l < data.classNames.count ? data.classNames[l] : "\(l)"
                case let .span(a, b): target = "span \(a)-\(b)"
                }
                listing += "\(name),\"\(id)\",\(o.inputIndices[i]),\"\(target)\",\(drawn.joined(separator: "+"))\n"
            } catch {
                failed.append("\(id): \(error)")
            }
        }
        try listing.write(to: folder.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        return (written, failed)
    }

    /// Knowledge points of one full map (Docs/Method.md §3): H̄ − H_i > b, with H̄ the given dataset-level
    /// value or the mean entropy of this input's background units; ignored units are never points.
    static func knowledgePoints(_ h: [Float], roles: [UnitRole], threshold b: Double, baseline: Double?) -> [Bool] {
        // H̄ over the background units only (ignored units count as "not background").
        guard let hbar = baseline ?? KnowledgePoints.backgroundMean(h, roles.map { $0 != .background }) else {
            return [Bool](repeating: false, count: h.count)
        }
        return zip(h, roles).map { e, r in r != .ignored && KnowledgePoints.isPoint(entropy: e, baseline: hbar, threshold: b) }
    }
}
