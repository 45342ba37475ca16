/* Derivatives beyond the gradient, built on tg_grad (torch.autograd.functional):

     hvp       H·v of a scalar: the gradient of ⟨∇y, v⟩            two backward passes
     jvp       J·v of any output: by the double-vjp trick            two backward passes
     jacobian  every ∂y_k/∂x: one backward pass per output element
     hessian   the jacobian of the gradient: one backward pass per input element

   The double-vjp trick: for an output y and a vector u of y's shape,
   g(u) = Jᵀu is linear in u, so ⟨g(u), v⟩ = ⟨u, J·v⟩ and its gradient with
   respect to u is J·v, at any u (zeros here). */
#include "core/internal.h"

/* The output and inputs given to a driver: checked once, here, with the
   driver's name (tg_grad checks the rest). need_v: the driver takes v
   (tg_hvp, tg_jvp). */
static int check_args(tg_tape *t, const char *fn, tg_tensor *y, int n, tg_tensor *const *x,
                      bool need_v, tg_tensor *const *v, tg_tensor **res)
{
    if (!y || !x || n < 1 || !res || (need_v && !v)) {
        if (!tg_tape_failed(t))
            tg_tape_set_error(t, "%s: %s", fn,
                              !y ? "the output is NULL"
                              : !x || n < 1 ? "no inputs given"
                              : !res        ? "the array for the results is NULL"
                                            : "v (the direction) is NULL");
        return TG_ERR_INVALID;
    }
    for (int i = 0; i < n; i++) {
        if (!x[i] || (need_v && !v[i])) {
            tg_tape_set_error(t, "%s: %s[%d] is NULL", fn, !x[i] ? "x" : "v", i);
            return TG_ERR_INVALID;
        }
    }
    for (int i = 0; i < n; i++) /* before tg_grad, which would name the output */
        if (!(x[i]->flags & TG_REQUIRES_GRAD)) {
            tg_tape_set_error(t, "%s: input %d does not require grad: mark it with "
                                 "tg_requires_grad before recording the function of it", fn, i);
            return TG_ERR_INVALID;
        }
    for (int i = 0; v && i < n; i++) {
        if (v[i] && !tg_tensor_usable(t, v[i])) { /* another tape's, or from before a reset */
            tg_tape_set_error(t, "%s: v[%d] %s", fn, i, tg_unusable_why(t, v[i]));
            return TG_ERR_STATE;
        }
        if (!v[i] || !tg_same_shape(v[i], x[i])) {
            char sv[96], sx[96];
            tg_tape_set_error(t, "%s: v[%d] %s must have the shape of input %d, %s", fn, i,
                              tg_shape_str(v[i], sv, sizeof sv), i,
                              tg_shape_str(x[i], sx, sizeof sx));
            return TG_ERR_SHAPE;
        }
    }
    return TG_OK;
}

/* x as a vector (a view) */
static tg_tensor *as_vector(tg_tape *t, tg_tensor *x)
{
    return x ? tg_reshape(t, x, 1, &x->size) : NULL;
}

/* Σ_i ⟨g_i, v_i⟩: the contraction a second backward differentiates, each
   term one dot product of the two as vectors. (As sum(g_i · v_i), a
   product written out and summed, with a backward that spread the sum's
   gradient over a tensor of g_i's size and multiplied it by v_i: the demo
   MLP's Hessian-vector product took 4.85 ms, with the dots 4.15 ms. The
   second backward gets v_i as ⟨g_i, v_i⟩'s gradient either way, 1·v_i.) */
static tg_tensor *dot_all(tg_tape *t, int n, tg_tensor *const *g, tg_tensor *const *v)
{
    tg_tensor *s = NULL;
    for (int i = 0; i < n; i++) {
        tg_tensor *term = tg_dot(t, as_vector(t, g[i]), as_vector(t, v[i]));
        if (!term) return NULL; /* not a sum without it */
        s = s ? tg_add(t, s, term) : term;
        if (!s) return NULL;
    }
    return s;
}

/* The results of a second pass when the first gradients are constants
   (the second derivative is zero): zeros of each input's shape. */
static int zeros_like_all(tg_tape *t, int n, tg_tensor *const *x, tg_tensor **res)
{
    for (int i = 0; i < n; i++)
        if (!(res[i] = tg_zeros(t, x[i]->ndim, x[i]->shape))) return TG_ERR_NOMEM;
    return TG_OK;
}

int tg_hvp(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor *const *v,
           tg_tensor **hv, const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_hvp: the tape is NULL");
    int st = check_args(t, "tg_hvp", y, n, x, true, v, hv);
    if (st != TG_OK) return st;
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    tg_tensor *g[TG_HVP_MAX_INPUTS];
    if (n > TG_HVP_MAX_INPUTS) {
        tg_tape_set_error(t, "tg_hvp: %d inputs, at most %d", n, TG_HVP_MAX_INPUTS);
        return TG_ERR_INVALID;
    }
    if (y->size != 1) {
        char sy[96];
        tg_tape_set_error(t, "tg_hvp: the output must have one element (H is the Hessian "
                             "of a scalar), got %s", tg_shape_str(y, sy, sizeof sy));
        return TG_ERR_SHAPE;
    }
    tg_grad_opts first = {.create_graph = true, .allow_unused = o.allow_unused};
    if ((st = tg_grad(t, 1, &y, NULL, n, x, g, &first)) != TG_OK) return st;
    tg_tensor *s = dot_all(t, n, g, v);
    if (!s) return TG_ERR_NOMEM;
    if (!(s->flags & TG_REQUIRES_GRAD)) return zeros_like_all(t, n, x, hv);
    tg_grad_opts second = {.create_graph = o.create_graph, .allow_unused = true};
    return tg_grad(t, 1, &s, NULL, n, x, hv, &second);
}

int tg_jvp(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor *const *v,
           tg_tensor **jv, const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_jvp: the tape is NULL");
    int st = check_args(t, "tg_jvp", y, n, x, true, v, jv);
    if (st != TG_OK) return st;
    if (n > TG_HVP_MAX_INPUTS) {
        tg_tape_set_error(t, "tg_jvp: %d inputs, at most %d", n, TG_HVP_MAX_INPUTS);
        return TG_ERR_INVALID;
    }
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    tg_tensor *u = tg_requires_grad(tg_zeros(t, y->ndim, y->shape), true);
    tg_tensor *g[TG_HVP_MAX_INPUTS];
    tg_grad_opts first = {.create_graph = true, .allow_unused = o.allow_unused};
    if (!u || (st = tg_grad(t, 1, &y, &u, n, x, g, &first)) != TG_OK) return u ? st : TG_ERR_NOMEM;
    tg_tensor *s = dot_all(t, n, g, v);
    if (!s) return TG_ERR_NOMEM;
    if (!(s->flags & TG_REQUIRES_GRAD)) /* not reached: a constant y */
        return (jv[0] = tg_zeros(t, y->ndim, y->shape)) ? TG_OK : TG_ERR_NOMEM;
    tg_grad_opts second = {.create_graph = o.create_graph};
    return tg_grad(t, 1, &s, NULL, 1, &u, jv, &second);
}

/* The shape y.shape ++ x.shape of a block of derivatives; false if it has
   more than TG_MAX_DIMS dimensions. */
static bool block_shape(const tg_tensor *y, const tg_tensor *x, int *nd, int64_t *shape)
{
    if (y->ndim + x->ndim > TG_MAX_DIMS) return false;
    *nd = y->ndim + x->ndim;
    for (int i = 0; i < y->ndim; i++) shape[i] = y->shape[i];
    for (int i = 0; i < x->ndim; i++) shape[y->ndim + i] = x->shape[i];
    return true;
}

/* J[i] (y.shape ++ x[i].shape) = ∂y/∂x[i], row by row: row k is the
   gradient of y with the unit vector e_k as its output gradient. Without
   create_graph the rows are copied into place; with it, each row is placed
   by a one-hot outer product and the rows are added, so that the blocks
   are differentiable (O(size²) work: for small functions). */
static int jacobian_rows(tg_tape *t, const char *fn, tg_tensor *y, int n, tg_tensor *const *x,
                         tg_tensor **J, const tg_grad_opts *o)
{
    int nd[TG_HVP_MAX_INPUTS];
    int64_t shape[TG_HVP_MAX_INPUTS][TG_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        if (!block_shape(y, x[i], &nd[i], shape[i])) {
            tg_tape_set_error(t, "%s: the output's and input %d's dimensions together exceed %d",
                              fn, i, TG_MAX_DIMS);
            return TG_ERR_SHAPE;
        }
        if (!(J[i] = tg_zeros(t, nd[i], shape[i]))) return TG_ERR_NOMEM;
    }
    tg_tensor *e = tg_zeros(t, y->ndim, y->shape);
    if (!e) return TG_ERR_NOMEM;
    tg_grad_opts go = {.create_graph = o->create_graph, .allow_unused = true};
    tg_tensor *row[TG_HVP_MAX_INPUTS];
    tg_tensor *rows_of[TG_HVP_MAX_INPUTS] = {0}; /* create_graph: the blocks so far */
    for (int64_t k = 0; k < y->size; k++) {
        e->data[k] = 1;
        tg_tensor *ek = tg_tensor_new(t, y->ndim, y->shape, e->data);
        e->data[k] = 0;
        if (!ek) return TG_ERR_NOMEM;
        int st = tg_grad(t, 1, &y, &ek, n, x, row, &go);
        if (st != TG_OK) return st;
        for (int i = 0; i < n; i++) {
            if (!o->create_graph) {
                memcpy(J[i]->data + k * x[i]->size, row[i]->data,
                       (size_t)x[i]->size * sizeof(tg_real));
                continue;
            }
            /* block += e_k ⊗ row: the row placed at k by a one-hot outer product */
            tg_tensor *onehot = tg_zeros(t, TG_SHAPE(y->size, 1));
            if (!onehot) return TG_ERR_NOMEM;
            onehot->data[k] = 1;
            tg_tensor *placed =
                tg_mul(t, onehot, tg_reshape(t, row[i], TG_SHAPE(1, x[i]->size)));
            rows_of[i] = rows_of[i] ? tg_add(t, rows_of[i], placed) : placed;
            if (!rows_of[i]) return TG_ERR_NOMEM;
        }
    }
    if (o->create_graph)
        for (int i = 0; i < n; i++)
            if (rows_of[i] && !(J[i] = tg_reshape(t, rows_of[i], nd[i], shape[i])))
                return TG_ERR_NOMEM;
    return TG_OK;
}

int tg_jacobian(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor **J,
                const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_jacobian: the tape is NULL");
    int st = check_args(t, "tg_jacobian", y, n, x, false, NULL, J);
    if (st != TG_OK) return st;
    if (n > TG_HVP_MAX_INPUTS) {
        tg_tape_set_error(t, "tg_jacobian: %d inputs, at most %d", n, TG_HVP_MAX_INPUTS);
        return TG_ERR_INVALID;
    }
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    return jacobian_rows(t, "tg_jacobian", y, n, x, J, &o);
}

int tg_hessian(tg_tape *t, tg_tensor *y, int n, tg_tensor *const *x, tg_tensor **H,
               const tg_grad_opts *opts)
{
    if (!t) return tg_set_error(TG_ERR_INVALID, "tg_hessian: the tape is NULL");
    int st = check_args(t, "tg_hessian", y, n, x, false, NULL, H);
    if (st != TG_OK) return st;
    if (n > TG_HVP_MAX_INPUTS) {
        tg_tape_set_error(t, "tg_hessian: %d inputs, at most %d", n, TG_HVP_MAX_INPUTS);
        return TG_ERR_INVALID;
    }
    if (y->size != 1) {
        char sy[96];
        tg_tape_set_error(t, "tg_hessian: the output must have one element, got %s",
                          tg_shape_str(y, sy, sizeof sy));
        return TG_ERR_SHAPE;
    }
    tg_grad_opts o = opts ? *opts : (tg_grad_opts){0};
    tg_tensor *g[TG_HVP_MAX_INPUTS];
    tg_grad_opts first = {.create_graph = true, .allow_unused = o.allow_unused};
    if ((st = tg_grad(t, 1, &y, NULL, n, x, g, &first)) != TG_OK) return st;
    /* H[i·n + j] = ∂g_i/∂x_j */
    for (int i = 0; i < n; i++) {
        if (!(g[i]->flags & TG_REQUIRES_GRAD)) { /* a constant gradient: zero blocks */
            for (int j = 0; j < n; j++) {
                int nd;
                int64_t shape[TG_MAX_DIMS];
                if (!block_shape(g[i], x[j], &nd, shape)) {
                    tg_tape_set_error(t, "tg_hessian: inputs %d and %d have more than %d "
                                         "dimensions together", i, j, TG_MAX_DIMS);
                    return TG_ERR_SHAPE;
                }
                if (!(H[i * n + j] = tg_zeros(t, nd, shape))) return TG_ERR_NOMEM;
            }
            continue;
        }
        st = jacobian_rows(t, "tg_hessian", g[i], n, x, H + i * n, &o);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}
