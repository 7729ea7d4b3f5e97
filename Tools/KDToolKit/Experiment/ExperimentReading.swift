import Foundation
import KDCore
import Yams

/// Reading an experiment file (Docs/Methods.md "Experiment files"): strict keys, typed values, errors at
/// line:column.
extension Experiment {
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
        // Networks trained elsewhere, analysed only (StudyConfig.trainedWeights): student.weights, baseline.weights.
        var trained: [String: String] = [:]
        var studentWeights: (path: String, node: YNode)?
        if let s = take(top, "student") {
            let m = try s.mapping()
            if let n = take(m, "width") { c.studentWidth = try n.double() }
            if let n = take(m, "epochs") { c.studentEpochs = try n.int() }
            if let n = take(m, "stage2-epochs") { c.studentStage2Epochs = try n.int() }
            if let n = take(m, "data-fraction") { c.studentDataFraction = try n.double() }
            if let n = take(m, "weights") { studentWeights = (path(try n.string(), relativeTo: file), n) }
            try m.finish()
        }
        if let b = take(top, "baseline") {
            let m = try b.mapping()
            if let n = take(m, "epochs") { c.baselineEpochs = try n.int() }
            if let n = take(m, "weights") { trained["baseline"] = path(try n.string(), relativeTo: file) }
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
        // After the spelling above: the student's network name depends on whether methods is the default.
        if let sw = studentWeights {
            let p = sw.path
            guard c.methods.count == 1 else {
                throw sw.node.error("student.weights names one student's trained networks, but methods lists \(c.methods.count) (\(c.methods.map(\.id).joined(separator: ", "))); run one method per experiment to bring trained students")
            }
            trained[Study.networkName(c.methods[0], config: c)] = p
        }
        if !trained.isEmpty { c.trainedWeights = trained }
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
        if let v = m.take("precision") {
            let p = try v.choice(EntropySettings.Precision.allCases.map { ($0.rawValue, $0) })
            e.precision = p == .bfloat16 ? .bfloat16 : nil
        }
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

}
