/* Walking several broadcast inputs at once, and gathering a broadcast
   input's gradient accurately: for the ops of more than two inputs (clamp
   with tensor bounds, lerp with a tensor weight, the losses) and for those
   whose inputs are read through a view of their own (gaussian_nll_loss's
   var). Internal to src/ops; not installed.

   A walk visits the elements of an output shape in row-major order and keeps,
   for each input, the offset of the element that broadcasting reads there
   (NumPy's rule: dims right-aligned, a size-1 or missing dim repeats).

       tg_walk w;
       tg_walk_init(&w, out->ndim, out->shape);
       tg_walk_add(&w, a->ndim, a->shape);       input 0
       tg_walk_add(&w, b->ndim, b->shape);       input 1
       for (int64_t k = 0; k < out->size; k++, tg_walk_next(&w))
           y[k] = a->data[w.off[0]] + b->data[w.off[1]];

   A sink adds a gradient into an input: straight into x->grad when x has the
   output's size, or summed in double first when broadcasting repeated x's
   elements (scratch from the tape; without room it adds in tg_real). */
#ifndef TG_OPS_WALK_H
#define TG_OPS_WALK_H

#include "ops/ops_internal.h"

#define TG_WALK_MAX 4 /* inputs a walk follows */

typedef struct tg_walk {
    int n, ndim;
    bool flat;                                /* every input has the output's shape */
    int64_t shape[TG_MAX_DIMS];               /* the output's */
    int64_t stride[TG_WALK_MAX][TG_MAX_DIMS]; /* input i's element stride, 0 if repeated */
    int64_t idx[TG_MAX_DIMS];                 /* the current output position */
    int64_t off[TG_WALK_MAX];                 /* input i's offset there */
} tg_walk;

static inline void tg_walk_init(tg_walk *w, int ndim, const int64_t *shape)
{
    memset(w, 0, sizeof *w);
    w->ndim = ndim;
    w->flat = true;
    for (int d = 0; d < ndim; d++) w->shape[d] = shape[d];
}

/* Follows one more input of shape (ndim, shape), which must broadcast to the
   walk's shape. */
static inline void tg_walk_add(tg_walk *w, int ndim, const int64_t *shape)
{
    int i = w->n++;
    int64_t s = 1;
    for (int d = w->ndim - 1; d >= 0; d--) {
        int e = ndim - w->ndim + d;
        int64_t n = e >= 0 ? shape[e] : 1;
        w->stride[i][d] = n == 1 ? 0 : s;
        if (n != w->shape[d]) w->flat = false;
        s *= n;
    }
}

/* The same for a tensor. An absent input (NULL) takes a place whose offsets
   mean nothing, so that the others keep their numbers. */
static inline void tg_walk_tensor(tg_walk *w, const tg_tensor *x)
{
    if (x) tg_walk_add(w, x->ndim, x->shape);
    else tg_walk_add(w, w->ndim, w->shape);
}

static inline void tg_walk_next(tg_walk *w)
{
    if (w->flat) {
        for (int i = 0; i < w->n; i++) w->off[i]++;
        return;
    }
    for (int d = w->ndim - 1; d >= 0; d--) {
        for (int i = 0; i < w->n; i++) w->off[i] += w->stride[i][d];
        if (++w->idx[d] < w->shape[d]) return;
        for (int i = 0; i < w->n; i++) w->off[i] -= w->stride[i][d] * w->shape[d];
        w->idx[d] = 0;
    }
}

/* Where an input's gradient goes (see the top of this file). */
typedef struct tg_sink {
    tg_real *grad; /* x->grad, or NULL: the input needs none */
    double *acc;   /* x->size sums, or NULL: add straight into grad */
    int64_t n;
} tg_sink;

static inline tg_sink tg_sink_begin(tg_tape *t, const tg_tensor *x, int64_t out_size)
{
    tg_sink s = {x ? x->grad : NULL, NULL, x ? x->size : 0};
    if (s.grad && x->size != out_size) {
        s.acc = tg_tape_try_alloc(t, (size_t)(s.n ? s.n : 1) * sizeof(double));
        if (s.acc) memset(s.acc, 0, (size_t)s.n * sizeof(double));
    }
    return s;
}

static inline void tg_sink_add(tg_sink *s, int64_t j, double v)
{
    if (s->acc) s->acc[j] += v;
    else if (s->grad) s->grad[j] += (tg_real)v;
}

static inline void tg_sink_end(tg_sink *s)
{
    if (s->acc)
        for (int64_t j = 0; j < s->n; j++) s->grad[j] += (tg_real)s->acc[j];
}

/* The broadcast shape of n shapes (NULL entries skipped) into (ndim, shape);
   TG_ERR_SHAPE when they do not broadcast. */
static inline int tg_broadcast_n(int n, const tg_tensor *const *x, int *ndim, int64_t *shape)
{
    *ndim = 0;
    tg_tensor acc = {0};
    for (int i = 0; i < n; i++) {
        if (!x[i]) continue;
        int nd;
        int64_t s[TG_MAX_DIMS];
        if (tg_broadcast_shape(&acc, x[i], &nd, s) != TG_OK) return TG_ERR_SHAPE;
        acc.ndim = nd;
        memcpy(acc.shape, s, sizeof s);
    }
    *ndim = acc.ndim;
    memcpy(shape, acc.shape, sizeof acc.shape);
    return TG_OK;
}

#endif
