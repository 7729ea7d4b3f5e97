import Foundation

// The feature losses of the survey's distillation methods (Docs/Methods.md). Like the other losses they
// return the value (accumulated in Double) and, when a gradient tensor is given, write dLoss/d(student
// feature) into it (resized to the feature's shape). Conv features are (B, H, W, C), channels last.

extension Loss {
    /// Attention transfer (Zagoruyko & Komodakis 2017) for one (student, teacher) pair of conv features with
    /// the same H and W (channel counts may differ).
    ///
    /// ```
    /// a_b = Σ_c F_b[·,·,c]²  (flattened to H·W)     q_b = a_b / ‖a_b‖₂
    /// L = (1/B) Σ_b ‖q_S,b − q_T,b‖₂²
    /// dL/dq_S,b = 2 (q_S,b − q_T,b) / B
    /// dL/da_b   = (dL/dq − q (q·dL/dq)) / ‖a_b‖
    /// dL/dF_b[p,c] = 2 F_b[p,c] · dL/da_b[p]
    /// ```
    /// The method's loss is `CE + (β/2) Σ_pairs L` (β = 1000 in the paper). A map with ‖a‖ = 0 (all features
    /// zero) is compared as the zero vector and gets no gradient.
    public static func attentionTransfer(student: Tensor, teacher: Tensor, gradient: Tensor? = nil) -> Double {
        precondition(student.rank == 4 && teacher.rank == 4, "attention transfer needs (B, H, W, C) features, got \(student.shape) and \(teacher.shape)")
        precondition(student.shape.dropLast() == teacher.shape.dropLast(),
                     "attention transfer needs the same batch, H and W, got \(student.shape) and \(teacher.shape)")
        let b = student.shape[0], hw = student.shape[1] * student.shape[2]
        let cs = student.shape[3], ct = teacher.shape[3]
        if let g = gradient { g.resize(student.shape) }
        guard b > 0 else { return 0 }
        var total = 0.0
        var qs = [Double](repeating: 0, count: hw), qt = qs
        for n in 0..<b {
            let fs = student.data + n * hw * cs, ft = teacher.data + n * hw * ct
            var ns = 0.0, nt = 0.0
            for p in 0..<hw {
                var s = 0.0, t = 0.0
                for c in 0..<cs { let v = Double(fs[p * cs + c]); s += v * v }
                for c in 0..<ct { let v = Double(ft[p * ct + c]); t += v * v }
                qs[p] = s; qt[p] = t
                ns += s * s; nt += t * t
            }
            ns = ns.squareRoot(); nt = nt.squareRoot()
            for p in 0..<hw {
                qs[p] = ns > 0 ? qs[p] / ns : 0
                qt[p] = nt > 0 ? qt[p] / nt : 0
                let d = qs[p] - qt[p]
                total += d * d
            }
            guard let g = gradient?.data.advanced(by: n * hw * cs) else { continue }
            // dL/dq = 2 (qs − qt)/B; project out q and divide by ‖a‖.
            var dot = 0.0
            for p in 0..<hw { dot += qs[p] * 2 * (qs[p] - qt[p]) / Double(b) }
            for p in 0..<hw {
                let dq = 2 * (qs[p] - qt[p]) / Double(b)
                let da = ns > 0 ? (dq - qs[p] * dot) / ns : 0
                for c in 0..<cs { g[p * cs + c] = Float(2 * Double(fs[p * cs + c]) * da) }
            }
        }
        return total / Double(b)
    }

    /// The FSP ("flow of solution procedure") matrix of Yim et al. 2017 between two conv features of one
    /// network with the same H and W: `G_b = F1_bᵀ · F2_b / (H·W)`, shape (B, C1, C2).
    public static func flowMatrix(_ f1: Tensor, _ f2: Tensor) -> Tensor {
        precondition(f1.rank == 4 && f2.rank == 4 && f1.shape.dropLast() == f2.shape.dropLast(),
                     "an FSP matrix needs two (B, H, W, C) features of the same B, H, W, got \(f1.shape) and \(f2.shape)")
        let b = f1.shape[0], hw = f1.shape[1] * f1.shape[2], c1 = f1.shape[3], c2 = f2.shape[3]
        let g = Tensor(shape: [b, c1, c2])
        for n in 0..<b {
            let a = f1.data + n * hw * c1, d = f2.data + n * hw * c2, out = g.data + n * c1 * c2
            for i in 0..<c1 {
                for j in 0..<c2 {
                    var s = 0.0
                    for p in 0..<hw { s += Double(a[p * c1 + i]) * Double(d[p * c2 + j]) }
                    out[i * c2 + j] = Float(s / Double(hw))
                }
            }
        }
        return g
    }

    /// The FSP loss of one pair: `L = (w/B) Σ_b ‖G_S,b − G_T,b‖²_F` with `G_S` the student's flow matrix of
    /// (`first`, `second`) and `teacherFlow` the teacher's (same C1 × C2), w = `weight`. Writes dL/d`first`
    /// and dL/d`second` into the given tensors:
    /// ```
    /// dG = 2 w (G_S − G_T) / B
    /// dL/dF1[p,i] = Σ_j dG[i,j] F2[p,j] / (H·W)      dL/dF2[p,j] = Σ_i dG[i,j] F1[p,i] / (H·W)
    /// ```
    public static func flowMatching(first: Tensor, second: Tensor, teacherFlow: Tensor,
                                    firstGradient: Tensor? = nil, secondGradient: Tensor? = nil, weight: Double = 1) -> Double {
        let gs = flowMatrix(first, second)
        precondition(gs.shape == teacherFlow.shape, "FSP matrices differ in shape: student \(gs.shape), teacher \(teacherFlow.shape)")
        let b = first.shape[0], hw = first.shape[1] * first.shape[2], c1 = first.shape[3], c2 = second.shape[3]
        firstGradient?.resize(first.shape); secondGradient?.resize(second.shape)
        guard b > 0 else { return 0 }
        var total = 0.0
        var dG = [Double](repeating: 0, count: c1 * c2)
        for n in 0..<b {
            let s = gs.data + n * c1 * c2, t = teacherFlow.data + n * c1 * c2
            for k in 0..<(c1 * c2) {
                let d = Double(s[k]) - Double(t[k])
                total += d * d
                dG[k] = 2 * weight * d / Double(b) / Double(hw)
            }
            let a = first.data + n * hw * c1, d = second.data + n * hw * c2
            if let g1 = firstGradient?.data.advanced(by: n * hw * c1) {
                for p in 0..<hw {
                    for i in 0..<c1 {
                        var acc = 0.0
                        for j in 0..<c2 { acc += dG[i * c2 + j] * Double(d[p * c2 + j]) }
                        g1[p * c1 + i] = Float(acc)
                    }
                }
            }
            if let g2 = secondGradient?.data.advanced(by: n * hw * c2) {
                for p in 0..<hw {
                    for j in 0..<c2 {
                        var acc = 0.0
                        for i in 0..<c1 { acc += dG[i * c2 + j] * Double(a[p * c1 + i]) }
                        g2[p * c2 + j] = Float(acc)
                    }
                }
            }
        }
        return weight * total / Double(b)
    }

    /// Deep mutual learning (Zhang, Xiang, Hospedales, Lu 2018) for one member of a cohort:
    /// `L_k = CE(z_k, y) + (1/(K−1)) Σ_{o≠k} KL(p_o ‖ p_k)` with p = softmax(z) (temperature 1); the other
    /// members' logits are constants. The gradient is with respect to `logits`.
    public static func mutual(logits: Tensor, peers: [Tensor], labels: [Int], gradient: Tensor? = nil) -> Double {
        var loss = crossEntropy(logits: logits, labels: labels, gradient: gradient)
        guard !peers.isEmpty else { return loss }
        let scratch = gradient.map { _ in Tensor(shape: logits.shape) }
        let w = 1 / Double(peers.count)
        for peer in peers {
            loss += w * distillationKL(student: logits, teacher: peer, temperature: 1, gradient: scratch)
            if let g = gradient, let s = scratch {
                for i in 0..<g.count { g.data[i] += Float(w) * s.data[i] }
            }
        }
        return loss
    }
}
