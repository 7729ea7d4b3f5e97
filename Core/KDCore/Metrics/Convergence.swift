import Foundation

// How many entropy maps had converged, reported next to the metrics computed from them (Method.md §2
// "Convergence").

/// Counts of maps by the entropy engine's two separate convergence flags.
///
/// "Converged" means the loss had flattened at the chosen snapshot (``EntropyEngine/flattened(_:at:window:tolerance:)``);
/// reaching the pinning target is counted separately, because with pinning on it is nearly always true
/// and must not hide an unflattened loss. A table row built from these maps is marked when more than
/// ``warningFraction`` of them are unconverged.
public struct ConvergenceSummary: Codable, Sendable, Equatable {
    /// More than this fraction of unconverged maps marks a row (10 %).
    public static let warningFraction = 0.10

    /// Maps carrying a loss-flattened flag.
    public var maps: Int = 0
    /// Of those, maps whose loss had not flattened at the chosen snapshot.
    public var lossNotFlattened: Int = 0
    /// Maps with pinning on (carrying a target flag), and of those the ones whose chosen snapshot missed the target.
    public var pinned: Int = 0
    public var targetNotReached: Int = 0
    /// Maps whose loss had not flattened and that missed the target (or had pinning off).
    public var neither: Int = 0

    public init() {}

    /// From the flags of every map (a nil loss flag is not counted; a nil target flag means pinning off).
    public init(_ flags: [(lossFlattened: Bool?, targetReached: Bool?)]) {
        for f in flags { add(lossFlattened: f.lossFlattened, targetReached: f.targetReached) }
    }

    /// From engine results directly.
    public init(results: [EntropyResult], pinning: Bool) {
        for r in results { add(lossFlattened: r.lossFlattened, targetReached: pinning ? r.pinningReached : nil) }
    }

    public mutating func add(lossFlattened: Bool?, targetReached: Bool?) {
        guard let flat = lossFlattened else { return }
        maps += 1
        if !flat { lossNotFlattened += 1 }
        if let t = targetReached {
            pinned += 1
            if !t { targetNotReached += 1 }
        }
        if !flat && targetReached != true { neither += 1 }
    }

    /// lossNotFlattened / maps (0 without maps).
    public var unconvergedFraction: Double { maps == 0 ? 0 : Double(lossNotFlattened) / Double(maps) }

    /// Whether a row built from these maps must be marked (more than 10 % unconverged).
    public var needsMark: Bool { unconvergedFraction > Self.warningFraction }

    /// "7/120 maps unconverged (5.8 %), 0/120 missed the entropy target".
    public var description: String {
        var s = "\(lossNotFlattened)/\(maps) maps unconverged (" + String(format: "%.1f", 100 * unconvergedFraction) + " %)"
        if pinned > 0 { s += ", \(targetNotReached)/\(pinned) missed the entropy target" }
        return s
    }
}
