import Foundation

// Training losses. Each returns the loss value (accumulated in Double) and, when a gradient tensor is
// given, writes dLoss/d(first argument) into it (resized to the argument's shape).
// Logits: (R, K) — R rows (the leading dimensions flattened, normally the batch B), K classes.

/// Loss functions and the accuracy helper used by the training loops.
///
/// Every loss is a mean over rows (or elements), so the learning rate does not depend on the batch size.
///
/// ### References
/// - G. Hinton, O. Vinyals, J. Dean, "Distilling the Knowledge in a Neural Network", 2015.
public enum Loss {
    /// Softmax cross-entropy with integer labels, averaged over rows.
    ///
    /// ```
    /// L = (1/R) Σ_r [ logsumexp(z_r) − z_r[y_r] ]        logsumexp(z) = m + log Σ_j exp(z_j − m), m = max_j z_j
    /// dL/dz_r = (softmax(z_r) − onehot(y_r)) / R
    /// ```
    /// Subtracting the row maximum keeps every `exp` in (0, 1], so large logits neither overflow nor
    /// lose the label's term.
    public static func crossEntropy(logits: Tensor, labels: [Int], gradient: Tensor? = nil) -> Double {
        checkLabels(logits, labels)
        if let g = gradient { g.resize(logits.shape) }
        return softmaxCrossEntropy(logits, labels, gradient: gradient, scale: 1, accumulate: false)
    }

    /// Mean squared error over elements, the feature-distillation loss.
    ///
    /// ```
    /// L = (1/n) Σ_i (a_i − b_i)²          dL/da_i = 2 (a_i − b_i) / n
    /// ```
    /// The mean (not the sum) keeps the loss scale independent of the tap's size.
    public static func meanSquaredError(_ a: Tensor, _ b: Tensor, gradient: Tensor? = nil) -> Double {
        precondition(a.shape == b.shape, "mean squared error of \(a.shape) and \(b.shape)")
        let n = a.count
        if let g = gradient { g.resize(a.shape) }
        let ap = a.data, bp = b.data, gp = gradient?.data
        let scale = 2 / Float(max(n, 1))
        var sum = 0.0
        for i in 0..<n {
            let d = ap[i] - bp[i]
            sum += Double(d) * Double(d)
            if let gp { gp[i] = scale * d }
        }
        return sum / Double(max(n, 1))
    }

    /// Hinton's soft-target loss: the KL divergence from the teacher's to the student's softened
    /// distribution, times T², averaged over rows.
    ///
    /// ```
    /// p = softmax(t / T)   q = softmax(s / T)
    /// L = T² · (1/R) Σ_r Σ_j p_rj (log p_rj − log q_rj)
    /// dL/ds_r = T · (q_r − p_r) / R
    /// ```
    /// The T² factor keeps the gradient's magnitude comparable to the cross-entropy's as T changes
    /// (Hinton et al., §2), so β in ``hinton(student:teacher:labels:temperature:beta:gradient:)`` means
    /// the same at every temperature. Terms with p = 0 contribute 0 (the limit of p log p).
    public static func distillationKL(student: Tensor, teacher: Tensor, temperature: Float,
                                      gradient: Tensor? = nil) -> Double {
        precondition(student.shape == teacher.shape, "KL between student \(student.shape) and teacher \(teacher.shape)")
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        if let g = gradient { g.resize(student.shape) }
        return softKL(student, teacher, temperature, gradient: gradient, scale: 1, accumulate: false)
    }

    /// Hinton's knowledge-distillation loss: `(1 − β) · CE(s, y) + β · KL_T(t ‖ s)`.
    ///
    /// `beta` = 0 is plain cross-entropy, 1 is soft targets only. The gradient is with respect to the
    /// student's logits.
    public static func hinton(student: Tensor, teacher: Tensor, labels: [Int], temperature: Float, beta: Float,
                              gradient: Tensor? = nil) -> Double {
        precondition(student.shape == teacher.shape, "KD between student \(student.shape) and teacher \(teacher.shape)")
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        precondition(beta >= 0 && beta <= 1, "beta must be in [0, 1], got \(beta)")
        checkLabels(student, labels)
        if let g = gradient { g.resize(student.shape) }
        let ce = softmaxCrossEntropy(student, labels, gradient: gradient, scale: 1 - beta, accumulate: false)
        let kl = softKL(student, teacher, temperature, gradient: gradient, scale: beta, accumulate: true)
        return Double(1 - beta) * ce + Double(beta) * kl
    }

    /// The number of rows whose arg-max equals the label (ties go to the lowest index).
    public static func correctCount(logits: Tensor, labels: [Int]) -> Int {
        let rows = logits.leadingCount, k = logits.lastDim
        precondition(labels.count == rows, "\(labels.count) labels for \(rows) rows of logits \(logits.shape)")
        var correct = 0
        labels.withUnsafeBufferPointer { y in
            for r in 0..<rows {
                let z = logits.data + r * k
                var best = 0
                for j in 1..<max(k, 1) where z[j] > z[best] { best = j }
                if best == y[r] { correct += 1 }
            }
        }
        return correct
    }

    /// The fraction of rows classified correctly, in [0, 1].
    public static func accuracy(logits: Tensor, labels: [Int]) -> Double {
        let rows = logits.leadingCount
        return rows == 0 ? 0 : Double(correctCount(logits: logits, labels: labels)) / Double(rows)
    }

    // MARK: - Kernels

    private static func checkLabels(_ logits: Tensor, _ labels: [Int]) {
        let rows = logits.leadingCount, k = logits.lastDim
        precondition(labels.count == rows, "\(labels.count) labels for \(rows) rows of logits \(logits.shape)")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < k }, "a label is outside 0..<\(k)")
    }

    /// Cross-entropy; the gradient, times `scale`, is written (or added when `accumulate`).
    private static func softmaxCrossEntropy(_ logits: Tensor, _ labels: [Int], gradient: Tensor?,
                                            scale: Float, accumulate: Bool) -> Double {
        let rows = logits.leadingCount, k = logits.lastDim
        guard rows > 0 else { return 0 }
        let gscale = scale / Float(rows)
        var total = 0.0
        labels.withUnsafeBufferPointer { y in
            for r in 0..<rows {
                let z = logits.data + r * k
                var m = z[0]
                for j in 1..<k where z[j] > m { m = z[j] }
                var s: Float = 0
                for j in 0..<k { s += expf(z[j] - m) }
                let logSum = logf(s)
                total += Double(m + logSum - z[y[r]])
                guard let g = gradient?.data.advanced(by: r * k) else { continue }
                for j in 0..<k {
                    let d = gscale * (expf(z[j] - m - logSum) - (j == y[r] ? 1 : 0))
                    g[j] = accumulate ? g[j] + d : d
                }
            }
        }
        return total / Double(rows)
    }

    /// T²·KL(softmax(t/T) ‖ softmax(s/T)); the gradient w.r.t. s, times `scale`, written or added.
    private static func softKL(_ student: Tensor, _ teacher: Tensor, _ temperature: Float, gradient: Tensor?,
                               scale: Float, accumulate: Bool) -> Double {
        let rows = student.leadingCount, k = student.lastDim
        guard rows > 0 else { return 0 }
        let invT = 1 / temperature
        let gscale = scale * temperature / Float(rows)
        var total = 0.0
        for r in 0..<rows {
            let s = student.data + r * k, t = teacher.data + r * k
            var ms = s[0] * invT, mt = t[0] * invT
            for j in 1..<k { ms = max(ms, s[j] * invT); mt = max(mt, t[j] * invT) }
            var sumS: Float = 0, sumT: Float = 0
            for j in 0..<k { sumS += expf(s[j] * invT - ms); sumT += expf(t[j] * invT - mt) }
            let lseS = ms + logf(sumS), lseT = mt + logf(sumT)
            var kl = 0.0
            for j in 0..<k {
                let logP = t[j] * invT - lseT, logQ = s[j] * invT - lseS
                let p = expf(logP)
                if p > 0 { kl += Double(p) * Double(logP - logQ) }
                if let g = gradient?.data.advanced(by: r * k) {
                    let d = gscale * (expf(logQ) - p)
                    g[j] = accumulate ? g[j] + d : d
                }
            }
            total += kl
        }
        return Double(temperature) * Double(temperature) * total / Double(rows)
    }
}
