import Foundation

/// Turns a study's outcome into the paper's Table-5 rows (printed) and machine-readable files.
///
/// Files written to the study folder:
/// - `study.json` — the whole ``Study/Outcome``: every setting, count, estimate, per-input value and verdict.
/// - `table5.csv` — one row per network: N_fg, N_bg, λ, D_mean, D_var, ρ with standard errors and 95 % intervals.
/// - `per_input.csv` — per network and input: status, N_fg, N_bg, λ, m̂, D(m̂), ρ.
/// - `curves.csv` — per network and checkpoint: mean N_fg, N_bg, λ and the dataset-level H̄.
public enum StudyReport {
    public static func write(_ o: Study.Outcome, to folder: URL) throws {
        try JSONEncoder.sorted.encode(o).write(to: folder.appendingPathComponent("study.json"), options: .atomic)
        var t5 = "network,metric,value,standard_error,ci95_lower,ci95_upper,n,settings\n"
        let settings = "\"\(settingsLine(o))\""
        for r in reports(o) {
            for (name, e) in estimates(r) {
                t5 += "\(r.network),\(name),\(f(e?.value)),\(f(e?.standardError)),\(f(e?.ci95Lower)),\(f(e?.ci95Upper)),\(e?.count ?? 0),\(settings)\n"
            }
        }
        for (net, acc) in o.accuracy.sorted(by: { $0.key < $1.key }) {
            t5 += "\(net),test_accuracy,\(f(acc)),,,,\(o.testSamples),\(settings)\n"
        }
        try t5.write(to: folder.appendingPathComponent("table5.csv"), atomically: true, encoding: .utf8)

        var pi = "network,input,status,n_fg,n_bg,lambda,peak_epoch,distance,rho\n"
        var curves = "network,epoch,mean_n_fg,mean_n_bg,mean_lambda,dataset_baseline_entropy_nats\n"
        for r in reports(o) {
            for i in r.inputs {
                pi += "\(r.network),\"\(i.inputID)\",\(i.status.rawValue),\(i.foregroundPoints.map(String.init) ?? ""),"
                pi += "\(i.backgroundPoints.map(String.init) ?? ""),\(f(i.lambda)),\(i.peakEpoch.map(String.init) ?? ""),"
                pi += "\(f(i.distance)),\(f(i.rho))\n"
            }
            for c in r.checkpoints {
                curves += "\(r.network),\(c.epoch),\(f(c.meanForegroundPoints)),\(f(c.meanBackgroundPoints)),\(f(c.meanLambda)),\(f(c.datasetBaselineEntropy))\n"
            }
        }
        try pi.write(to: folder.appendingPathComponent("per_input.csv"), atomically: true, encoding: .utf8)
        try curves.write(to: folder.appendingPathComponent("curves.csv"), atomically: true, encoding: .utf8)
    }

    /// Every student's report (one per method), then the baseline's.
    static func reports(_ o: Study.Outcome) -> [MetricsReport] {
        o.methods.map(\.comparison.student) + [o.comparison.baseline]
    }

    /// Whether the outcome is the paper's study with its one feature-distillation student (printed as before).
    static func isSingleStudent(_ o: Study.Outcome) -> Bool { o.methods.count == 1 && o.methods[0].network == "student" }

    static func estimates(_ r: MetricsReport) -> [(String, MetricEstimate?)] {
        [("N_fg", r.foregroundPoints), ("N_bg", r.backgroundPoints), ("lambda", r.lambda),
         ("D_mean", r.distanceMean), ("D_var", r.distanceVariance), ("rho", r.rho)]
    }

    static func f(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "" }

    /// One line naming every setting that produced the numbers.
    public static func settingsLine(_ o: Study.Outcome) -> String {
        let c = o.config, m = c.metrics
        var s = "family=\(c.family) tap=\(c.tap) distilled-at=\(c.effectiveDistillationTap) widths T\(c.teacherWidth)/S\(c.studentWidth) "
        s += "epochs T\(c.teacherEpochs) S\(c.studentEpochs)+\(c.studentStage2Epochs) B\(c.baselineEpochs) "
        if c.methods != [.paper] { s += "methods=" + c.methods.map(\.id).joined(separator: ",") + " " }
        s += "data-fraction=\(c.studentDataFraction) batch=\(c.batchSize) seed=\(c.seed); "
        s += "entropy: \(c.entropy.summary); "
        s += "metrics: b=\(m.threshold) baseline-entropy=\(m.baselineEntropy.rawValue) weight-distance=\(m.weightDistance.rawValue) "
        s += "weight-scope=\(m.weightScope.rawValue) rho-initial=\(m.rhoIncludesInitial) rho-empty=\(m.rhoEmptyUnion.rawValue) "
        s += "filter=\(m.effectiveFilter.map { "from epoch \($0.fromEpoch)" } ?? "off"); "
        if let a = o.augmentation { s += "augmentation: \(a); " }
        if let x = o.compute { s += "compute: \(x); " }
        s += "data: " + o.datasetSettings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return s
    }

    /// The printed report: Table-5 rows for S and B with ± one standard error, accuracies, counts,
    /// hypotheses, and the settings.
    public static func text(_ o: Study.Outcome) -> String {
        var out = ""
        if o.datasetIsComposite { out += "DATASET: \(o.dataset) — a COMPOSITE dataset (see its description), not a benchmark set.\n" }
        else { out += "DATASET: \(o.dataset)\n" }
        out += "Table 5 (paper's layout), tap \(o.config.tap); mean ± standard error over \(o.comparison.student.counts.inputsUsed) inputs:\n"
        let header = ["", "N_fg ↑", "N_bg ↓", "λ ↑", "D_mean ↓", "D_var ↓", "ρ ↑"]
        var rows = [header]
        let single = isSingleStudent(o)
        if !single { rows[0].append("accuracy") }
        let labelled = single ? [("S (distilled)", o.comparison.student), ("B (baseline)", o.comparison.baseline)]
            : o.methods.map { ("S \($0.method.id)", $0.comparison.student) } + [("B (baseline)", o.comparison.baseline)]
        for (label, r) in labelled {
            let cells: [String] = estimates(r).map { pair -> String in
                guard let e = pair.1 else { return "n/a" }
                let se = e.standardError.map { String(format: " ± %.3g", $0) } ?? ""
                return String(format: "%.3g", e.value) + se
            }
            rows.append([label] + cells + (single ? [] : [String(format: "%.1f %%", 100 * (o.accuracy[r.network] ?? .nan))]))
        }
        let widths = (0..<rows[0].count).map { col in rows.map { $0[col].count }.max()! }
        for r in rows {
            out += "  " + r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "\n"
        }
        if single {
            out += String(format: "Test accuracy (%d images): T %.1f %%, S %.1f %%, B %.1f %%\n", o.testSamples,
                          100 * (o.accuracy["teacher"] ?? .nan), 100 * (o.accuracy["student"] ?? .nan), 100 * (o.accuracy["baseline"] ?? .nan))
        } else {
            out += String(format: "Test accuracy (%d inputs): T %.1f %%, B %.1f %%; methods (Docs/Methods.md):\n", o.testSamples,
                          100 * (o.accuracy["teacher"] ?? .nan), 100 * (o.accuracy["baseline"] ?? .nan))
            for m in o.methods {
                out += "  S \(m.method.id): \(m.method)\(m.analysedStage.map { ", analysed \($0)" } ?? "")\n"
            }
        }
        if let t = o.accuracy["teacher"], let b = o.accuracy["baseline"], t <= b {
            out += "WARNING: the teacher does not beat the baseline on held-out accuracy: the comparison is void (Method.md §6).\n"
        }
        for r in reports(o) {
            let c = r.counts
            out += "\(r.network): checkpoints \(r.epochs.map(String.init).joined(separator: ",")); inputs analysed \(c.inputsAnalysed), used \(c.inputsUsed), "
            out += "no background \(c.noBackground), dropped by filter \(c.droppedByFilter)+\(c.droppedByOtherNetwork), no points \(c.noPoints), ρ undefined \(c.rhoUndefined)\n"
        }
        if !o.failedMaps.isEmpty { out += "maps that could not be computed (reported, inputs skipped): \(o.failedMaps.count)\n" }
        for n in o.notes ?? [] { out += "not measured: \(n)\n" }
        if !o.flaggedMaps.isEmpty {
            out += "maps flagged (loss not flat and entropy target not reached): " + o.flaggedMaps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        if !o.skippedSamples.isEmpty { out += "samples skipped: \(o.skippedSamples.count) (listed in study.json)\n" }
        for r in reports(o) {
            guard let c = r.convergence else { continue }
            out += "\(r.network) convergence: \(c.description)\(c.needsMark ? "  ← MARKED: more than 10 % of maps unconverged" : "")\n"
        }
        out += "Hypotheses — \(o.comparison.verdictRule)\n"
        for m in o.methods {
            if !single { out += " \(m.network) vs baseline:\n" }
            out += "  paired per-input differences S − B (\(m.comparison.paired.first?.pairs ?? 0) inputs; 95 % paired-bootstrap interval; Wilcoxon signed-rank p, Holm over the six metrics):\n"
            for d in m.comparison.paired {
                let ci = (d.ci95Lower.map { String(format: "%.3g", $0) } ?? "n/a") + " … " + (d.ci95Upper.map { String(format: "%.3g", $0) } ?? "n/a")
                out += "    \(d.metric.padding(toLength: 7, withPad: " ", startingAt: 0)) mean \(f3(d.meanDifference)) [\(ci)]  p \(f3(d.wilcoxon?.pValue))  Holm p \(f3(d.holmPValue))  expected \(d.expected.rawValue): \(d.verdict.rawValue)\n"
            }
            for h in m.comparison.hypotheses {
                let parts = h.comparisons.map { c -> String in
                    "\(c.metric) S \(f3(c.student)) vs B \(f3(c.baseline)) (expected \(c.expected.rawValue)): \(c.verdict.rawValue)"
                }
                out += "  H\(h.number) \(h.verdict.rawValue.uppercased()) — \(h.statement): " + parts.joined(separator: "; ") + "\n"
            }
        }
        out += "Settings: \(settingsLine(o))\n"
        return out
    }

    static func f3(_ x: Double?) -> String { x.map { String(format: "%.3g", $0) } ?? "n/a" }
}
