import Foundation
import KDCore

/// The aggregation of an experiment's studies: `experiment.csv` (one row per sweep point, seed and network) and
/// `experiment.txt` (per table: mean ± standard deviation over seeds of each network's row, then each method's
/// paired S − B statistics over the seeds, Docs/Method.md §10).
extension ExperimentRunner {
    static func value(_ r: MetricsReport) -> [Double?] {
        [r.foregroundPoints?.value, r.backgroundPoints?.value, r.lambda?.value, r.distanceMean?.value,
         r.distanceVariance?.value, r.rho?.value]
    }

    static func csv(_ rows: [Row]) -> String {
        var out = "sweep,point,seed,network,method,N_fg,N_bg,lambda,D_mean,D_var,rho,accuracy\n"
        for r in rows {
            let v = value(r.report).map { $0.map { String(format: "%.6g", $0) } ?? "" }
            out += "\"\(r.sweep)\",\"\(r.point)\",\(r.seed),\(r.network),\(r.method),\(v.joined(separator: ",")),\(r.accuracy.map { String(format: "%.6g", $0) } ?? "")\n"
        }
        return out
    }

    /// "12.3 ± 0.4" (sample standard deviation over seeds), or "12.3" for one seed.
    static func spread(_ xs: [Double], _ format: String = "%.3g") -> String {
        guard let s = SeedSpread(xs) else { return "n/a" }
        return String(format: format, s.mean) + (s.standardDeviation.map { " ± " + String(format: format, $0) } ?? "")
    }

    /// One table for the base settings and one per sweep: each (point, network) row is the mean ± standard
    /// deviation over seeds of the per-seed values (each itself the mean over analysed inputs), followed by the
    /// paired statistics of each method's student against the baseline of the same point.
    static func tables(_ rows: [Row], experiment e: Experiment) -> String {
        let n = e.seeds.count
        var out = "Experiment \(e.file) — plugin \(e.plugin), family \(e.config.family), tap \(e.config.tap), seeds \(e.seeds.map(String.init).joined(separator: ", "))\n"
        out += n > 1
            ? "Each value is the mean ± standard deviation over the \(n) seeds of the per-seed mean over analysed inputs (per-seed tables: seed-N/report.txt).\n"
            : "Each value is the mean over analysed inputs of the one seed (its full table: seed-\(e.seeds[0])/report.txt).\n"
        out += "Entropy: \(e.config.entropy.summary)\n"
        let header = ["", "N_fg ↑", "N_bg ↓", "λ ↑", "D_mean ↓", "D_var ↓", "ρ ↑", "accuracy"]
        func table(_ title: String, _ selected: [Row]) {
            out += "\n\(title)\n"
            var keys: [(String, String)] = []
            for r in selected where !keys.contains(where: { $0 == (r.point, r.network) }) { keys.append((r.point, r.network)) }
            var lines = [header]
            for (point, network) in keys {
                let group = selected.filter { $0.point == point && $0.network == network }
                let values = (0..<6).map { i in spread(group.compactMap { value($0.report)[i] }) }
                let acc = group.compactMap(\.accuracy).map { 100 * $0 }
                let label = (point.isEmpty ? "" : point + "  ") + (network == "baseline" ? "B (baseline)" : "S " + (group.first?.method ?? network))
                lines.append([label] + values + [acc.isEmpty ? "n/a" : spread(acc, "%.1f") + " %"])
            }
            out += TextTable.render(lines)
            // Paired statistics per point and method, seeds combined per input.
            var points: [String] = []
            for r in selected where !points.contains(r.point) { points.append(r.point) }
            for point in points {
                let here = selected.filter { $0.point == point }
                var methods: [String] = []
                for r in here where r.network != "baseline" && !methods.contains(r.network) { methods.append(r.network) }
                for network in methods {
                    var students: [MetricsReport] = [], baselines: [MetricsReport] = []
                    for seed in e.seeds {
                        guard let s = here.first(where: { $0.seed == seed && $0.network == network }),
                              let b = here.first(where: { $0.seed == seed && $0.network == "baseline" }) else { continue }
                        students.append(s.report); baselines.append(b.report)
                    }
                    guard !students.isEmpty else { continue }
                    let method = here.first { $0.network == network }?.method ?? network
                    out += "\n\(point.isEmpty ? "" : point + ", ")S \(method) against B, \(students.count) seed\(students.count == 1 ? "" : "s"): "
                    out += SeedStatistics.text(SeedStatistics.paired(students: students, baselines: baselines), seeds: students.count)
                }
            }
        }
        table("Methods side by side (n = \(n) seed\(n == 1 ? "" : "s")):", rows.filter { $0.sweep.isEmpty })
        for s in e.sweeps { table("Sweep \(s.name):", rows.filter { $0.sweep == s.name }) }
        return out
    }
}
