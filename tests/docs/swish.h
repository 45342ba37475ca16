/* Swish with a learnable β, y = x·σ(βx): what the docs' swish blocks leave
   out (examples/custom_op.c has it in full). Inputs x and β (one element). */
#ifndef TG_DOCS_SWISH_H
#define TG_DOCS_SWISH_H

#include "snippet.h"

static int swish_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                       size_t len)
{
    if (!r->in[1] || r->in[1]->size != 1) {
        snprintf(msg, len, "beta must have one element");
        return TG_ERR_SHAPE;
    }
    *ndim = r->in[0]->ndim;
    for (int i = 0; i < *ndim; i++) shape[i] = r->in[0]->shape[i];
    return TG_OK;
}

/* saves s = σ(βx) for the backward */
static int swish_forward(tg_record *r)
{
    const tg_real *x = r->in[0]->data, beta = r->in[1]->data[0];
    tg_real *s = tg_record_save(r, (size_t)r->out->size * sizeof(tg_real));
    if (!s) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < r->out->size; i++) {
        s[i] = (tg_real)(1 / (1 + exp(-(double)(beta * x[i]))));
        r->out->data[i] = x[i] * s[i];
    }
    return TG_OK;
}

#endif /* TG_DOCS_SWISH_H */
