import Foundation
@testable import KDCore
import Testing
import _TestSupport

/// Central finite differences for the survey's distillation losses (Docs/Methods.md) and for the trainer's
/// multi-layer back-propagation. Losses are accumulated in Double; the step is divided by the perturbation
/// actually applied (x₊ − x₋ after rounding to Float), so the check is limited by truncation (O(ε²)) only.
/// The tolerance, 2e-3 relative, fails a gradient that is 1 % off (checked).
@Suite struct MethodLossTests {
    static let tolerance = 2e-3

    /// Max relative difference between `analytic` and the central difference of `loss` w.r.t. `x`.
    /// Differences are relative to max(|analytic|, |numeric|, 5 % of the largest analytic entry): an entry far
    /// below the gradient's scale is compared at that scale (Float32 kernels round the loss at ~1e-7).
    static func check(_ x: Tensor, analytic: Tensor, eps: Float = 1e-2, loss: () -> Double) -> Double {
        var worst = 0.0
        var scale = 0.0
        for i in 0..<analytic.count { scale = max(scale, abs(Double(analytic.data[i]))) }
        let floor = max(0.05 * scale, 1e-6)
        for i in 0..<x.count {
            let saved = x.data[i]
            let plus = saved + eps, minus = saved - eps
            x.data[i] = plus; let lp = loss()
            x.data[i] = minus; let lm = loss()
            x.data[i] = saved
            let numeric = (lp - lm) / (Double(plus) - Double(minus))
            let a = Double(analytic.data[i])
            worst = max(worst, abs(a - numeric) / max(abs(a), abs(numeric), floor))
        }
        return worst
    }

    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        var g = SeededGenerator(seed: seed)
        g.fillGaussian(t.data, count: t.count, scale: scale)
        return t
    }

    @Test func attentionTransferGradientMatchesFiniteDifferences() {
        // Student and teacher with different channel counts, same H, W.
        let s = Self.random([3, 4, 5, 6], seed: 1), t = Self.random([3, 4, 5, 9], seed: 2)
        let g = Tensor(shape: [0])
        let value = Loss.attentionTransfer(student: s, teacher: t, gradient: g)
        #expect(value > 0 && g.shape == s.shape)
        let worst = Self.check(s, analytic: g) { Loss.attentionTransfer(student: s, teacher: t) }
        #expect(worst < Self.tolerance, "attention transfer: max relative error \(worst)")
        print("FD attention transfer: max relative error \(worst)")
        // Identical attention maps (features scaled per sample) give zero loss.
        let scaled = s.copy()
        for i in 0..<scaled.count { scaled.data[i] *= 3 }
        #expect(Loss.attentionTransfer(student: s, teacher: scaled) < 1e-10)
        // A 1 % error in the gradient is caught by the tolerance.
        let wrong = g.copy()
        for i in 0..<wrong.count { wrong.data[i] *= 1.01 }
        #expect(Self.check(s, analytic: wrong) { Loss.attentionTransfer(student: s, teacher: t) } > Self.tolerance)
    }

    @Test func flowMatchingGradientsMatchFiniteDifferences() {
        let a = Self.random([2, 3, 3, 4], seed: 3), b = Self.random([2, 3, 3, 5], seed: 4)
        let target = Loss.flowMatrix(Self.random([2, 3, 3, 4], seed: 5), Self.random([2, 3, 3, 5], seed: 6))
        #expect(target.shape == [2, 4, 5])
        let ga = Tensor(shape: [0]), gb = Tensor(shape: [0])
        _ = Loss.flowMatching(first: a, second: b, teacherFlow: target, firstGradient: ga, secondGradient: gb)
        let loss = { Loss.flowMatching(first: a, second: b, teacherFlow: target) }
        let wa = Self.check(a, analytic: ga, loss: loss), wb = Self.check(b, analytic: gb, loss: loss)
        print("FD FSP: max relative error \(wa) (first), \(wb) (second)")
        #expect(wa < Self.tolerance && wb < Self.tolerance, "FSP: \(wa), \(wb)")
        // The weight scales value and gradients.
        let gw = Tensor(shape: [0])
        let weighted = Loss.flowMatching(first: a, second: b, teacherFlow: target, firstGradient: gw, weight: 0.25)
        expectClose(weighted, 0.25 * loss(), tol: 1e-9, "weighted FSP")
        expectClose(Double(gw.data[3]), 0.25 * Double(ga.data[3]), tol: 1e-6, "weighted FSP gradient")
        // G = F1ᵀF2/(HW) by hand for one entry.
        var s = 0.0
        for p in 0..<9 { s += Double(a.data[p * 4 + 1]) * Double(b.data[p * 5 + 2]) }
        expectClose(Double(Loss.flowMatrix(a, b)[1 * 5 + 2]), s / 9, tol: 1e-5, "G[0,1,2]")
    }

    @Test func mutualLearningGradientMatchesFiniteDifferences() {
        let z = Self.random([4, 5], seed: 7), p1 = Self.random([4, 5], seed: 8), p2 = Self.random([4, 5], seed: 9)
        let labels = [0, 3, 4, 1]
        let g = Tensor(shape: [0])
        let value = Loss.mutual(logits: z, peers: [p1, p2], labels: labels, gradient: g)
        let ce = Loss.crossEntropy(logits: z, labels: labels)
        let kl = (Loss.distillationKL(student: z, teacher: p1, temperature: 1) + Loss.distillationKL(student: z, teacher: p2, temperature: 1)) / 2
        expectClose(value, ce + kl, tol: 1e-9, "CE + mean KL")
        let worst = Self.check(z, analytic: g) { Loss.mutual(logits: z, peers: [p1, p2], labels: labels) }
        print("FD mutual learning: max relative error \(worst)")
        #expect(worst < Self.tolerance, "mutual: \(worst)")
    }

    @Test func hintonGradientMatchesFiniteDifferences() {
        let z = Self.random([4, 6], seed: 10), t = Self.random([4, 6], seed: 11, scale: 3)
        let labels = [5, 0, 2, 2]
        let g = Tensor(shape: [0])
        _ = Loss.hinton(student: z, teacher: t, labels: labels, temperature: 4, beta: 0.9, gradient: g)
        let worst = Self.check(z, analytic: g) { Loss.hinton(student: z, teacher: t, labels: labels, temperature: 4, beta: 0.9) }
        print("FD Hinton KD (T 4, β 0.9): max relative error \(worst)")
        // Loss.hinton's kernel is Float32 (the value itself rounds at ~1e-7), which limits this check to about
        // 2e-3; 4e-3 still fails a gradient 1 % off.
        #expect(worst < 4e-3, "hinton: \(worst)")
    }

    /// A small conv network (smooth activations, so finite differences see no kinks).
    static func convNet(channels: Int, seed: UInt64) -> Model {
        var g = SeededGenerator(seed: seed)
        return Model(name: "tiny-cnn", inputShape: [6, 6, 1], layers: [
            ("conv1", Conv2D(1, channels, kernel: 3, padding: 1, generator: &g)), ("act1", GELU()),
            ("conv2", Conv2D(channels, channels, kernel: 3, padding: 1, generator: &g)), ("act2", GELU()),
            ("pool", GlobalAvgPool()), ("fc", Linear(channels, 3, generator: &g)),
        ])
    }

    /// The trainer's multi-tap back-propagation (attention transfer at two layers plus CE, and FSP's
    /// stage-1 loss) gives the parameter gradients of the whole objective.
    @Test func multiLayerObjectivesBackPropagateExactly() {
        let student = Self.convNet(channels: 3, seed: 1), teacher = Self.convNet(channels: 5, seed: 2)
        let x = Self.random([2, 6, 6, 1], seed: 12)
        let labels = [1, 2]
        let c = student.makeContext(), tc = teacher.makeContext()
        let beta: Float = 50
        let pairs = [(1, 1), (3, 3)]
        func objective(_ gradients: Bool) -> Double {
            let f = Trainer.forward(student, x, c, taps: [1, 3], through: 5)
            let t = Trainer.forward(teacher, x, tc, taps: [1, 3], through: 3)
            let top = Tensor(shape: [0])
            var loss = Loss.crossEntropy(logits: f[5]!, labels: labels, gradient: gradients ? top : nil)
            var taps: [Int: Tensor] = [:]
            for (s, tt) in pairs {
                let g = Tensor(shape: [0])
                loss += Double(beta / 2) * Loss.attentionTransfer(student: f[s]!, teacher: t[tt]!, gradient: g)
                for i in 0..<g.count { g.data[i] *= beta / 2 }
                taps[s] = g
            }
            if gradients { Trainer.backward(student, c, top: 5, topGradient: top, tapGradients: taps) }
            return loss
        }
        student.zeroGradients()
        _ = objective(true)
        var worst = 0.0
        for (name, p) in student.namedParameters {
            let w = Self.check(p.value, analytic: p.grad.copy(), eps: 1e-2) { objective(false) }
            #expect(w < 1e-2, "attention objective, \(name): \(w)")
            worst = max(worst, w)
        }
        print("FD attention-transfer objective (CE + β/2 Σ AT at conv1, conv2) w.r.t. every parameter: max relative error \(worst)")

        // FSP stage 1: conv1→conv2 flow; student and teacher with equal channels.
        let teacher3 = Self.convNet(channels: 3, seed: 3), t3 = teacher3.makeContext()
        func flow(_ gradients: Bool) -> Double {
            let f = Trainer.forward(student, x, c, taps: [1, 3], through: 3)
            let t = Trainer.forward(teacher3, x, t3, taps: [1, 3], through: 3)
            let g1 = Tensor(shape: [0]), g2 = Tensor(shape: [0])
            let loss = Loss.flowMatching(first: f[1]!, second: f[3]!, teacherFlow: Loss.flowMatrix(t[1]!, t[3]!),
                                         firstGradient: g1, secondGradient: g2)
            if gradients { Trainer.backward(student, c, top: 3, topGradient: nil, tapGradients: [1: g1, 3: g2]) }
            return loss
        }
        student.zeroGradients()
        _ = flow(true)
        var worstFlow = 0.0
        for (name, p) in student.namedParameters(through: 3) {
            let w = Self.check(p.value, analytic: p.grad.copy(), eps: 1e-2) { flow(false) }
            #expect(w < 1e-2, "FSP objective, \(name): \(w)")
            worstFlow = max(worstFlow, w)
        }
        print("FD FSP stage-1 objective w.r.t. every parameter up to conv2: max relative error \(worstFlow)")
    }
}
