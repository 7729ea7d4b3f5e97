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
