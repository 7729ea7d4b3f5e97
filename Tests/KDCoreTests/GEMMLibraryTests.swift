import Foundation
@testable import KDCore
import Testing
import _TestSupport

// Shape key: op(A) m × k, op(B) k × n, C m × n, row-major with row strides lda, ldb, ldc.

/// ``BLAS/gemm`` on oneDNN (the default library) against OpenBLAS and against a Double reference: every
/// transpose combination, row strides larger than the rows, alpha and beta (accumulation into C), and the
/// products large enough to be split over two threads by rows and, with few rows, by columns (OpenBLAS
/// with the thread count the process set). The
/// tolerance (1e-5 of Σ|a·b|) is met by float32 rounding in any order and broken by any wrong element.
@Suite struct GEMMLibraryTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [(7, 5, 3), (33, 17, 65), (16, 512, 1024), (1024, 130, 64), (3, 2000, 700)]

    static func product(_ library: BLAS.Library, threads: Int, transA: Bool, transB: Bool, _ s: (m: Int, n: Int, k: Int),
                        alpha: Float, beta: Float, seed: UInt64) -> (c: [Float], reference: [Double], scale: [Double]) {
        let (lda, ldb, ldc) = ((transA ? s.m : s.k) + 3, (transB ? s.k : s.n) + 2, s.n + 5)
        let a = randomTensor([(transA ? s.k : s.m) * lda], seed: seed)
        let b = randomTensor([(transB ? s.n : s.k) * ldb], seed: seed + 1)
        let c = randomTensor([s.m * ldc], seed: seed + 2)
        let c0 = c.array
        BLAS.gemm(using: library, threads: threads, transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: alpha,
                  a: a.data, lda: lda, b: b.data, ldb: ldb, beta: beta, c: c.data, ldc: ldc)
        var reference: [Double] = [], scale: [Double] = [], out: [Float] = []
        for i in 0..<s.m {
            for j in 0..<s.n {
                var sum = 0.0, mag = 0.0
                for p in 0..<s.k {
                    let av = Double(transA ? a.data[p * lda + i] : a.data[i * lda + p])
                    let bv = Double(transB ? b.data[j * ldb + p] : b.data[p * ldb + j])
                    sum += av * bv
                    mag += abs(av * bv)
                }
                reference.append(Double(alpha) * sum + Double(beta) * Double(c0[i * ldc + j]))
                scale.append(abs(Double(alpha)) * mag + abs(Double(beta) * Double(c0[i * ldc + j])))
                out.append(c.data[i * ldc + j])
            }
            // The padding between rows of C is never written.
            for j in s.n..<ldc { #expect(c.data[i * ldc + j] == c0[i * ldc + j]) }
        }
        return (out, reference, scale)
    }

    @Test(arguments: 0..<shapes.count, [1, 2])
    func oneDNNMatchesTheReference(_ i: Int, _ threads: Int) {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
                let what = "shape \(Self.shapes[i]) transA \(ta) transB \(tb) alpha \(alpha) beta \(beta) threads \(threads)"
                let one = Self.product(.onednn, threads: threads, transA: ta, transB: tb, Self.shapes[i], alpha: alpha, beta: beta, seed: 900 + UInt64(i))
                let ob = Self.product(.openblas, threads: threads, transA: ta, transB: tb, Self.shapes[i], alpha: alpha, beta: beta, seed: 900 + UInt64(i))
                var worst = 0.0
                for j in one.c.indices {
                    let tol = 1e-5 * one.scale[j] + 1e-30
                    worst = max(worst, abs(Double(one.c[j]) - one.reference[j]) / tol, abs(Double(ob.c[j]) - ob.reference[j]) / tol)
                }
                #expect(worst <= 1, "\(what): worst error \(worst) × the tolerance")
            }
        }
    }

    @Test func theLibraryIsNamed() {
        #expect(BLAS.description == (BLAS.library == .onednn ? "onednn" : "openblas:\(BLAS.coreName)"))
        #expect(BLAS.Library(rawValue: "openblas") == .openblas && BLAS.Library(rawValue: "onednn") == .onednn)
    }
}
