import Foundation
import KDCore
import Yams

/// One reproducible experiment, read from a YAML file (Docs/Methods.md "Experiment files"): the plugin, the
/// data and its options, the networks, the methods compared, the seeds, the analysis settings and the sweeps.
/// Every default is filled in when the file is read (``resolvedYAML()`` writes them all out), so a run's
/// `resolved.yaml` reproduces it exactly.
struct Experiment: Equatable {
    /// One sweep: the cartesian product of the axes given, one table (Table 2: teacher width; Table 3:
    /// grid × threshold; training-set fraction).
    struct Sweep: Equatable {
        var name: String
        var thresholds: [Double] = []
        var teacherWidths: [Double] = []
        var dataFractions: [Double] = []
        /// Plugin options, in file order, each with its values (strings, as the plugin reads them).
        var options: [OptionAxis] = []

        struct OptionAxis: Equatable { var name: String; var values: [String] }

        /// Every point: a label and the changes it makes.
        var points: [(label: String, threshold: Double?, teacherWidth: Double?, dataFraction: Double?, options: [String: String])] {
            var out: [(String, Double?, Double?, Double?, [String: String])] = [("", nil, nil, nil, [:])]
            func expand<T>(_ values: [T], _ name: String, _ apply: @escaping (inout (String, Double?, Double?, Double?, [String: String]), T) -> Void) {
                guard !values.isEmpty else { return }
                out = out.flatMap { p in values.map { v in
                    var q = p
                    apply(&q, v)
                    q.0 += (q.0.isEmpty ? "" : " ") + "\(name)=\(v)"
                    return q
                } }
            }
            for axis in options { expand(axis.values, axis.name) { $0.4[axis.name] = $1 } }
            expand(teacherWidths, "teacher-width") { $0.2 = $1 }
            expand(dataFractions, "data-fraction") { $0.3 = $1 }
            expand(thresholds, "threshold") { $0.1 = $1 }
            return out.map { (label: $0.0, threshold: $0.1, teacherWidth: $0.2, dataFraction: $0.3, options: $0.4) }
        }

        static func == (a: Sweep, b: Sweep) -> Bool {
            a.name == b.name && a.thresholds == b.thresholds && a.teacherWidths == b.teacherWidths
                && a.dataFractions == b.dataFractions && a.options == b.options
        }
    }

    var plugin: String
    /// The dataset path, as written in the file (relative paths are relative to the file's folder).
    var data: String
    /// Every plugin option, defaults filled in.
    var options: [String: String]
    var output: String
    var seeds: [UInt64]
    /// The study settings; `config.seed` is the first seed.
    var config: StudyConfig
    var sweeps: [Sweep]
    /// Where each key was written (key path → line, column), for errors found after reading.
    var marks: [String: Mark] = [:]
    /// The file read.
    var file: String = ""

    static func == (a: Experiment, b: Experiment) -> Bool {
        a.plugin == b.plugin && a.data == b.data && a.options == b.options && a.output == b.output && a.seeds == b.seeds
            && a.config == b.config && a.sweeps == b.sweeps
    }

    /// The data path to open: relative paths are relative to the experiment file's folder.
    var dataPath: String { Self.path(data, relativeTo: file) }

    /// `p` made absolute against the folder of `file` (a path in an experiment file is relative to the file).
    static func path(_ p: String, relativeTo file: String) -> String {
        if p.hasPrefix("/") { return p }
        let dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        return dir.appendingPathComponent(p).standardizedFileURL.path
    }

    /// The file's data and plugin options replaced from the command line (`experiment run|check --data PATH
    /// --option KEY=VALUE`), so one file runs unchanged on another dataset of the same plugin (e.g. the
    /// composite reproduction on the real CUB-200-2011 archive with its separate masks). `data` is taken
    /// relative to the current folder, as any command-line path; options are checked and re-resolved by the
    /// plugin exactly as the file's are. resolved.yaml records the values used.
    mutating func override(data newData: String?, options given: [String], plugin: ModalityPlugin) throws {
        if let newData {
            data = newData.hasPrefix("/") ? newData
                : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(newData).standardizedFileURL.path
        }
        guard !given.isEmpty else { return }
        var merged = options
        let known = plugin.options.map(\.name)
        for pair in given {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw ExperimentError(file: file, key: "options", message: "--option expects KEY=VALUE, got '\(pair)'")
            }
            let key = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            guard known.contains(key) else {
                throw ExperimentError(file: file, key: "options", message: "--option \(key): plugin \(plugin.name) has no option '\(key)'; its options are: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
            }
            merged[key] = value
        }
        do { options = try plugin.resolveOptions(merged) } catch {
            throw ExperimentError(file: file, key: "options", message: "--option: \(error)")
        }
    }

    func error(_ key: String, _ message: String) -> ExperimentError {
        let m = marks[key]
        return ExperimentError(file: file, line: m?.line, column: m?.column, key: key, message: message)
    }

    /// The study's own checks (ranges, methods' hyper-parameters), reported at the file's keys.
    func checkSettings() throws {
        do { try config.validate() } catch {
            // Name the first key the message mentions, when it is one of the file's keys.
            let text = "\(error)"
            let key = marks.keys.sorted().first { k in text.contains(k.split(separator: ".").last.map(String.init) ?? k) } ?? ""
            throw self.error(key, text)
        }
        for (i, s) in sweeps.enumerated() {
            for f in s.dataFractions where !(f > 0 && f <= 1) { throw error("sweeps[\(i)].data-fraction", "must be in (0, 1], got \(f)") }
            for w in s.teacherWidths where !(w > 0) { throw error("sweeps[\(i)].teacher-width", "must be > 0, got \(w)") }
        }
    }

    // MARK: - Checks that need the data and the networks (before any training)

    /// Opens the data and builds the networks: the data must exist and open, the taps exist in both networks,
    /// and every method's layers exist with the shapes it needs. Returns the opened data.
    func checkAgainstData(plugin: ModalityPlugin) throws -> DatasetSource {
        guard FileManager.default.fileExists(atPath: dataPath) else {
            throw error("data", "no file or folder at \(dataPath)")
        }
        for (i, m) in config.methods.enumerated() {
            if case let .fineTuning(w) = m, !FileManager.default.fileExists(atPath: w) {
                throw error("methods[\(i)]", "fine-tune.weights: no file at \(w)")
            }
        }
        switch config.teacherSource {
        case let .fineTuned(p), let .trained(p):
            if !FileManager.default.fileExists(atPath: p) { throw error("teacher.source", "no weights file at \(p)") }
        case .scratch: break
        }
        for (network, p) in (config.trainedWeights ?? [:]).sorted(by: { $0.key < $1.key }) where !FileManager.default.fileExists(atPath: p) {
            throw error(network == "baseline" ? "baseline.weights" : "student.weights",
                        "no file or folder at \(p) (the \(network)'s trained weights: a folder of epoch-N.safetensors checkpoints or one safetensors file)")
        }
        let source: DatasetSource
        do { source = try plugin.open(dataPath, options: options) } catch { throw self.error("data", "cannot be read by \(plugin.name): \(error)") }
        let family = try plugin.family(config.family)
        let widths = [config.teacherWidth] + sweeps.flatMap(\.teacherWidths)
        func make(_ width: Double, _ seed: UInt64) throws -> Model {
            try family.make(ModelRequest(inputShape: source.sampleShape, task: source.task, width: width, seed: seed,
                                         resources: source.modelResources))
        }
        let student = try make(config.studentWidth, config.seed)
        for w in widths {
            let teacher = try make(w, config.seed &+ 1)
            for (key, tap) in [("tap", config.tap), ("distill-at", config.effectiveDistillationTap)] {
                for (net, who) in [(student, "student"), (teacher, "teacher")] where net.body.index(of: tap) == nil {
                    throw error(marks[key] == nil && key == "distill-at" ? "tap" : key,
                                "the \(who) (\(family.name) ×\(who == "student" ? config.studentWidth : w)) has no layer '\(tap)'; its layers are: \(net.layerNames.joined(separator: ", ")) (the family's taps: \(family.taps.joined(separator: ", ")))")
                }
            }
            for (i, m) in config.methods.enumerated() {
                let problems = MethodLayers.problems(m, student: student, teacher: teacher, tap: config.effectiveDistillationTap)
                if let p = problems.first { throw error("methods[\(i)]", p + (w != config.teacherWidth ? " (teacher width \(w) of a sweep)" : "")) }
            }
        }
        if config.methods.contains(.paper), student.body.index(of: config.effectiveDistillationTap) == student.layerNames.count - 1 {
            throw error(marks["distill-at"] != nil ? "distill-at" : "tap", "the student cannot be distilled at its last layer \(config.effectiveDistillationTap); set distill-at to an earlier layer")
        }
        return source
    }

}
