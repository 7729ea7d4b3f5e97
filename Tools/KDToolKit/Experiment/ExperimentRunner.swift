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
        var sourcesByOptions: [[String: String]: DatasetSource] = [e.options: source]

        func study(_ config: StudyConfig, options: [String: String], folder: URL, reports: URL? = nil, sweep: String, point: String) throws {
            let data: DatasetSource
            if let d = sourcesByOptions[options] { data = d } else {
                data = try plugin.open(e.dataPath, options: options)
                sourcesByOptions[options] = data
            }
            log("— \(sweep.isEmpty ? "" : "\(sweep) \(point), ")seed \(config.seed): \(folder.path)")
            let s = try Study(config: config, family: family, data: data, folder: folder)
            if let augmenting = plugin as? TrainingAugmenting {
                s.augmentation = try augmenting.augmentation(try plugin.resolveOptions(options))
            }
            s.log = { [log] in log("  " + $0) }
            let o = try s.run()
            let reportFolder = reports ?? folder
            try FileManager.default.createDirectory(at: reportFolder, withIntermediateDirectories: true)
            try StudyReport.write(o, to: reportFolder)
            try StudyReport.text(o).write(to: reportFolder.appendingPathComponent("report.txt"), atomically: true, encoding: .utf8)
            for m in o.methods {
                rows.append(Row(sweep: sweep, point: point, seed: config.seed, network: m.network, method: m.method.id,
                                report: m.comparison.student, accuracy: o.accuracy[m.network]))
            }
            rows.append(Row(sweep: sweep, point: point, seed: config.seed, network: "baseline", method: "baseline",
                            report: o.comparison.baseline, accuracy: o.accuracy["baseline"]))
        }

        for seed in e.seeds {
            var c = e.config
            c.seed = seed
            try study(c, options: e.options, folder: root.appendingPathComponent("seed-\(seed)"), sweep: "", point: "")
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
                    // A threshold-only point runs in the seed's folder and reads its stored maps (the training
                    // identity is unchanged, so nothing is trained again); its reports go to the point's folder.
                    if trainingChanged {
                        try study(c, options: options, folder: pointFolder, sweep: sweep.name, point: point.label)
                    } else {
                        try study(c, options: options, folder: root.appendingPathComponent("seed-\(seed)"), reports: pointFolder,
                                  sweep: sweep.name, point: point.label)
                    }
                }
            }
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
