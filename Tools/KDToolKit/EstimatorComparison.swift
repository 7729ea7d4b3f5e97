import ArgumentParser
import Foundation
import KDCore

/// The two entropy estimators a study can use (Method.md §2), as named presets. Each keeps the study's α, τ,
/// φ, R, noise seed and convergence tolerance and sets the rest.
enum Estimator: String, ExpressibleByArgument, CaseIterable {
    /// The authors' code: σ stored directly and clamped to the plugin's range (authors: [0.001, 1] from 0.01),
    /// plain SGD lr 1e-4, K = 96 noise samples, T = 80 steps, entropy pinned at −2.8 nats (α ×1.5 at step 59)
    /// with the early stop after step 59.
    case authors
    /// log σ with Adam (lr 0.01), K = 16, T = 100, the same pinning rule and early stop.
    case fast

    func settings(from base: EntropySettings) -> EntropySettings {
        var s = base
        s.learningRate = nil
        s.pinning = EntropySettings.Pinning(target: -2.8, checkStep: 59, alphaFactor: 1.5)
        switch self {
        case .authors:
            s.parameterization = .direct
            s.noiseSamples = 96
            s.steps = 80
        case .fast:
            s.parameterization = .log
            s.noiseSamples = 16
            s.steps = 100
        }
        return s
    }

    /// The preset a setting is closest to (its parameterisation), and the other one.
    static func of(_ s: EntropySettings) -> Estimator { s.parameterization == .direct ? .authors : .fast }
    var other: Estimator { self == .authors ? .fast : .authors }
}

/// `--compare-estimators`: the study's maps computed again with the other estimator on the same inputs and
/// checkpoints (the training is reused: the estimator is not part of a run's training identity, and maps are
/// stored under their engine settings), Spearman's ρ_s per map and both Table-5 rows side by side.
enum EstimatorComparison {
    struct SeedResult {
        var seed: UInt64
        var first: Study.Outcome
        var second: Study.Outcome
        /// (network, epoch, input id, ρ_s) for every map both estimators produced.
        var spearman: [(network: String, epoch: Int, input: String, value: Double?)]
    }

    /// Runs the other estimator in `folder` (a finished study of `outcome`) and compares every stored map;
    /// or, with `second`, those engine settings instead (`--compare-precision`: the same estimator in bf16).
    static func compare(seed: UInt64, folder: URL, outcome: Study.Outcome, second: EntropySettings? = nil,
                        family: ModelFamily, data: DatasetSource, log: @escaping (String) -> Void) throws -> SeedResult {
        var c = outcome.config
        c.entropy = second ?? Estimator.of(c.entropy).other.settings(from: c.entropy)
        log("seed \(seed): \(second == nil ? "the other estimator" : "again") (\(c.entropy.summary)) on the same inputs and checkpoints")
        let study = try Study(config: c, family: family, data: data, folder: folder)
        study.log = { log("  " + $0) }
        let second = try study.run()
        let store = try ResultsStore(path: folder.appendingPathComponent("results.sqlite").path)
        defer { store.close() }
        let tap = outcome.config.tap
        let hashA = Study.settingsHash(config: outcome.config, datasetSettings: outcome.datasetSettings)
        let hashB = Study.settingsHash(config: c, datasetSettings: outcome.datasetSettings)
        var values: [(String, Int, String, Double?)] = []
        for network in outcome.analysedEpochs.keys.sorted() {
            var byKey: [String: [Float]] = [:]
            for m in try store.maps(run: "study", network: network, tap: tap, settingsHash: hashB) {
                byKey["\(m.key.epoch) \(m.key.inputID)"] = m.entropies
            }
            for m in try store.maps(run: "study", network: network, tap: tap, settingsHash: hashA)
            where outcome.inputIDs.contains(m.key.inputID) && (outcome.analysedEpochs[network] ?? []).contains(m.key.epoch) {
                guard let other = byKey["\(m.key.epoch) \(m.key.inputID)"] else { continue }
                values.append((network, m.key.epoch, m.key.inputID, EstimatorAgreement.spearman(m.entropies, other)))
            }
        }
        return SeedResult(seed: seed, first: outcome, second: second,
                          spearman: values.map { (network: $0.0, epoch: $0.1, input: $0.2, value: $0.3) })
    }

    /// The agreement over every compared map: fraction with ρ_s ≥ 0.9 and the quartiles of ρ_s.
    struct Agreement {
        var maps: Int
        var undefined: Int
        var agreeing: Int
        var fraction: Double
        var quartiles: (Double, Double, Double)?
    }

    static func agreement(_ values: [Double?], threshold: Double = EstimatorAgreement.agreementThreshold) -> Agreement {
        let defined = values.compactMap { $0 }.sorted()
        let agreeing = defined.filter { $0 >= threshold }.count
        return Agreement(maps: values.count, undefined: values.count - defined.count, agreeing: agreeing,
                         fraction: values.isEmpty ? 0 : Double(agreeing) / Double(values.count),
                         quartiles: defined.isEmpty ? nil : (Uncertainty.quantile(defined, 0.25), Uncertainty.quantile(defined, 0.5),
                                                             Uncertainty.quantile(defined, 0.75)))
    }

    /// The six metrics of a row whose value lies outside the reference row's 95 % interval (nil values and
    /// missing intervals count as outside).
    static func outside(_ x: MetricsReport, of reference: MetricsReport) -> [String] {
        let names = ["N_fg", "N_bg", "λ", "D_mean", "D_var", "ρ"]
        let a = estimates(x), r = estimates(reference)
        return names.indices.compactMap { i in
            guard let v = a[i]?.value, let lo = r[i]?.ci95Lower, let hi = r[i]?.ci95Upper, v >= lo, v <= hi else { return names[i] }
            return nil
        }
    }

    static func estimates(_ r: MetricsReport) -> [MetricEstimate?] {
        [r.foregroundPoints, r.backgroundPoints, r.lambda, r.distanceMean, r.distanceVariance, r.rho]
    }

    /// The quickstart's rule (Docs/Quickstart.md): the fast estimator may be the default only when ≥ 90 % of
    /// maps agree (ρ_s ≥ 0.9) and its S and B rows lie within the authors' 95 % intervals in every seed.
    static func fastQualifies(_ results: [SeedResult]) -> (Bool, String) {
        let a = agreement(results.flatMap { $0.spearman.map(\.value) })
        var misses: [String] = []
        for r in results {
            let (authors, fast) = Estimator.of(r.first.config.entropy) == .authors ? (r.first, r.second) : (r.second, r.first)
            for (who, x, ref) in [("S", fast.comparison.student, authors.comparison.student), ("B", fast.comparison.baseline, authors.comparison.baseline)] {
                let out = outside(x, of: ref)
                if !out.isEmpty { misses.append("seed \(r.seed) \(who): \(out.joined(separator: ", "))") }
            }
        }
        let ok = a.fraction >= 0.9 && misses.isEmpty
        let why = String(format: "%.1f %% of %d maps have ρ_s ≥ 0.9 (needed: 90 %%); ", 100 * a.fraction, a.maps)
            + (misses.isEmpty ? "every fast value lies within the authors' 95 % interval"
                              : "fast values outside the authors' 95 % interval: " + misses.joined(separator: "; "))
        return (ok, why)
    }

    /// "value [lower, upper]" of a row's cell (3 significant digits), "n/a" when missing.
    static func cell(_ e: MetricEstimate?) -> String {
        guard let e else { return "n/a" }
        let ci = e.ci95Lower.map { String(format: " [%.3g, %.3g]", $0, e.ci95Upper ?? .nan) } ?? ""
        return String(format: "%.3g", e.value) + ci
    }

    static func text(_ results: [SeedResult]) -> String {
        guard let first = results.first else { return "" }
        let g = cell
        var out = "\nEstimator comparison (same inputs and checkpoints):\n"
        out += "  \(Estimator.of(first.first.config.entropy).rawValue): \(first.first.config.entropy.summary)\n"
        out += "  \(Estimator.of(first.second.config.entropy).rawValue): \(first.second.config.entropy.summary)\n"
        let a = agreement(results.flatMap { $0.spearman.map(\.value) })
        out += String(format: "Spearman ρ_s per map (all units of each map): %d maps, %d with ρ_s ≥ 0.9 (%.1f %%), %d undefined (a constant map)",
                      a.maps, a.agreeing, 100 * a.fraction, a.undefined)
        if let q = a.quartiles { out += String(format: "; quartiles %.3f / %.3f / %.3f", q.0, q.1, q.2) }
        out += "\n"
        for r in results {
            var lines = [["seed \(r.seed), value [95 % CI]", "N_fg ↑", "N_bg ↓", "λ ↑", "D_mean ↓", "D_var ↓", "ρ ↑"]]
            for o in [r.first, r.second] {
                let name = Estimator.of(o.config.entropy).rawValue
                lines.append(["S " + name] + estimates(o.comparison.student).map(g))
                lines.append(["B " + name] + estimates(o.comparison.baseline).map(g))
            }
            out += TextTable.render(lines)
        }
        let (ok, why) = fastQualifies(results)
        out += "Fast estimator as a default (ρ_s ≥ 0.9 on ≥ 90 % of maps and the same rows within the authors' intervals): "
            + (ok ? "QUALIFIES" : "does NOT qualify") + " — " + why + "\n"
        return out
    }

    static func csv(_ results: [SeedResult]) -> String {
        var out = "seed,network,epoch,input,spearman\n"
        for r in results {
            for v in r.spearman { out += "\(r.seed),\(v.network),\(v.epoch),\"\(v.input)\",\(v.value.map { String(format: "%.6f", $0) } ?? "")\n" }
        }
        return out
    }
}
