// Everything the metrics computed for one network, with every count and the settings, ready for JSON.

/// The metrics of Method.md §3-5 for one network at one tap.
///
/// N_fg, N_bg and λ describe the final checkpoint M; D and ρ describe the whole sequence of analysed
/// checkpoints up to M. Means run over the ``Counts/inputsUsed`` inputs only; every input left out is
/// counted by reason and listed in ``inputs`` with its status, so nothing is dropped silently. A statistic
/// with no input to stand on is nil, never NaN.
public struct MetricsReport: Codable, Sendable, Equatable {
    /// How many inputs went where.
    public struct Counts: Codable, Sendable, Equatable {
        /// Inputs with maps.
        public var inputsAnalysed: Int
        /// Inputs every mean runs over.
        public var inputsUsed: Int
        /// Inputs without any background unit (whether or not they were excluded).
        public var noBackground: Int
        /// Inputs excluded because H̄ is undefined for them (per-input H̄ and no background unit).
        public var excludedNoBackground: Int
        /// Inputs dropped by this network's effective-input filter.
        public var droppedByFilter: Int
        /// Inputs this network kept but the other network of the comparison dropped.
        public var droppedByOtherNetwork: Int
        /// Used inputs with no knowledge point at M: their λ counts as 0.
        public var noPoints: Int
        /// Used inputs whose union ∪_j S_j is empty (ρ = 0/0).
        public var emptyUnion: Int
        /// Of those, the ones left out of ρ's mean (all of them under `.undefined`, none under `.zero`).
        public var rhoUndefined: Int

        public init(inputsAnalysed: Int, inputsUsed: Int, noBackground: Int, excludedNoBackground: Int,
                    droppedByFilter: Int, droppedByOtherNetwork: Int, noPoints: Int, emptyUnion: Int, rhoUndefined: Int) {
            self.inputsAnalysed = inputsAnalysed; self.inputsUsed = inputsUsed; self.noBackground = noBackground
            self.excludedNoBackground = excludedNoBackground; self.droppedByFilter = droppedByFilter
            self.droppedByOtherNetwork = droppedByOtherNetwork; self.noPoints = noPoints
            self.emptyUnion = emptyUnion; self.rhoUndefined = rhoUndefined
        }
    }

    /// Means over the used inputs at one checkpoint, for learning curves.
    public struct CheckpointSummary: Codable, Sendable, Equatable {
        public var epoch: Int
        /// The dataset-level H̄ of this checkpoint (nats), whichever H̄ setting is active; nil when no input has bg.
        public var datasetBaselineEntropy: Double?
        public var meanForegroundPoints: Double?
        public var meanBackgroundPoints: Double?
        public var meanLambda: Double?
    }

    /// Why an input is, or is not, in the means.
    public enum InputStatus: String, Codable, Sendable {
        case used
        case excludedNoBackground = "excluded-no-background"
        case droppedByFilter = "dropped-by-filter"
        case droppedByOtherNetwork = "dropped-by-other-network"
    }

    /// One input's numbers (nil where the input is not used or the quantity is undefined).
    public struct InputMetrics: Codable, Sendable, Equatable {
        public var inputID: String
        public var status: InputStatus
        /// H̄ used at M (nats).
        public var baselineEntropy: Double?
        /// N_fg(x) and N_bg(x) at M.
        public var foregroundPoints: Int?
        public var backgroundPoints: Int?
        /// λ(x) as averaged: 0 when x has no points.
        public var lambda: Double?
        /// N_fg at each analysed checkpoint up to M (the curve m̂ is taken from).
        public var foregroundCurve: [Int]?
        /// m̂_x, an epoch.
        public var peakEpoch: Int?
        /// D(m̂_x); nil when no weight trajectory was given.
        public var distance: Double?
        /// |S_M(x)| and |∪_j S_j(x)|.
        public var finalForegroundPoints: Int?
        public var unionForegroundPoints: Int?
        /// ρ(x) under the active convention; nil when undefined.
        public var rho: Double?
    }

    /// A label for the network ("student", "baseline").
    public var network: String
    public var settings: MetricSettings
    /// The analysed checkpoints taken into account (up to M), ascending.
    public var epochs: [Int]
    /// M.
    public var finalEpoch: Int
    /// ||w_0|| of the trajectory the distances used; nil when none was given.
    public var initialWeightNorm: Double?
    public var counts: Counts
    /// Mean N_fg at M (Hypothesis 1).
    public var foregroundPoints: MetricEstimate?
    /// Mean N_bg at M.
    public var backgroundPoints: MetricEstimate?
    /// λ = E_x[N_fg / (N_fg + N_bg)] at M, 0 for inputs without points.
    public var lambda: MetricEstimate?
    /// D_mean = E_x[D(m̂_x)] (Hypothesis 2).
    public var distanceMean: MetricEstimate?
    /// D_var = Var_x[D(m̂_x)], population variance.
    public var distanceVariance: MetricEstimate?
    /// ρ = E_x[|S_M| / |∪_j S_j|] (Hypothesis 3).
    public var rho: MetricEstimate?
    public var checkpoints: [CheckpointSummary]
    public var inputs: [InputMetrics]
    /// The engine's convergence flags over the maps of the used inputs at the checkpoints considered;
    /// nil when the maps carried no flags. A table marks the row when ``ConvergenceSummary/needsMark``.
    public var convergence: ConvergenceSummary? = nil
}

/// A student and its baseline measured together, and what the numbers say about the hypotheses.
public struct MetricsComparison: Codable, Sendable, Equatable {
    public var settings: MetricSettings
    public var student: MetricsReport
    public var baseline: MetricsReport
    /// Judged by the paired rule (``Hypotheses/rule(level:)``).
    public var hypotheses: [HypothesisResult]
    /// The six paired comparisons (N_fg, N_bg, λ, D_mean, D_var, ρ), Holm-adjusted together.
    public var paired: [PairedDifference]
    /// The level the Holm-adjusted p-values are compared with.
    public var significanceLevel: Double
    /// The verdict rule in words, to print with the verdicts.
    public var verdictRule: String
}
