// Small unpacked matrix products for attention heads (see include/kd_attention.h).
//
// C is computed in blocks of up to 6 rows × 16 columns held in twelve 8-wide registers: per step l, two
// vector loads of B's row l, one broadcast of A(i, l) per row and twelve multiply–adds. B's rows and A's
// elements are read in place (no packing), which suits the T × T × E products of one attention head, whose
// operands all fit in the L1 cache. Compiled twice, for AVX2+FMA and for the baseline target, and picked at
// run time from CPUID, like winograd.c (no package-wide compiler flags).
#include "kd_attention.h"
#include "cpu_features.h"

typedef float v8 __attribute__((vector_size(32), aligned(4)));   // aligned(4): loads and stores may be unaligned

#define KDA_MR 6

/// One block of `mr` rows × 8·nv columns (nv = 1 or 2); mr and nv are constants after inlining, so the
/// accumulators live in registers.
static inline __attribute__((always_inline))
void block(int mr, int nv, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
           float *c, long ldc, int accumulate) {
    v8 s[KDA_MR][2];
    const v8 zero = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < mr; i++) for (int j = 0; j < nv; j++) s[i][j] = zero;
    for (int l = 0; l < k; l++) {
        const float *bl = b + l * ldb;
        const float *al = a + l * csa;
        v8 b0 = *(const v8 *)bl, b1 = zero;
        if (nv > 1) b1 = *(const v8 *)(bl + 8);
        for (int i = 0; i < mr; i++) {
            const float x = al[i * rsa];
            const v8 ax = {x, x, x, x, x, x, x, x};
            s[i][0] += ax * b0;
            if (nv > 1) s[i][1] += ax * b1;
        }
    }
    const v8 va = {alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha};
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nv; j++) {
            v8 *out = (v8 *)(c + i * ldc + 8 * j);
            *out = accumulate ? *out + va * s[i][j] : va * s[i][j];
        }
    }
}

/// Rows [0, m) of a column block of width 8·nv, six rows at a time and then the remaining 1–5.
static inline __attribute__((always_inline))
void column_block(int nv, int m, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
                  float *c, long ldc, int accumulate) {
    int i = 0;
    for (; i + KDA_MR <= m; i += KDA_MR) {
        block(KDA_MR, nv, k, alpha, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, accumulate);
    }
    const float *ai = a + i * rsa;
    float *ci = c + i * ldc;
    switch (m - i) {
    case 5: block(5, nv, k, alpha, ai, rsa, csa, b, ldb, ci, ldc, accumulate); break;
    case 4: block(4, nv, k, alpha, ai, rsa, csa, b, ldb, ci, ldc, accumulate); break;
    case 3: block(3, nv, k, alpha, ai, rsa, csa, b, ldb, ci, ldc, accumulate); break;
    case 2: block(2, nv, k, alpha, ai, rsa, csa, b, ldb, ci, ldc, accumulate); break;
    case 1: block(1, nv, k, alpha, ai, rsa, csa, b, ldb, ci, ldc, accumulate); break;
    default: break;
    }
}

static inline __attribute__((always_inline))
void gemm_body(int m, int n, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
               float *c, long ldc, int accumulate) {
    int j = 0;
    for (; j + 16 <= n; j += 16) column_block(2, m, k, alpha, a, rsa, csa, b + j, ldb, c + j, ldc, accumulate);
    if (j + 8 <= n) {
        column_block(1, m, k, alpha, a, rsa, csa, b + j, ldb, c + j, ldc, accumulate);
        j += 8;
    }
    // The last n mod 8 columns, one element at a time, in the same order (l increasing, then × alpha).
    for (; j < n; j++) {
        for (int i = 0; i < m; i++) {
            float s = 0;
            for (int l = 0; l < k; l++) s += a[i * rsa + l * csa] * b[l * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + alpha * s : alpha * s;
        }
    }
}

#ifdef KD_CPU_X86
__attribute__((target("avx2,fma")))
static void gemm_avx2(int m, int n, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
                      float *c, long ldc, int accumulate) {
    gemm_body(m, n, k, alpha, a, rsa, csa, b, ldb, c, ldc, accumulate);
}
#endif
static void gemm_base(int m, int n, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
                      float *c, long ldc, int accumulate) {
    gemm_body(m, n, k, alpha, a, rsa, csa, b, ldb, c, ldc, accumulate);
}

void kd_small_gemm(int m, int n, int k, float alpha, const float *a, long rsa, long csa, const float *b, long ldb,
                   float *c, long ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
    if (k < 0) k = 0;
#ifdef KD_CPU_X86
    if (kd_cpu_has_avx2(1)) { gemm_avx2(m, n, k, alpha, a, rsa, csa, b, ldb, c, ldc, accumulate); return; }
#endif
    gemm_base(m, n, k, alpha, a, rsa, csa, b, ldb, c, ldc, accumulate);
}

/// dst[c · ldd + r] = src[r · lds + c] for one 8 × 8 block: eight row loads, three rounds of shuffles, eight
/// row stores (the unpack / shuffle / 128-bit permute sequence of the AVX transpose).
static inline __attribute__((always_inline))
void transpose8(const float *src, long lds, float *dst, long ldd) {
    v8 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = *(const v8 *)(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        *(v8 *)(dst + i * ldd) = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        *(v8 *)(dst + (i + 4) * ldd) = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

static inline __attribute__((always_inline))
void transpose_body(int rows, int cols, const float *src, long lds, float *dst, long ldd) {
    const int rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
    for (int r = 0; r < rows8; r += 8) {
        for (int c = 0; c < cols8; c += 8) transpose8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
    }
    // The edges: columns past the last whole block of 8 for every row, rows past it for the other columns.
    for (int r = 0; r < rows; r++) for (int c = cols8; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
    for (int r = rows8; r < rows; r++) for (int c = 0; c < cols8; c++) dst[c * ldd + r] = src[r * lds + c];
}

#ifdef KD_CPU_X86
__attribute__((target("avx2,fma")))
static void transpose_avx2(int rows, int cols, const float *src, long lds, float *dst, long ldd) {
    transpose_body(rows, cols, src, lds, dst, ldd);
}
#endif

void kd_transpose(int rows, int cols, const float *src, long lds, float *dst, long ldd) {
#ifdef KD_CPU_X86
    if (kd_cpu_has_avx2(1)) { transpose_avx2(rows, cols, src, lds, dst, ldd); return; }
#endif
    transpose_body(rows, cols, src, lds, dst, ldd);
}
