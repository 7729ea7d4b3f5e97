import ArgumentParser
import Foundation
import KDCore

extension EntropySettings.Parameterization: ExpressibleByArgument {}
extension EntropySettings.FeatureTransform: ExpressibleByArgument {}
extension EntropySettings.Reduction: ExpressibleByArgument {}
extension EntropySettings.Precision: ExpressibleByArgument {}
extension BaselineEntropy: ExpressibleByArgument {}
extension WeightDistanceDefinition: ExpressibleByArgument {}
extension WeightScope: ExpressibleByArgument {}
extension EmptyUnionConvention: ExpressibleByArgument {}

/// Every setting of a study (Method.md §2–6), shared by `analyze` and `quickstart`. Unset options keep the
/// command's defaults; every value used is printed with the results and stored in study.json.
struct StudyOptions: ParsableArguments {
    // MARK: networks and training
    @Option(help: "Model family (see `kd-tool plugins`).") var family: String?
    @Option(help: "The analysed layer, also where the student is distilled (default: the family's first tap; see `kd-tool plugins`).") var tap: String?
    @Option(help: "Distil the student at this layer instead of the analysed tap (to analyse a layer above the distilled one).") var distillAt: String?
    @Option(help: "Channel-width factor of the teacher.") var teacherWidth: Double?
    @Option(help: "Channel-width factor of the student and baseline (smaller than the teacher's gives a Table-2 style student; an adapter is added where the tap shapes differ).") var studentWidth: Double?
    @Option(help: "Teacher epochs (the teacher trains longer and on all training data).") var teacherEpochs: Int?
    @Option(help: "Student stage-1 epochs (feature loss at the tap).") var studentEpochs: Int?
    @Option(help: "Student stage-2 epochs (cross-entropy above the frozen tap).") var stage2Epochs: Int?
    @Option(help: "Baseline epochs (cross-entropy from scratch).") var baselineEpochs: Int?
    @Option(help: "Fraction of the training split the student and baseline see.") var studentDataFraction: Double?
    @Option(help: "Mini-batch size.") var batchSize: Int?
    @Option(help: "Learning rate of SGD (momentum 0.9, weight decay 1e-4, as the paper).") var learningRate: Double?
    @Option(help: "Checkpoints: dense up to this epoch, then every --checkpoint-every epochs (authors: 10 and 5).") var checkpointDenseUpTo: Int?
    @Option(help: "Checkpoint spacing after the dense part.") var checkpointEvery: Int?
    @Option(help: "Seed of initialisation, shuffling and subsets (the first seed with --seeds).") var seed: UInt64?
    @Option(help: "Independent seed sets (teacher, student and baseline each): seeds S, S+1, …, S+N−1 from --seed S, each in OUTPUT/seed-N/; the table shows mean ± sd over seeds and paired S − B statistics (Docs/Method.md §10).")
    var seeds: Int?
    @Option(help: "Analyse these trained students instead of training them: a folder of epoch-N.safetensors checkpoints (the trajectory, so D and ρ can be measured) or one safetensors file.")
    var studentWeights: String?
    @Option(help: "Analyse this trained baseline instead of training it (a folder of epoch-N.safetensors or one file).")
    var baselineWeights: String?

    // MARK: entropy engine (Method.md §2)
    @Option(help: "Number of analysed test inputs, taken class by class in turn so every class appears.") var inputs: Int?
    @Option(help: "The entropy estimator: authors (direct σ, SGD lr 1e-4, clamp, K = 96, T = 80, pinning with early stop at 59) or fast (log σ, Adam lr 0.01, K = 16, T = 100, same pinning); the options below change single settings of it.")
    var estimator: Estimator?
    @Flag(help: "After the study, compute every map again with the other estimator on the same inputs and checkpoints and print the agreement (Spearman per map) and both estimators' rows (estimators.txt).")
    var compareEstimators = false
    @Option(help: "Precision of the σ step's convolutions: fp32 (default) or bf16 (bfloat16 inputs, float32 sums, oneDNN's direct kernels; only on CPUs with AVX512_BF16 or AMX; Docs/Benchmarks.md \"bfloat16\").")
    var precision: EntropySettings.Precision?
    @Flag(help: "After the study, compute every map again in bf16 on the same inputs and checkpoints and print the agreement with the fp32 maps (Spearman per map) and both rows (precision.txt, precision.csv).")
    var comparePrecision = false
    @Option(help: "σ parameterisation: direct (authors' code: SGD, clamp) or log (Adam on log σ).") var sigmaParam: EntropySettings.Parameterization?
    @Option(help: "σ optimisation steps T.") var steps: Int?
    @Option(help: "Noise samples K per step.") var noiseSamples: Int?
    @Option(help: "Entropy weight α (default: the family's or the plugin's; see `kd-tool plugins`).") var alpha: Float?
    @Option(help: "Learning rate of σ (default 1e-4 for direct, 0.01 for log).") var sigmaLearningRate: Float?
    @Option(help: "τ of δ_f², in normalised input units.") var tau: Float?
    @Option(help: "φ applied to the tap output: identity or relu (authors' code).") var featureTransform: EntropySettings.FeatureTransform?
    @Option(help: "R over units: mean (authors' code) or sum (paper's equation).") var reduction: EntropySettings.Reduction?
    @Option(help: "Entropy-pinning target mean H in nats (authors: −2.8).") var pinTarget: Double?
    @Option(help: "Step at which α is raised ×1.5 if the target was not yet exceeded (authors: 59).") var pinStep: Int?
    @Flag(help: "Turn entropy pinning off (the final σ is returned).") var noPinning = false

    // MARK: metrics (Method.md §3–5)
    @Option(help: "Knowledge-point threshold b in nats (default: the plugin's or family's).") var threshold: Double?
    @Option(help: "H̄: per-input or dataset-level (authors' code).") var baselineEntropy: BaselineEntropy?
    @Option(help: "Weight distance: epoch (paper) or path (authors' code, logged steps).") var weightDistance: WeightDistanceDefinition?
    @Option(help: "Weight scope: tap-weight (authors' code) or up-to-tap.") var weightScope: WeightScope?
    @Flag(help: "Include checkpoint 0 in ρ's union (authors' code).") var rhoIncludeInitial = false
    @Option(help: "ρ for an empty union: undefined (counted) or zero (authors' code).") var rhoEmptyUnion: EmptyUnionConvention?
    @Option(help: "Effective-input filter from this epoch on (authors' code; off by default; dropped inputs are counted).") var filterFromEpoch: Int?
    @Option(help: "Bootstrap resamples for the 95 % intervals.") var bootstrap: Int?

    /// A study of family `f` with the plugin's and the family's defaults (b, α, τ, σ₀, σ range, K, T, target).
    static func defaultConfig(plugin: ModalityPlugin, family f: ModelFamily) -> StudyConfig {
        var c = StudyConfig(family: f.name, tap: f.taps[0])
        c.entropy = plugin.defaults.entropySettings(c.entropy)
        c.entropy.alpha = f.alpha ?? plugin.defaults.alpha
        c.metrics.threshold = f.threshold ?? plugin.defaults.threshold
        return c
    }

    /// Applies the options given on the command line to `c`, leaving the others.
    func apply(to c: inout StudyConfig, plugin: ModalityPlugin, family f: ModelFamily) {
        c.family = f.name
        c.tap = tap ?? c.tap
        if let v = distillAt { c.distillationTap = v }
        if let v = teacherWidth { c.teacherWidth = v }
        if let v = studentWidth { c.studentWidth = v }
        if let v = teacherEpochs { c.teacherEpochs = v }
        if let v = studentEpochs { c.studentEpochs = v }
        if let v = stage2Epochs { c.studentStage2Epochs = v }
        if let v = baselineEpochs { c.baselineEpochs = v }
        if let v = studentDataFraction { c.studentDataFraction = v }
        if let v = batchSize { c.batchSize = v }
        if let v = learningRate { c.learningRate = .constant(v) }
        if checkpointDenseUpTo != nil || checkpointEvery != nil {
            c.checkpoints = .dense(upTo: checkpointDenseUpTo ?? 10, thenEvery: checkpointEvery ?? 5)
        }
        if let v = seed { c.seed = v }
        if let v = inputs { c.analysedInputs = v }
        if let v = estimator { c.entropy = v.settings(from: c.entropy) }
        var trained = c.trainedWeights ?? [:]
        if let p = studentWeights { trained[Study.networkName(c.methods[0], config: c)] = absolute(p) }
        if let p = baselineWeights { trained["baseline"] = absolute(p) }
        if !trained.isEmpty { c.trainedWeights = trained }
        if let v = sigmaParam { c.entropy.parameterization = v }
        if let v = precision { c.entropy.precision = v == .bfloat16 ? .bfloat16 : nil }
        if let v = steps { c.entropy.steps = v }
        if let v = noiseSamples { c.entropy.noiseSamples = v }
        if let v = alpha { c.entropy.alpha = v }
        if let v = sigmaLearningRate { c.entropy.learningRate = v }
        if let v = tau { c.entropy.tau = v }
        if let v = featureTransform { c.entropy.featureTransform = v }
        if let v = reduction { c.entropy.reduction = v }
        if noPinning { c.entropy.pinning = nil } else if pinTarget != nil || pinStep != nil {
            var p = c.entropy.pinning ?? .init()
            if let t = pinTarget { p.target = t }
            if let s = pinStep { p.checkStep = s }
            c.entropy.pinning = p
        }
        if let v = threshold { c.metrics.threshold = v }
        if let v = baselineEntropy { c.metrics.baselineEntropy = v }
        if let v = weightDistance { c.metrics.weightDistance = v }
        if let v = weightScope { c.metrics.weightScope = v }
        if rhoIncludeInitial { c.metrics.rhoIncludesInitial = true }
        if let v = rhoEmptyUnion { c.metrics.rhoEmptyUnion = v }
        if let v = filterFromEpoch { c.metrics.effectiveFilter = EffectiveInputFilter(fromEpoch: v) }
        if let v = bootstrap { c.metrics.bootstrapReplicates = v }
    }

    /// The seeds of the run: `base`, base + 1, … (`--seeds` of them, else `count`).
    func seedList(base: UInt64, default count: Int = 1) -> [UInt64] { (0..<UInt64(seeds ?? count)).map { base &+ $0 } }

    private func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

    func validate() throws {
        for (name, p) in [("student-weights", studentWeights), ("baseline-weights", baselineWeights)] {
            if let p, !FileManager.default.fileExists(atPath: p) {
                throw ValidationError("--\(name) \(p): no such file or folder (give a folder of epoch-N.safetensors checkpoints or one safetensors file)")
            }
        }
        for (name, v) in [("teacher-epochs", teacherEpochs), ("student-epochs", studentEpochs), ("stage2-epochs", stage2Epochs),
                          ("baseline-epochs", baselineEpochs), ("batch-size", batchSize), ("inputs", inputs), ("seeds", seeds),
                          ("steps", steps), ("noise-samples", noiseSamples)] {
            if let v, v < 1 { throw ValidationError("--\(name) must be at least 1, got \(v)") }
        }
        if let f = studentDataFraction, !(f > 0 && f <= 1) {
            throw ValidationError("--student-data-fraction must be in (0, 1], got \(f)")
        }
    }
}
