import Foundation
import KDCore

extension Experiment {
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
        var student: [(String, YOut)] = [("width", .number(c.studentWidth)), ("epochs", .int(c.studentEpochs)),
                                         ("stage2-epochs", .int(c.studentStage2Epochs)), ("data-fraction", .number(c.studentDataFraction))]
        if c.methods.count == 1, let p = c.trainedWeights?[Study.networkName(c.methods[0], config: c)] { student.append(("weights", .quoted(p))) }
        var baseline: [(String, YOut)] = [("epochs", .int(c.baselineEpochs))]
        if let p = c.trainedWeights?["baseline"] { baseline.append(("weights", .quoted(p))) }
        let e = c.entropy, m = c.metrics
        var entropy: [(String, YOut)] = [
            ("sigma-param", .scalar(e.parameterization.rawValue)), ("steps", .int(e.steps)), ("noise-samples", .int(e.noiseSamples)),
            ("alpha", .number(Double(e.alpha))), ("learning-rate", .number(Double(e.effectiveLearningRate))),
            ("initial-sigma", .number(Double(e.initialSigma))), ("sigma-min", .number(Double(e.sigmaMin))), ("sigma-max", .number(Double(e.sigmaMax))),
            ("tau", .number(Double(e.tau))), ("tau-relative", .bool(e.tauScale == .inputStandardDeviation)),
            ("feature-transform", .scalar(e.featureTransform.rawValue)), ("reduction", .scalar(e.reduction.rawValue)),
            ("seed", .int(Int(e.seed))), ("flat-tolerance", .number(e.flatTolerance)),
            ("precision", .scalar((e.precision ?? .float32).rawValue)),
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
            ("student", .map(student)),
            ("baseline", .map(baseline)),
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
