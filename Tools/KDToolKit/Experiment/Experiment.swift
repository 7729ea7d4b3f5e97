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

    func error(_ key: String, _ message: String) -> ExperimentError {
        let m = marks[key]
        return ExperimentError(file: file, line: m?.line, column: m?.column, key: key, message: message)
    }

    // MARK: - Reading

    static func read(file: String, registry: PluginRegistry) throws -> Experiment {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ExperimentError(file: file, key: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: file, registry: registry)
    }

    static func parse(yaml: String, file: String, registry: PluginRegistry) throws -> Experiment {
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else {
                throw ExperimentError(file: file, key: "", message: "the file is empty; an experiment needs at least 'plugin' and 'data'")
            }
            root = n
        } catch let e as ExperimentError { throw e } catch let e as YamlError {
            throw ExperimentError(file: file, key: "", message: "not valid YAML: \(e)")
        }
        var marks: [String: Mark] = [:]
        let top = try YNode(node: root, path: "", file: file).mapping()
        func take(_ m: YMapping, _ key: String) -> YNode? {
            let n = m.take(key)
            if let n, let mark = n.node.mark { marks[n.path] = mark }
            return n
        }
        func required(_ m: YMapping, _ key: String, _ what: String) throws -> YNode {
            guard let n = take(m, key) else { throw m.owner.error("the key '\(key)' is missing: \(what)", key: key) }
            return n
        }

        // Plugin and family first: their defaults are the base the rest of the file changes.
        let pluginNode = try required(top, "plugin", "name the plugin that reads the data (`kd-tool plugins`: \(registry.names.joined(separator: ", ")))")
        let pluginName = try pluginNode.string()
        guard let plugin = registry.plugins.first(where: { $0.name == pluginName }) else {
            throw pluginNode.error("no plugin named '\(pluginName)'; the plugins are: \(registry.names.joined(separator: ", "))")
        }
        let familyNode = take(top, "family")
        let familyName = try familyNode?.string() ?? plugin.defaults.family
        guard let family = plugin.families.first(where: { $0.name == familyName }) else {
            throw (familyNode ?? pluginNode).error("plugin \(pluginName) has no family '\(familyName)'; its families are: \(plugin.families.map(\.name).joined(separator: ", "))")
        }
        var c = StudyOptions.defaultConfig(plugin: plugin, family: family)

        let dataNode = try required(top, "data", "the dataset file or folder (relative to this file)")
        let data = try dataNode.string()
        var given: [String: String] = [:]
        if let o = take(top, "options") {
            let m = try o.mapping()
            let known = plugin.options.map(\.name)
            for k in m.keys {
                guard known.contains(k) else {
                    throw m.owner.error("plugin \(pluginName) has no option '\(k)'; its options are: \(known.isEmpty ? "none" : known.joined(separator: ", "))", key: "options.\(k)")
                }
                given[k] = try take(m, k).map { try $0.string() } ?? ""
            }
            try m.finish()
        }
        let options: [String: String]
        do { options = try plugin.resolveOptions(given) } catch { throw (take(top, "options") ?? dataNode).error("\(error)") }
        let output = try take(top, "output")?.string()
            ?? "kd-runs/experiments/" + URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent

        if let n = take(top, "tap") { c.tap = try n.string() }
        if let n = take(top, "distill-at") { c.distillationTap = try n.string() }
        if let n = take(top, "analysed-inputs") { c.analysedInputs = try n.int() }
        if let n = take(top, "analyse-teacher") { c.analyseTeacher = try n.bool() }

        if let t = take(top, "teacher") {
            let m = try t.mapping()
            if let n = take(m, "width") { c.teacherWidth = try n.double() }
            if let n = take(m, "epochs") { c.teacherEpochs = try n.int() }
            if let n = take(m, "source") { c.teacherSource = try readSource(n) }
            try m.finish()
        }
        if let s = take(top, "student") {
            let m = try s.mapping()
            if let n = take(m, "width") { c.studentWidth = try n.double() }
            if let n = take(m, "epochs") { c.studentEpochs = try n.int() }
            if let n = take(m, "stage2-epochs") { c.studentStage2Epochs = try n.int() }
            if let n = take(m, "data-fraction") { c.studentDataFraction = try n.double() }
            try m.finish()
        }
        if let b = take(top, "baseline") {
            let m = try b.mapping()
            if let n = take(m, "epochs") { c.baselineEpochs = try n.int() }
            try m.finish()
        }
        if let t = take(top, "training") {
            let m = try t.mapping()
            if let n = take(m, "batch-size") { c.batchSize = try n.int() }
            if let n = take(m, "learning-rate") { c.learningRate.base = try n.double() }
            if let n = take(m, "warmup-epochs") { c.learningRate.warmupEpochs = try n.int() }
            if let n = take(m, "decay") { c.learningRate.decay = try readDecay(n) }
            if let n = take(m, "optimizer") { c.optimizer = try readOptimizer(n) }
            try m.finish()
        }
        if let n = take(top, "checkpoints") { c.checkpoints = try readCheckpoints(n) }
        if let n = take(top, "methods") {
            c.methods = try n.sequence().map { try readMethod($0, marks: &marks) }
        }
        var seeds = [c.seed]
        if let n = take(top, "seeds") {
            seeds = try n.list().map { s in
                let v = try s.int()
                guard v >= 0 else { throw s.error("a seed must be ≥ 0, got \(v)") }
                return UInt64(v)
            }
            guard !seeds.isEmpty else { throw n.error("give at least one seed") }
            guard Set(seeds).count == seeds.count else { throw n.error("a seed appears twice: \(seeds)") }
            c.seed = seeds[0]
        }
        if let e = take(top, "entropy") { try readEntropy(e, into: &c.entropy) }
        if let e = take(top, "metrics") { try readMetrics(e, into: &c.metrics) }
        var sweeps: [Sweep] = []
        if let s = take(top, "sweeps") {
            for (i, item) in try s.sequence().enumerated() {
                let m = try item.mapping()
                var sweep = Sweep(name: try take(m, "name")?.string() ?? "sweep\(i + 1)")
                if let n = take(m, "threshold") { sweep.thresholds = try n.list().map { try $0.double() } }
                if let n = take(m, "teacher-width") { sweep.teacherWidths = try n.list().map { try $0.double() } }
                if let n = take(m, "data-fraction") { sweep.dataFractions = try n.list().map { try $0.double() } }
                if let n = take(m, "options") {
                    let om = try n.mapping()
                    for k in om.keys {
                        guard plugin.options.contains(where: { $0.name == k }) else {
                            throw om.owner.error("plugin \(pluginName) has no option '\(k)'; its options are: \(plugin.options.map(\.name).joined(separator: ", "))", key: "\(om.owner.path).\(k)")
                        }
                        sweep.options.append(.init(name: k, values: try take(om, k)!.list().map { try $0.string() }))
                    }
                    try om.finish()
                }
                try m.finish()
                if sweep.points.count <= 1 && sweep.points.first?.label == "" {
                    throw item.error("a sweep needs at least one of: threshold, teacher-width, data-fraction, options")
                }
                sweeps.append(sweep)
            }
        }
        try top.finish()

        // One spelling per setting: a layer equal to the default (the distillation tap) is stored as the default,
        // so a resolved file (which writes every default out) names the same run as the file it came from.
        let at = c.effectiveDistillationTap
        if c.distillationTap == c.tap { c.distillationTap = nil }
        c.methods = c.methods.map { m in
            switch m {
            case let .featureDistillation(l) where l == at: return .featureDistillation(layer: nil)
            case let .fitNets(sl, tl, t, b): return .fitNets(studentLayer: sl == at ? nil : sl, teacherLayer: tl == at ? nil : tl, temperature: t, beta: b)
            case let .attentionTransfer(p, b) where p == [LayerPair(student: at, teacher: at)]: return .attentionTransfer(pairs: nil, beta: b)
            default: return m
            }
        }
        var experiment = Experiment(plugin: pluginName, data: data, options: options, output: output, seeds: seeds,
                                    config: c, sweeps: sweeps, marks: marks, file: file)
        try experiment.checkSettings()
        experiment.marks = marks
        return experiment
    }

    private static func readSource(_ n: YNode) throws -> NetworkSource {
        if n.isScalar {
            guard try n.string() == "scratch" else { throw n.error("expected scratch, {fine-tune: FILE} or {pretrained: FILE}") }
            return .scratch
        }
        let m = try n.mapping()
        defer { _ = try? m.finish() }
        if let f = m.take("fine-tune") { try m.finish(); return .fineTuned(path: path(try f.string(), relativeTo: n.file)) }
        if let f = m.take("pretrained") { try m.finish(); return .trained(path: path(try f.string(), relativeTo: n.file)) }
        try m.finish()
        throw n.error("expected scratch, {fine-tune: FILE} or {pretrained: FILE}")
    }

    private static func readDecay(_ n: YNode) throws -> LearningRateSchedule.Decay {
        if n.isScalar {
            guard try n.string() == "constant" else { throw n.error("expected constant, {step: {every, gamma}} or {cosine: {floor}}") }
            return .constant
        }
        let m = try n.mapping()
        if let s = m.take("step") {
            let sm = try s.mapping()
            let every = try sm.take("every")?.int() ?? 10, gamma = try sm.take("gamma")?.double() ?? 0.1
            try sm.finish(); try m.finish()
            return .step(everyEpochs: every, gamma: gamma)
        }
        if let s = m.take("cosine") {
            let sm = try s.mapping()
            let floor = try sm.take("floor")?.double() ?? 0
            try sm.finish(); try m.finish()
            return .cosine(floor: floor)
        }
        try m.finish()
        throw n.error("expected constant, {step: {every, gamma}} or {cosine: {floor}}")
    }

    private static func readOptimizer(_ n: YNode) throws -> OptimizerSettings {
        let kind: String, settings: YMapping?
        if n.isScalar { kind = try n.string(); settings = nil } else {
            let m = try n.mapping()
            guard m.keys.count == 1, let k = m.keys.first else { throw n.error("expected one of sgd, adam (optionally with settings)") }
            kind = k
            settings = try m.take(k).map { try $0.mapping() }
            try m.finish()
        }
        switch kind {
        case "sgd":
            let r = try (settings?.take("momentum")?.double() ?? 0.9, settings?.take("weight-decay")?.double() ?? 1e-4,
                         settings?.take("nesterov")?.bool() ?? false)
            try settings?.finish()
            return .sgd(momentum: r.0, weightDecay: r.1, nesterov: r.2)
        case "adam":
            let r = try (settings?.take("beta1")?.double() ?? 0.9, settings?.take("beta2")?.double() ?? 0.999,
                         settings?.take("epsilon")?.double() ?? 1e-8, settings?.take("weight-decay")?.double() ?? 0)
            try settings?.finish()
            return .adam(beta1: r.0, beta2: r.1, epsilon: r.2, weightDecay: r.3)
        default:
            throw n.error("'\(kind)' is not an optimiser; the optimisers are: sgd, adam")
        }
    }

    private static func readCheckpoints(_ n: YNode) throws -> CheckpointSchedule {
        if n.isSequence { return .explicit(try n.sequence().map { try $0.int() }) }
        if n.isScalar {
            return try n.choice([("paper", CheckpointSchedule.paper), ("every-epoch", .everyEpoch)])
        }
        let m = try n.mapping()
        let upTo = try m.take("dense-up-to")?.int() ?? 10, every = try m.take("then-every")?.int() ?? 5
        try m.finish()
        return .dense(upTo: upTo, thenEvery: every)
    }

    private static func readMethod(_ n: YNode, marks: inout [String: Mark]) throws -> DistillationMethod {
        let id: String, settings: YMapping?
        if n.isScalar { id = try n.string(); settings = nil } else {
            let m = try n.mapping()
            guard m.keys.count == 1, let k = m.keys.first else {
                throw n.error("a method is its name, or one key (its name) with its settings; the methods are: \(DistillationMethod.ids.joined(separator: ", "))")
            }
            id = k
            settings = try m.take(k).map { try $0.mapping() }
        }
        func number(_ key: String, _ d: Double) throws -> Double { try settings?.take(key)?.double() ?? d }
        func text(_ key: String) throws -> String? { try settings?.take(key)?.string() }
        let method: DistillationMethod
        switch id {
        case "feature":
            method = .featureDistillation(layer: try text("layer"))
        case "hinton":
            method = .hinton(temperature: try number("temperature", DistillationMethod.defaultTemperature),
                             beta: try number("beta", DistillationMethod.defaultBeta))
        case "fitnets":
            method = .fitNets(studentLayer: try text("student-layer"), teacherLayer: try text("teacher-layer"),
                              temperature: try number("temperature", DistillationMethod.defaultTemperature),
                              beta: try number("beta", DistillationMethod.defaultBeta))
        case "attention":
            let pairs = try settings?.take("pairs")?.sequence().map { p -> LayerPair in
                if p.isScalar { let s = try p.string(); return LayerPair(student: s, teacher: s) }
                let pm = try p.mapping()
                let s = try pm.take("student")?.string(), t = try pm.take("teacher")?.string()
                try pm.finish()
                guard let s else { throw p.error("a pair needs 'student' (and 'teacher', default the same layer)") }
                return LayerPair(student: s, teacher: t ?? s)
            }
            method = .attentionTransfer(pairs: pairs, beta: try number("beta", DistillationMethod.defaultAttentionBeta))
        case "fsp":
            guard let pn = settings?.take("pairs") else { throw n.error("fsp needs pairs: [{from: LAYER, to: LAYER}, …]", key: n.path + ".fsp.pairs") }
            method = .flowOfSolution(pairs: try pn.sequence().map { p in
                let pm = try p.mapping()
                let f = try pm.take("from")?.string(), t = try pm.take("to")?.string()
                try pm.finish()
                guard let f, let t else { throw p.error("a pair needs 'from' and 'to' (two layers of the same spatial size)") }
                return FlowPair(from: f, to: t)
            })
        case "mutual":
            method = .mutualLearning(peers: try settings?.take("peers")?.int() ?? 1)
        case "fine-tune":
            guard let w = try text("weights") else { throw n.error("fine-tune needs weights: FILE (safetensors)", key: n.path + ".fine-tune.weights") }
            method = .fineTuning(weights: path(w, relativeTo: n.file))
        default:
            throw n.error("'\(id)' is not a method; the methods are: \(DistillationMethod.ids.joined(separator: ", "))")
        }
        try settings?.finish()
        if let s = settings, let mark = s.owner.node.mark { marks[n.path + "." + id] = mark }
        if let mark = n.node.mark { marks[n.path] = mark }
        // Hyper-parameter ranges, reported at the key.
        if let problem = method.problems.first, let key = problem.split(separator: " ").first {
            let field = String(key).split(separator: ".").dropFirst().joined(separator: ".")
            let at = settings?.pairs.first { $0.0 == field }?.2
            throw n.error(problem, at: at, key: n.path + "." + String(key))
        }
        return method
    }

    private static func readEntropy(_ n: YNode, into e: inout EntropySettings) throws {
        let m = try n.mapping()
        if let v = m.take("sigma-param") { e.parameterization = try v.choice(EntropySettings.Parameterization.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("steps") { e.steps = try v.int() }
        if let v = m.take("noise-samples") { e.noiseSamples = try v.int() }
        if let v = m.take("alpha") { e.alpha = Float(try v.double()) }
        if let v = m.take("learning-rate") { e.learningRate = Float(try v.double()) }
        if let v = m.take("initial-sigma") { e.initialSigma = Float(try v.double()) }
        if let v = m.take("sigma-min") { e.sigmaMin = Float(try v.double()) }
        if let v = m.take("sigma-max") { e.sigmaMax = Float(try v.double()) }
        if let v = m.take("tau") { e.tau = Float(try v.double()) }
        if let v = m.take("tau-relative") { e.tauScale = try v.bool() ? .inputStandardDeviation : .absolute }
        if let v = m.take("feature-transform") { e.featureTransform = try v.choice(EntropySettings.FeatureTransform.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("reduction") { e.reduction = try v.choice(EntropySettings.Reduction.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("seed") { e.seed = UInt64(max(0, try v.int())) }
        if let v = m.take("flat-tolerance") { e.flatTolerance = try v.double() }
        if let v = m.take("pinning") {
            if v.isScalar {
                guard try v.bool() == false else { throw v.error("pinning is false (off) or a mapping {target, check-step, alpha-factor, tolerance}") }
                e.pinning = nil
            } else {
                let pm = try v.mapping()
                var p = e.pinning ?? .init()
                if let x = pm.take("target") { p.target = try x.double() }
                if let x = pm.take("check-step") { p.checkStep = try x.int() }
                if let x = pm.take("alpha-factor") { p.alphaFactor = Float(try x.double()) }
                if let x = pm.take("tolerance") { p.tolerance = try x.double() }
                try pm.finish()
                e.pinning = p
            }
        }
        try m.finish()
    }

    private static func readMetrics(_ n: YNode, into s: inout MetricSettings) throws {
        let m = try n.mapping()
        if let v = m.take("threshold") { s.threshold = try v.double() }
        if let v = m.take("baseline-entropy") { s.baselineEntropy = try v.choice(BaselineEntropy.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("weight-distance") { s.weightDistance = try v.choice(WeightDistanceDefinition.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("weight-scope") { s.weightScope = try v.choice(WeightScope.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("rho-include-initial") { s.rhoIncludesInitial = try v.bool() }
        if let v = m.take("rho-empty-union") { s.rhoEmptyUnion = try v.choice(EmptyUnionConvention.allCases.map { ($0.rawValue, $0) }) }
        if let v = m.take("filter-from-epoch") { s.effectiveFilter = EffectiveInputFilter(fromEpoch: try v.int()) }
        if let v = m.take("final-epoch") { s.finalEpoch = try v.int() }
        if let v = m.take("bootstrap") { s.bootstrapReplicates = try v.int() }
        if let v = m.take("bootstrap-seed") { s.bootstrapSeed = UInt64(max(0, try v.int())) }
        try m.finish()
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

    // MARK: - Writing the resolved experiment

    func resolvedYAML() throws -> String {
        let c = config
        func source(_ s: NetworkSource) -> YOut {
            switch s {
            case .scratch: return .scalar("scratch")
            case let .fineTuned(p): return .map([("fine-tune", .quoted(p))])
            case let .trained(p): return .map([("pretrained", .quoted(p))])
            }
        }
        func decay(_ d: LearningRateSchedule.Decay) -> YOut {
            switch d {
            case .constant: return .scalar("constant")
            case let .step(e, g): return .map([("step", .map([("every", .int(e)), ("gamma", .number(g))]))])
            case let .cosine(f): return .map([("cosine", .map([("floor", .number(f))]))])
            }
        }
        func optimizer(_ o: OptimizerSettings) -> YOut {
            switch o {
            case let .sgd(m, w, n): return .map([("sgd", .map([("momentum", .number(m)), ("weight-decay", .number(w)), ("nesterov", .bool(n))]))])
            case let .adam(b1, b2, e, w):
                return .map([("adam", .map([("beta1", .number(b1)), ("beta2", .number(b2)), ("epsilon", .number(e)), ("weight-decay", .number(w))]))])
            }
        }
        func checkpoints(_ s: CheckpointSchedule) -> YOut {
            switch s {
            case let .dense(u, e): return .map([("dense-up-to", .int(u)), ("then-every", .int(e))])
            case let .explicit(l): return .list(l.map(YOut.int))
            }
        }
        func method(_ m: DistillationMethod) -> YOut {
            let settings: [(String, YOut)]
            switch m {
            case let .featureDistillation(l): settings = [("layer", .scalar(l ?? c.effectiveDistillationTap))]
            case let .hinton(t, b): settings = [("temperature", .number(t)), ("beta", .number(b))]
            case let .fitNets(s, t, temp, b):
                settings = [("student-layer", .scalar(s ?? c.effectiveDistillationTap)), ("teacher-layer", .scalar(t ?? c.effectiveDistillationTap)),
                            ("temperature", .number(temp)), ("beta", .number(b))]
            case let .attentionTransfer(p, b):
                let pairs = p ?? [LayerPair(student: c.effectiveDistillationTap, teacher: c.effectiveDistillationTap)]
                settings = [("pairs", .list(pairs.map { .map([("student", .scalar($0.student)), ("teacher", .scalar($0.teacher))]) })), ("beta", .number(b))]
            case let .flowOfSolution(p): settings = [("pairs", .list(p.map { .map([("from", .scalar($0.from)), ("to", .scalar($0.to))]) }))]
            case let .mutualLearning(n): settings = [("peers", .int(n))]
            case let .fineTuning(w): settings = [("weights", .quoted(w))]
            }
            return .map([(m.id, .map(settings))])
        }
        let e = c.entropy, m = c.metrics
        var entropy: [(String, YOut)] = [
            ("sigma-param", .scalar(e.parameterization.rawValue)), ("steps", .int(e.steps)), ("noise-samples", .int(e.noiseSamples)),
            ("alpha", .number(Double(e.alpha))), ("learning-rate", .number(Double(e.effectiveLearningRate))),
            ("initial-sigma", .number(Double(e.initialSigma))), ("sigma-min", .number(Double(e.sigmaMin))), ("sigma-max", .number(Double(e.sigmaMax))),
            ("tau", .number(Double(e.tau))), ("tau-relative", .bool(e.tauScale == .inputStandardDeviation)),
            ("feature-transform", .scalar(e.featureTransform.rawValue)), ("reduction", .scalar(e.reduction.rawValue)),
            ("seed", .int(Int(e.seed))), ("flat-tolerance", .number(e.flatTolerance)),
        ]
        if let p = e.pinning {
            entropy.append(("pinning", .map([("target", .number(p.target)), ("check-step", .int(p.checkStep)),
                                             ("alpha-factor", .number(Double(p.alphaFactor))), ("tolerance", .number(p.tolerance))])))
        } else { entropy.append(("pinning", .bool(false))) }
        var metrics: [(String, YOut)] = [
            ("threshold", .number(m.threshold)), ("baseline-entropy", .scalar(m.baselineEntropy.rawValue)),
            ("weight-distance", .scalar(m.weightDistance.rawValue)), ("weight-scope", .scalar(m.weightScope.rawValue)),
            ("rho-include-initial", .bool(m.rhoIncludesInitial)), ("rho-empty-union", .scalar(m.rhoEmptyUnion.rawValue)),
            ("bootstrap", .int(m.bootstrapReplicates)), ("bootstrap-seed", .int(Int(m.bootstrapSeed))),
        ]
        if let f = m.effectiveFilter { metrics.append(("filter-from-epoch", .int(f.fromEpoch))) }
        if let f = m.finalEpoch { metrics.append(("final-epoch", .int(f))) }
        var top: [(String, YOut)] = [
            ("plugin", .scalar(plugin)), ("data", .quoted(dataPath)),
            ("options", .map(options.sorted { $0.key < $1.key }.map { ($0.key, .quoted($0.value)) })),
            ("output", .quoted(output.hasPrefix("/") ? output : URL(fileURLWithPath: output).standardizedFileURL.path)), ("family", .scalar(c.family)), ("tap", .scalar(c.tap)),
            ("distill-at", .scalar(c.effectiveDistillationTap)),
            ("teacher", .map([("width", .number(c.teacherWidth)), ("epochs", .int(c.teacherEpochs)), ("source", source(c.teacherSource))])),
            ("student", .map([("width", .number(c.studentWidth)), ("epochs", .int(c.studentEpochs)),
                              ("stage2-epochs", .int(c.studentStage2Epochs)), ("data-fraction", .number(c.studentDataFraction))])),
            ("baseline", .map([("epochs", .int(c.baselineEpochs))])),
            ("training", .map([("batch-size", .int(c.batchSize)), ("learning-rate", .number(c.learningRate.base)),
                               ("warmup-epochs", .int(c.learningRate.warmupEpochs)), ("decay", decay(c.learningRate.decay)),
                               ("optimizer", optimizer(c.optimizer))])),
            ("checkpoints", checkpoints(c.checkpoints)),
            ("methods", .list(c.methods.map(method))),
            ("seeds", .list(seeds.map { .int(Int($0)) })),
            ("analysed-inputs", .int(c.analysedInputs)), ("analyse-teacher", .bool(c.analyseTeacher)),
            ("entropy", .map(entropy)), ("metrics", .map(metrics)),
        ]
        if !sweeps.isEmpty {
            top.append(("sweeps", .list(sweeps.map { s in
                var items: [(String, YOut)] = [("name", .scalar(s.name))]
                if !s.options.isEmpty { items.append(("options", .map(s.options.map { ($0.name, .list($0.values.map(YOut.quoted))) }))) }
                if !s.teacherWidths.isEmpty { items.append(("teacher-width", .list(s.teacherWidths.map(YOut.number)))) }
                if !s.dataFractions.isEmpty { items.append(("data-fraction", .list(s.dataFractions.map(YOut.number)))) }
                if !s.thresholds.isEmpty { items.append(("threshold", .list(s.thresholds.map(YOut.number)))) }
                return .map(items)
            })))
        }
        return "# The resolved experiment: every setting, defaults filled in (Docs/Methods.md). Running this file\n"
            + "# again reproduces the numbers.\n" + (try YOut.map(top).yaml())
    }
}
