// The input of the metrics: entropy maps per analysed input and checkpoint, grouped per network.

/// The entropy engine's result for one input at one checkpoint: H_i in nats for every unit, and
/// which units are foreground (Method.md §1-2).
public struct EntropyMap: Codable, Sendable, Equatable {
    /// The sample's stable identifier (``Sample/id``).
    public var inputID: String
    /// The checkpoint: the epoch after which the weights were saved; 0 is the initialisation.
    public var epoch: Int
    /// H_i = log σ_i + ½ log(2πe), nats, one per unit.
    public var entropies: [Float]
    /// `foreground[i]` for each unit i.
    public var foreground: [Bool]
    /// The engine's convergence flags for this map (``EntropyResult/lossFlattened``,
    /// ``EntropyResult/pinningReached``); nil when unknown (or, for the target, when pinning was off).
    /// They feed ``MetricsReport/convergence`` and change no metric.
    public var lossFlattened: Bool?
    public var targetReached: Bool?

    public init(inputID: String, epoch: Int, entropies: [Float], foreground: [Bool],
                lossFlattened: Bool? = nil, targetReached: Bool? = nil) {
        precondition(entropies.count == foreground.count,
                     "\(entropies.count) entropies but \(foreground.count) fg flags for \(inputID)")
        self.inputID = inputID; self.epoch = epoch; self.entropies = entropies; self.foreground = foreground
        self.lossFlattened = lossFlattened; self.targetReached = targetReached
    }

    /// Every unit's role, when the map came from a sample with roles (ignored units included). The metrics
    /// take maps whose ignored units were removed (Study.analysedUnits); `roles` keeps the full picture.
    public var roles: [UnitRole]? = nil

    /// A map from a sample's roles: foreground = `.foreground`; ignored units stay in the map (and in
    /// `roles`) until removed for the metrics.
    public init(inputID: String, epoch: Int, entropies: [Float], roles: [UnitRole],
                lossFlattened: Bool? = nil, targetReached: Bool? = nil) {
        self.init(inputID: inputID, epoch: epoch, entropies: entropies, foreground: roles.map { $0 == .foreground },
                  lossFlattened: lossFlattened, targetReached: targetReached)
        self.roles = roles
    }
}

/// One network's maps at one tap, validated and laid out as inputs × checkpoints.
///
/// Every input must have a map at every checkpoint (the same set for all inputs), the same unit count
/// and the same fg flags at every checkpoint, and finite entropies. Inputs are sorted by id, so every
/// number computed from a set (bootstrap intervals included) does not depend on the order maps arrived in.
public struct EntropyMapSet: Sendable {
    /// A label for messages and reports ("student", "baseline").
    public let network: String
    /// The analysed checkpoints, ascending.
    public let epochs: [Int]
    /// Input ids, ascending.
    public let inputIDs: [String]
    /// `foreground[i]`: the fg flags of input i.
    public let foreground: [[Bool]]
    /// `entropies[i][k]`: the map of input i at `epochs[k]`.
    public let entropies: [[[Float]]]
    /// `convergence[i][k]`: the engine's flags of that map (see ``EntropyMap/lossFlattened``).
    public let convergence: [[(lossFlattened: Bool?, targetReached: Bool?)]]

    public init(network: String, maps: [EntropyMap]) throws {
        guard !maps.isEmpty else { throw MetricsError.noMaps(network: network) }
        var byInput: [String: [Int: EntropyMap]] = [:]
        var epochSet = Set<Int>()
        for m in maps {
            guard m.epoch >= 0 else {
                throw MetricsError.invalidMap(network: network, inputID: m.inputID, epoch: m.epoch,
                                              problem: "the epoch is negative")
            }
            guard m.entropies.count == m.foreground.count, !m.entropies.isEmpty else {
                throw MetricsError.invalidMap(network: network, inputID: m.inputID, epoch: m.epoch,
                    problem: "\(m.entropies.count) entropies for \(m.foreground.count) fg flags (expected equal, ≥ 1)")
            }
            if let bad = m.entropies.firstIndex(where: { !$0.isFinite }) {
                throw MetricsError.invalidMap(network: network, inputID: m.inputID, epoch: m.epoch,
                    problem: "unit \(bad) has entropy \(m.entropies[bad]); re-run the entropy engine on this input")
            }
            if byInput[m.inputID]?[m.epoch] != nil {
                throw MetricsError.invalidMap(network: network, inputID: m.inputID, epoch: m.epoch,
                                              problem: "two maps for the same input and checkpoint")
            }
            byInput[m.inputID, default: [:]][m.epoch] = m
            epochSet.insert(m.epoch)
        }
        let epochs = epochSet.sorted()
        let ids = byInput.keys.sorted()
        var fg: [[Bool]] = [], h: [[[Float]]] = []
        var flags: [[(lossFlattened: Bool?, targetReached: Bool?)]] = []
        fg.reserveCapacity(ids.count); h.reserveCapacity(ids.count)
        for id in ids {
            let perEpoch = byInput[id]!
            var row: [[Float]] = []
            var flagRow: [(lossFlattened: Bool?, targetReached: Bool?)] = []
            let first = perEpoch[perEpoch.keys.min()!]!
            for e in epochs {
                guard let m = perEpoch[e] else {
                    throw MetricsError.missingCheckpoint(network: network, inputID: id, epoch: e)
                }
                guard m.foreground == first.foreground else {
                    throw MetricsError.invalidMap(network: network, inputID: id, epoch: e,
                        problem: "its fg flags (or unit count) differ from epoch \(first.epoch)'s; maps of one input must share its units")
                }
                row.append(m.entropies)
                flagRow.append((m.lossFlattened, m.targetReached))
            }
            fg.append(first.foreground)
            h.append(row)
            flags.append(flagRow)
        }
        self.network = network
        self.epochs = epochs
        self.inputIDs = ids
        self.foreground = fg
        self.entropies = h
        self.convergence = flags
    }
}

/// Errors a user's maps, trajectories or options can cause in the metrics.
public enum MetricsError: Error, Equatable, CustomStringConvertible {
    case noMaps(network: String)
    case invalidMap(network: String, inputID: String, epoch: Int, problem: String)
    case missingCheckpoint(network: String, inputID: String, epoch: Int)
    case invalidSetting(name: String, expected: String, found: String)
    case finalEpochNotAnalysed(network: String, epoch: Int, analysed: [Int])
    case initialCheckpointMissing(network: String)
    case filterHasNoCheckpoint(network: String, fromEpoch: Int, finalEpoch: Int)
    case inputSetsDiffer(onlyInStudent: [String], onlyInBaseline: [String])
    case foregroundDiffersBetweenNetworks(inputID: String)
    case invalidTrajectory(problem: String)
    case trajectoryMismatch(network: String, expected: String, found: String)
    case settingsDiffer(student: MetricSettings, baseline: MetricSettings)

    public var description: String {
        switch self {
        case let .noMaps(n):
            return "no entropy maps for network '\(n)': run the entropy engine (or check the run, tap and settings hash) first"
        case let .invalidMap(n, id, e, p):
            return "network '\(n)', input '\(id)', epoch \(e): \(p)"
        case let .missingCheckpoint(n, id, e):
            return "network '\(n)': input '\(id)' has no map at epoch \(e), which other inputs have; finish (resume) the analysis or drop the checkpoint"
        case let .invalidSetting(name, expected, found):
            return "metric setting '\(name)': expected \(expected), found \(found)"
        case let .finalEpochNotAnalysed(n, e, a):
            return "network '\(n)': final epoch \(e) is not an analysed checkpoint (analysed: \(a)); pick one of them"
        case let .initialCheckpointMissing(n):
            return "network '\(n)': ρ's union includes checkpoint 0 (rhoIncludesInitial) but epoch 0 was not analysed; analyse the initialisation or turn the option off"
        case let .filterHasNoCheckpoint(n, f, m):
            return "network '\(n)': the effective-input filter starts at epoch \(f) but no analysed checkpoint lies in \(f)...\(m); lower fromEpoch"
        case let .inputSetsDiffer(s, b):
            return "the networks were analysed on different inputs (\(s.count) only in the student, e.g. \(s.prefix(3)); \(b.count) only in the baseline, e.g. \(b.prefix(3))); analyse the same inputs for both"
        case let .foregroundDiffersBetweenNetworks(id):
            return "input '\(id)' has different fg flags in the two networks' maps; both must come from the same annotation"
        case let .invalidTrajectory(p):
            return "weight trajectory: \(p)"
        case let .trajectoryMismatch(n, e, f):
            return "network '\(n)' weight trajectory: expected \(e), found \(f)"
        case .settingsDiffer:
            return "the two reports were computed with different metric settings; recompute them together (KnowledgeMetrics.compare)"
        }
    }
}
