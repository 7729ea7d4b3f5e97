// CPU feature detection shared by the kernels of _CKernels (internal header: not under include/, so not
// part of the module Swift sees). Each kernel file compiles an AVX2 variant with per-function target
// attributes and calls it only when the CPU (and the OS, through XGETBV) supports it.
#ifndef KD_CPU_FEATURES_H
#define KD_CPU_FEATURES_H

#if defined(__x86_64__) || defined(__i386__)
#define KD_CPU_X86 1
#endif

/// 1 when the CPU has AVX2 and the OS saves the YMM registers; with `need_fma`, FMA3 as well. Cached.
int kd_cpu_has_avx2(int need_fma);
/// 1 when the CPU has AVX-512F and the OS saves the ZMM and opmask registers. Cached.
int kd_cpu_has_avx512f(void);

#endif
