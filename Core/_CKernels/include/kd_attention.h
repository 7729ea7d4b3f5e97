// Small matrix products for multi-head attention (Core/KDCore/Layers/Attention.swift).
//
// One head of one sequence multiplies matrices of T × T and T × E floats (bert-tiny: 64 × 64 × 32), too
// small for OpenBLAS, whose per-call packing and dispatch cost as much as the arithmetic. These kernels
// read A and B where they lie (strided views of the projections), keep a block of C in registers and never
// pack, so all operands of one head stay in the L1 cache from one product to the next.
#ifndef KD_ATTENTION_H
#define KD_ATTENTION_H

#ifdef __cplusplus
extern "C" {
#endif

/// C (m × n) = alpha · A (m × k) · B (k × n), or C += that when `accumulate` is non-zero.
///
/// A's element (i, l) is a[i · rsa + l · csa] (so a transposed A is csa = its row stride, rsa = 1);
/// B is row-major with row stride ldb; C is row-major with row stride ldc. Any m, n, k ≥ 0 (k = 0 gives
/// C = 0, or C unchanged when accumulating). Each element of C is summed over l in increasing order in
/// float32 with fused multiply–adds (on CPUs with AVX2 and FMA) and scaled by alpha at the end.
void kd_small_gemm(int m, int n, int k, float alpha,
                   const float *a, long rsa, long csa,
                   const float *b, long ldb,
                   float *c, long ldc, int accumulate);

/// dst (cols × rows, row stride ldd) = srcᵀ, src (rows × cols, row stride lds).
void kd_transpose(int rows, int cols, const float *src, long lds, float *dst, long ldd);

#ifdef __cplusplus
}
#endif
#endif
