// Box–Muller for SeededGenerator.fillGaussian (Core/KDCore/Tensors/Random.swift): the transform of many
// uniform pairs in one call, with one sincosf per pair instead of sinf and cosf (glibc's sincosf returns
// their values bit for bit), so the noise of a seed is unchanged.
#ifndef KD_GAUSSIAN_H
#define KD_GAUSSIAN_H

#ifdef __cplusplus
extern "C" {
#endif

/// For each pair i: r = √(−2 ln u[2i]), θ = 2π · u[2i+1] (2 · Swift's Float.pi, π rounded toward zero),
/// out[2i] = (r cos θ) · scale, out[2i+1] = (r sin θ) · scale. u[2i] must be in (0, 1].
void kd_box_muller(const float *u, long pairs, float scale, float *out);

#ifdef __cplusplus
}
#endif
#endif
