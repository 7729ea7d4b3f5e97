import Foundation
import KDCore

/// Measures the machine's single-precision GEMM throughput, the yardstick of every other benchmark.
public enum GEMMBenchmark {
    /// Median GFLOP/s of `repeats` square sgemm calls of order `size` (2·n³ FLOP each) after one warm-up,
    /// using OpenBLAS's own threads (all cores by default).
    public static func run(size n: Int = 2048, repeats: Int = 7, threads: Int? = nil) -> (gflops: Double, samples: [Double]) {
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        var g = SeededGenerator(seed: 1)
        g.fillUniform(a.data, count: a.count, low: -1, high: 1)
        g.fillUniform(b.data, count: b.count, low: -1, high: 1)
        let previous = BLAS.threads
        if let t = threads { BLAS.threads = t }
        defer { BLAS.threads = previous }
        var rates: [Double] = []
        for i in 0...repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if i > 0 { rates.append(2 * Double(n) * Double(n) * Double(n) / dt / 1e9) }
        }
        return (median(rates), rates)
    }

    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
