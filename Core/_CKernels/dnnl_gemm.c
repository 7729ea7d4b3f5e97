// Matrix products on oneDNN's sgemm (see include/kd_kernels.h, "oneDNN matrix products"). oneDNN picks its
// kernels from the CPU at run time (AVX-512 where the CPU has it), independently of OpenBLAS's kernel family.
#include "kd_kernels.h"
#include "dnnl_shared.h"

int kd_dnnl_sgemm(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                  const float *b, long ldb, float beta, float *c, long ldc) {
    kd_dnnl_omp_threads(1);
    return dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == dnnl_success;
}

int kd_dnnl_has_bf16(void) {
    // oneDNN's ISA levels are nested bit sets: avx512_core_bf16 includes every bit of the levels below it.
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

int kd_dnnl_available(void) { return kd_dnnl_engine() != NULL; }
