import Foundation
import _CBLAS
import _CKernels

/// Every matrix product in kd-tool goes through ``gemm`` (row-major), computed by oneDNN's sgemm (the default)
/// or OpenBLAS's `cblas_sgemm` (``library``).
public enum BLAS {
    /// The library that computes the products.
    ///
    /// - `onednn` (default): oneDNN's sgemm, one thread per call; a large product is split by rows (or by
    ///   columns when it has few rows) over ``threads`` of kd-tool's own threads. oneDNN chooses its kernels
    ///   from the CPU when it runs (AVX-512 where the CPU has it). Measured on this project's machines (AMD
    ///   EPYC, AVX-512), one thread: 245–255 GFLOP/s on the σ step's products against OpenBLAS's 120–125
    ///   with the Haswell kernels and 220–240 with its own AVX-512 kernels; 195–210 against 76–86 for the
    ///   16-row products of a classifier's first fully connected layer (Docs/Benchmarks.md).
    /// - `openblas`: OpenBLAS with its own threads (``threads``) and the kernel family it chose (``coreName``).
    ///
    /// The environment variable `KD_GEMM=openblas` (or `onednn`) sets the initial choice. The two round
    /// differently (float32 sums in another order), so results agree to rounding, not bit for bit.
    public enum Library: String, Sendable, CaseIterable {
        case onednn, openblas
    }

    /// The library in use (see ``Library``); set before work starts, not while products run.
    nonisolated(unsafe) public static var library: Library = {
        let asked = ProcessInfo.processInfo.environment["KD_GEMM"]?.lowercased()
        return asked.flatMap(Library.init(rawValue:)) ?? .onednn
    }()

    /// Whether oneDNN runs bfloat16 products natively on this CPU (AVX512_BF16 or AMX): the condition of
    /// `EntropySettings.precision` bf16.
    public static var nativeBFloat16: Bool { kd_dnnl_has_bf16() != 0 }

    /// How bench lines and run records name the products' library: "onednn" or "openblas:<kernel family>".
    public static var description: String { library == .onednn ? "onednn" : "openblas:\(coreName)" }

    /// The libraries behind a run's numbers, for run records: the products' library and, when oneDNN can
    /// start, that convolutions run on it by default (kd-tool's own kernels where it has no fast one).
    public static var computeSummary: String {
        "gemm=\(description) conv=\(kd_dnnl_available() != 0 ? "onednn" : "kd-tool")"
    }

    /// Products of at least this many multiply-adds are split over ``threads`` threads (oneDNN library).
    static let parallelMinimumMACs = 1 << 22

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
        gemm(using: library, threads: library == .onednn ? threads : 0, transA: transA, transB: transB, m: m, n: n, k: k,
             alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// ``gemm`` on a given library and thread count (for oneDNN; OpenBLAS uses its own setting), whatever
    /// the global choice (tests compare the libraries without changing it under other tests' feet).
    @inline(__always)
    static func gemm(
        using library: Library, threads: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched when k == 0 only if beta == 1; make the scaling explicit.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        if library == .onednn,
           oneDNN(threads: threads, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc) {
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The product on oneDNN: one call, or row (column) blocks of C on ``threads`` threads. False, with C
    /// untouched, when a row stride is too short for its matrix (OpenBLAS then reports the call as BLAS
    /// does); oneDNN's own checks are the same, so no block can fail after another has written C.
    private static func oneDNN(threads: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        guard lda >= max(1, transA ? m : k), ldb >= max(1, transB ? k : n), ldc >= max(1, n) else { return false }
        let (ta, tb) = (Int32(transA ? 1 : 0), Int32(transB ? 1 : 0))
        let workers = m * n * k >= parallelMinimumMACs ? min(threads, max(m, n) / 16) : 1
        if workers <= 1 {
            return kd_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) != 0
        }
        // Rows of C come from rows of op(A) (columns of A when transposed); columns of C from columns of op(B).
        let byRows = m >= n || m >= 16 * workers
        let ok = UnsafeMutableBufferPointer<Bool>.allocate(capacity: workers)
        defer { ok.deallocate() }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            if byRows {
                let (r0, r1) = (m * w / workers, m * (w + 1) / workers)
                let ap = transA ? a + r0 : a + r0 * lda
                ok[w] = kd_dnnl_sgemm(ta, tb, r1 - r0, n, k, alpha, ap, lda, b, ldb, beta, c + r0 * ldc, ldc) != 0
            } else {
                let (c0, c1) = (n * w / workers, n * (w + 1) / workers)
                let bp = transB ? b + c0 * ldb : b + c0
                ok[w] = kd_dnnl_sgemm(ta, tb, m, c1 - c0, k, alpha, a, lda, bp, ldb, beta, c + c0, ldc) != 0
            }
        }
        return ok.allSatisfy { $0 }
    }

    /// The kernel family OpenBLAS chose when it was loaded (e.g. "Cooperlake", "Haswell"): from the CPU, or
    /// from the environment variable `OPENBLAS_CORETYPE` when it is set. With the `openblas` library, the
    /// AVX2 "Haswell" kernels on an AVX-512 machine make the GEMM-bound workloads up to 1.4× slower
    /// (Docs/Benchmarks.md).
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The number of threads one product may use (OpenBLAS's setting, which kd-tool also follows for
    /// oneDNN's products). When kd-tool runs samples in parallel on its own threads it sets this to 1 so
    /// the cores are not oversubscribed.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with products limited to `count` threads, restoring the previous count after.
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        threads = count
        defer { threads = previous }
        return try body()
    }
}
