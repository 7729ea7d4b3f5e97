// Elementwise passes of the transformer layers (GELU, softmax rows, LayerNorm), 8 floats at a time with AVX2
// on CPUs that have it (chosen at run time; Swift's own SIMD8 code is compiled for the baseline x86-64
// target, i.e. two 4-wide SSE operations per SIMD8 operation and no fused multiply–add).
//
// Every kernel performs the same float32 operations in the same order as the Swift code it replaced
// (GELU.swift's FastMath, Attention.swift's softmax, LayerNorm.swift), without fused multiply–adds, so GELU's
// results are bit for bit FastMath's; the reductions (softmax sums, LayerNorm means) add their 8 lanes in
// a fixed order of their own, so those agree with the Swift code to rounding.
#ifndef KD_ELEMENTWISE_H
#define KD_ELEMENTWISE_H

#ifdef __cplusplus
extern "C" {
#endif

/// y = x · Φ(x), cdf = Φ(x) = ½ (1 + erf(x / √2)) for n values (FastMath.erf's rational approximation).
void kd_gelu_forward(const float *x, float *y, float *cdf, long n);

/// dx = dy · (Φ(x) + x · φ(x)), φ(x) = exp(−x²/2) / √(2π) (FastMath.expNonPositive), for n values.
void kd_gelu_backward(const float *x, const float *cdf, const float *dy, float *dx, long n);

/// In-place softmax of `rows` rows of `columns` values (row stride ld), shifted by each row's maximum.
void kd_softmax_rows(float *p, long rows, long columns, long ld);

/// dL/dP → dL/dS in place: g = p ⊙ (g − Σ_j g_j p_j), row by row (row stride `columns`).
void kd_softmax_backward_rows(const float *p, float *g, long rows, long columns);

/// LayerNorm forward over rows of d values: x̂ = (x − μ) · rstd, y = γ x̂ + β, rstd = 1/√(σ² + ε)
/// (two-pass mean and centred variance). Writes y, x̂ (`normalized`) and rstd per row.
void kd_layernorm_forward(const float *x, const float *gamma, const float *beta, float *y, float *normalized,
                          float *rstd, long rows, long d, float epsilon);

/// LayerNorm input gradient: g = dy ⊙ γ, dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) · rstd, row by row.
void kd_layernorm_backward(const float *dy, const float *normalized, const float *rstd, const float *gamma,
                           float *dx, long rows, long d);

#ifdef __cplusplus
}
#endif
#endif
