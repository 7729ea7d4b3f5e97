import Foundation
@testable import KDCore
import Testing
import _CKernels
import _TestSupport

// Shape key: rows × columns (softmax), rows × d (LayerNorm); ld a row stride ≥ columns.

/// The C elementwise kernels of `_CKernels/elementwise.c` (AVX2 when present): softmax rows and their
/// backward against the Swift code they replaced (`MultiHeadSelfAttention.softmaxRows`,
/// `softmaxBackwardRows`), LayerNorm forward and input gradient against a Double reference, on widths around
/// the 8-lane vector (every tail). GELU's bit-for-bit agreement with FastMath is KernelTests'.
@Suite struct ElementwiseKernelTests {
    static let widths = [1, 5, 8, 9, 16, 23, 64, 128, 131]

    @Test func softmaxRowsMatchTheSwiftCode() {
        for columns in Self.widths {
            let rows = 5, ld = columns + 3
            let scores = randomTensor([rows * ld], seed: UInt64(columns), scale: 4)
            let want = scores.copy(), got = scores.copy()
            for r in 0..<rows { MultiHeadSelfAttention.softmaxRows(want.data + r * ld, rows: 1, columns: columns) }
            kd_softmax_rows(got.data, rows, columns, ld)
            for r in 0..<rows {
                var total = 0.0
                for j in 0..<ld {
                    let i = r * ld + j
                    if j >= columns {
                        #expect(got[i] == scores[i], "columns \(columns): wrote past the row's end")
                        continue
                    }
                    #expect(abs(got[i] - want[i]) <= 1e-6 * want[i] + 1e-9, "columns \(columns) (\(r), \(j)): \(got[i]) vs \(want[i])")
                    total += Double(got[i])
                }
                #expect(abs(total - 1) < 1e-5, "columns \(columns) row \(r) sums to \(total)")
            }
        }
    }

    @Test func softmaxBackwardMatchesTheSwiftCode() {
        for columns in Self.widths {
            let rows = 4
            let p = randomTensor([rows * columns], seed: UInt64(columns) + 50, scale: 3)
            kd_softmax_rows(p.data, rows, columns, columns)
            let g = randomTensor([rows * columns], seed: UInt64(columns) + 51)
            let want = g.copy(), got = g.copy()
            MultiHeadSelfAttention.softmaxBackwardRows(probabilities: p.data, gradient: want.data, rows: rows, columns: columns)
            kd_softmax_backward_rows(p.data, got.data, rows, columns)
            expectClose(got.array, want.array, rtol: 1e-5, atol: 1e-7, "softmax backward, columns \(columns)")
        }
    }

    /// LayerNorm through the layer (forward, then the input gradient), against the formulas in Double.
    @Test func layerNormMatchesADoubleReference() {
        for d in Self.widths where d > 1 {
            let rows = 6
            let norm = LayerNorm(d)
            var g = SeededGenerator(seed: UInt64(d) + 7)
            g.fillGaussian(norm.weight.value.data, count: d)
            g.fillGaussian(norm.bias.value.data, count: d)
            // Rows with a large mean and a small spread: the two-pass variance must stay accurate.
            let x = randomTensor([rows, d], seed: UInt64(d) + 8)
            for r in 0..<rows { for j in 0..<d { x[r * d + j] = x[r * d + j] * 0.5 + Float(r) * 30 } }
            let dy = randomTensor([rows, d], seed: UInt64(d) + 9)
            let c = norm.makeContext()
            c.inputGradient = true
            let y = norm.forward(x, c).array
            let dx = norm.backward(dy, c).array
            var wantY = [Float](), wantDx = [Float]()
            for r in 0..<rows {
                let xr = (0..<d).map { Double(x[r * d + $0]) }
                let mean = xr.reduce(0, +) / Double(d)
                let variance = xr.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                let rstd = 1 / (variance + Double(norm.epsilon)).squareRoot()
                let h = xr.map { ($0 - mean) * rstd }
                let gh = (0..<d).map { Double(dy[r * d + $0]) * Double(norm.weight.value[$0]) }
                let meanG = gh.reduce(0, +) / Double(d)
                let meanGX = zip(gh, h).map { $0 * $1 }.reduce(0, +) / Double(d)
                for j in 0..<d {
                    wantY.append(Float(h[j] * Double(norm.weight.value[j]) + Double(norm.bias.value[j])))
                    wantDx.append(Float((gh[j] - meanG - h[j] * meanGX) * rstd))
                }
            }
            expectClose(y, wantY, rtol: 1e-4, atol: 1e-4, "LayerNorm forward, d \(d)")
            expectClose(dx, wantDx, rtol: 1e-4, atol: 1e-4, "LayerNorm input gradient, d \(d)")
        }
    }
}
