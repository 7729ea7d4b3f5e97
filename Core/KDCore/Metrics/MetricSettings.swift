// Settings of the metrics of Method.md §3-5: every choice the paper and the authors' code make
// differently is an explicit option, and the settings travel inside every report.

/// How the baseline entropy H̄ that defines knowledge points is obtained (Method.md §3, `baseline-entropy`).
public enum BaselineEntropy: String, Codable, Sendable, CaseIterable {
    /// H̄(x) = the mean entropy of x's own background units at the checkpoint (the paper).
    /// An input without background units has no H̄: it is counted and excluded.
    case perInput = "per-input"
    /// H̄ = the mean, over all analysed inputs of the checkpoint that have background units, of
    /// their per-input background means (the authors' code). One value per checkpoint and network;
    /// inputs without background units still get knowledge points from it.
    case datasetLevel = "dataset-level"
}

/// Which inputs the dataset-level H̄ averages over (Method.md §3), when the effective-input filter or a
/// comparison leaves some inputs out of the metrics.
public enum DatasetBaselineInputs: String, Codable, Sendable, CaseIterable {
    /// The inputs the metrics use: kept by the filter (of both networks, in a comparison) and with
    /// background units (the authors' code computes H̄ over the effective inputs).
    case kept
    /// Every analysed input with background units, whether or not the filter keeps it.
    case all
}

/// What ρ does with an input whose union of foreground knowledge points is empty (Method.md §5).
public enum EmptyUnionConvention: String, Codable, Sendable, CaseIterable {
    /// 0/0 is undefined: the input is counted and left out of ρ's mean (the default).
    case undefined
    /// 0/0 counts as 0 and the input stays in ρ's mean (the authors' code). Still counted.
    case zero
}

/// How the weight distance of Method.md §4 is measured (`weight-distance`).
public enum WeightDistanceDefinition: String, Codable, Sendable, CaseIterable {
    /// Σ_{k=1..m} ||w_k − w_{k−1}|| / ||w_0|| between consecutive *analysed* checkpoints (the paper).
    case epoch
    /// Σ over every optimiser step up to the end of epoch m of ||Δw||, over ||w_0|| (the authors' code).
    case path
}

/// Which weights the distance is measured on (`weight-scope`). The metrics cannot see the network:
/// this records what the caller put into the ``WeightTrajectory``.
public enum WeightScope: String, Codable, Sendable, CaseIterable {
    /// The tap layer's own weight matrix, bias excluded (the authors' code; the default).
    case tapWeight = "tap-weight"
    /// Every parameter of the layers up to and including the tap.
    case upToTap = "up-to-tap"
}

/// The optional effective-input filter of the authors' code (Method.md §3).
///
/// An input is kept only if, at every analysed checkpoint k with `fromEpoch ≤ k ≤ M`, the mean entropy
/// of its background units exceeds the mean entropy of its foreground units (strictly). An input with no
/// foreground or no background unit cannot pass. When two networks are compared, the metrics of both
/// use only the inputs kept for both. The number dropped is always reported.
public struct EffectiveInputFilter: Codable, Sendable, Equatable {
    /// The first epoch at which the condition is tested. No default: the authors chose it per experiment.
    public var fromEpoch: Int

    public init(fromEpoch: Int) { self.fromEpoch = fromEpoch }
}

/// Every option of the metrics, recorded alongside every result.
///
/// Defaults follow the paper where the paper is explicit, and the authors' code only where the
/// paper is silent (the weight scope). Per-family thresholds are in ``KnowledgePointThreshold``.
public struct MetricSettings: Codable, Sendable, Equatable {
    /// b, in nats: unit i is a knowledge point when H̄ − H_i > b (strictly). Default 0.2 (images, text).
    public var threshold: Double
    /// Per-input H̄ (default, the paper) or the authors' dataset-level H̄.
    public var baselineEntropy: BaselineEntropy
    /// The inputs a dataset-level H̄ averages over: `.kept` (default, the authors' code) or `.all`.
    /// Without a filter and outside a comparison both are the same.
    public var datasetBaselineInputs: DatasetBaselineInputs
    /// Whether the union of ρ runs over checkpoint 0 (the untrained network) too. Default false:
    /// the paper's union ∪_{j=1..M}; the authors' code includes j = 0.
    public var rhoIncludesInitial: Bool
    /// ρ's 0/0 convention. Default `.undefined` (the paper's ratio is undefined there).
    public var rhoEmptyUnion: EmptyUnionConvention
    /// The effective-input filter, or nil (default) to use every input.
    public var effectiveFilter: EffectiveInputFilter?
    /// The weight-distance definition the trajectories must follow. Default `.epoch` (the paper).
    public var weightDistance: WeightDistanceDefinition
    /// The weights the trajectories were measured on. Default `.tapWeight` (the authors' code).
    public var weightScope: WeightScope
    /// M, the last checkpoint considered; later checkpoints are ignored. nil (default) = the last analysed.
    public var finalEpoch: Int?
    /// Bootstrap resamples for the 95 % intervals. 2000 puts the percentile end points within about
    /// ±0.1 standard errors of their limit; 0 turns the intervals off.
    public var bootstrapReplicates: Int
    /// Seed of the bootstrap, so the intervals of a report are reproducible bit for bit.
    public var bootstrapSeed: UInt64

    public init(threshold: Double = KnowledgePointThreshold.imagesAndText,
                baselineEntropy: BaselineEntropy = .perInput,
                datasetBaselineInputs: DatasetBaselineInputs = .kept,
                rhoIncludesInitial: Bool = false,
                rhoEmptyUnion: EmptyUnionConvention = .undefined,
                effectiveFilter: EffectiveInputFilter? = nil,
                weightDistance: WeightDistanceDefinition = .epoch,
                weightScope: WeightScope = .tapWeight,
                finalEpoch: Int? = nil,
                bootstrapReplicates: Int = 2000,
                bootstrapSeed: UInt64 = 2020) {
        self.threshold = threshold
        self.baselineEntropy = baselineEntropy
        self.datasetBaselineInputs = datasetBaselineInputs
        self.rhoIncludesInitial = rhoIncludesInitial
        self.rhoEmptyUnion = rhoEmptyUnion
        self.effectiveFilter = effectiveFilter
        self.weightDistance = weightDistance
        self.weightScope = weightScope
        self.finalEpoch = finalEpoch
        self.bootstrapReplicates = bootstrapReplicates
        self.bootstrapSeed = bootstrapSeed
    }

    /// The settings of the authors' code: dataset-level H̄, checkpoint 0 in ρ's union, empty union = 0,
    /// the path distance on the tap's weight matrix. The filter stays off unless given.
    public static func authorsCode(threshold: Double = KnowledgePointThreshold.imagesAndText,
                                   effectiveFilter: EffectiveInputFilter? = nil) -> MetricSettings {
        MetricSettings(threshold: threshold, baselineEntropy: .datasetLevel, rhoIncludesInitial: true,
                       rhoEmptyUnion: .zero, effectiveFilter: effectiveFilter, weightDistance: .path,
                       weightScope: .tapWeight)
    }

    /// Checks options a user can get wrong.
    public func validate() throws {
        guard threshold.isFinite, threshold >= 0 else {
            throw MetricsError.invalidSetting(name: "threshold", expected: "a finite number of nats ≥ 0",
                                              found: "\(threshold)")
        }
        guard bootstrapReplicates >= 0, bootstrapReplicates <= 1_000_000 else {
            throw MetricsError.invalidSetting(name: "bootstrapReplicates", expected: "0 ... 1000000",
                                              found: "\(bootstrapReplicates)")
        }
        if let m = finalEpoch, m < 1 {
            throw MetricsError.invalidSetting(name: "finalEpoch", expected: "a trained checkpoint (epoch ≥ 1)",
                                              found: "\(m)")
        }
        if let f = effectiveFilter, f.fromEpoch < 0 {
            throw MetricsError.invalidSetting(name: "effectiveFilter.fromEpoch", expected: "an epoch ≥ 0",
                                              found: "\(f.fromEpoch)")
        }
    }
}

/// The default thresholds b of Method.md §3, in nats. A plugin picks its family's value.
public enum KnowledgePointThreshold {
    /// Image CNNs (VGG-, ResNet-like) and text encoders.
    public static let imagesAndText = 0.2
    /// AlexNet-like image CNNs.
    public static let alexNetLike = 0.25
    /// Point-cloud networks in general (DGCNN-like).
    public static let pointClouds = 0.25
    /// PointNet-like networks.
    public static let pointNetLike = 0.5
}
