import Foundation

// Extractive question answering: a loss and a score over start/end logits.
// logits: (B, T, 2), [b, t, 0] the start logit and [b, t, 1] the end logit of position t.
// spans: one (start, end) per sample, inclusive positions.   lengths: real positions per sample (nil: T).

extension Loss {
    /// The span loss: cross-entropy of the start position plus cross-entropy of the end position, each a
    /// softmax over the sample's valid positions `0..<L_b` only, averaged over the batch.
    ///
    /// ```
    /// L = (1/B) Σ_b [ logsumexp_{t<L_b}(s_bt) − s_b,start_b + logsumexp_{t<L_b}(e_bt) − e_b,end_b ]
    /// dL/ds_bt = (softmax_{t<L_b}(s_b)_t − [t = start_b]) / B      (0 for t ≥ L_b; likewise for e)
    /// ```
    public static func spanCrossEntropy(logits: Tensor, spans: [(start: Int, end: Int)], lengths: [Int]?,
                                        gradient: Tensor? = nil) -> Double {
        precondition(logits.rank == 3 && logits.shape[2] == 2, "span logits must be (B, T, 2), got \(logits.shape)")
        let (b, t) = (logits.shape[0], logits.shape[1])
        precondition(spans.count == b && (lengths == nil || lengths!.count == b), "\(spans.count) spans for a batch of \(b)")
        if let g = gradient { g.resize(logits.shape); g.zero() }
        guard b > 0 else { return 0 }
        var total = 0.0
        let gscale = 1 / Float(b)
        for n in 0..<b {
            let valid = min(max(lengths?[n] ?? t, 1), t)
            let targets = [spans[n].start, spans[n].end]
            for channel in 0..<2 {
                let target = targets[channel]
                precondition(target >= 0 && target < valid, "span position \(target) outside the \(valid) valid positions of sample \(n)")
                let z = logits.data + n * t * 2 + channel
                var m = z[0]
                for j in 1..<valid where z[2 * j] > m { m = z[2 * j] }
                var s: Float = 0
                for j in 0..<valid { s += expf(z[2 * j] - m) }
                let logSum = logf(s)
                total += Double(m + logSum - z[2 * target])
                guard let g = gradient?.data.advanced(by: n * t * 2 + channel) else { continue }
                for j in 0..<valid { g[2 * j] = gscale * (expf(z[2 * j] - m - logSum) - (j == target ? 1 : 0)) }
            }
        }
        return total / Double(b)
    }

    /// The predicted span of sample `n`: the (s, e) with s ≤ e < s + `maxSpan`, both inside the valid
    /// positions, maximising start[s] + end[e] (ties: the first found, s then e ascending).
    public static func bestSpan(logits: Tensor, sample n: Int, length: Int?, maxSpan: Int = 30) -> (start: Int, end: Int) {
        let t = logits.shape[1]
        let valid = min(max(length ?? t, 1), t)
        let z = logits.data + n * t * 2
        var best = (0, 0), score = -Float.infinity
        for s in 0..<valid {
            for e in s..<min(valid, s + maxSpan) where z[2 * s] + z[2 * e + 1] > score {
                score = z[2 * s] + z[2 * e + 1]; best = (s, e)
            }
        }
        return best
    }

    /// Exact match (1 when the predicted span equals the target) and F1 over token positions: with
    /// overlap o = |[s, e] ∩ [a, b]|, precision o / (e − s + 1), recall o / (b − a + 1), F1 their harmonic
    /// mean (0 without overlap). Summed over the batch.
    public static func spanScores(logits: Tensor, spans: [(start: Int, end: Int)], lengths: [Int]?) -> (exact: Int, f1: Double) {
        var exact = 0, f1 = 0.0
        for n in 0..<spans.count {
            let p = bestSpan(logits: logits, sample: n, length: lengths?[n])
            let (a, b) = spans[n]
            if p.start == a && p.end == b { exact += 1 }
            let overlap = max(0, min(p.end, b) - max(p.start, a) + 1)
            guard overlap > 0 else { continue }
            let precision = Double(overlap) / Double(p.end - p.start + 1), recall = Double(overlap) / Double(b - a + 1)
            f1 += 2 * precision * recall / (precision + recall)
        }
        return (exact, f1)
    }
}
