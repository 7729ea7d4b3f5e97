// Detours (Method.md §5, Hypothesis 3): how much of what a network ever learned on the foreground it
// still holds at the end.

/// ρ(x) = |S_M(x)| / |∪_j S_j(x)| for one input.
///
/// ```
/// S_j(x) = the fg knowledge points of x at checkpoint j
/// ρ(x)   = |S_M(x)| / |∪_{j ∈ J} S_j(x)|,   J = analysed checkpoints 1...M (paper) or 0...M (authors' code)
/// ```
/// S_M is part of the union, so 0 ≤ ρ(x) ≤ 1, and ρ(x) = 1 exactly when the network never held a fg
/// point it later dropped. An empty union is 0/0: undefined (paper) or 0 (authors' code), see
/// ``EmptyUnionConvention``; the caller counts such inputs either way.
public enum Detours {
    /// The two sizes of ρ(x) for one input.
    public struct Ratio: Codable, Sendable, Equatable {
        /// |S_M(x)|.
        public var finalCount: Int
        /// |∪_j S_j(x)|.
        public var unionCount: Int
        /// ρ(x) under a convention; nil only for an empty union under `.undefined`.
        public func value(_ convention: EmptyUnionConvention) -> Double? {
            if unionCount == 0 { return convention == .zero ? 0 : nil }
            return Double(finalCount) / Double(unionCount)
        }
    }

    /// ρ's sizes from the fg point sets (unit indices) of the checkpoints in the union; the last set is S_M.
    public static func ratio(pointSets: [[Int]], unitCount: Int) -> Ratio {
        precondition(!pointSets.isEmpty, "ρ needs at least the final checkpoint's set")
        var inUnion = [Bool](repeating: false, count: unitCount)
        var union = 0
        for set in pointSets {
            for i in set where !inUnion[i] { inUnion[i] = true; union += 1 }
        }
        return Ratio(finalCount: pointSets[pointSets.count - 1].count, unionCount: union)
    }
}
