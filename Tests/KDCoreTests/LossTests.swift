import Foundation
import KDCore
import Testing
import _TestSupport

/// Central differences of a scalar function of `t`'s entries, in Double.
private func numericGradient(_ t: Tensor, eps: Float = 1e-2, _ f: () -> Double) -> [Float] {
    (0..<t.count).map { i in
        let saved = t[i]
        t[i] = saved + eps; let plus = f()
        t[i] = saved - eps; let minus = f()
        t[i] = saved
        return Float((plus - minus) / (2 * Double(eps)))
    }
}

/// Expects analytic and numeric gradients to agree and prints the largest difference.
private func expectGradient(_ analytic: Tensor, _ numeric: [Float], _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    let worst = zip(analytic.array, numeric).map { abs($0 - $1) }.max() ?? 0
    print("\(what): max |analytic − numeric| = \(worst)")
    // eps = 1e-2: truncation O(eps²·f''') ≈ 1e-4 on O(1) logits; Float rounding ≈ 1e-7·|L|/eps ≈ 1e-5.
    expectClose(analytic.array, numeric, rtol: 1e-2, atol: 5e-4, what, sourceLocation: sourceLocation)
}

@Suite struct LossTests {
    let labels = [2, 0, 4]

    @Test func crossEntropyGradientMatchesFiniteDifferences() {
        let z = randomTensor([3, 5], seed: 11, scale: 2)
        let g = Tensor(shape: [0])
        _ = Loss.crossEntropy(logits: z, labels: labels, gradient: g)
        expectGradient(g, numericGradient(z) { Loss.crossEntropy(logits: z, labels: labels) }, "cross-entropy")
    }

    @Test func crossEntropyKnownValues() {
        // Uniform logits over K classes: L = log K, dL/dz = (1/K − onehot) / B.
        let z = Tensor(shape: [2, 4])
        let g = Tensor(shape: [0])
        let loss = Loss.crossEntropy(logits: z, labels: [1, 3], gradient: g)
        expectClose(loss, log(4), tol: 1e-6, "uniform")
        expectClose(g.array, [0.125, -0.375, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375], "uniform gradient")
        // Huge logits must not overflow: log-sum-exp subtracts the maximum.
        let big = Tensor(shape: [2, 2], values: [1000, 0, 1000, 0])
        let bigLoss = Loss.crossEntropy(logits: big, labels: [0, 1], gradient: g)
        expectClose(bigLoss, 500, tol: 1e-3, "large logits")
        expectClose(g.array, [0, 0, 0.5, -0.5], "large-logit gradient")
    }

    @Test func meanSquaredErrorValueAndGradient() {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2], values: [0, 2, 5, 4])
        let g = Tensor(shape: [0])
        expectClose(Loss.meanSquaredError(a, b, gradient: g), (1 + 4) / 4, tol: 1e-9, "MSE")
        expectClose(g.array, [0.5, 0, -1, 0], "MSE gradient")
        let x = randomTensor([3, 4], seed: 12), y = randomTensor([3, 4], seed: 13)
        _ = Loss.meanSquaredError(x, y, gradient: g)
        expectGradient(g, numericGradient(x) { Loss.meanSquaredError(x, y) }, "MSE")
    }

    @Test func distillationKLGradientAndKnownValues() {
        let s = randomTensor([3, 5], seed: 14, scale: 2), t = randomTensor([3, 5], seed: 15, scale: 2)
        let g = Tensor(shape: [0])
        for temperature: Float in [1, 4] {
            _ = Loss.distillationKL(student: s, teacher: t, temperature: temperature, gradient: g)
            let numeric = numericGradient(s) { Loss.distillationKL(student: s, teacher: t, temperature: temperature) }
            expectGradient(g, numeric, "KL at T = \(temperature)")
        }
        // Identical logits: KL = 0 and no gradient.
        expectClose(Loss.distillationKL(student: s, teacher: s, temperature: 3, gradient: g), 0, tol: 1e-6, "KL(p‖p)")
        expectClose(g.array, [Float](repeating: 0, count: 15), atol: 1e-7, "KL(p‖p) gradient")
        // Two classes, T = 2: p = softmax([2, 0]/2), q = uniform; T²·KL = 4 · Σ p log(2p).
        let p1 = 1 / (1 + exp(-1.0)), p2 = 1 - p1
        let expected = 4 * (p1 * log(2 * p1) + p2 * log(2 * p2))
        let kl = Loss.distillationKL(student: Tensor(shape: [1, 2]), teacher: Tensor(shape: [1, 2], values: [2, 0]),
                                     temperature: 2)
        expectClose(kl, expected, tol: 1e-6, "two-class KL")
    }

    @Test func hintonMixesCrossEntropyAndKL() {
        let s = randomTensor([3, 5], seed: 16, scale: 2), t = randomTensor([3, 5], seed: 17, scale: 2)
        let g = Tensor(shape: [0]), ce = Tensor(shape: [0]), kl = Tensor(shape: [0])
        let ceValue = Loss.crossEntropy(logits: s, labels: labels, gradient: ce)
        let klValue = Loss.distillationKL(student: s, teacher: t, temperature: 3, gradient: kl)
        let mixed = Loss.hinton(student: s, teacher: t, labels: labels, temperature: 3, beta: 0.3, gradient: g)
        expectClose(mixed, 0.7 * ceValue + 0.3 * klValue, tol: 1e-6, "mix value")
        expectClose(g.array, zip(ce.array, kl.array).map { 0.7 * $0 + 0.3 * $1 }, "mix gradient")
        let numeric = numericGradient(s) { Loss.hinton(student: s, teacher: t, labels: labels, temperature: 3, beta: 0.3) }
        expectGradient(g, numeric, "Hinton KD")
    }

    @Test func accuracyCountsArgmaxWithTiesToTheFirst() {
        let z = Tensor(shape: [4, 3], values: [0.1, 0.9, 0.0,   // → 1
                                               2, 1, 2,         // tie → 0
                                               -1, -3, -2,      // → 0
                                               0, 0, 5])        // → 2
        #expect(Loss.correctCount(logits: z, labels: [1, 2, 0, 2]) == 3)
        #expect(Loss.accuracy(logits: z, labels: [1, 0, 0, 2]) == 1)
        #expect(Loss.accuracy(logits: z, labels: [0, 1, 1, 1]) == 0)
    }
}
