// Knowledge points (Method.md §3): the units whose information the network discards less than the
// background's, by a margin b.

/// Knowledge points of one entropy map, and the region means they are measured against.
///
/// ```
/// H̄            = mean_{i ∈ bg} H_i                  (per input), or the dataset-level value
/// point(i)     ⇔ H̄ − H_i > b                        (strict; nats)
/// N_fg, N_bg   = #points on fg units, on bg units
/// λ(x)         = N_fg / (N_fg + N_bg), and 0 when x has no points (counted by the caller)
/// ```
/// Means are accumulated in Double from the Float32 entropies.
///
/// ### References
/// Zhang, Cheng, Chen, Rao, "Quantifying the Knowledge in a DNN to Explain Knowledge Distillation for
/// Classification", §3 (knowledge points, λ).
public enum KnowledgePoints {
    /// Knowledge points of one map, split by region.
    public struct Counts: Codable, Sendable, Equatable {
        public var foreground: Int
        public var background: Int
        public init(foreground: Int, background: Int) { self.foreground = foreground; self.background = background }
        public var total: Int { foreground + background }
        /// λ(x) = N_fg / (N_fg + N_bg); nil when there are no points (the caller counts the input and uses 0).
        public var foregroundRatio: Double? { total == 0 ? nil : Double(foreground) / Double(total) }
    }

    /// The mean entropy of the units with `foreground[i] == wantForeground`; nil when there are none.
    public static func regionMean(_ entropies: [Float], _ foreground: [Bool], foregroundRegion wantForeground: Bool) -> Double? {
        precondition(entropies.count == foreground.count, "entropies and fg flags differ in length")
        var sum = 0.0, n = 0
        entropies.withUnsafeBufferPointer { h in
            foreground.withUnsafeBufferPointer { fg in
                for i in 0..<h.count where fg[i] == wantForeground { sum += Double(h[i]); n += 1 }
            }
        }
        return n == 0 ? nil : sum / Double(n)
    }

    /// H̄ of one input: the mean entropy of its background units; nil when it has none.
    public static func backgroundMean(_ entropies: [Float], _ foreground: [Bool]) -> Double? {
        regionMean(entropies, foreground, foregroundRegion: false)
    }

    /// The dataset-level H̄ of one checkpoint: the mean of the per-input background means, over the
    /// inputs that have background units; nil when none has.
    public static func datasetBaseline(_ maps: [(entropies: [Float], foreground: [Bool])]) -> Double? {
        var sum = 0.0, n = 0
        for m in maps {
            if let b = backgroundMean(m.entropies, m.foreground) { sum += b; n += 1 }
        }
        return n == 0 ? nil : sum / Double(n)
    }

    /// Whether a unit of entropy `h` is a knowledge point against baseline `hBar` and threshold `b`.
    @inline(__always)
    public static func isPoint(entropy h: Float, baseline hBar: Double, threshold b: Double) -> Bool {
        hBar - Double(h) > b
    }

    /// N_fg and N_bg of one map.
    public static func count(_ entropies: [Float], _ foreground: [Bool], baseline hBar: Double,
                             threshold b: Double) -> Counts {
        precondition(entropies.count == foreground.count, "entropies and fg flags differ in length")
        var nf = 0, nb = 0
        entropies.withUnsafeBufferPointer { h in
            foreground.withUnsafeBufferPointer { fg in
                for i in 0..<h.count where hBar - Double(h[i]) > b {
                    if fg[i] { nf += 1 } else { nb += 1 }
                }
            }
        }
        return Counts(foreground: nf, background: nb)
    }

    /// S(x): the indices of the foreground units that are knowledge points, ascending.
    public static func foregroundPoints(_ entropies: [Float], _ foreground: [Bool], baseline hBar: Double,
                                        threshold b: Double) -> [Int] {
        precondition(entropies.count == foreground.count, "entropies and fg flags differ in length")
        var out: [Int] = []
        entropies.withUnsafeBufferPointer { h in
            foreground.withUnsafeBufferPointer { fg in
                for i in 0..<h.count where fg[i] && hBar - Double(h[i]) > b { out.append(i) }
            }
        }
        return out
    }
}
