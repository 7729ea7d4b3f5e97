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

// MARK: - oneDNN convolutions (dnnl_conv.c)
// A plan is one oneDNN primitive for one pass of one convolution shape, made once and run many times.
// Layouts are kd-tool's: activations (batch, h, w, channels), weights (co, k, k, ci). Runs use the number of
// OpenMP threads the plan was made for, set on the calling thread only.

typedef struct kd_dnnl_conv kd_dnnl_conv;

enum { KD_DNNL_FORWARD = 0, KD_DNNL_BACKWARD_DATA = 1, KD_DNNL_BACKWARD_WEIGHTS = 2 };
enum { KD_DNNL_DIRECT = 0, KD_DNNL_WINOGRAD = 1 };
/// Added to the algorithm: the products' inputs in bfloat16 (outputs and accumulation float32). Direct only.
enum { KD_DNNL_BF16 = 2 };

/// KD_DNNL_WINOGRAD falls back to KD_DNNL_DIRECT when oneDNN has no Winograd for this CPU or shape. NULL when
/// oneDNN has nothing but its slow reference loops (or the library cannot start); the caller then uses its
/// own code.
kd_dnnl_conv *kd_dnnl_conv_create(int pass, int algorithm, int batch, int h, int w, int ci, int co, int k,
                                  int stride, int padding, int ho, int wo, int has_bias, int threads);
void kd_dnnl_conv_destroy(kd_dnnl_conv *plan);
/// Floats of workspace one run needs.
long kd_dnnl_conv_workspace(const kd_dnnl_conv *plan);
/// oneDNN's name of the implementation it chose (e.g. "jit_wino_4x3:avx512_core").
const char *kd_dnnl_conv_implementation(const kd_dnnl_conv *plan);
/// forward: a = x, b = weights, bias (may be NULL when the plan has none), out = y (overwritten);
/// backward data: a = dy, b = weights, out = dx (overwritten);
/// backward weights: a = x, b = dy, out += dW, bias_out += db (when not NULL and the plan has a bias).
/// Returns 0 when oneDNN reports an error (outputs then unspecified).
int kd_dnnl_conv_run(kd_dnnl_conv *plan, const float *a, const float *b, const float *bias, float *out,
                     float *bias_out, float *workspace);

// MARK: - oneDNN layer chains (dnnl_chain.c)
// A chain runs consecutive convolution / ReLU / max-pooling layers inside oneDNN for the input gradient
// only (frozen weights): activations stay in oneDNN's blocked layouts between layers, a ReLU after a
// convolution is done by the convolution itself, and only the chain's input and output are kd-tool's NHWC.
// One chain = one batch size and input shape; it runs on the calling thread (one OpenMP thread).

typedef struct kd_dnnl_chain kd_dnnl_chain;

enum { KD_CHAIN_CONV = 0, KD_CHAIN_RELU = 1, KD_CHAIN_MAXPOOL = 2 };

/// One layer of a chain. conv: `channels` outputs, square `kernel`, `stride`, `padding`, `has_bias`,
/// `algorithm` KD_DNNL_DIRECT or KD_DNNL_WINOGRAD (weights (co, k, k, ci)); maxpool: `kernel`, `stride`, no
/// padding; relu: nothing.
typedef struct {
    int kind, channels, kernel, stride, padding, has_bias, algorithm;
} kd_chain_layer;

/// NULL when oneDNN cannot run every layer with a fast implementation (the caller then runs the layers one
/// by one). Input x is (batch, h, w, c).
kd_dnnl_chain *kd_dnnl_chain_create(const kd_chain_layer *layers, int count, int batch, int h, int w, int c);
void kd_dnnl_chain_destroy(kd_dnnl_chain *chain);
/// Floats of workspace a forward and the backward after it share (the same workspace for both).
long kd_dnnl_chain_workspace(const kd_dnnl_chain *chain);
/// oneDNN's implementation of a layer's forward (backward = 0) or input-gradient (1) pass; "" for a ReLU
/// done by its convolution.
const char *kd_dnnl_chain_implementation(const kd_dnnl_chain *chain, int layer, int backward);
/// y (NHWC) = the chain applied to x (NHWC). weights[i] and biases[i] belong to layer i (NULL for the others
/// and for a convolution without bias). Keeps in the workspace what the backward needs. 0 on error.
int kd_dnnl_chain_forward(kd_dnnl_chain *chain, const float *x, const float *const *weights,
                          const float *const *biases, float *y, float *workspace);
/// The input gradient through layers [down, upto) after a forward with the same workspace: dy is the
/// gradient at the output of layer upto − 1, dx receives the gradient at the input of layer `down` (both
/// NHWC). dx NULL: layer `down` is skipped (its input gradient is not wanted). 0 on error.
int kd_dnnl_chain_backward(kd_dnnl_chain *chain, int down, int upto, const float *dy, float *dx, float *workspace);

// MARK: - oneDNN matrix products (dnnl_gemm.c)
/// C = alpha · op(A) · op(B) + beta · C, row-major (op(A) m × k, op(B) k × n), on oneDNN's sgemm with one
/// thread (the caller splits large products over its own threads). 0 when oneDNN reports an error.
/// 1 when oneDNN's CPU engine starts (its convolutions and products can run).
int kd_dnnl_available(void);
/// 1 when oneDNN runs bfloat16 products natively on this CPU (AVX512_BF16 or newer, e.g. AMX).
int kd_dnnl_has_bf16(void);
int kd_dnnl_sgemm(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                  const float *b, long ldb, float beta, float *c, long ldc);

// MARK: - Input gradient of a convolution with few input channels (small_conv.c)
/// Whether this CPU and shape can use kd_small_conv_input_gradient: AVX-512F, 1–4 input channels, 16, 32,
/// 48 or 64 output channels, stride 1, padding below the kernel size.
int kd_small_conv_supported(int ci, int co, int k, int stride, int padding);
/// Floats of workspace for one call.
long kd_small_conv_workspace(int ho, int wo, int ci, int co, int k);
/// dx (batch, h, w, ci) = the input gradient of a stride-1 convolution (weights (co, k, k, ci), `padding`)
/// for dy (batch, ho, wo, co), through the ReLU whose output is relu_out (same shape as dy) when it is not
/// NULL. Overwrites dx. 0 when not supported.
int kd_small_conv_input_gradient(const float *dy, const float *relu_out, const float *weights, int batch, int h, int w,
                                 int ci, int co, int k, int padding, float *dx, float *workspace);

#ifdef __cplusplus
}
#endif
#endif
