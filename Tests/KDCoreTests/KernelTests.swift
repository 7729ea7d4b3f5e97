import Foundation
import KDCore
import Testing
import _TestSupport

// The vectorised elementwise kernels against straightforward scalar loops, on sizes that are not a
// multiple of the vector width (so the scalar tails run too) and with special values.

/// Sizes around the 8-lane width and a larger odd one.
private let awkwardSizes = [1, 7, 8, 9, 16, 37, 1001]

@Suite struct KernelTests {
    @Test func reluMatchesTheScalarLoop() {
        for n in awkwardSizes {
            let x = randomTensor([n], seed: UInt64(n))
            if n > 3 { x[0] = 0; x[1] = -0.0; x[2] = .nan; x[3] = -.infinity }
            let dy = randomTensor([n], seed: UInt64(n) + 1000)
            let relu = ReLU(), c = relu.makeContext()
            let y = relu.forward(x, c).array
            let dx = relu.backward(dy, c).array
            for i in 0..<n {
                let want = max(x[i], 0)
                #expect(y[i] == want || (y[i].isNaN && want.isNaN), "relu(\(x[i])) = \(y[i]), n = \(n)")
                #expect(dx[i] == (want > 0 ? dy[i] : 0), "relu′ at \(x[i]): \(dx[i]), n = \(n)")
            }
        }
    }
}

@Suite struct SparseLinearBackwardTests {
    /// dx = dy · W in Double, the reference for both of Linear's input-gradient paths.
    private func reference(_ dy: Tensor, _ l: Linear) -> [Float] {
        let (rows, inp, out) = (dy.leadingCount, l.inputFeatures, l.outputFeatures)
        var dx = [Float](repeating: 0, count: rows * inp)
        for r in 0..<rows {
            for i in 0..<inp {
                var s = 0.0
                for o in 0..<out { s += Double(dy[r * out + o]) * Double(l.weight.value[o * inp + i]) }
                dx[r * inp + i] = Float(s)
            }
        }
        return dx
    }

    /// Runs forward then backward on (1, rows, 5) → 6 with the rows of dy outside `live` zeroed.
    private func check(rows: Int, live: [Int], nanAt: Int? = nil) {
        var g = SeededGenerator(seed: 81)
        let l = Linear(5, 6, generator: &g)
        let c = l.makeContext()
        c.parameterGradients = false
        let x = randomTensor([1, rows, 5], seed: 82)
        _ = l.forward(x, c)
        let dy = Tensor(shape: [1, rows, 6])
        let dense = randomTensor([1, rows, 6], seed: 83)
        for r in live { for o in 0..<6 { dy[r * 6 + o] = dense[r * 6 + o] } }
        dy[live[0] * 6 + 5] = 0   // a live row that ends in zero still counts as live
        if let n = nanAt { dy[n * 6 + 3] = .nan }
        let dx = l.backward(dy, c).array
        let want = reference(dy, l)
        if let n = nanAt {
            #expect((0..<5).allSatisfy { dx[n * 5 + $0].isNaN }, "a NaN in dy must reach its dx row")
            for r in 0..<rows where r != n { expectClose(Array(dx[(r * 5)..<(r * 5 + 5)]), Array(want[(r * 5)..<(r * 5 + 5)])) }
        } else {
            expectClose(dx, want, rtol: 1e-5, atol: 1e-6, "rows \(rows), \(live.count) live")
        }
    }

    @Test func fewLiveRowsGiveTheDenseProduct() {
        check(rows: 100, live: [0, 3, 4, 50, 99])          // gathered path, first and last rows live
        check(rows: 100, live: Array(0..<50))               // exactly half: still the gathered path
        check(rows: 100, live: Array(stride(from: 1, to: 100, by: 2)))
    }

    @Test func manyLiveRowsAndSmallBatchesGiveTheDenseProduct() {
        check(rows: 100, live: Array(0..<51))               // more than half: one dense GEMM
        check(rows: 10, live: [2])                           // below the scan threshold
    }

    @Test func aNaNInAZeroRowNeighbourhoodPropagates() {
        check(rows: 100, live: [7, 8], nanAt: 40)
    }

    @Test func parameterGradientsAreUnaffected() {
        // The weight gradient is dyᵀ x over every row, whichever input-gradient path runs.
        var g = SeededGenerator(seed: 84)
        let l = Linear(3, 4, generator: &g)
        let c = l.makeContext()
        let x = randomTensor([80, 3], seed: 85)
        _ = l.forward(x, c)
        let dy = Tensor(shape: [80, 4])
        for o in 0..<4 { dy[17 * 4 + o] = Float(o + 1) }
        _ = l.backward(dy, c)
        var want = [Float](repeating: 0, count: 12)
        for o in 0..<4 { for i in 0..<3 { want[o * 3 + i] = Float(o + 1) * x[17 * 3 + i] } }
        expectClose(l.weight.grad.array, want, rtol: 1e-6, atol: 1e-7)
        expectClose(l.bias!.grad.array, [1, 2, 3, 4], rtol: 0, atol: 0)
    }
}

@Suite struct VectorMathTests {
    @Test func vectorErfAndExpEqualTheScalarFormsBitForBit() {
        var xs: [Float] = [.nan, .infinity, -.infinity, -200, -87.5, -87, -4.5, -4, 0, -0.0, 4, 4.5, 1e-30]
        xs += (0...4_000).map { Float($0 - 2_000) * 4.5e-3 }       // −9 … 9
        xs += (0...4_000).map { Float($0) * -2.3e-2 }               // 0 … −92
        while xs.count % 8 != 0 { xs.append(0.5) }
        var mismatches = 0
        for i in stride(from: 0, to: xs.count, by: 8) {
            let v = SIMD8<Float>((0..<8).map { xs[i + $0] })
            let e = FastMath.erf(v), x = FastMath.expNonPositive(v)
            for l in 0..<8 {
                let se = FastMath.erf(v[l]), sx = FastMath.expNonPositive(v[l])
                if e[l].bitPattern != se.bitPattern && !(e[l].isNaN && se.isNaN) { mismatches += 1 }
                if x[l].bitPattern != sx.bitPattern && !(x[l].isNaN && sx.isNaN) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0, "\(mismatches) lanes differ from the scalar forms")
    }

    @Test func geluMatchesTheScalarFormulaBitForBit() {
        for n in awkwardSizes {
            let x = randomTensor([n], seed: UInt64(n) + 7, scale: 3)
            if n > 2 { x[0] = .nan; x[1] = -9 }
            let dy = randomTensor([n], seed: UInt64(n) + 8)
            let gelu = GELU(), c = gelu.makeContext()
            let y = gelu.forward(x, c).array
            let dx = gelu.backward(dy, c).array
            for i in 0..<n {
                let v = x[i]
                let wantY = 0.5 * v * (1 + FastMath.erf(v * 0.70710678118654752))
                let cdf = 0.5 * (1 + FastMath.erf(v * 0.70710678118654752))
                let pdf = 0.39894228040143268 * FastMath.expNonPositive(-0.5 * v * v)
                let wantDx = dy[i] * (cdf + v * pdf)
                #expect(y[i].bitPattern == wantY.bitPattern || (y[i].isNaN && wantY.isNaN), "GELU(\(v)), n = \(n)")
                #expect(dx[i].bitPattern == wantDx.bitPattern || (dx[i].isNaN && wantDx.isNaN), "GELU′(\(v)), n = \(n)")
            }
        }
    }

    /// Attention with T = 11 and 16 tokens runs the softmax's 8-lane passes and its scalar tail.
    @Test func attentionGradientsWithVectorWidthRows() {
        for (t, seed) in [(11, UInt64(91)), (16, UInt64(93))] {
            var g = SeededGenerator(seed: seed)
            let a = MultiHeadSelfAttention(dimension: 8, heads: 2, generator: &g)
            // Larger in_proj weights, so the rows of P are far from uniform.
            Initializer.uniform(a.inProjection.weight.value, bound: 1, generator: &g)
            for r in GradientCheck().run(a, input: randomTensor([2, t, 8], seed: seed + 1)) {
                print("[mhsa T=\(t)] \(r)")
                #expect(r.maxRelDiff < 1e-2, "T = \(t): \(r)")
            }
        }
    }

    @Test func softmaxRowsSumToOneAndFollowTheScores() {
        // With Q = K = 0 every score is 0, so every row of P is 1/T and each output is out_proj of the
        // mean of V; T = 11 runs the 8-lane passes and the tail.
        var g = SeededGenerator(seed: 95)
        let a = MultiHeadSelfAttention(dimension: 8, heads: 2, generator: &g)
        for i in 0..<(2 * 8 * 8) { a.inProjection.weight.value[i] = 0 }
        let (t, d) = (11, 8)
        let x = randomTensor([1, t, d], seed: 96)
        let y = a.forward(x, a.makeContext()).array
        // mean of V over tokens, then out_proj (biases are zero at initialisation)
        var meanV = [Float](repeating: 0, count: d)
        for n in 0..<t {
            for j in 0..<d {
                var v: Float = 0
                for i in 0..<d { v += a.inProjection.weight.value[(2 * d + j) * d + i] * x[n * d + i] }
                meanV[j] += v / Float(t)
            }
        }
        var want = [Float](repeating: 0, count: d)
        for o in 0..<d { for i in 0..<d { want[o] += a.outProjection.weight.value[o * d + i] * meanV[i] } }
        for n in 0..<t { expectClose(Array(y[(n * d)..<(n * d + d)]), want, rtol: 1e-5, atol: 1e-5, "token \(n)") }
    }
}

@Suite struct LayerNormKernelTests {
    /// d = 13 runs the 8-lane passes and the scalar tail of every row.
    @Test func oddWidthRowsAreNormalisedAndGradientsMatch() {
        let d = 13
        let ln = LayerNorm(d)
        let gamma = randomTensor([d], seed: 101, scale: 0.5), beta = randomTensor([d], seed: 102, scale: 0.5)
        for j in 0..<d { ln.weight.value[j] = 1 + gamma[j]; ln.bias.value[j] = beta[j] }
        let x = randomTensor([3, 4, d], seed: 103, scale: 2)
        for i in 0..<x.count { x[i] += 4 }
        let y = ln.forward(x, ln.makeContext())
        for r in 0..<12 {
            // undo the affine map, then check the row's mean and variance
            let row = (0..<d).map { Double((y[r * d + $0] - ln.bias.value[$0]) / ln.weight.value[$0]) }
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            expectClose(mean, 0, tol: 1e-5, "row \(r) mean")
            expectClose(variance, 1, tol: 1e-4, "row \(r) variance")
        }
        for r in GradientCheck().run(ln, input: randomTensor([2, 3, d], seed: 104)) {
            print("[layernorm d=13] \(r)")
            #expect(r.maxRelDiff < 1e-2, "\(r)")
        }
    }
}
