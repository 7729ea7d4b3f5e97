// oneDNN helpers shared by dnnl_conv.c (one convolution per plan) and dnnl_chain.c (a run of layers in
// oneDNN's layouts). Internal header: not under include/, so not part of the module Swift sees.
#ifndef KD_DNNL_SHARED_H
#define KD_DNNL_SHARED_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

/// The CPU engine, made once; NULL when oneDNN cannot start.
dnnl_engine_t kd_dnnl_engine(void);
/// The calling thread's stream, kept for the thread's lifetime; NULL on error.
dnnl_stream_t kd_dnnl_thread_stream(void);
/// Sets the calling thread's OpenMP thread count (oneDNN primitives use it when made and when run).
void kd_dnnl_omp_threads(int n);
/// Floats a tensor of this descriptor takes, rounded up to 64 bytes.
size_t kd_dnnl_floats(const dnnl_memory_desc_t *md);
/// A reorder from → to in *r, or *r = NULL when the layouts are equal. 0 when oneDNN cannot make it.
int kd_dnnl_reorder(dnnl_primitive_t *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to);
/// A memory object over caller-owned data (NULL on error).
dnnl_memory_t kd_dnnl_memory(const dnnl_memory_desc_t *md, void *data);
/// Runs reorder r from → to on stream s; 1 on success.
int kd_dnnl_run_reorder(dnnl_stream_t s, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to);

#endif
