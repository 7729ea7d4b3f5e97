import Foundation

// The vocabulary of training: the data protocol plugins implement, the recorded configuration, the
// modes, the errors, and what the trainer reports.

/// Samples for training, supplied by a plugin.
public protocol TrainingData {
    /// The number of samples.
    var count: Int { get }
    /// Writes samples `indices` into `x`, already resized to `[indices.count] + model.inputShape`, and
    /// their class labels into `labels`, which has `indices.count` entries to overwrite.
    func batch(_ indices: [Int], into x: Tensor, labels: inout [Int])
    /// Real lengths of samples `indices` along their first axis (padded samples), or nil when every sample
    /// fills its shape. The trainer hands them to the layers (``LayerContext/validLengths``).
    func lengths(_ indices: [Int]) -> [Int]?
    /// The (start, end) targets of samples `indices` for span tasks; nil for classification.
    func spans(_ indices: [Int]) -> [(start: Int, end: Int)]?
}

extension TrainingData {
    public func lengths(_ indices: [Int]) -> [Int]? { nil }
    public func spans(_ indices: [Int]) -> [(start: Int, end: Int)]? { nil }
}

/// Everything that decides a training run's result, recorded as JSON in every checkpoint's metadata.
///
/// Defaults are the paper's (Method.md §6): SGD with momentum 0.9 and weight decay 1e-4, batch 64, and
/// checkpoints after every epoch up to 10, then every 5th.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSettings
    public var learningRate: LearningRateSchedule
    /// Seeds the per-epoch shuffles and the dropout masks (not the initial weights, which the model has).
    public var seed: UInt64
    public var checkpoints: CheckpointSchedule
    /// Where checkpoints and logs go. Not compared when resuming, so a run's folder can be moved.
    public var outputFolder: String
    /// Feature distillation only: the epochs of stage 2 (nil: the same as `epochs`).
    public var stage2Epochs: Int?

    public init(epochs: Int, batchSize: Int = 64, optimizer: OptimizerSettings = .paper,
                learningRate: LearningRateSchedule = .constant(0.01), seed: UInt64 = 0,
                checkpoints: CheckpointSchedule = .paper, outputFolder: String, stage2Epochs: Int? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.seed = seed
        self.checkpoints = checkpoints
        self.outputFolder = outputFolder
        self.stage2Epochs = stage2Epochs
    }

    /// Throws ``TrainingError/invalidConfig(_:)`` listing every problem.
    public func validate() throws {
        var problems: [String] = []
        if epochs < 1 { problems.append("epochs must be ≥ 1, got \(epochs)") }
        if let e = stage2Epochs, e < 1 { problems.append("stage-2 epochs must be ≥ 1, got \(e)") }
        if batchSize < 1 { problems.append("the batch size must be ≥ 1, got \(batchSize)") }
        if outputFolder.isEmpty { problems.append("the output folder is empty") }
        problems += learningRate.problems
        problems += checkpoints.problems(total: max(epochs, stage2Epochs ?? 0))
        switch optimizer {
        case let .sgd(momentum, weightDecay, nesterov):
            if !(momentum >= 0 && momentum < 1) { problems.append("SGD momentum must be in [0, 1), got \(momentum)") }
            if !(weightDecay >= 0 && weightDecay.isFinite) { problems.append("weight decay must be finite and ≥ 0, got \(weightDecay)") }
            if nesterov && momentum == 0 { problems.append("Nesterov momentum needs momentum > 0") }
        case let .adam(beta1, beta2, epsilon, weightDecay):
            if !(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1) { problems.append("Adam's betas must be in [0, 1), got \(beta1), \(beta2)") }
            if !(epsilon > 0 && epsilon.isFinite) { problems.append("Adam's epsilon must be > 0, got \(epsilon)") }
            if !(weightDecay >= 0 && weightDecay.isFinite) { problems.append("weight decay must be finite and ≥ 0, got \(weightDecay)") }
        }
        if !problems.isEmpty { throw TrainingError.invalidConfig(problems) }
    }
}

/// What a run optimises.
public enum TrainingMode {
    /// Cross-entropy on the whole network.
    case scratch
    /// The paper's protocol (Method.md §6). Stage 1 trains the student's layers up to `studentTap` (and the
    /// adapter) with the mean squared error between adapter(f_S(x)) (or f_S(x)) and the teacher's
    /// `teacherTap` output, the teacher in inference mode; stage 2 freezes those layers (also in inference
    /// mode, so BatchNorm statistics stay put) and trains the layers above with cross-entropy.
    case featureDistillation(teacher: Model, teacherTap: String, studentTap: String, adapter: Layer?)
    /// Hinton et al.'s loss `(1 − β)·CE + β·T²·KL(softmax(t/T) ‖ softmax(s/T))` on the whole network.
    case hinton(teacher: Model, temperature: Float, beta: Float)
    /// FitNets (Docs/Methods.md): stage 1 as feature distillation from the student's `studentLayer` to the
    /// teacher's `teacherLayer` (through `adapter`, the regressor), training the student up to that layer;
    /// stage 2 Hinton KD with (`temperature`, `beta`) on the whole network (nothing frozen).
    case fitNets(teacher: Model, teacherLayer: String, studentLayer: String, adapter: Layer?, temperature: Float, beta: Float)
    /// Attention transfer: `CE + (β/2) Σ_pairs Loss.attentionTransfer(student, teacher)` on the whole network.
    case attentionTransfer(teacher: Model, pairs: [LayerPair], beta: Float)
    /// FSP: stage 1 trains the student up to its deepest pair layer with `Σ_pairs Loss.flowMatching` (weight
    /// 1/(C1·C2): the mean over matrix entries); stage 2
    /// trains the whole network with cross-entropy.
    case flowOfSolution(teacher: Model, pairs: [FlowPair])
    /// Deep mutual learning: the model and `peers` (same input and classes) trained together, each with
    /// ``Loss/mutual(logits:peers:labels:gradient:)``; checkpoints hold the model (the peers' weights are in
    /// the state files, so a run resumes exactly).
    case mutualLearning(peers: [Model])
    /// Cross-entropy from the model's current weights, which the caller loaded from `source` (recorded).
    case fineTuning(source: String)
}

/// Errors a user's settings or data can cause during training.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    public struct Difference: Equatable, Sendable {
        public var setting: String
        public var recorded: String
        public var requested: String
    }

    case invalidConfig([String])
    /// The output folder holds a run with other settings.
    case configMismatch(folder: String, differences: [Difference])
    case emptyData
    /// The teacher's tap output and the (adapted) student's tap output differ in shape.
    case tapShapeMismatch(student: [Int], teacher: [Int])
    /// Teacher and student take different inputs or produce different numbers of classes.
    case incompatibleTeacher(String)
    case nothingAboveTap(String)
    /// The loss became NaN or infinite.
    case diverged(epoch: Int, step: Int, loss: Double)
    /// A label outside the model's classes.
    case labelOutOfRange(sample: Int, label: Int, classes: Int)
    /// The output folder holds checkpoints that no resumable run of kd-tool wrote.
    case foreignFiles(folder: String, file: String)
    /// ``Trainer/shouldStop`` asked to stop; everything up to `epoch` is saved.
    case stopped(stage: String?, epoch: Int)

    public var description: String {
        switch self {
        case let .invalidConfig(problems):
            return "invalid training settings: " + problems.joined(separator: "; ")
        case let .configMismatch(folder, differences):
            let list = differences.map { "\($0.setting): the folder has \($0.recorded), this run asks for \($0.requested)" }
            return "\(folder) holds a run with different settings (\(list.joined(separator: "; "))); "
                + "use the same settings to resume it, or choose another output folder"
        case .emptyData:
            return "the training data has no samples"
        case let .tapShapeMismatch(student, teacher):
            return "the student's tap output has shape \(student) per sample but the teacher's has \(teacher); "
                + "choose matching taps or add an adapter that maps one to the other"
        case let .incompatibleTeacher(what):
            return "the teacher does not fit the student: \(what)"
        case let .nothingAboveTap(tap):
            return "the student's tap '\(tap)' is its last layer, so stage 2 has nothing to train; choose an earlier tap"
        case let .diverged(epoch, step, loss):
            return "training diverged at epoch \(epoch), step \(step) (loss \(loss)); lower the learning rate"
        case let .labelOutOfRange(sample, label, classes):
            return "sample \(sample) has label \(label) but the model has \(classes) classes (0..<\(classes)); "
                + "check the dataset's class list against the model's output size"
        case let .foreignFiles(folder, file):
            return "\(folder) already holds \(file), which no resumable kd-tool run wrote (its optimiser state and "
                + "resume point are missing); choose an empty output folder"
        case let .stopped(stage, epoch):
            return "training stopped after epoch \(epoch)\(stage.map { " of \($0)" } ?? ""); "
                + "run the same command again to resume"
        }
    }
}

/// One finished epoch, for progress display.
public struct EpochReport: Sendable {
    /// "stage1"/"stage2" for feature distillation, nil otherwise.
    public var stage: String?
    public var epoch: Int
    public var epochs: Int
    /// The mean of the epoch's step losses.
    public var meanLoss: Double
    public var seconds: Double
    /// The learning rate of the epoch's last step.
    public var learningRate: Float
    public var checkpointWritten: Bool
}

/// What a stage did.
public struct StageSummary: Sendable {
    public var stage: String?
    public var folder: URL
    /// The epoch the stage continued from (0 for a fresh start, the total when it was already complete).
    public var resumedAfter: Int
    public var epochs: Int
    /// The mean loss of the last epoch run in this call (nil when none ran).
    public var finalLoss: Double?
}
