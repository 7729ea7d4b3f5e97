// Elementwise passes of the transformer layers, 8 lanes at a time (see include/kd_elementwise.h).
// Compiled twice, for AVX2 and for the baseline target, and picked at run time from CPUID, like winograd.c.
// No fused multiply–adds (contraction off), so each lane computes exactly what the Swift code computed.
#include "kd_elementwise.h"
#include <stdint.h>
#include "cpu_features.h"

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
// The 8-lane helpers take vector arguments; they are always inlined, so no call crosses the ABI this warns about.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v8 __attribute__((vector_size(32), aligned(4)));     // unaligned loads and stores allowed
typedef int32_t i8 __attribute__((vector_size(32), aligned(4)));
typedef uint32_t u8 __attribute__((vector_size(32), aligned(4)));

#define SPLAT(x) ((v8){(x), (x), (x), (x), (x), (x), (x), (x)})
#define INLINE static inline __attribute__((always_inline))

/// b where mask is set, else a (mask lanes are all ones or all zeros).
INLINE v8 select8(i8 mask, v8 a, v8 b) { return (v8)(((i8)b & mask) | ((i8)a & ~mask)); }

/// Lanes 0…7 added in that order (Swift's SIMD8.sum()).
INLINE float sum8(v8 v) {
    float s = 0;
    for (int i = 0; i < 8; i++) s += v[i];
    return s;
}

INLINE float max8(v8 v) {
    float m = v[0];
    for (int i = 1; i < 8; i++) m = v[i] > m ? v[i] : m;
    return m;
}

// MARK: - FastMath on 8 lanes (GELU.swift), operation for operation

INLINE v8 erf8(v8 x) {
    v8 v = select8(x < SPLAT(-4.0f), x, SPLAT(-4.0f));
    v = select8(v > SPLAT(4.0f), v, SPLAT(4.0f));
    const v8 s = v * v;
    v8 p = SPLAT(-2.72614225801306e-10f);
    p = p * s + SPLAT(2.77068142495902e-08f);
    p = p * s - SPLAT(2.10102402082508e-06f);
    p = p * s - SPLAT(5.69250639462346e-05f);
    p = p * s - SPLAT(7.34990630326855e-04f);
    p = p * s - SPLAT(2.95459980854025e-03f);
    p = p * s - SPLAT(1.60960333262415e-02f);
    v8 q = SPLAT(-1.45660718464996e-05f);
    q = q * s - SPLAT(2.13374055278905e-04f);
    q = q * s - SPLAT(1.68282697438203e-03f);
    q = q * s - SPLAT(7.37332916720468e-03f);
    q = q * s - SPLAT(1.42647390514189e-02f);
    return v * p / q;
}

INLINE v8 exp8(v8 x) {
    v8 v = select8(x < SPLAT(-87.0f), x, SPLAT(-87.0f));
    v = select8(v > SPLAT(0.0f), v, SPLAT(0.0f));
    const v8 t = v * SPLAT(1.44269504088896341f) + SPLAT(12582912.0f);
    const v8 n = t - SPLAT(12582912.0f);
    const v8 r = (v - n * SPLAT(0.693145751953125f)) - n * SPLAT(1.42860682030941723212e-6f);
    v8 p = SPLAT(1.0f / 5040);
    p = p * r + SPLAT(1.0f / 720);
    p = p * r + SPLAT(1.0f / 120);
    p = p * r + SPLAT(1.0f / 24);
    p = p * r + SPLAT(1.0f / 6);
    p = p * r + SPLAT(0.5f);
    p = p * r + SPLAT(1.0f);
    p = p * r + SPLAT(1.0f);
    const u8 e = (((u8)t - 0x4B400000u) + 127u) << 23;
    return p * (v8)e;
}

/// One value through the 8-lane code (tails): lane 0 of a vector holding x.
INLINE float erf1(float x) { return erf8(SPLAT(x))[0]; }
INLINE float exp1(float x) { return exp8(SPLAT(x))[0]; }

static const float kInverseSqrt2 = 0.70710678118654752f, kInverseSqrt2Pi = 0.39894228040143268f;

// MARK: - Bodies

INLINE void gelu_forward_body(const float *x, float *y, float *cdf, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8 v = *(const v8 *)(x + i);
        const v8 phi = SPLAT(0.5f) * (SPLAT(1.0f) + erf8(v * SPLAT(kInverseSqrt2)));
        *(v8 *)(cdf + i) = phi;
        *(v8 *)(y + i) = v * phi;
    }
    for (; i < n; i++) {
        const float phi = 0.5f * (1.0f + erf1(x[i] * kInverseSqrt2));
        cdf[i] = phi;
        y[i] = x[i] * phi;
    }
}

INLINE void gelu_backward_body(const float *x, const float *cdf, const float *dy, float *dx, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8 v = *(const v8 *)(x + i);
        const v8 pdf = SPLAT(kInverseSqrt2Pi) * exp8(SPLAT(-0.5f) * v * v);
        *(v8 *)(dx + i) = *(const v8 *)(dy + i) * (*(const v8 *)(cdf + i) + v * pdf);
    }
    for (; i < n; i++) {
        const float v = x[i];
        const float pdf = kInverseSqrt2Pi * exp1(-0.5f * v * v);
        dx[i] = dy[i] * (cdf[i] + v * pdf);
    }
}

INLINE void softmax_body(float *p, long rows, long columns, long ld) {
    const long wide = columns / 8 * 8;
    for (long r = 0; r < rows; r++) {
        float *row = p + r * ld;
        float top = row[0];
        if (wide > 0) {
            v8 lanes = *(const v8 *)row;
            for (long j = 8; j < wide; j += 8) {
                const v8 v = *(const v8 *)(row + j);
                lanes = select8(v > lanes, lanes, v);
            }
            top = max8(lanes);
        }
        for (long j = wide; j < columns; j++) if (row[j] > top) top = row[j];
        v8 sums = SPLAT(0.0f);
        for (long j = 0; j < wide; j += 8) {
            const v8 v = exp8(*(const v8 *)(row + j) - SPLAT(top));
            *(v8 *)(row + j) = v;
            sums += v;
        }
        float sum = sum8(sums);
        for (long j = wide; j < columns; j++) { const float v = exp1(row[j] - top); row[j] = v; sum += v; }
        const float inv = 1 / sum;
        for (long j = 0; j < wide; j += 8) *(v8 *)(row + j) = *(const v8 *)(row + j) * SPLAT(inv);
        for (long j = wide; j < columns; j++) row[j] *= inv;
    }
}

INLINE void softmax_backward_body(const float *p, float *g, long rows, long columns) {
    const long wide = columns / 8 * 8;
    for (long r = 0; r < rows; r++) {
        const float *pr = p + r * columns;
        float *gr = g + r * columns;
        v8 dots = SPLAT(0.0f);
        for (long j = 0; j < wide; j += 8) dots += *(const v8 *)(gr + j) * *(const v8 *)(pr + j);
        float dot = sum8(dots);
        for (long j = wide; j < columns; j++) dot += gr[j] * pr[j];
        for (long j = 0; j < wide; j += 8) {
            *(v8 *)(gr + j) = *(const v8 *)(pr + j) * (*(const v8 *)(gr + j) - SPLAT(dot));
        }
        for (long j = wide; j < columns; j++) gr[j] = pr[j] * (gr[j] - dot);
    }
}

INLINE void layernorm_forward_body(const float *x, const float *gamma, const float *beta, float *y, float *normalized,
                                   float *rstd, long rows, long d, float epsilon) {
    const long wide = d / 8 * 8;
    const float invD = 1 / (float)d;
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *nr = normalized + r * d, *yr = y + r * d;
        // Two passes (mean, then centred squares) keep the variance accurate when |μ| ≫ σ.
        v8 sums = SPLAT(0.0f);
        for (long j = 0; j < wide; j += 8) sums += *(const v8 *)(xr + j);
        float sum = sum8(sums);
        for (long j = wide; j < d; j++) sum += xr[j];
        const float mean = sum * invD;
        v8 squareLanes = SPLAT(0.0f);
        for (long j = 0; j < wide; j += 8) {
            const v8 t = *(const v8 *)(xr + j) - SPLAT(mean);
            squareLanes += t * t;
        }
        float squares = sum8(squareLanes);
        for (long j = wide; j < d; j++) { const float t = xr[j] - mean; squares += t * t; }
        float root = squares * invD + epsilon;
        root = __builtin_sqrtf(root);
        const float s = 1 / root;
        rstd[r] = s;
        for (long j = 0; j < wide; j += 8) {
            const v8 h = (*(const v8 *)(xr + j) - SPLAT(mean)) * SPLAT(s);
            *(v8 *)(nr + j) = h;
            *(v8 *)(yr + j) = h * *(const v8 *)(gamma + j) + *(const v8 *)(beta + j);
        }
        for (long j = wide; j < d; j++) {
            const float h = (xr[j] - mean) * s;
            nr[j] = h;
            yr[j] = h * gamma[j] + beta[j];
        }
    }
}

INLINE void layernorm_backward_body(const float *dy, const float *normalized, const float *rstd, const float *gamma,
                                    float *dx, long rows, long d) {
    const long wide = d / 8 * 8;
    const float invD = 1 / (float)d;
    for (long r = 0; r < rows; r++) {
        const float *g = dy + r * d, *nr = normalized + r * d;
        float *dr = dx + r * d;
        v8 meanLanes = SPLAT(0.0f), meanXLanes = SPLAT(0.0f);
        for (long j = 0; j < wide; j += 8) {
            const v8 gj = *(const v8 *)(g + j) * *(const v8 *)(gamma + j);
            meanLanes += gj;
            meanXLanes += gj * *(const v8 *)(nr + j);
        }
        float meanG = sum8(meanLanes), meanGX = sum8(meanXLanes);
        for (long j = wide; j < d; j++) {
            const float gj = g[j] * gamma[j];
            meanG += gj;
            meanGX += gj * nr[j];
        }
        meanG *= invD;
        meanGX *= invD;
        const float s = rstd[r];
        for (long j = 0; j < wide; j += 8) {
            const v8 gj = *(const v8 *)(g + j) * *(const v8 *)(gamma + j);
            *(v8 *)(dr + j) = (gj - SPLAT(meanG) - *(const v8 *)(nr + j) * SPLAT(meanGX)) * SPLAT(s);
        }
        for (long j = wide; j < d; j++) dr[j] = (g[j] * gamma[j] - meanG - nr[j] * meanGX) * s;
    }
}

// MARK: - Dispatch: each entry point runs its body compiled for AVX2 when the CPU has it.

#ifdef KD_CPU_X86
#define KDE_DISPATCH(name, params, args) \
    __attribute__((target("avx2"))) static void name##_avx2 params { name##_body args; } \
    static void name##_base params { name##_body args; }
#define KDE_CALL(name, args) do { if (kd_cpu_has_avx2(0)) name##_avx2 args; else name##_base args; } while (0)
#else
#define KDE_DISPATCH(name, params, args) static void name##_base params { name##_body args; }
#define KDE_CALL(name, args) name##_base args
#endif

KDE_DISPATCH(gelu_forward, (const float *x, float *y, float *cdf, long n), (x, y, cdf, n))
KDE_DISPATCH(gelu_backward, (const float *x, const float *cdf, const float *dy, float *dx, long n), (x, cdf, dy, dx, n))
KDE_DISPATCH(softmax, (float *p, long rows, long columns, long ld), (p, rows, columns, ld))
KDE_DISPATCH(softmax_backward, (const float *p, float *g, long rows, long columns), (p, g, rows, columns))
KDE_DISPATCH(layernorm_forward,
             (const float *x, const float *gamma, const float *beta, float *y, float *normalized, float *rstd,
              long rows, long d, float epsilon),
             (x, gamma, beta, y, normalized, rstd, rows, d, epsilon))
KDE_DISPATCH(layernorm_backward,
             (const float *dy, const float *normalized, const float *rstd, const float *gamma, float *dx, long rows,
              long d),
             (dy, normalized, rstd, gamma, dx, rows, d))

void kd_gelu_forward(const float *x, float *y, float *cdf, long n) { KDE_CALL(gelu_forward, (x, y, cdf, n)); }
void kd_gelu_backward(const float *x, const float *cdf, const float *dy, float *dx, long n) {
    KDE_CALL(gelu_backward, (x, cdf, dy, dx, n));
}
void kd_softmax_rows(float *p, long rows, long columns, long ld) { KDE_CALL(softmax, (p, rows, columns, ld)); }
void kd_softmax_backward_rows(const float *p, float *g, long rows, long columns) {
    KDE_CALL(softmax_backward, (p, g, rows, columns));
}
void kd_layernorm_forward(const float *x, const float *gamma, const float *beta, float *y, float *normalized,
                          float *rstd, long rows, long d, float epsilon) {
    KDE_CALL(layernorm_forward, (x, gamma, beta, y, normalized, rstd, rows, d, epsilon));
}
void kd_layernorm_backward(const float *dy, const float *normalized, const float *rstd, const float *gamma,
                           float *dx, long rows, long d) {
    KDE_CALL(layernorm_backward, (dy, normalized, rstd, gamma, dx, rows, d));
}
