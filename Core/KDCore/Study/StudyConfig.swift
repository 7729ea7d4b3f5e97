import Foundation

/// Everything that shapes a teacher–student–baseline study (Method.md §6 and the analysis settings of
/// §2–5). Recorded in full in every output (`study.json`), so every number says what produced it.
public struct StudyConfig: Codable, Equatable, Sendable {
    /// Model family (a plugin's family name) used for all three networks.
    public var family: String
    /// The analysed layer.
    public var tap: String
    /// Where the student is distilled (feature loss in stage 1); nil = the analysed tap. It cannot be the
    /// last layer (stage 2 trains the layers above it). When the analysed tap lies above it, the student's
    /// analysed checkpoints are those of stage 2, where that layer learns; otherwise those of stage 1.
    public var distillationTap: String? = nil
    public var effectiveDistillationTap: String { distillationTap ?? tap }
    /// Channel-width factors: the student (and the baseline, its same architecture) may be smaller.
    public var teacherWidth: Double = 1
    /// Where the teacher comes from: trained from scratch (the default), fine-tuned from pretrained weights,
    /// or used as trained elsewhere (Docs/Method.md §6).
    public var teacherSource: NetworkSource = .scratch
    /// Networks brought trained from elsewhere, analysed only (never trained here), by network name
    /// (`student`, `student-<method>`, `baseline`): a folder of `epoch-N.safetensors` checkpoints (the
    /// training trajectory, so D and ρ can be measured) or a single safetensors file (the final weights
    /// only). Nil (the default, omitted from the recorded settings) trains every network here.
    public var trainedWeights: [String: String]? = nil
    public var studentWidth: Double = 1
    /// The teacher is trained longer and on more data (Method.md §6).
    public var teacherEpochs: Int = 12
    /// Student stage 1 (feature loss at the tap) and stage 2 (cross-entropy above the frozen tap).
    public var studentEpochs: Int = 10
    public var studentStage2Epochs: Int = 4
    public var baselineEpochs: Int = 10
    /// Fraction of the training split the student and the baseline see (the teacher sees all of it).
    public var studentDataFraction: Double = 0.5
    public var batchSize: Int = 64
    public var optimizer: OptimizerSettings = .paper
    public var learningRate: LearningRateSchedule = .constant(0.01)
    /// Checkpoints: the authors' "every epoch up to 10, then every 5th" by default.
    public var checkpoints: CheckpointSchedule = .paper
    /// The fixed set of analysed inputs: N test samples taken class by class in turn (the first of every
    /// class, then the second, …), so that every class is represented.
    public var analysedInputs: Int = 24
    /// Also analyse the teacher's final checkpoint (for heat maps only; not used by the metrics).
    public var analyseTeacher: Bool = true
    public var entropy: EntropySettings = EntropySettings()
    public var metrics: MetricSettings = MetricSettings()
    /// Seeds: networks, shuffling, subsets. The student and the baseline start from the same weights.
    public var seed: UInt64 = 1
    /// The distillation methods compared, one student each (Docs/Methods.md); the default is the paper's
    /// feature distillation alone, whose student is called `student` (otherwise `student-<id>`).
    public var methods: [DistillationMethod] = [.paper]

    public init(family: String, tap: String) { self.family = family; self.tap = tap }

    public func validate() throws {
        var p: [String] = []
        if teacherEpochs < 1 || studentEpochs < 1 || studentStage2Epochs < 1 || baselineEpochs < 1 {
            p.append("every epoch count must be at least 1")
        }
        if !(studentDataFraction > 0 && studentDataFraction <= 1) { p.append("student-data-fraction must be in (0, 1], got \(studentDataFraction)") }
        if analysedInputs < 1 { p.append("analysed-inputs must be at least 1, got \(analysedInputs)") }
        // A width multiplies every layer's channel count (an Int): bounded so the network can be built.
        for (name, w) in [("teacher-width", teacherWidth), ("student-width", studentWidth)] where !(w > 0 && w <= 64) {
            p.append("\(name) must be in (0, 64], got \(w)")
        }
        if batchSize < 1 { p.append("batch-size must be at least 1") }
        if methods.isEmpty { p.append("methods is empty: give at least one distillation method (\(DistillationMethod.ids.joined(separator: ", ")))") }
        let ids = methods.map(\.id)
        for id in Set(ids) where ids.filter({ $0 == id }).count > 1 {
            p.append("methods lists '\(id)' more than once; each method trains one student folder student-\(id)/, so compare its settings in separate experiments or a sweep")
        }
        p += methods.flatMap(\.problems)
        if !p.isEmpty { throw StudyError.invalidConfig(p) }
        try entropy.validate()
        try metrics.validate()
    }
}

/// Where a network's weights come from.
public enum NetworkSource: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Freshly initialised and trained on the task.
    case scratch
    /// Starts from the weights in a safetensors file (through the family's name mapping), then trained.
    case fineTuned(path: String)
    /// The weights in a safetensors file, used as they are (no training).
    case trained(path: String)

    public var description: String {
        switch self {
        case .scratch: return "scratch"
        case let .fineTuned(p): return "fine-tuned from \(p)"
        case let .trained(p): return "trained weights \(p)"
        }
    }
}

public enum StudyError: Error, CustomStringConvertible, Equatable {
    case invalidConfig([String])
    case tooFewSamples(split: String, found: Int, needed: Int)
    case tapHasNoWeight(String)
    case missingCheckpoints(folder: String)
    case noUsableInputs(String)
    case settingsDiffer(folder: String, differences: [String])
    /// A network a step needs has not been trained (its final checkpoint is missing) and this process may not
    /// train it (a sharded stage trains only its own items).
    case notTrained(network: String, folder: String)

    public var description: String {
        switch self {
        case let .invalidConfig(p): return "invalid study settings: " + p.joined(separator: "; ")
        case let .tooFewSamples(split, found, needed):
            return "the \(split) split has \(found) usable samples, the study needs at least \(needed); use a larger dataset or fewer analysed inputs"
        case let .tapHasNoWeight(tap):
            return "no layer at or below the tap '\(tap)' has a weight matrix, so the weight distance (scope tap-weight) is undefined; choose weight-scope up-to-tap"
        case let .missingCheckpoints(folder): return "\(folder) has no epoch-*.safetensors checkpoints"
        case let .noUsableInputs(why): return "no analysed input could be used: \(why)"
        case let .notTrained(network, folder):
            return "the \(network) is not trained yet (no final checkpoint in \(folder)); train it first (in a sharded run: the train-teachers stage for teachers and baselines, train-students for students, before maps)"
        case let .settingsDiffer(folder, differences):
            return "\(folder) holds a study with other training or dataset settings (" + differences.joined(separator: "; ")
                + "); use the same settings to resume it, or choose a new --output folder"
        }
    }
}
