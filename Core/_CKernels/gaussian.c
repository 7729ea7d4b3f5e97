// Box–Muller pairs for SeededGenerator.fillGaussian (see include/kd_gaussian.h). Each operation is the
// one the Swift code performed (no contraction), in float32 with glibc's logf and sincosf.
#define _GNU_SOURCE
#include "kd_gaussian.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

void kd_box_muller(const float *u, long pairs, float scale, float *out) {
    const float twoPi = 2 * 0x1.921fb4p1f;   // 2 · Swift's Float.pi (π rounded toward zero), exact
    for (long i = 0; i < pairs; i++) {
        const float r = sqrtf(-2 * logf(u[2 * i]));
        const float theta = twoPi * u[2 * i + 1];
        float s, c;
        sincosf(theta, &s, &c);
        out[2 * i] = r * c * scale;
        out[2 * i + 1] = r * s * scale;
    }
}
