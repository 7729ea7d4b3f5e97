import Foundation
import KDCore

/// Everything `kd-tool report` reads from a run folder (Docs/Outputs.md): `study.json`, the CSV files, the
/// pictures, the entropy maps in `results.sqlite`, the checkpoints (for the weight distance) and, when
/// present, `coherency.json`. What cannot be read is noted, never fatal, except `study.json` itself.
struct ReportRun {
    struct PerInput: Equatable {
        var network, input, status: String
        var nFg, nBg: Int?
        var lambda: Double?
        var peakEpoch: Int?
        var distance, rho: Double?
    }
    struct Curve: Equatable {
        var network: String
        var epoch: Int
        var meanFg, meanBg, meanLambda, baselineEntropy: Double?
    }
    struct Picture {
        var file, inputID, target, networks: String
        var testIndex: Int?
        var png: Data?
    }
    /// One input's fg knowledge-point sets across checkpoints (Method.md §5; the paper's Fig. 5).
    struct Detour: Equatable {
        var network, inputID: String
        /// The analysed checkpoints up to M.
        var epochs: [Int]
        /// S_j as unit indices, per checkpoint.
        var sets: [[Int]]
        /// Whether checkpoint j takes part in ρ's union (1…M, or 0…M).
        var inUnion: [Bool]
        /// |∪ S_j| over the union checkpoints up to each checkpoint.
        var cumulativeUnion: [Int]
        var finalCount: Int { sets.last?.count ?? 0 }
        var unionCount: Int { cumulativeUnion.last ?? 0 }
        /// The value study.json records for this input, to check against.
        var recordedUnion: Int?
    }

    let folder: URL
    let outcome: Study.Outcome
    var perInput: [PerInput] = []
    var curves: [Curve] = []
    var pictures: [Picture] = []
    /// Per network (student, baseline): the inputs' detours, in input-id order.
    var detours: [String: [Detour]] = [:]
    /// Per network: D(m) at each analysed checkpoint (Method.md §4), when it could be measured.
    var distances: [String: [Int: Double]] = [:]
    /// How D was obtained, or why it was not.
    var distanceNote = ""
    /// λ of the teacher's final maps, computed here as the metrics do (the comparison has S and B only).
    var teacherLambda: Double?
    var teacherInputs = 0
    var coherency: CoherencyFile?
    /// Things that could not be read or did not agree.
    var notes: [String] = []

    static func load(_ folder: URL) throws -> ReportRun {
        let studyURL = folder.appendingPathComponent("study.json")
        guard FileManager.default.fileExists(atPath: studyURL.path) else {
            throw ReportError.missing("\(studyURL.path): no study.json; the run has not finished (see `kd-tool status \(folder.path)`)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let outcome: Study.Outcome
        do { outcome = try decoder.decode(Study.Outcome.self, from: Data(contentsOf: studyURL)) } catch {
            throw ReportError.missing("\(studyURL.path) cannot be read as a study outcome: \(error)")
        }
        var run = ReportRun(folder: folder, outcome: outcome)
        run.readCSVs()
        run.readPictures()
        run.readMaps()
        run.measureDistances()
        let coherencyURL = folder.appendingPathComponent("coherency.json")
        if FileManager.default.fileExists(atPath: coherencyURL.path) {
            do { run.coherency = try decoder.decode(CoherencyFile.self, from: Data(contentsOf: coherencyURL)) } catch {
                run.notes.append("coherency.json could not be read: \(error)")
            }
        }
        return run
    }

    // MARK: - CSV files

    mutating func readCSVs() {
        func rows(_ name: String) -> [[String: String]]? {
            let url = folder.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { notes.append("\(name) is missing"); return nil }
            return CSV.records(text)
        }
        for r in rows("per_input.csv") ?? [] {
            perInput.append(PerInput(network: r["network"] ?? "", input: r["input"] ?? "", status: r["status"] ?? "",
                                     nFg: r["n_fg"].flatMap { Int($0) }, nBg: r["n_bg"].flatMap { Int($0) },
                                     lambda: r["lambda"].flatMap { Double($0) }, peakEpoch: r["peak_epoch"].flatMap { Int($0) },
                                     distance: r["distance"].flatMap { Double($0) }, rho: r["rho"].flatMap { Double($0) }))
        }
        for r in rows("curves.csv") ?? [] {
            guard let e = r["epoch"].flatMap({ Int($0) }) else { continue }
            curves.append(Curve(network: r["network"] ?? "", epoch: e, meanFg: r["mean_n_fg"].flatMap { Double($0) },
                                meanBg: r["mean_n_bg"].flatMap { Double($0) }, meanLambda: r["mean_lambda"].flatMap { Double($0) },
                                baselineEntropy: r["dataset_baseline_entropy_nats"].flatMap { Double($0) }))
        }
    }

    mutating func readPictures() {
        let dir = folder.appendingPathComponent("pictures")
        guard let text = try? String(contentsOf: dir.appendingPathComponent("index.csv"), encoding: .utf8) else {
            notes.append("pictures/index.csv is missing (the plugin draws no pictures, or the run has not finished)")
            return
        }
        for r in CSV.records(text) {
            guard let file = r["file"], !file.contains("/"), !file.hasPrefix(".") else { continue }
            let png = try? Data(contentsOf: dir.appendingPathComponent(file))
            if png == nil { notes.append("pictures/\(file) is listed but missing") }
            pictures.append(Picture(file: file, inputID: r["input_id"] ?? "", target: r["target"] ?? "",
                                    networks: r["networks"] ?? "", testIndex: r["test_index"].flatMap { Int($0) }, png: png))
        }
    }

    // MARK: - Entropy maps: detours and the teacher's λ

    /// The store's settings hash for this run, computed as Study does (entropy settings, tap, dataset settings).
    static func settingsHash(_ o: Study.Outcome) -> String {
        Study.settingsHash(config: o.config, datasetSettings: o.datasetSettings)
    }

    mutating func readMaps() {
        let path = folder.appendingPathComponent("results.sqlite").path
        guard FileManager.default.fileExists(atPath: path) else { notes.append("results.sqlite is missing: no detour figure"); return }
        do {
            let store = try ResultsStore(path: path)
            defer { store.close() }
            let o = outcome, tap = o.config.tap
            var hash = Self.settingsHash(o)
            let keys = try store.mapKeys(run: "study", tap: tap)
            if !keys.contains(where: { $0.settingsHash == hash }) {
                // Fall back to the hash with the most maps (the run's own, unless several engine settings were tried).
                let counts = Dictionary(grouping: keys, by: \.settingsHash).mapValues(\.count)
                guard let best = counts.max(by: { $0.value < $1.value })?.key else { notes.append("results.sqlite holds no map at tap \(tap)"); return }
                notes.append("results.sqlite: no map under the recomputed settings hash \(hash); using \(best), the hash with the most maps")
                hash = best
            }
            for r in [o.comparison.student, o.comparison.baseline] {
                detours[r.network] = try detoursOf(r, store: store, hash: hash)
            }
            if let last = o.analysedEpochs["teacher"]?.last {
                var lambdas: [Double] = []
                for id in o.inputIDs {
                    let key = EntropyMapKey(run: "study", network: "teacher", tap: tap, settingsHash: hash, epoch: last, inputID: id)
                    guard let m = try store.map(key)?.entropyMap else { continue }
                    let hBar: Double?
                    switch o.config.metrics.baselineEntropy {
                    case .perInput: hBar = KnowledgePoints.backgroundMean(m.entropies, m.foreground)
                    case .datasetLevel: hBar = o.datasetBaselines["teacher"]
                    }
                    guard let hBar else { continue }
                    let c = KnowledgePoints.count(m.entropies, m.foreground, baseline: hBar, threshold: o.config.metrics.threshold)
                    lambdas.append(c.foregroundRatio ?? 0)
                }
                if !lambdas.isEmpty { teacherLambda = lambdas.reduce(0, +) / Double(lambdas.count); teacherInputs = lambdas.count }
            }
        } catch {
            notes.append("results.sqlite could not be read: \(error)")
        }
    }

    /// S_j(x) for every used input of one network, with H̄ chosen as the metrics choose it (Method.md §3, §5).
    func detoursOf(_ r: MetricsReport, store: ResultsStore, hash: String) throws -> [Detour] {
        let o = outcome
        let epochs = r.epochs
        let compared = r.inputs.map(\.inputID)   // the inputs both networks were compared on
        var maps: [String: [Int: EntropyMap]] = [:]
        for stored in try store.maps(run: "study", network: r.network, tap: o.config.tap, settingsHash: hash)
        where epochs.contains(stored.key.epoch) && compared.contains(stored.key.inputID) {
            if let m = stored.entropyMap { maps[m.inputID, default: [:]][m.epoch] = m }
        }
        // Dataset-level H̄ per checkpoint over the compared inputs (as the metrics' map set).
        var datasetLevel: [Int: Double] = [:]
        for e in epochs {
            let pairs = compared.compactMap { id in maps[id]?[e].map { ($0.entropies, $0.foreground) } }
            datasetLevel[e] = KnowledgePoints.datasetBaseline(pairs)
        }
        let b = r.settings.threshold
        var out: [Detour] = []
        for input in r.inputs where input.status == .used {
            guard let byEpoch = maps[input.inputID], epochs.allSatisfy({ byEpoch[$0] != nil }) else { continue }
            var sets: [[Int]] = [], inUnion: [Bool] = [], cumulative: [Int] = []
            var seen = Set<Int>()
            for e in epochs {
                let m = byEpoch[e]!
                let hBar: Double?
                switch r.settings.baselineEntropy {
                case .perInput: hBar = KnowledgePoints.backgroundMean(m.entropies, m.foreground)
                case .datasetLevel: hBar = datasetLevel[e]
                }
                let s = hBar.map { KnowledgePoints.foregroundPoints(m.entropies, m.foreground, baseline: $0, threshold: b) } ?? []
                let counts = r.settings.rhoIncludesInitial || e >= 1
                if counts { seen.formUnion(s) }
                sets.append(s); inUnion.append(counts); cumulative.append(seen.count)
            }
            out.append(Detour(network: r.network, inputID: input.inputID, epochs: epochs, sets: sets, inUnion: inUnion,
                              cumulativeUnion: cumulative, recordedUnion: input.unionForegroundPoints))
        }
        return out
    }

    // MARK: - Weight distance per checkpoint

    /// The training folder a network's analysed checkpoints come from.
    func trainingFolder(_ network: String) -> URL {
        let c = outcome.config
        if network == "student" {
            let stage = c.effectiveDistillationTap == c.tap ? "stage1" : "stage2"
            return folder.appendingPathComponent("student/\(stage)")
        }
        return folder.appendingPathComponent(network)
    }

    /// Candidate names of the tap's own weight matrix (weight scope `tap-weight`): the tap itself, or the
    /// conv/fc layer its ReLU follows ("relu5" → "conv5", "relu1" → "fc1", "relu_fc1" → "fc1").
    static func tapWeightCandidates(_ tap: String) -> [String] {
        var names = [tap]
        if tap.hasPrefix("relu_") { names.append(String(tap.dropFirst(5))); names.append("conv_" + tap.dropFirst(5)) }
        if tap.hasPrefix("relu") { let rest = tap.dropFirst(4); names += ["conv\(rest)", "fc\(rest)", "linear\(rest)"] }
        return names.map { $0 + ".weight" }
    }

    /// D(m) at every analysed checkpoint of S and B, measured on the checkpoints (`epoch` definition) or
    /// from `weight_path.csv` (`path`), with the tap's weight matrix as scope; checked against the D(m̂)
    /// that study.json records per input. Other scopes need the model's layer order: the x-axis is then
    /// the epoch, and the note says so.
    mutating func measureDistances() {
        let m = outcome.config.metrics
        guard m.weightScope == .tapWeight else {
            distanceNote = "weight scope \(m.weightScope.rawValue): D per checkpoint is not recorded in the run folder, so the x-axis is the epoch"
            return
        }
        var mismatches: [String] = []
        for r in [outcome.comparison.student, outcome.comparison.baseline] {
            let dir = trainingFolder(r.network)
            do {
                let first = try Safetensors.read(Trainer.checkpointURL(in: dir, epoch: 0))
                guard let name = Self.tapWeightCandidates(outcome.config.tap).first(where: { first[$0] != nil }) else {
                    distanceNote = "the tap's weight matrix could not be found by name in the checkpoints, so the x-axis is the epoch"
                    distances = [:]; return
                }
                let w0 = first[name]!.array
                let norm = w0.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let trajectory: WeightTrajectory
                switch m.weightDistance {
                case .epoch:
                    let epochs = Array(Set([0] + r.epochs)).sorted()
                    trajectory = try WeightTrajectory.measuring(epochs: epochs) { e in
                        let url = Trainer.checkpointURL(in: dir, epoch: e)
                        guard let t = try Safetensors.read(url)[name] else {
                            throw ReportDataError(description: "\(url.path) has no tensor \(name) (epoch 0 has it): the checkpoint is not from this run")
                        }
                        return [t.array]
                    }
                case .path:
                    let text = try String(contentsOf: dir.appendingPathComponent("weight_path.csv"), encoding: .utf8)
                    var perEpoch: [Int: Double] = [:]
                    for line in text.split(separator: "\n").dropFirst() {
                        let f = line.split(separator: ",", omittingEmptySubsequences: false)
                        guard f.count == 4, String(f[2]) == name, let e = Int(f[0]), let d = Double(f[3]) else { continue }
                        perEpoch[e, default: 0] += d
                    }
                    let last = max(1, r.epochs.last ?? 1)
                    trajectory = try WeightTrajectory(initialNorm: norm, epochPathLengths: (1...last).map { perEpoch[$0] ?? 0 })
                }
                var d: [Int: Double] = [:]
                for e in r.epochs { d[e] = trajectory.distance(toEpoch: e) }
                distances[r.network] = d
                for i in r.inputs {
                    if let p = i.peakEpoch, let recorded = i.distance, let mine = d[p],
                       abs(mine - recorded) > 1e-6 * max(1, abs(recorded)) {
                        mismatches.append("\(r.network) \(i.inputID) at epoch \(p): \(mine) vs \(recorded)")
                    }
                }
            } catch {
                distanceNote = "the checkpoints of \(r.network) could not be read (\(error)), so the x-axis is the epoch"
                distances = [:]; return
            }
        }
        if mismatches.isEmpty {
            distanceNote = "D(m) = weight distance (\(m.weightDistance.rawValue) definition, tap weight) measured on the checkpoints by the report; it agrees with every D(m̂) in study.json"
        } else {
            distanceNote = "the weight distance measured by the report disagrees with study.json (\(mismatches.prefix(2).joined(separator: "; "))), so the x-axis is the epoch"
            distances = [:]
        }
    }
}

enum ReportError: Error, CustomStringConvertible {
    case missing(String)
    var description: String {
        switch self { case let .missing(s): return s }
    }
}

/// The little CSV the run folder uses: a header row, fields separated by commas, quoted with "…" ("" inside).
enum CSV {
    static func fields(_ line: Substring) -> [String] {
        var out: [String] = [], field = "", quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    var peek = chars
                    if peek.next() == "\"" { field.append("\""); _ = chars.next() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { out.append(field); field = "" }
            else { field.append(c) }
        }
        out.append(field)
        return out
    }

    /// Rows as name → value; empty values are absent.
    static func records(_ text: String) -> [[String: String]] {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        guard let head = lines.first else { return [] }
        let names = fields(head)
        return lines.dropFirst().map { line in
            var r: [String: String] = [:]
            for (n, v) in zip(names, fields(line)) where !v.isEmpty { r[n] = v }
            return r
        }
    }
}

/// A file of the run folder that does not hold what the report needs (named in the description).
struct ReportDataError: Error, CustomStringConvertible {
    let description: String
}
