import Foundation
import KDCore

/// `--compare-precision`: the study's maps computed again with bfloat16 convolutions (`--precision bf16`) on
/// the same inputs and checkpoints, against the float32 maps: Spearman's ρ_s per map and both Table-5 rows.
/// bf16 could become the default only if every map ranks its units like float32 (ρ_s ≥ 0.99) and every
/// bf16 value of the S and B rows lies within float32's 95 % interval (Docs/Benchmarks.md, "bfloat16").
enum PrecisionComparison {
    static let threshold = 0.99

    static func text(_ results: [EstimatorComparison.SeedResult]) -> String {
        guard let first = results.first else { return "" }
        let g = EstimatorComparison.cell
        var out = "\nPrecision comparison (same estimator, inputs and checkpoints):\n"
        out += "  fp32: \(first.first.config.entropy.summary)\n  bf16: \(first.second.config.entropy.summary)\n"
        let values = results.flatMap { $0.spearman.map(\.value) }
        let a = EstimatorComparison.agreement(values, threshold: threshold)
        out += String(format: "Spearman ρ_s per map: %d maps, %d with ρ_s ≥ 0.99 (%.1f %%), %d undefined (a constant map)",
                      a.maps, a.agreeing, 100 * a.fraction, a.undefined)
        if let q = a.quartiles { out += String(format: "; quartiles %.4f / %.4f / %.4f", q.0, q.1, q.2) }
        if let lowest = values.compactMap({ $0 }).min() { out += String(format: "; lowest %.4f", lowest) }
        out += "\n"
        var misses: [String] = []
        for r in results {
            var lines = [["seed \(r.seed), value [95 % CI]", "N_fg ↑", "N_bg ↓", "λ ↑", "D_mean ↓", "D_var ↓", "ρ ↑"]]
            for (name, o) in [("fp32", r.first), ("bf16", r.second)] {
                lines.append(["S " + name] + EstimatorComparison.estimates(o.comparison.student).map(g))
                lines.append(["B " + name] + EstimatorComparison.estimates(o.comparison.baseline).map(g))
            }
            out += TextTable.render(lines)
            for (who, x, ref) in [("S", r.second.comparison.student, r.first.comparison.student),
                                  ("B", r.second.comparison.baseline, r.first.comparison.baseline)] {
                let outside = EstimatorComparison.outside(x, of: ref)
                if !outside.isEmpty { misses.append("seed \(r.seed) \(who): \(outside.joined(separator: ", "))") }
            }
        }
        let ok = a.maps > 0 && a.agreeing == a.maps && misses.isEmpty
        out += "bf16 as a default (ρ_s ≥ 0.99 on every map and every bf16 value within fp32's 95 % interval): "
            + (ok ? "QUALIFIES" : "does NOT qualify") + " — "
            + String(format: "%d of %d maps reach 0.99; ", a.agreeing, a.maps)
            + (misses.isEmpty ? "every bf16 value lies within fp32's 95 % interval" : "outside: " + misses.joined(separator: "; ")) + "\n"
        return out
    }
}
