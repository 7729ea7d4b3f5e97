// Hand-written CPU kernels KDCore calls from Swift where the compiler's own code is not enough.
// Winograd F(2×2, 3×3) transforms for 3×3, stride-1, padding-1 convolutions on NHWC images
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). The matrix products between
// the transforms run through OpenBLAS from Swift (Core/KDCore/Layers/Winograd.swift).
//
// Layouts: images (B, H, W, C) row-major; one tile = 2×2 output pixels from a 4×4 input patch whose top-left
// pixel is (2·ty − 1, 2·tx − 1); tiles are numbered t = (b·tilesY + ty)·tilesX + tx with tilesY = ⌈H/2⌉,
// tilesX = ⌈W/2⌉. Transformed data is stored as 16 matrices, one per transform coefficient ξ = 4·r + c.
#ifndef KD_KERNELS_H
#define KD_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

/// U = G g Gᵀ for every filter. `w` is (co, 3, 3, ci); u is 16 × (co, ci), u[ξ][o][i].
/// The input-gradient convolution (the kernel rotated by 180°, channel roles swapped) needs no transform of
/// its own: since G J = P G (J reverses 3 rows, P swaps rows 0 and 3 of 4), its U'[4r+c] is U[4p(r)+p(c)]ᵀ.
void kd_winograd_filter(const float *w, int co, int ci, float *u);

/// V = Bᵀ d B for tiles [tile0, tile0 + count) of x (batch, h, w, c): v[k · tileStride + ξ · ldv + ch] for
/// the k-th tile of the range. `c` must be a multiple of 8.
void kd_winograd_input(const float *x, int h, int w, int c, int tile0, int count, float *v, long tileStride, long ldv);

/// Y = Aᵀ M A (+ bias) for tiles [tile0, tile0 + count): m[k · tileStride + ξ · ldm + ch]; writes the
/// in-image pixels of each tile into y (batch, h, w, c), overwriting them. bias may be NULL. `c` must be a
/// multiple of 8.
void kd_winograd_output(const float *m, long tileStride, long ldm, int h, int w, int c, int tile0, int count,
                        const float *bias, float *y);

#ifdef __cplusplus
}
#endif
#endif
