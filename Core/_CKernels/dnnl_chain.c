// oneDNN layer chains (see include/kd_kernels.h, "oneDNN layer chains").
// Layer by layer, every convolution pays two reorders per pass (NHWC → oneDNN's blocked layout and back)
// and ReLU and max-pooling run as separate passes over NHWC tensors. A chain keeps the activations in the
// layouts the primitives chose from the chain's input to its output: forward is one primitive per layer
// (a ReLU after a convolution is the convolution's post-op), backward one per layer, and only the chain's
// two ends are reordered. The numbers are those of the layer-by-layer oneDNN path (the same primitives; the
// fused ReLU is the same max(x, 0)), so analyses do not change.
#include "kd_kernels.h"
#include "dnnl_shared.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int kind, fused;   // fused: a ReLU done by the previous layer's post-op (no primitive of its own)
    int co, ci, k, has_bias;
    dnnl_memory_desc_t user_in, user_out;     // NHWC at the layer's input and output
    dnnl_memory_desc_t src, dst;              // forward layouts
    dnnl_memory_desc_t diff_src, diff_dst;    // backward layouts
    dnnl_memory_desc_t w_user, w_fwd, w_bwd, bias, pool_ws, scratch_f, scratch_b;
    dnnl_primitive_t fwd, bwd;
    dnnl_primitive_t r_fin;     // the layer's input (previous dst, or the user's x) → src
    dnnl_primitive_t r_entry;   // user_out → diff_dst (backward starting at this layer)
    dnnl_primitive_t r_mid;     // next layer's diff_src → diff_dst
    dnnl_primitive_t r_exit;    // diff_src → user_in (backward ending at this layer)
    dnnl_primitive_t rw_fwd, rw_bwd;
    int shared_w;   // the backward takes the forward's weight layout: one copy serves both
    size_t off_fin, off_dst, off_wf, off_wb, off_pws, off_diff, off_tmp;
    char impl[2][64];
} kd_chain_op;

struct kd_dnnl_chain {
    int count;
    kd_chain_op *ops;
    dnnl_primitive_t r_out;   // the last layer's output → the user's NHWC y
    // The first layer's input gradient through kd_small_conv_input_gradient (small_conv.c): a convolution
    // with few input channels whose ReLU is fused and whose output is NHWC. Its weights as given (off_w0).
    int small0, pad0;
    size_t off_w0, off_small;
    size_t off_scratch, total;
};

static void kd_prim_destroy(dnnl_primitive_t p) { if (p) dnnl_primitive_destroy(p); }

void kd_dnnl_chain_destroy(kd_dnnl_chain *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++) {
        kd_chain_op *o = &c->ops[i];
        dnnl_primitive_t all[8] = {o->fwd, o->bwd, o->r_fin, o->r_entry, o->r_mid, o->r_exit, o->rw_fwd, o->rw_bwd};
        for (int j = 0; j < 8; j++) kd_prim_destroy(all[j]);
    }
    kd_prim_destroy(c->r_out);
    free(c->ops);
    free(c);
}

long kd_dnnl_chain_workspace(const kd_dnnl_chain *c) { return (long)c->total + 16; }

const char *kd_dnnl_chain_implementation(const kd_dnnl_chain *c, int layer, int backward) {
    if (layer < 0 || layer >= c->count) return "";
    return c->ops[layer].impl[backward ? 1 : 0];
}

static int kd_nhwc(dnnl_memory_desc_t *md, int b, int ch, int h, int w) {
    dnnl_dims_t d = {b, ch, h, w};
    return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_nhwc) == dnnl_success;
}

static int kd_any(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *like) {
    return dnnl_memory_desc_init_by_tag(md, like->ndims, like->dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success;
}

// Makes `p` from descriptor `d`, keeps its implementation name; the reference loops count as failure.
static int kd_make_pd(dnnl_primitive_desc_t *pd, const void *d, dnnl_primitive_attr_t attr,
                      dnnl_primitive_desc_t hint, char *impl) {
    *pd = NULL;
    if (dnnl_primitive_desc_create(pd, d, attr, kd_dnnl_engine(), hint) != dnnl_success) { *pd = NULL; return 0; }
    const char *name = NULL;
    dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &name);
    if (!name || strncmp(name, "ref", 3) == 0) { dnnl_primitive_desc_destroy(*pd); *pd = NULL; return 0; }
    strncpy(impl, name, 63);
    return 1;
}

static dnnl_primitive_attr_t kd_attr(int relu) {
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    int ok = dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && relu) {
        dnnl_post_ops_t po = NULL;
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(a, po) == dnnl_success;
        if (po) dnnl_post_ops_destroy(po);
    }
    if (!ok) { dnnl_primitive_attr_destroy(a); return NULL; }
    return a;
}

static size_t kd_scratch(dnnl_primitive_desc_t pd) {
    return kd_dnnl_floats(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
}

// Keeps the forward's and backward's scratchpad descriptors; *scratch grows to the largest.
static void kd_keep_scratch(kd_chain_op *o, dnnl_primitive_desc_t fpd, dnnl_primitive_desc_t bpd, size_t *scratch) {
    o->scratch_f = *dnnl_primitive_desc_query_md(fpd, dnnl_query_scratchpad_md, 0);
    o->scratch_b = *dnnl_primitive_desc_query_md(bpd, dnnl_query_scratchpad_md, 0);
    size_t f = kd_scratch(fpd), b = kd_scratch(bpd), m = f > b ? f : b;
    if (m > *scratch) *scratch = m;
}

// The convolution's forward (with the ReLU post-op when `relu`) and input-gradient primitives, made from the
// descriptors the layer-by-layer path uses (dnnl_conv.c) so that they compute the same numbers: direct
// convolutions on NHWC activations, Winograd ones on the layouts oneDNN chooses ("any").
static int kd_chain_conv(kd_chain_op *o, const kd_chain_layer *l, int relu, int wino, size_t *scratch) {
    dnnl_dims_t wd = {o->co, o->ci, o->k, o->k}, bd = {o->co}, st = {l->stride, l->stride}, pl = {l->padding, l->padding};
    const dnnl_dim_t *id = o->user_in.dims, *od = o->user_out.dims;
    dnnl_dims_t pr = {(od[2] - 1) * l->stride + o->k - id[2] - l->padding, (od[3] - 1) * l->stride + o->k - id[3] - l->padding};
    dnnl_alg_kind_t alg = wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_memory_desc_t w_any, s_any, d_any;
    if (dnnl_memory_desc_init_by_tag(&o->w_user, 4, wd, dnnl_f32, dnnl_ohwi) ||
        dnnl_memory_desc_init_by_tag(&o->bias, 1, bd, dnnl_f32, dnnl_x) ||
        !kd_any(&w_any, &o->w_user) || !kd_any(&s_any, &o->user_in) || !kd_any(&d_any, &o->user_out)) return 0;
    const dnnl_memory_desc_t *S = wino ? &s_any : &o->user_in, *D = wino ? &d_any : &o->user_out;
    const dnnl_memory_desc_t *B = o->has_bias ? &o->bias : NULL;
    dnnl_primitive_attr_t attr = kd_attr(relu), plain = kd_attr(0);
    dnnl_primitive_desc_t fpd = NULL, hint = NULL, bpd = NULL;
    dnnl_convolution_desc_t fd, bdesc;
    int ok = attr && plain && dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, S, &w_any, B, D, st, pl, pr) == dnnl_success &&
             kd_make_pd(&fpd, &fd, attr, NULL, o->impl[0]) &&
             dnnl_primitive_desc_create(&hint, &fd, NULL, kd_dnnl_engine(), NULL) == dnnl_success &&
             dnnl_convolution_backward_data_desc_init(&bdesc, alg, S, &w_any, D, st, pl, pr) == dnnl_success &&
             kd_make_pd(&bpd, &bdesc, plain, hint, o->impl[1]);
    if (ok) {
        o->src = *dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
        o->dst = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
        o->w_fwd = *dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
        o->diff_src = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0);
        o->diff_dst = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0);
        o->w_bwd = *dnnl_primitive_desc_query_md(bpd, dnnl_query_weights_md, 0);
        kd_keep_scratch(o, fpd, bpd, scratch);
        ok = dnnl_primitive_create(&o->fwd, fpd) == dnnl_success && dnnl_primitive_create(&o->bwd, bpd) == dnnl_success &&
             kd_dnnl_reorder(&o->rw_fwd, &o->w_user, &o->w_fwd) && kd_dnnl_reorder(&o->rw_bwd, &o->w_user, &o->w_bwd);
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (hint) dnnl_primitive_desc_destroy(hint);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (plain) dnnl_primitive_attr_destroy(plain);
    if (!ok) {   // a later attempt starts clean
        kd_prim_destroy(o->fwd); kd_prim_destroy(o->bwd); kd_prim_destroy(o->rw_fwd); kd_prim_destroy(o->rw_bwd);
        o->fwd = o->bwd = o->rw_fwd = o->rw_bwd = NULL;
    }
    return ok;
}

// ReLU: forward (unless fused) and backward from its output (the alg "use dst for backward").
static int kd_chain_relu(kd_chain_op *o, const dnnl_memory_desc_t *in, size_t *scratch) {
    dnnl_primitive_attr_t attr = kd_attr(0);
    dnnl_eltwise_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    int ok = attr && dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                    in, 0.0f, 0.0f) == dnnl_success &&
             kd_make_pd(&fpd, &fd, attr, NULL, o->impl[0]);
    if (ok) {
        o->src = *in;
        o->dst = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
        ok = dnnl_eltwise_backward_desc_init(&bd, dnnl_eltwise_relu_use_dst_for_bwd, &o->dst, &o->dst, 0.0f, 0.0f) == dnnl_success &&
             kd_make_pd(&bpd, &bd, attr, fpd, o->impl[1]);
    }
    if (ok) {
        o->diff_src = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0);
        o->diff_dst = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0);
        kd_keep_scratch(o, fpd, bpd, scratch);
        ok = (o->fused || dnnl_primitive_create(&o->fwd, fpd) == dnnl_success) &&
             dnnl_primitive_create(&o->bwd, bpd) == dnnl_success;
        if (o->fused) o->impl[0][0] = 0;
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok;
}

static int kd_chain_pool(kd_chain_op *o, const kd_chain_layer *l, const dnnl_memory_desc_t *in, size_t *scratch) {
    const dnnl_dim_t *id = o->user_in.dims, *od = o->user_out.dims;
    dnnl_dims_t st = {l->stride, l->stride}, kk = {l->kernel, l->kernel}, pl = {0, 0};
    dnnl_dims_t pr = {(od[2] - 1) * l->stride + l->kernel - id[2], (od[3] - 1) * l->stride + l->kernel - id[3]};
    dnnl_primitive_attr_t attr = kd_attr(0);
    dnnl_pooling_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_memory_desc_t d_any;
    int ok = attr && pr[0] >= 0 && pr[1] >= 0 && kd_any(&d_any, &o->user_out) &&
             dnnl_pooling_forward_desc_init(&fd, dnnl_forward_training, dnnl_pooling_max, in, &d_any, st, kk, pl, pr) == dnnl_success &&
             kd_make_pd(&fpd, &fd, attr, NULL, o->impl[0]);
    if (ok) {
        o->src = *in;
        o->dst = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
        o->pool_ws = *dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
        ok = dnnl_pooling_backward_desc_init(&bd, dnnl_pooling_max, in, &o->dst, st, kk, pl, pr) == dnnl_success &&
             kd_make_pd(&bpd, &bd, attr, fpd, o->impl[1]);
    }
    if (ok) {
        o->diff_src = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0);
        o->diff_dst = *dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0);
        kd_keep_scratch(o, fpd, bpd, scratch);
        ok = dnnl_primitive_create(&o->fwd, fpd) == dnnl_success && dnnl_primitive_create(&o->bwd, bpd) == dnnl_success;
    }
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok;
}

kd_dnnl_chain *kd_dnnl_chain_create(const kd_chain_layer *layers, int count, int batch, int h, int w, int ch) {
    if (!kd_dnnl_engine() || count <= 0 || batch <= 0) return NULL;
    kd_dnnl_omp_threads(1);
    kd_dnnl_chain *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->count = count;
    c->ops = calloc((size_t)count, sizeof *c->ops);
    int ok = c->ops != NULL;
    size_t scratch = 0;
    for (int i = 0; ok && i < count; i++) {
        const kd_chain_layer *l = &layers[i];
        kd_chain_op *o = &c->ops[i];
        o->kind = l->kind;
        o->ci = ch;
        int ho = h, wo = w;
        if (l->kind == KD_CHAIN_CONV) {
            o->co = l->channels; o->k = l->kernel; o->has_bias = l->has_bias;
            ok = l->kernel > 0 && l->stride > 0 && l->padding >= 0 && l->channels > 0;
            ho = (h + 2 * l->padding - l->kernel) / l->stride + 1;
            wo = (w + 2 * l->padding - l->kernel) / l->stride + 1;
        } else if (l->kind == KD_CHAIN_MAXPOOL) {
            ok = l->kernel > 0 && l->stride > 0 && h >= l->kernel && w >= l->kernel;
            ho = (h - l->kernel) / l->stride + 1;
            wo = (w - l->kernel) / l->stride + 1;
        } else ok = l->kind == KD_CHAIN_RELU;
        int co = l->kind == KD_CHAIN_CONV ? l->channels : ch;
        ok = ok && ho > 0 && wo > 0 && kd_nhwc(&o->user_in, batch, ch, h, w) && kd_nhwc(&o->user_out, batch, co, ho, wo);
        if (!ok) break;
        // The layer's input as the previous layer left it (the user's NHWC x for the first).
        const dnnl_memory_desc_t *in = i == 0 ? &o->user_in : &c->ops[i - 1].dst;
        if (l->kind == KD_CHAIN_CONV) {
            // Winograd where asked and available, else direct; the next ReLU fused where the primitive takes it.
            int next_relu = i + 1 < count && layers[i + 1].kind == KD_CHAIN_RELU, relu = 0;
            ok = 0;
            for (int t = 0; !ok && t < 4; t++) {
                int wino = t < 2 && l->algorithm == KD_DNNL_WINOGRAD;
                relu = next_relu && t % 2 == 0;
                if ((t < 2 && l->algorithm != KD_DNNL_WINOGRAD) || (t % 2 == 1 && !next_relu)) continue;
                ok = kd_chain_conv(o, l, relu, wino, &scratch);
            }
            if (ok && relu) c->ops[i + 1].fused = 1;
        } else if (l->kind == KD_CHAIN_RELU) {
            ok = kd_chain_relu(o, in, &scratch);
        } else {
            ok = kd_chain_pool(o, l, in, &scratch);
        }
        ok = ok && kd_dnnl_reorder(&o->r_fin, in, &o->src);
        h = ho; w = wo; ch = co;
    }
    // Reorders between the backward passes and at the chain's ends; the workspace layout.
    size_t off = 0;
    for (int i = 0; ok && i < count; i++) {
        kd_chain_op *o = &c->ops[i];
        ok = kd_dnnl_reorder(&o->r_entry, &o->user_out, &o->diff_dst) && kd_dnnl_reorder(&o->r_exit, &o->diff_src, &o->user_in) &&
             (i + 1 == count || kd_dnnl_reorder(&o->r_mid, &c->ops[i + 1].diff_src, &o->diff_dst));
        o->off_fin = off; if (o->r_fin) off += kd_dnnl_floats(&o->src);
        o->off_dst = o->fused ? c->ops[i - 1].off_dst : off; if (!o->fused) off += kd_dnnl_floats(&o->dst);
        o->off_wf = off; if (o->kind == KD_CHAIN_CONV) off += kd_dnnl_floats(&o->w_fwd);
        o->shared_w = o->kind == KD_CHAIN_CONV && dnnl_memory_desc_equal(&o->w_fwd, &o->w_bwd);
        o->off_wb = o->shared_w ? o->off_wf : off; if (o->kind == KD_CHAIN_CONV && !o->shared_w) off += kd_dnnl_floats(&o->w_bwd);
        o->off_pws = off; if (o->kind == KD_CHAIN_MAXPOOL) off += kd_dnnl_floats(&o->pool_ws);
        o->off_diff = off; off += kd_dnnl_floats(&o->diff_src);
        o->off_tmp = off; if (o->r_mid || o->r_entry) off += kd_dnnl_floats(&o->diff_dst);
    }
    if (ok && count >= 2 && c->ops[0].kind == KD_CHAIN_CONV && c->ops[1].fused &&
        dnnl_memory_desc_equal(&c->ops[0].dst, &c->ops[0].user_out) &&
        dnnl_memory_desc_equal(&c->ops[1].diff_dst, &c->ops[1].user_out) &&
        kd_small_conv_supported(c->ops[0].ci, c->ops[0].co, c->ops[0].k, layers[0].stride, layers[0].padding)) {
        kd_chain_op *o = &c->ops[0];
        c->small0 = 1;
        c->pad0 = layers[0].padding;
        c->off_w0 = off; off += ((size_t)o->co * o->k * o->k * o->ci + 15) / 16 * 16;
        c->off_small = off;
        off += (size_t)kd_small_conv_workspace((int)o->user_out.dims[2], (int)o->user_out.dims[3], o->ci, o->co, o->k);
        off = (off + 15) / 16 * 16;
    }
    c->off_scratch = off;
    c->total = off + scratch;
    if (ok) ok = kd_dnnl_reorder(&c->r_out, &c->ops[count - 1].dst, &c->ops[count - 1].user_out);
    if (!ok) { kd_dnnl_chain_destroy(c); return NULL; }
    return c;
}

// One primitive run with up to 6 (argument, descriptor, data) triples; memory objects made and destroyed here.
typedef struct { int arg; const dnnl_memory_desc_t *md; void *data; } kd_arg;

static int kd_exec(dnnl_stream_t s, dnnl_primitive_t p, const kd_arg *args, int n) {
    dnnl_exec_arg_t ex[6];
    int ok = 1, made = 0;
    for (; made < n && ok; made++) {
        ex[made].arg = args[made].arg;
        ex[made].memory = kd_dnnl_memory(args[made].md, args[made].data);
        ok = ex[made].memory != NULL;
    }
    if (ok) ok = dnnl_primitive_execute(p, s, n, ex) == dnnl_success;
    for (int i = 0; i < made; i++) if (ex[i].memory) dnnl_memory_destroy(ex[i].memory);
    return ok;
}

static int kd_move(dnnl_stream_t s, dnnl_primitive_t r, const dnnl_memory_desc_t *from_md, const void *from,
                   const dnnl_memory_desc_t *to_md, void *to) {
    if (!r) { memcpy(to, from, dnnl_memory_desc_get_size(to_md)); return 1; }
    kd_arg a[2] = {{DNNL_ARG_FROM, from_md, (void *)from}, {DNNL_ARG_TO, to_md, to}};
    return kd_exec(s, r, a, 2);
}

int kd_dnnl_chain_forward(kd_dnnl_chain *c, const float *x, const float *const *weights, const float *const *biases,
                          float *y, float *workspace) {
    dnnl_stream_t s = kd_dnnl_thread_stream();
    if (!s) return 0;
    kd_dnnl_omp_threads(1);
    float *ws = (float *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63), *scratch = ws + c->off_scratch;
    const float *in = x;
    const dnnl_memory_desc_t *in_md = &c->ops[0].user_in;
    int ok = 1;
    for (int i = 0; ok && i < c->count; i++) {
        kd_chain_op *o = &c->ops[i];
        const float *src = in;
        if (o->r_fin) { ok = kd_move(s, o->r_fin, in_md, in, &o->src, ws + o->off_fin); src = ws + o->off_fin; }
        float *dst = ws + o->off_dst;
        if (!ok || o->fused) { in = dst; in_md = &o->dst; continue; }
        if (o->kind == KD_CHAIN_CONV) {
            if (!weights[i] || (o->has_bias && !biases[i])) return 0;
            // The weights in the layouts the passes take: once when both take the same one; the first layer's
            // backward layout not at all when kd_small_conv_input_gradient does its input gradient.
            ok = kd_move(s, o->rw_fwd, &o->w_user, weights[i], &o->w_fwd, ws + o->off_wf) &&
                 (o->shared_w || (i == 0 && c->small0) ||
                  kd_move(s, o->rw_bwd, &o->w_user, weights[i], &o->w_bwd, ws + o->off_wb));
            if (i == 0 && c->small0) memcpy(ws + c->off_w0, weights[0], dnnl_memory_desc_get_size(&o->w_user));
            kd_arg a[5] = {{DNNL_ARG_SRC, &o->src, (void *)src}, {DNNL_ARG_WEIGHTS, &o->w_fwd, ws + o->off_wf},
                           {DNNL_ARG_DST, &o->dst, dst}, {DNNL_ARG_SCRATCHPAD, &o->scratch_f, scratch},
                           {DNNL_ARG_BIAS, &o->bias, (void *)biases[i]}};
            ok = ok && kd_exec(s, o->fwd, a, o->has_bias ? 5 : 4);
        } else if (o->kind == KD_CHAIN_RELU) {
            kd_arg a[3] = {{DNNL_ARG_SRC, &o->src, (void *)src}, {DNNL_ARG_DST, &o->dst, dst}, {DNNL_ARG_SCRATCHPAD, &o->scratch_f, scratch}};
            ok = kd_exec(s, o->fwd, a, 3);
        } else {
            kd_arg a[4] = {{DNNL_ARG_SRC, &o->src, (void *)src}, {DNNL_ARG_DST, &o->dst, dst},
                           {DNNL_ARG_WORKSPACE, &o->pool_ws, ws + o->off_pws}, {DNNL_ARG_SCRATCHPAD, &o->scratch_f, scratch}};
            ok = kd_exec(s, o->fwd, a, 4);
        }
        in = dst; in_md = &o->dst;
    }
    kd_chain_op *last = &c->ops[c->count - 1];
    ok = ok && kd_move(s, c->r_out, &last->dst, ws + last->off_dst, &last->user_out, y);
    return ok && dnnl_stream_wait(s) == dnnl_success;
}

int kd_dnnl_chain_backward(kd_dnnl_chain *c, int down, int upto, const float *dy, float *dx, float *workspace) {
    if (down < 0 || upto > c->count || down >= upto) return 0;
    dnnl_stream_t s = kd_dnnl_thread_stream();
    if (!s) return 0;
    kd_dnnl_omp_threads(1);
    float *ws = (float *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63), *scratch = ws + c->off_scratch;
    int lowest = dx ? down : down + 1, ok = 1;
    // With small0 the first layer's input gradient is always kd-tool's kernel (its oneDNN weights are not kept).
    int small = c->small0 && down == 0 && dx;
    if (small) lowest = upto >= 2 ? 2 : 1;
    const float *g = dy;   // the gradient at the current layer's output, in layout *g_md
    const dnnl_memory_desc_t *g_md = &c->ops[upto - 1].user_out;
    for (int i = upto - 1; ok && i >= lowest; i--) {
        kd_chain_op *o = &c->ops[i];
        dnnl_primitive_t r = i == upto - 1 ? o->r_entry : o->r_mid;
        const float *gd = g;
        if (r) { ok = kd_move(s, r, g_md, g, &o->diff_dst, ws + o->off_tmp); gd = ws + o->off_tmp; }
        // The bottom layer writes NHWC dx itself when its input-gradient layout is NHWC.
        float *out = (i == down && !o->r_exit) ? dx : ws + o->off_diff;
        if (!ok) break;
        if (o->kind == KD_CHAIN_CONV) {
            kd_arg a[4] = {{DNNL_ARG_DIFF_DST, &o->diff_dst, (void *)gd}, {DNNL_ARG_WEIGHTS, &o->w_bwd, ws + o->off_wb},
                           {DNNL_ARG_DIFF_SRC, &o->diff_src, out}, {DNNL_ARG_SCRATCHPAD, &o->scratch_b, scratch}};
            ok = kd_exec(s, o->bwd, a, 4);
        } else if (o->kind == KD_CHAIN_RELU) {
            kd_arg a[4] = {{DNNL_ARG_DST, &o->dst, ws + o->off_dst}, {DNNL_ARG_DIFF_DST, &o->diff_dst, (void *)gd},
                           {DNNL_ARG_DIFF_SRC, &o->diff_src, out}, {DNNL_ARG_SCRATCHPAD, &o->scratch_b, scratch}};
            ok = kd_exec(s, o->bwd, a, 4);
        } else {
            kd_arg a[4] = {{DNNL_ARG_DIFF_DST, &o->diff_dst, (void *)gd}, {DNNL_ARG_WORKSPACE, &o->pool_ws, ws + o->off_pws},
                           {DNNL_ARG_DIFF_SRC, &o->diff_src, out}, {DNNL_ARG_SCRATCHPAD, &o->scratch_b, scratch}};
            ok = kd_exec(s, o->bwd, a, 4);
        }
        if (ok && i == down && o->r_exit) ok = kd_move(s, o->r_exit, &o->diff_src, out, &o->user_in, dx);
        g = out; g_md = &o->diff_src;
    }
    if (ok && small) {
        // The gradient at the ReLU's output in NHWC, then the ReLU and the first convolution in one kernel; or,
        // when the backward starts at the convolution's own output (upto 1), that gradient and no ReLU.
        kd_chain_op *o0 = &c->ops[0], *o1 = &c->ops[1];
        if (upto > 2 && o1->r_mid) { ok = kd_move(s, o1->r_mid, g_md, g, &o1->diff_dst, ws + o1->off_tmp); g = ws + o1->off_tmp; }
        ok = ok && dnnl_stream_wait(s) == dnnl_success &&
             kd_small_conv_input_gradient(g, upto >= 2 ? ws + o0->off_dst : NULL, ws + c->off_w0, (int)o0->user_in.dims[0], (int)o0->user_in.dims[2],
                                          (int)o0->user_in.dims[3], o0->ci, o0->co, o0->k, c->pad0, dx, ws + c->off_small);
        return ok;
    }
    return ok && dnnl_stream_wait(s) == dnnl_success;
}
