import _CBLAS

/// Every matrix product in kd-tool goes through OpenBLAS's `cblas_sgemm` (row-major).
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, all row-major.
    /// - Parameters: `m × k` is op(A), `k × n` is op(B), `m × n` is C; `lda`, `ldb`, `ldc` are row strides.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched when k == 0 only if beta == 1; make the scaling explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The kernel family OpenBLAS chose when it was loaded (e.g. "Cooperlake", "Haswell"): from the CPU, or
    /// from the environment variable `OPENBLAS_CORETYPE` when it is set. The bench lines print it: on an
    /// AVX-512 machine the AVX2 "Haswell" kernels make the GEMM-bound workloads up to 1.4× slower
    /// (Docs/Benchmarks.md).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The number of threads OpenBLAS may use for one call. When kd-tool runs samples in parallel on
    /// its own threads it sets this to 1 so the cores are not oversubscribed.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with OpenBLAS limited to `count` threads, restoring the previous count after.
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        threads = count
        defer { threads = previous }
        return try body()
    }
}
