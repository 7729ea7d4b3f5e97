// oneDNN convolutions on NHWC tensors (see include/kd_kernels.h, "oneDNN convolutions").
// One plan = one oneDNN primitive for one pass of one layer shape, plus the reorders between kd-tool's
// layouts (activations NHWC, weights OHWI) and the layouts the primitive chose. Winograd primitives need
// oneDNN's blocked layouts (nChw16c, ...), so their inputs and outputs are reordered on every call; direct
// primitives read and write NHWC themselves and only their weights are reordered.
#include "kd_kernels.h"
#include "dnnl_shared.h"
#include <oneapi/dnnl/dnnl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct kd_dnnl_conv {
    int pass, threads, co, ci, k;
    dnnl_primitive_t conv;
    // Reorders: user a → primitive a, user b → primitive b, primitive out → user out (NULL: same layout).
    dnnl_primitive_t ra, rb, rout;
    dnnl_memory_desc_t user_a, user_b, user_out, prim_a, prim_b, prim_out, bias, scratch;
    int has_bias;
    size_t off_a, off_b, off_out, off_user_out, off_bias, off_scratch, total;   // floats into the workspace
    char impl[64];
};

static dnnl_engine_t kd_engine;
static pthread_once_t kd_engine_once = PTHREAD_ONCE_INIT;
static void kd_engine_make(void) {
    if (dnnl_engine_create(&kd_engine, dnnl_cpu, 0) != dnnl_success) kd_engine = NULL;
}
dnnl_engine_t kd_dnnl_engine(void) {
    pthread_once(&kd_engine_once, kd_engine_make);
    return kd_engine;
}

// Debian's oneDNN runs on OpenMP (libgomp). The number of threads a primitive uses is the calling thread's
// OpenMP setting when the primitive is created and run; it is set per calling thread, so two kd-tool
// threads can each run single-threaded primitives without oversubscribing the cores. libgomp is loaded with
// libdnnl, so its entry point is looked up rather than linked (Debian has no unversioned libgomp.so on the
// default linker path).
void kd_dnnl_omp_threads(int n) {
    static void (*set)(int) = NULL;
    static int looked = 0;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    if (set) set(n);
}

static __thread dnnl_stream_t kd_stream;   // one per calling thread, kept for the thread's lifetime
dnnl_stream_t kd_dnnl_thread_stream(void) {
    if (!kd_stream && dnnl_stream_create(&kd_stream, kd_dnnl_engine(), dnnl_stream_default_flags) != dnnl_success)
        kd_stream = NULL;
    return kd_stream;
}

size_t kd_dnnl_floats(const dnnl_memory_desc_t *md) { return (dnnl_memory_desc_get_size(md) + 63) / 64 * 16; }

int kd_dnnl_reorder(dnnl_primitive_t *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    *r = NULL;
    if (dnnl_memory_desc_equal(from, to)) return 1;
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, from, kd_engine, to, kd_engine, NULL) != dnnl_success) return 0;
    dnnl_status_t s = dnnl_primitive_create(r, pd);
    dnnl_primitive_desc_destroy(pd);
    return s == dnnl_success;
}

dnnl_memory_t kd_dnnl_memory(const dnnl_memory_desc_t *md, void *data) {
    dnnl_memory_t m = NULL;
    if (dnnl_memory_create(&m, md, kd_engine, data) != dnnl_success) return NULL;
    return m;
}

int kd_dnnl_run_reorder(dnnl_stream_t s, dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, s, 2, args) == dnnl_success;
}

void kd_dnnl_conv_destroy(kd_dnnl_conv *p) {
    if (!p) return;
    if (p->conv) dnnl_primitive_destroy(p->conv);
    if (p->ra) dnnl_primitive_destroy(p->ra);
    if (p->rb) dnnl_primitive_destroy(p->rb);
    if (p->rout) dnnl_primitive_destroy(p->rout);
    free(p);
}

static kd_dnnl_conv *kd_dnnl_conv_make(int pass, int algorithm, int bf16, int batch, int h, int w, int ci, int co, int k,
                                       int stride, int padding, int ho, int wo, int has_bias, int threads) {
    if (!kd_dnnl_engine() || pass < 0 || pass > 2) return NULL;
    kd_dnnl_omp_threads(threads);
    int wino = algorithm == KD_DNNL_WINOGRAD;
    dnnl_alg_kind_t alg = wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_dims_t sd = {batch, ci, h, w}, wd = {co, ci, k, k}, dd = {batch, co, ho, wo}, bd = {co};
    dnnl_dims_t st = {stride, stride}, pl = {padding, padding};
    dnnl_dims_t pr = {(ho - 1) * stride + k - h - padding, (wo - 1) * stride + k - w - padding};
    dnnl_memory_desc_t s_user, d_user, w_user, b_md, s_any, d_any, w_any, s_in, d_in, w_in;
    // bfloat16: the products' inputs in bf16 (reordered from float32), accumulation and outputs float32.
    dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t st_ = pass == 1 ? dnnl_f32 : in, dt_ = pass == 0 ? dnnl_f32 : in, wt_ = pass == 2 ? dnnl_f32 : in;
    if (dnnl_memory_desc_init_by_tag(&s_user, 4, sd, dnnl_f32, dnnl_nhwc) ||
        dnnl_memory_desc_init_by_tag(&d_user, 4, dd, dnnl_f32, dnnl_nhwc) ||
        dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_ohwi) ||
        dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x) ||
        dnnl_memory_desc_init_by_tag(&s_any, 4, sd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&s_in, 4, sd, st_, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&d_in, 4, dd, dt_, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_in, 4, wd, wt_, dnnl_format_tag_any)) return NULL;
    // Direct primitives work on NHWC activations; Winograd ones only on blocked layouts.
    const dnnl_memory_desc_t *S = bf16 ? &s_in : wino ? &s_any : &s_user, *D = bf16 ? &d_in : wino ? &d_any : &d_user;
    const dnnl_memory_desc_t *Wt = bf16 ? &w_in : &w_any;
    const dnnl_memory_desc_t *B = has_bias ? &b_md : NULL;

    // The forward descriptor (also the hint of the backward passes): bf16 src and weights, f32 dst.
    dnnl_memory_desc_t s_fin, w_fin, d_fout;
    if (dnnl_memory_desc_init_by_tag(&s_fin, 4, sd, in, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_fin, 4, wd, in, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&d_fout, 4, dd, dnnl_f32, dnnl_format_tag_any)) return NULL;
    kd_dnnl_conv *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->pass = pass; p->threads = threads; p->co = co; p->ci = ci; p->k = k; p->has_bias = has_bias;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    dnnl_convolution_desc_t fd, bd_;
    int ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success &&
             dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, bf16 ? &s_fin : S, bf16 ? &w_fin : Wt, B, bf16 ? &d_fout : D, st, pl, pr) == dnnl_success &&
             dnnl_primitive_desc_create(&fpd, &fd, pass == 0 ? attr : NULL, kd_engine, NULL) == dnnl_success;
    if (ok && pass == 0) { pd = fpd; fpd = NULL; }
    else if (ok && pass == 1)
        ok = dnnl_convolution_backward_data_desc_init(&bd_, alg, S, Wt, D, st, pl, pr) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &bd_, attr, kd_engine, fpd) == dnnl_success;
    else if (ok)
        ok = dnnl_convolution_backward_weights_desc_init(&bd_, alg, S, Wt, B, D, st, pl, pr) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &bd_, attr, kd_engine, fpd) == dnnl_success;
    if (ok) {
        const char *name = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
        strncpy(p->impl, name ? name : "?", sizeof p->impl - 1);
        // The reference implementations are plain loops, far slower than kd-tool's own paths.
        ok = name && strncmp(name, "ref", 3) != 0;
    }
    if (ok) {
        // a, b → out:  forward x, W → y;  backward data dy, W → dx;  backward weights x, dy → dW.
        dnnl_query_t qa = pass == 1 ? dnnl_query_diff_dst_md : dnnl_query_src_md;
        dnnl_query_t qb = pass == 0 ? dnnl_query_weights_md : pass == 1 ? dnnl_query_weights_md : dnnl_query_diff_dst_md;
        dnnl_query_t qo = pass == 0 ? dnnl_query_dst_md : pass == 1 ? dnnl_query_diff_src_md : dnnl_query_diff_weights_md;
        p->user_a = pass == 1 ? d_user : s_user;
        p->user_b = pass == 2 ? d_user : w_user;
        p->user_out = pass == 0 ? d_user : pass == 1 ? s_user : w_user;
        p->prim_a = *dnnl_primitive_desc_query_md(pd, qa, 0);
        p->prim_b = *dnnl_primitive_desc_query_md(pd, qb, 0);
        p->prim_out = *dnnl_primitive_desc_query_md(pd, qo, 0);
        p->bias = b_md;
        p->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        ok = kd_dnnl_reorder(&p->ra, &p->user_a, &p->prim_a) && kd_dnnl_reorder(&p->rb, &p->user_b, &p->prim_b) &&
             kd_dnnl_reorder(&p->rout, &p->prim_out, &p->user_out) &&
             dnnl_primitive_create(&p->conv, pd) == dnnl_success;
        // Workspace: the primitive-layout copies that differ from the user's, the bias gradient, scratchpad.
        // The weight gradient always goes through the workspace: it is added into the caller's sum.
        size_t off = 0;
        p->off_a = off; if (p->ra) off += kd_dnnl_floats(&p->prim_a);
        p->off_b = off; if (p->rb) off += kd_dnnl_floats(&p->prim_b);
        p->off_out = off; if (p->rout || pass == 2) off += kd_dnnl_floats(&p->prim_out);
        p->off_user_out = off; if (p->rout && pass == 2) off += kd_dnnl_floats(&p->user_out);
        p->off_bias = off; if (pass == 2 && has_bias) off += (co + 15) / 16 * 16;
        p->off_scratch = off; off += kd_dnnl_floats(&p->scratch);
        p->total = off;
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) { kd_dnnl_conv_destroy(p); return NULL; }
    return p;
}

// oneDNN's jit kernels need 64-byte aligned scratchpads (a run crashed without): 16 floats of slack.
// oneDNN's Winograd exists only for some CPUs (avx512_core) and shapes: without it, its direct kernels.
kd_dnnl_conv *kd_dnnl_conv_create(int pass, int algorithm, int batch, int h, int w, int ci, int co, int k,
                                  int stride, int padding, int ho, int wo, int has_bias, int threads) {
    int alg = algorithm & 1, bf16 = (algorithm & KD_DNNL_BF16) != 0;
    kd_dnnl_conv *p = kd_dnnl_conv_make(pass, alg, bf16, batch, h, w, ci, co, k, stride, padding, ho, wo, has_bias, threads);
    if (!p && alg == KD_DNNL_WINOGRAD)
        p = kd_dnnl_conv_make(pass, KD_DNNL_DIRECT, bf16, batch, h, w, ci, co, k, stride, padding, ho, wo, has_bias, threads);
    return p;
}

long kd_dnnl_conv_workspace(const kd_dnnl_conv *p) { return (long)p->total + 16; }
const char *kd_dnnl_conv_implementation(const kd_dnnl_conv *p) { return p->impl; }

int kd_dnnl_conv_run(kd_dnnl_conv *p, const float *a, const float *b, const float *bias, float *out,
                     float *bias_out, float *workspace) {
    dnnl_stream_t s = kd_dnnl_thread_stream();
    if (!s) return 0;
    kd_dnnl_omp_threads(p->threads);
    float *ws = (float *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    dnnl_memory_t ua = kd_dnnl_memory(&p->user_a, (void *)a), ub = kd_dnnl_memory(&p->user_b, (void *)b);
    dnnl_memory_t pa = p->ra ? kd_dnnl_memory(&p->prim_a, ws + p->off_a) : ua;
    dnnl_memory_t pb = p->rb ? kd_dnnl_memory(&p->prim_b, ws + p->off_b) : ub;
    float *out_data = (p->rout || p->pass == 2) ? ws + p->off_out : out;
    dnnl_memory_t po = kd_dnnl_memory(&p->prim_out, out_data);
    dnnl_memory_t uo = p->rout ? kd_dnnl_memory(&p->user_out, p->pass == 2 ? ws + p->off_user_out : out) : NULL;
    dnnl_memory_t mb = p->has_bias ? kd_dnnl_memory(&p->bias, p->pass == 2 ? ws + p->off_bias : (void *)bias) : NULL;
    dnnl_memory_t sc = kd_dnnl_memory(&p->scratch, ws + p->off_scratch);
    int ok = ua && ub && pa && pb && po && sc && (!p->rout || uo) && (!p->has_bias || mb);
    if (ok && p->ra) ok = kd_dnnl_run_reorder(s, p->ra, ua, pa);
    if (ok && p->rb) ok = kd_dnnl_run_reorder(s, p->rb, ub, pb);
    if (ok) {
        dnnl_exec_arg_t args[5];
        int n = 0;
        if (p->pass == 0) {
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, pa};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, pb};
            if (mb) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mb};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, po};
        } else if (p->pass == 1) {
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, pa};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, pb};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, po};
        } else {
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, pa};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, pb};
            if (mb) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, mb};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, po};
        }
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, sc};
        ok = dnnl_primitive_execute(p->conv, s, n, args) == dnnl_success;
    }
    if (ok && p->rout) ok = kd_dnnl_run_reorder(s, p->rout, po, uo);
    if (ok) ok = dnnl_stream_wait(s) == dnnl_success;
    if (ok && p->pass == 2) {
        const float *g = p->rout ? ws + p->off_user_out : ws + p->off_out;
        long count = (long)p->co * p->k * p->k * p->ci;
        for (long i = 0; i < count; i++) out[i] += g[i];
        if (bias_out && p->has_bias)
            for (int i = 0; i < p->co; i++) bias_out[i] += ws[p->off_bias + i];
    }
    dnnl_memory_t all[7] = {ua, ub, p->ra ? pa : NULL, p->rb ? pb : NULL, po, uo, mb};
    for (int i = 0; i < 7; i++) if (all[i]) dnnl_memory_destroy(all[i]);
    if (sc) dnnl_memory_destroy(sc);
    return ok;
}
