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
