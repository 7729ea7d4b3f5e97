#include "cpu_features.h"

#ifdef KD_CPU_X86
#include <cpuid.h>
#endif

int kd_cpu_has_avx2(int need_fma) {
#ifdef KD_CPU_X86
    static int cached[2] = {-1, -1};
    int slot = need_fma ? 1 : 0;
    int v = __atomic_load_n(&cached[slot], __ATOMIC_RELAXED);
    if (v >= 0) return v;
    unsigned a, b, c, d;
    int ok = 0;
    // CPUID.1:ECX bit 27 OSXSAVE, bit 28 AVX, bit 12 FMA; XCR0 bits 1–2 (XMM, YMM state); CPUID.7.0:EBX bit 5 AVX2.
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27)) && (c & (1u << 28)) && (!need_fma || (c & (1u << 12)))) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if ((lo & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5))) ok = 1;
    }
    __atomic_store_n(&cached[slot], ok, __ATOMIC_RELAXED);
    return ok;
#else
    (void)need_fma;
    return 0;
#endif
}

int kd_cpu_has_avx512f(void) {
#ifdef KD_CPU_X86
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v >= 0) return v;
    unsigned a, b, c, d;
    int ok = 0;
    // CPUID.1:ECX bit 27 OSXSAVE; XCR0 bits 1–2 (XMM, YMM) and 5–7 (opmask, ZMM upper halves, ZMM16–31);
    // CPUID.7.0:EBX bit 16 AVX512F.
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if ((lo & 0xE6) == 0xE6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 16))) ok = 1;
    }
    __atomic_store_n(&cached, ok, __ATOMIC_RELAXED);
    return ok;
#else
    return 0;
#endif
}
