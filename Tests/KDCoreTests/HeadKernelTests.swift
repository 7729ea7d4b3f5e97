import Foundation
@testable import KDCore
import Testing
import _CKernels
import _TestSupport

// Shape key: m × k is A, k × n is B, m × n is C; attention as in Attention.swift (B, T, D), H heads.

/// The attention head kernels (`kd_small_gemm`, `kd_transpose` in `_CKernels/attention.c`) against a Double
/// reference and against OpenBLAS, on shapes around the kernel's 6-row × 16-column blocks (every row and
/// column tail), transposed A, alpha and accumulation; and the attention layer on the head kernels against
/// its OpenBLAS path (forward, input gradient and weight gradients, with and without a key mask).
@Suite struct HeadKernelTests {
    /// Element bound: 1e-5 · Σ_l |A_il B_lj| (≈ 100 float32 roundings of the largest term), so an error of
    /// 1 % in any element fails.
    static func check(m: Int, n: Int, k: Int, alpha: Float, transposedA: Bool, accumulate: Bool, seed: UInt64) {
        let a = randomTensor([max(m * k, 1)], seed: seed), b = randomTensor([max(k * n, 1)], seed: seed + 1)
        let c0 = randomTensor([m * (n + 2)], seed: seed + 2)
        let (ldb, ldc) = (n + 1, n + 2)
        // A stored (m, k) row-major, or (k, m) row-major and read transposed.
        let (rsa, csa) = transposedA ? (1, m) : (k, 1)
        // B: k rows of stride ldb = n + 1 (not n), so a kernel that ignored ldb would read the wrong elements.
        let bs = Tensor(shape: [max(k * ldb, 1)])
        for l in 0..<k { for j in 0..<n { bs[l * ldb + j] = b[l * n + j] } }
        var want = c0.array, bound = [Double](repeating: 0, count: m * ldc)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, mag = 0.0
                for l in 0..<k {
                    let x = Double(a[i * rsa + l * csa]) * Double(bs[l * ldb + j])
                    s += x
                    mag += abs(x)
                }
                want[i * ldc + j] = Float((accumulate ? Double(c0[i * ldc + j]) : 0) + Double(alpha) * s)
                bound[i * ldc + j] = 1e-5 * abs(Double(alpha)) * mag + (accumulate ? 1e-6 * abs(Double(c0[i * ldc + j])) : 0) + 1e-7
            }
        }
        let c = c0.copy()
        kd_small_gemm(Int32(m), Int32(n), Int32(k), alpha, a.data, rsa, csa, bs.data, ldb, c.data, ldc, accumulate ? 1 : 0)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i * ldc + j
                if j >= n {
                    // Columns past n are not C's: untouched.
                    #expect(c[index].bitPattern == c0[index].bitPattern, "m \(m) n \(n) k \(k): wrote past column n")
                    continue
                }
                let excess = abs(Double(c[index]) - Double(want[index])) / bound[index]
                worst = max(worst, excess)
            }
        }
        #expect(worst <= 1, "m \(m) n \(n) k \(k) alpha \(alpha) transposed \(transposedA) accumulate \(accumulate): \(worst)× the bound")
        // OpenBLAS on the same operands (C overwritten, so only without accumulation).
        if !accumulate && k > 0 {
            let blas = c0.copy()
            if transposedA {
                BLAS.gemm(transA: true, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: m, b: bs.data, ldb: ldb,
                          c: blas.data, ldc: ldc)
            } else {
                BLAS.gemm(m: m, n: n, k: k, alpha: alpha, a: a.data, lda: k, b: bs.data, ldb: ldb, c: blas.data, ldc: ldc)
            }
            for i in 0..<m {
                for j in 0..<n {
                    let index = i * ldc + j
                    #expect(abs(Double(c[index]) - Double(blas[index])) <= 2 * bound[index], "against OpenBLAS at (\(i), \(j))")
                }
            }
        }
    }

    @Test func smallGemmMatchesTheReferenceOnEveryTail() {
        var seed: UInt64 = 1
        for (m, n, k) in [(1, 1, 1), (5, 7, 3), (6, 8, 1), (7, 9, 4), (12, 16, 5), (13, 17, 9), (11, 24, 2),
                          (64, 64, 32), (64, 32, 64), (3, 33, 17), (19, 40, 64), (2, 5, 0)] {
            for transposedA in [false, true] {
                for accumulate in [false, true] {
                    Self.check(m: m, n: n, k: k, alpha: accumulate ? -0.75 : 0.176, transposedA: transposedA,
                               accumulate: accumulate, seed: seed)
                    seed += 3
                }
            }
        }
    }

    @Test func transposeMovesEveryElement() {
        for (rows, cols) in [(1, 1), (7, 5), (8, 8), (9, 17), (64, 32)] {
            let lds = cols + 3, ldd = rows + 2
            let src = randomTensor([rows * lds], seed: UInt64(rows * 100 + cols))
            let dst = Tensor(shape: [cols * ldd], repeating: 42)
            kd_transpose(Int32(rows), Int32(cols), src.data, lds, dst.data, ldd)
            for r in 0..<rows { for c in 0..<cols { #expect(dst[c * ldd + r] == src[r * lds + c]) } }
            for c in 0..<cols { for r in rows..<ldd { #expect(dst[c * ldd + r] == 42, "wrote past row \(rows)") } }
        }
    }

    /// The attention layer on the head kernels against its OpenBLAS path, with frozen weights (the entropy
    /// engine's way) and with weight gradients (training), unmasked and masked.
    @Test func attentionOnHeadKernelsMatchesTheBLASPath() {
        for (b, t, d, heads) in [(2, 11, 8, 2), (3, 64, 128, 4), (2, 7, 15, 3), (1, 17, 24, 1)] {
            for masked in [false, true] {
                var g = SeededGenerator(seed: UInt64(t * 7 + d))
                let layer = MultiHeadSelfAttention(dimension: d, heads: heads, generator: &g)
                // Scores of order 1 (a softmax far from uniform but not one-hot, where rounding is amplified).
                Initializer.uniform(layer.inProjection.weight.value, bound: 1.7 / Float(d).squareRoot(), generator: &g)
                let x = randomTensor([b, t, d], seed: UInt64(b * t * d))
                let dy = randomTensor([b, t, d], seed: UInt64(b * t * d) + 1)
                let lengths: [Int]? = masked ? (0..<b).map { max(1, t - 3 * $0 - 2) } : nil
                func run(blas: Bool) -> (y: [Float], dx: [Float], dw: [Float]) {
                    layer.useBLAS = blas
                    for p in layer.inProjection.parameters + layer.outProjection.parameters { p.grad.zero() }
                    let c = layer.makeContext()
                    c.validLengths = lengths
                    c.parameterGradients = true
                    c.inputGradient = true
                    let y = layer.forward(x, c).array
                    let dx = layer.backward(dy, c).array
                    return (y, dx, layer.inProjection.weight.grad.array + layer.outProjection.weight.grad.array)
                }
                let old = run(blas: true), new = run(blas: false)
                layer.useBLAS = false
                let what = "B \(b) T \(t) D \(d) H \(heads) masked \(masked)"
                expectClose(new.y, old.y, rtol: 1e-4, atol: 1e-5, "\(what) forward")
                expectClose(new.dx, old.dx, rtol: 1e-4, atol: 1e-5, "\(what) input gradient")
                expectClose(new.dw, old.dw, rtol: 1e-4, atol: 1e-4, "\(what) weight gradients")
            }
        }
    }
}
