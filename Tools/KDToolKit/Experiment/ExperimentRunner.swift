import Foundation
import KDCore

/// Runs an ``Experiment``: every seed of the base settings (`seed-N/`), then every sweep point (a
/// threshold-only point reuses the seed's folder, since metrics are computed from the stored maps; other
/// points train in `SWEEP/POINT/seed-N/`). Writes `resolved.yaml`, `experiment.csv` (one row per sweep point,
/// seed and network) and `experiment.txt` (the tables: the methods side by side, one table per sweep).
struct ExperimentRunner {
    let experiment: Experiment
    let plugin: ModalityPlugin
    var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Where the studies' progress goes: a bar on a terminal, plain lines in a log (ProgressDisplay).
    let display = ProgressDisplay.standardError()

    init(experiment: Experiment, registry: PluginRegistry) throws {
        self.experiment = experiment
        self.plugin = try registry.plugin(named: experiment.plugin)
    }

    /// One study's rows.
    struct Row {
        var sweep: String
        var point: String
        var seed: UInt64
        var network: String
        var method: String
        var report: MetricsReport
        var accuracy: Double?
    }

    /// One study of the experiment: its settings, data options, folder, and where its reports go.
    struct StudyPlan {
        var config: StudyConfig
        var options: [String: String]
        var folder: URL
        /// The reports' folder when it is not the study folder (a threshold-only sweep point).
        var reports: URL?
        var sweep: String
        var point: String
        /// Whether the plan trains in its own folder (false: a threshold-only point reusing the seed's folder).
        var ownsFolder: Bool
    }

    /// Every study of the experiment in a fixed order: each seed of the base settings, then every sweep point
    /// × seed. A threshold-only point runs in the seed's folder and reads its stored maps (the training
    /// identity is unchanged, so nothing is trained again); its reports go to the point's folder.
    func plans(root: URL) -> [StudyPlan] {
        let e = experiment
        var out: [StudyPlan] = []
        for seed in e.seeds {
            var c = e.config
            c.seed = seed
            out.append(StudyPlan(config: c, options: e.options, folder: root.appendingPathComponent("seed-\(seed)"), reports: nil,
                                 sweep: "", point: "", ownsFolder: true))
        }
        for sweep in e.sweeps {
            for point in sweep.points {
                for seed in e.seeds {
                    var c = e.config
                    c.seed = seed
                    var options = e.options
                    for (k, v) in point.options { options[k] = v }
                    if let t = point.threshold { c.metrics.threshold = t }
                    if let w = point.teacherWidth { c.teacherWidth = w }
                    if let f = point.dataFraction { c.studentDataFraction = f }
                    let trainingChanged = point.teacherWidth != nil || point.dataFraction != nil || !point.options.isEmpty
                    let pointFolder = root.appendingPathComponent(Self.folderName(sweep.name))
                        .appendingPathComponent(Self.folderName(point.label)).appendingPathComponent("seed-\(seed)")
                    out.append(trainingChanged
                        ? StudyPlan(config: c, options: options, folder: pointFolder, reports: nil, sweep: sweep.name,
                                    point: point.label, ownsFolder: true)
                        : StudyPlan(config: c, options: options, folder: root.appendingPathComponent("seed-\(seed)"),
                                    reports: pointFolder, sweep: sweep.name, point: point.label, ownsFolder: false))
                }
            }
        }
        return out
    }

    /// The datasets opened so far, by options (each opened once per process).
    final class Sources {
        var byOptions: [[String: String]: DatasetSource] = [:]
    }

    /// A Study for `plan`, logging through the runner, recording the dataset path and the experiment identity.
    func makeStudy(_ plan: StudyPlan, family: ModelFamily, sources: Sources) throws -> Study {
        let data: DatasetSource
        if let d = sources.byOptions[plan.options] { data = d } else {
            data = try plugin.open(experiment.dataPath, options: plan.options)
            sources.byOptions[plan.options] = data
        }
        let s = try Study(config: plan.config, family: family, data: data, folder: plan.folder)
        // A plugin's training augmentation applies to every network the study trains (and is recorded).
        if let augmenting = plugin as? TrainingAugmenting {
            s.augmentation = try augmenting.augmentation(try plugin.resolveOptions(plan.options))
        }
        s.log = { [log, display] line in display.around { log("  " + line) } }
        s.progress = display.update
        s.datasetPath = experiment.dataPath
        s.storeMetadata = [ResultsStore.experimentKey: try experimentIdentity()]
        return s
    }

    /// Checks everything that can be checked before training (data, taps, methods' layers), then runs.
    /// Returns the text of `experiment.txt`.
    @discardableResult
    func run() throws -> String {
        let e = experiment
        let source = try e.checkAgainstData(plugin: plugin)
        let root = URL(fileURLWithPath: e.output)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try e.resolvedYAML().write(to: root.appendingPathComponent("resolved.yaml"), atomically: true, encoding: .utf8)
        let family = try plugin.family(e.config.family)
        var rows: [Row] = []
        let sources = Sources()
        sources.byOptions[e.options] = source

        for plan in plans(root: root) {
            log("— \(plan.sweep.isEmpty ? "" : "\(plan.sweep) \(plan.point), ")seed \(plan.config.seed): \(plan.folder.path)")
            let o = try makeStudy(plan, family: family, sources: sources).run()
            display.finish()
            let reportFolder = plan.reports ?? plan.folder
            try FileManager.default.createDirectory(at: reportFolder, withIntermediateDirectories: true)
            try StudyReport.write(o, to: reportFolder)
            try StudyReport.text(o).write(to: reportFolder.appendingPathComponent("report.txt"), atomically: true, encoding: .utf8)
            for m in o.methods {
                rows.append(Row(sweep: plan.sweep, point: plan.point, seed: plan.config.seed, network: m.network, method: m.method.id,
                                report: m.comparison.student, accuracy: o.accuracy[m.network]))
            }
            rows.append(Row(sweep: plan.sweep, point: plan.point, seed: plan.config.seed, network: "baseline", method: "baseline",
                            report: o.comparison.baseline, accuracy: o.accuracy["baseline"]))
        }
        let csv = Self.csv(rows)
        try csv.write(to: root.appendingPathComponent("experiment.csv"), atomically: true, encoding: .utf8)
        let text = Self.tables(rows, experiment: e)
        try text.write(to: root.appendingPathComponent("experiment.txt"), atomically: true, encoding: .utf8)
        return text
    }

    static func folderName(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "=" ? $0 : "_" })
    }
}
