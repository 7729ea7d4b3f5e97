// Winograd F(2×2, 3×3) transforms (see include/kd_kernels.h). Channels are the innermost axis, so every
// transform is 8-wide vector arithmetic over channels. Each kernel is compiled twice, for AVX2+FMA and for
// the baseline x86-64/ARM target, and picked at run time from CPUID (no package-wide compiler flags).
#include "kd_kernels.h"
#include <stdint.h>
#include "cpu_features.h"

typedef float v8 __attribute__((vector_size(32), aligned(4)));   // aligned(4): loads and stores may be unaligned

#define KD_MAXC 4096
static const float kd_zeros[KD_MAXC];   // the padding: a 4×4 patch's pixels outside the image read from here

// MARK: - Input transform V = Bᵀ d B,  Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]

static inline __attribute__((always_inline))
void input_body(const float *x, int h, int w, int c, int tile0, int count, float *v, long tileStride, long ldv) {
    const int tilesX = (w + 1) / 2, perImage = ((h + 1) / 2) * tilesX;
    for (int k = 0; k < count; k++) {
        const int t = tile0 + k, b = t / perImage, r = t % perImage, ty = r / tilesX, tx = r % tilesX;
        const float *src[16];
        for (int i = 0; i < 4; i++) {
            const int iy = 2 * ty - 1 + i;
            for (int j = 0; j < 4; j++) {
                const int ix = 2 * tx - 1 + j;
                src[4 * i + j] = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                    ? x + (((long)b * h + iy) * w + ix) * c : kd_zeros;
            }
        }
        float *dst = v + (long)k * tileStride;
        for (int ch = 0; ch < c; ch += 8) {
            v8 d[16], s[16];
            for (int i = 0; i < 16; i++) d[i] = *(const v8 *)(src[i] + ch);
            for (int j = 0; j < 4; j++) {
                s[j] = d[j] - d[8 + j];
                s[4 + j] = d[4 + j] + d[8 + j];
                s[8 + j] = d[8 + j] - d[4 + j];
                s[12 + j] = d[4 + j] - d[12 + j];
            }
            for (int i = 0; i < 4; i++) {
                const v8 *q = s + 4 * i;
                *(v8 *)(dst + (4 * i + 0) * ldv + ch) = q[0] - q[2];
                *(v8 *)(dst + (4 * i + 1) * ldv + ch) = q[1] + q[2];
                *(v8 *)(dst + (4 * i + 2) * ldv + ch) = q[2] - q[1];
                *(v8 *)(dst + (4 * i + 3) * ldv + ch) = q[1] - q[3];
            }
        }
    }
}

#ifdef KD_CPU_X86
__attribute__((target("avx2,fma")))
static void input_avx2(const float *x, int h, int w, int c, int tile0, int count, float *v, long tileStride, long ldv) {
    input_body(x, h, w, c, tile0, count, v, tileStride, ldv);
}
#endif
static void input_base(const float *x, int h, int w, int c, int tile0, int count, float *v, long tileStride, long ldv) {
    input_body(x, h, w, c, tile0, count, v, tileStride, ldv);
}

void kd_winograd_input(const float *x, int h, int w, int c, int tile0, int count, float *v, long tileStride, long ldv) {
#ifdef KD_CPU_X86
    if (kd_cpu_has_avx2(1)) { input_avx2(x, h, w, c, tile0, count, v, tileStride, ldv); return; }
#endif
    input_base(x, h, w, c, tile0, count, v, tileStride, ldv);
}

// MARK: - Output transform Y = Aᵀ M A,  Aᵀ = [1 1 1 0; 0 1 −1 −1]

static inline __attribute__((always_inline))
void output_body(const float *m, long tileStride, long ldm, int h, int w, int c, int tile0, int count, const float *bias, float *y) {
    const int tilesX = (w + 1) / 2, perImage = ((h + 1) / 2) * tilesX;
    for (int k = 0; k < count; k++) {
        const int t = tile0 + k, b = t / perImage, r = t % perImage, ty = r / tilesX, tx = r % tilesX;
        const int oy = 2 * ty, ox = 2 * tx;
        const int right = ox + 1 < w, below = oy + 1 < h;
        float *y00 = y + (((long)b * h + oy) * w + ox) * c;
        float *y10 = y00 + (long)w * c;
        const float *src = m + (long)k * tileStride;
        for (int ch = 0; ch < c; ch += 8) {
            v8 q[16], s0[4], s1[4];
            for (int i = 0; i < 16; i++) q[i] = *(const v8 *)(src + i * ldm + ch);
            for (int j = 0; j < 4; j++) {
                s0[j] = q[j] + q[4 + j] + q[8 + j];
                s1[j] = q[4 + j] - q[8 + j] - q[12 + j];
            }
            v8 bv = {0, 0, 0, 0, 0, 0, 0, 0};
            if (bias) bv = *(const v8 *)(bias + ch);
            *(v8 *)(y00 + ch) = s0[0] + s0[1] + s0[2] + bv;
            if (right) *(v8 *)(y00 + c + ch) = s0[1] - s0[2] - s0[3] + bv;
            if (below) {
                *(v8 *)(y10 + ch) = s1[0] + s1[1] + s1[2] + bv;
                if (right) *(v8 *)(y10 + c + ch) = s1[1] - s1[2] - s1[3] + bv;
            }
        }
    }
}

#ifdef KD_CPU_X86
__attribute__((target("avx2,fma")))
static void output_avx2(const float *m, long tileStride, long ldm, int h, int w, int c, int tile0, int count, const float *bias, float *y) {
    output_body(m, tileStride, ldm, h, w, c, tile0, count, bias, y);
}
#endif
static void output_base(const float *m, long tileStride, long ldm, int h, int w, int c, int tile0, int count, const float *bias, float *y) {
    output_body(m, tileStride, ldm, h, w, c, tile0, count, bias, y);
}

void kd_winograd_output(const float *m, long tileStride, long ldm, int h, int w, int c, int tile0, int count,
                        const float *bias, float *y) {
#ifdef KD_CPU_X86
    if (kd_cpu_has_avx2(1)) { output_avx2(m, tileStride, ldm, h, w, c, tile0, count, bias, y); return; }
#endif
    output_base(m, tileStride, ldm, h, w, c, tile0, count, bias, y);
}

// MARK: - Filter transform U = G g Gᵀ,  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]

static inline __attribute__((always_inline))
void filter_body(const float *w, int co, int ci, float *u) {
    const long plane = (long)co * ci;
    const int wide = ci / 8 * 8;
    for (int o = 0; o < co; o++) {
        const float *wo = w + (long)o * 9 * ci;
        float *uo = u + (long)o * ci;
        for (int i = 0; i < wide; i += 8) {   // 8 input channels at a time (contiguous in w and in u)
            v8 g[9], a[12];
            for (int k = 0; k < 9; k++) g[k] = *(const v8 *)(wo + k * ci + i);
            for (int kx = 0; kx < 3; kx++) {
                a[kx] = g[kx];
                a[3 + kx] = 0.5f * (g[kx] + g[3 + kx] + g[6 + kx]);
                a[6 + kx] = 0.5f * (g[kx] - g[3 + kx] + g[6 + kx]);
                a[9 + kx] = g[6 + kx];
            }
            for (int r = 0; r < 4; r++) {
                const v8 *q = a + 3 * r;
                *(v8 *)(uo + (4 * r + 0) * plane + i) = q[0];
                *(v8 *)(uo + (4 * r + 1) * plane + i) = 0.5f * (q[0] + q[1] + q[2]);
                *(v8 *)(uo + (4 * r + 2) * plane + i) = 0.5f * (q[0] - q[1] + q[2]);
                *(v8 *)(uo + (4 * r + 3) * plane + i) = q[2];
            }
        }
        for (int i = wide; i < ci; i++) {      // the remaining channels one at a time
            float g[9], a[12];
            for (int k = 0; k < 9; k++) g[k] = wo[k * ci + i];
            for (int kx = 0; kx < 3; kx++) {
                a[kx] = g[kx];
                a[3 + kx] = 0.5f * (g[kx] + g[3 + kx] + g[6 + kx]);
                a[6 + kx] = 0.5f * (g[kx] - g[3 + kx] + g[6 + kx]);
                a[9 + kx] = g[6 + kx];
            }
            for (int r = 0; r < 4; r++) {
                const float *q = a + 3 * r;
                uo[(4 * r + 0) * plane + i] = q[0];
                uo[(4 * r + 1) * plane + i] = 0.5f * (q[0] + q[1] + q[2]);
                uo[(4 * r + 2) * plane + i] = 0.5f * (q[0] - q[1] + q[2]);
                uo[(4 * r + 3) * plane + i] = q[2];
            }
        }
    }
}

#ifdef KD_CPU_X86
__attribute__((target("avx2,fma")))
static void filter_avx2(const float *w, int co, int ci, float *u) { filter_body(w, co, ci, u); }
#endif
static void filter_base(const float *w, int co, int ci, float *u) { filter_body(w, co, ci, u); }

void kd_winograd_filter(const float *w, int co, int ci, float *u) {
#ifdef KD_CPU_X86
    if (kd_cpu_has_avx2(1)) { filter_avx2(w, co, ci, u); return; }
#endif
    filter_base(w, co, ci, u);
}
