// The input gradient of a stride-1 convolution with few input channels (an image network's first layer,
// 3 colour channels), optionally through the ReLU after it (see include/kd_kernels.h).
//
//   g[b, i, j, o]  = dy[b, i, j, o] · (y[b, i, j, o] > 0)            (dy when no ReLU output is given)
//   dx[b, r, s, c] = Σ_{ky, kx} Σ_o W[o, ky, kx, c] · g[b, r + p − ky, s + p − kx, o]
//
// oneDNN's kernels vectorise over input channels, of which there are 3 here: this one vectorises over the
// output channels (16 per AVX-512 register), keeps one accumulator per input channel and 16 outputs, and
// sums each accumulator's lanes once per pixel. Layouts NHWC, weights (co, k, k, ci).
#include "kd_kernels.h"
#include "cpu_features.h"
#include <string.h>
#if defined(KD_CPU_X86)
#include <immintrin.h>
#endif

enum { KD_SC_MAX_CI = 4, KD_SC_MAX_BLOCKS = 4 };

#if defined(KD_CPU_X86)
// One image; `CI` input channels and `NB` blocks of 16 output channels are constants after inlining.
__attribute__((target("avx512f"), always_inline)) static inline void
kd_sc_image(const float *g, const float *wt, int h, int w, int ho, int wo, int k, int p, float *dx, const int CI, const int NB) {
    const int co = 16 * NB;
    for (int r = 0; r < h; r++) {
        for (int s = 0; s < w; s++) {
            __m512 acc[KD_SC_MAX_CI][KD_SC_MAX_BLOCKS];
            for (int c = 0; c < CI; c++) for (int j = 0; j < NB; j++) acc[c][j] = _mm512_setzero_ps();
            for (int ky = 0; ky < k; ky++) {
                int i = r + p - ky;
                if (i < 0 || i >= ho) continue;
                for (int kx = 0; kx < k; kx++) {
                    int jj = s + p - kx;
                    if (jj < 0 || jj >= wo) continue;
                    const float *gp = g + ((long)i * wo + jj) * co, *wp = wt + (long)(ky * k + kx) * CI * co;
                    __m512 gv[KD_SC_MAX_BLOCKS];
                    for (int j = 0; j < NB; j++) gv[j] = _mm512_loadu_ps(gp + 16 * j);
                    for (int c = 0; c < CI; c++)
                        for (int j = 0; j < NB; j++)
                            acc[c][j] = _mm512_fmadd_ps(gv[j], _mm512_loadu_ps(wp + c * co + 16 * j), acc[c][j]);
                }
            }
            float *out = dx + ((long)r * w + s) * CI;
            for (int c = 0; c < CI; c++) {
                __m512 t = acc[c][0];
                for (int j = 1; j < NB; j++) t = _mm512_add_ps(t, acc[c][j]);
                out[c] = _mm512_reduce_add_ps(t);
            }
        }
    }
}

// g = dy where y > 0, else 0 (branch-free: the signs are random).
__attribute__((target("avx512f"))) static void kd_sc_mask(const float *dy, const float *y, float *g, long n) {
    const __m512 zero = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(y + i), zero, _CMP_GT_OQ);
        _mm512_storeu_ps(g + i, _mm512_maskz_mov_ps(m, _mm512_loadu_ps(dy + i)));
    }
    for (; i < n; i++) g[i] = y[i] > 0 ? dy[i] : 0;
}

#define KD_SC_CASE(CI, NB) \
    __attribute__((target("avx512f"))) static void kd_sc_##CI##_##NB(const float *g, const float *wt, int h, int w, \
        int ho, int wo, int k, int p, float *dx) { kd_sc_image(g, wt, h, w, ho, wo, k, p, dx, CI, NB); }
KD_SC_CASE(1, 1) KD_SC_CASE(1, 2) KD_SC_CASE(1, 3) KD_SC_CASE(1, 4)
KD_SC_CASE(2, 1) KD_SC_CASE(2, 2) KD_SC_CASE(2, 3) KD_SC_CASE(2, 4)
KD_SC_CASE(3, 1) KD_SC_CASE(3, 2) KD_SC_CASE(3, 3) KD_SC_CASE(3, 4)
KD_SC_CASE(4, 1) KD_SC_CASE(4, 2) KD_SC_CASE(4, 3) KD_SC_CASE(4, 4)
typedef void (*kd_sc_fn)(const float *, const float *, int, int, int, int, int, int, float *);
static const kd_sc_fn kd_sc_table[KD_SC_MAX_CI][KD_SC_MAX_BLOCKS] = {
    {kd_sc_1_1, kd_sc_1_2, kd_sc_1_3, kd_sc_1_4}, {kd_sc_2_1, kd_sc_2_2, kd_sc_2_3, kd_sc_2_4},
    {kd_sc_3_1, kd_sc_3_2, kd_sc_3_3, kd_sc_3_4}, {kd_sc_4_1, kd_sc_4_2, kd_sc_4_3, kd_sc_4_4}};
#endif

int kd_small_conv_supported(int ci, int co, int k, int stride, int padding) {
#if defined(KD_CPU_X86)
    return kd_cpu_has_avx512f() && ci >= 1 && ci <= KD_SC_MAX_CI && co % 16 == 0 && co / 16 <= KD_SC_MAX_BLOCKS &&
           stride == 1 && k >= 1 && padding >= 0 && padding < k;
#else
    (void)ci; (void)co; (void)k; (void)stride; (void)padding;
    return 0;
#endif
}

long kd_small_conv_workspace(int ho, int wo, int ci, int co, int k) { return (long)ho * wo * co + (long)k * k * ci * co + 16; }

int kd_small_conv_input_gradient(const float *dy, const float *relu_out, const float *weights, int batch, int h, int w,
                                 int ci, int co, int k, int padding, float *dx, float *workspace) {
    if (!kd_small_conv_supported(ci, co, k, 1, padding)) return 0;
#if defined(KD_CPU_X86)
    int ho = h + 2 * padding - k + 1, wo = w + 2 * padding - k + 1;
    if (ho <= 0 || wo <= 0) return 0;
    long per = (long)ho * wo * co;
    float *g = workspace, *wt = workspace + per;
    // Weights as [ky][kx][c][o]: one tap's weights for an input channel are 16·NB consecutive floats.
    for (int o = 0; o < co; o++)
        for (int t = 0; t < k * k; t++)
            for (int c = 0; c < ci; c++) wt[((long)t * ci + c) * co + o] = weights[((long)o * k * k + t) * ci + c];
    for (int b = 0; b < batch; b++) {
        const float *gb = dy + b * per;
        if (relu_out) {
            kd_sc_mask(gb, relu_out + b * per, g, per);
            gb = g;
        }
        kd_sc_table[ci - 1][co / 16 - 1](gb, wt, h, w, ho, wo, k, padding, dx + (long)b * h * w * ci);
    }
    return 1;
#else
    (void)dy; (void)relu_out; (void)weights; (void)batch; (void)h; (void)w; (void)dx; (void)workspace;
    return 0;
#endif
}
