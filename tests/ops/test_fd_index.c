/* Every indexing op against central finite differences (tg_gradcheck with
   its defaults: PyTorch's in the double build, the float ones documented in
   the header in the float build; both builds run every case).

   The golden tests compare with PyTorch where PyTorch has an answer; these
   compare each backward rule with its own forward through the whole
   Jacobian at seeded random points, and so also cover what PyTorch cannot
   differentiate or leaves undefined: scatter's gradient with repeated
   positions (the last write wins, and only it gets the gradient), and
   scatter_add's src larger than its index array (0 for the unused
   elements). The ops are piecewise linear only in their indices, which are
   constants: any point is generic.

   The cases are a table (name, builder, inputs with their shapes and
   fills, the op's arguments), run one Criterion test each, so that a
   second-order checker can take the same table. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <string.h>
#include <tapegrad.h>

#include "golden.h"

#define FD_MAX_IN 3

enum fill { F_SIGNED, F_MASK };

typedef struct fd_case {
    const char *name;
    tg_gradcheck_fn build; /* ctx: this case */
    tg_gradcheck_fn inner; /* f_with_x: the op's own builder */
    int n_in;
    int ndim[FD_MAX_IN];
    int64_t shape[FD_MAX_IN][TG_MAX_DIMS];
    enum fill fill[FD_MAX_IN]; /* a mask gets no gradient */
    int axis;
    int64_t a, b, c;           /* the op's integer arguments (start, stop, step...) */
    int n_specs;               /* tg_slices */
    tg_slice_spec specs[3];
    tg_real value;
    int index_ndim;
    int64_t index_shape[TG_MAX_DIMS];
    int64_t index[24];
} fd_case;

/* The case's index array, on the builder's tape. */
static const tg_index *index_of(tg_tape *t, const fd_case *c)
{
    return tg_index_new(t, c->index_ndim, c->index_shape, c->index);
}

static tg_tensor *f_slice(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    if (c->n_specs) return tg_slices(t, in[0], c->n_specs, c->specs);
    return tg_slice(t, in[0], c->axis, c->a, c->b, c->c);
}
static tg_tensor *f_select(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_select(t, in[0], c->axis, c->a);
}
static tg_tensor *f_narrow(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_narrow(t, in[0], c->axis, c->a, c->b);
}
static tg_tensor *f_index_select(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_index_select(t, in[0], c->axis, index_of(t, c));
}
static tg_tensor *f_index_add(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_index_add(t, in[0], c->axis, index_of(t, c), in[1]);
}
static tg_tensor *f_gather(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_gather(t, in[0], c->axis, index_of(t, c));
}
static tg_tensor *f_scatter_add(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_scatter_add(t, in[0], c->axis, index_of(t, c), in[1]);
}
static tg_tensor *f_scatter(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_scatter(t, in[0], c->axis, index_of(t, c), in[1]);
}
static tg_tensor *f_masked_fill(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_masked_fill(t, in[0], in[1], c->value);
}
static tg_tensor *f_take_along_dim(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_take_along_dim(t, in[0], index_of(t, c), c->axis);
}
/* gather of x·x: the gradient is not constant, so a rule that used the
   wrong positions of g or of x shows */
static tg_tensor *f_gather_sq(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    return tg_square(t, f_gather(t, in, n, ctx));
}

/* op(x) and x joined (gt_with_input): x's gradient comes from two records */
static tg_tensor *f_with_x(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    return gt_with_input(t, c->inner(t, in, n, ctx), in[0]);
}

#define SH(...) {__VA_ARGS__}

static const fd_case cases[] = {
    {.name = "slice_step2", .build = f_slice, .n_in = 1, .ndim = {2}, .shape = {SH(4, 6)},
     .axis = 1, .a = 2, .b = 10, .c = 2},
    {.name = "slice_negative", .build = f_slice, .n_in = 1, .ndim = {2}, .shape = {SH(5, 3)},
     .axis = 0, .a = -3, .b = TG_END, .c = 1},
    {.name = "slice_step_beyond", .build = f_slice, .n_in = 1, .ndim = {2}, .shape = {SH(3, 4)},
     .axis = -1, .a = 1, .b = TG_END, .c = 7},
    {.name = "slices_3d", .build = f_slice, .n_in = 1, .ndim = {3}, .shape = {SH(3, 4, 5)},
     .n_specs = 3, .specs = {{-1, 1, 4, 2}, {0, 0, TG_END, 2}, {1, -2, TG_END, 1}}},
    {.name = "select", .build = f_select, .n_in = 1, .ndim = {3}, .shape = {SH(2, 3, 4)},
     .axis = 1, .a = -1},
    {.name = "select_to_0d", .build = f_select, .n_in = 1, .ndim = {1}, .shape = {SH(4)},
     .axis = 0, .a = 2},
    {.name = "narrow", .build = f_narrow, .n_in = 1, .ndim = {2}, .shape = {SH(5, 3)},
     .axis = 0, .a = -3, .b = 2},
    {.name = "index_select_repeat", .build = f_index_select, .n_in = 1, .ndim = {2},
     .shape = {SH(4, 3)}, .axis = 0, .index_ndim = 1, .index_shape = {5},
     .index = {1, 3, 1, 1, 0}},
    {.name = "index_select_cols", .build = f_index_select, .n_in = 1, .ndim = {3},
     .shape = {SH(2, 5, 2)}, .axis = 1, .index_ndim = 1, .index_shape = {3}, .index = {4, 0, 4}},
    {.name = "index_add", .build = f_index_add, .n_in = 2, .ndim = {2, 2},
     .shape = {SH(4, 3), SH(5, 3)}, .axis = 0, .index_ndim = 1, .index_shape = {5},
     .index = {1, 3, 1, 1, 0}},
    {.name = "gather_cols", .build = f_gather, .n_in = 1, .ndim = {2}, .shape = {SH(3, 4)},
     .axis = 1, .index_ndim = 2, .index_shape = {3, 3},
     .index = {0, 3, 3, 2, 2, 2, 1, 0, 3}},
    {.name = "gather_3d_rows", .build = f_gather, .n_in = 1, .ndim = {3},
     .shape = {SH(2, 3, 4)}, .axis = 0, .index_ndim = 3, .index_shape = {2, 2, 3},
     .index = {1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0}},
    {.name = "gather_sq", .build = f_gather_sq, .n_in = 1, .ndim = {2}, .shape = {SH(2, 4)},
     .axis = 1, .index_ndim = 2, .index_shape = {2, 3}, .index = {3, 3, 0, 1, 2, 1}},
    {.name = "scatter_add_src_larger", .build = f_scatter_add, .n_in = 2, .ndim = {2, 2},
     .shape = {SH(3, 4), SH(3, 3)}, .axis = 1, .index_ndim = 2, .index_shape = {3, 2},
     .index = {0, 0, 3, 1, 2, 2}},
    {.name = "scatter_add_rows", .build = f_scatter_add, .n_in = 2, .ndim = {2, 2},
     .shape = {SH(3, 2), SH(4, 2)}, .axis = 0, .index_ndim = 2, .index_shape = {4, 2},
     .index = {2, 0, 2, 2, 1, 0, 2, 1}},
    {.name = "scatter_repeated", .build = f_scatter, .n_in = 2, .ndim = {1, 1},
     .shape = {SH(5), SH(4)}, .axis = 0, .index_ndim = 1, .index_shape = {4},
     .index = {1, 1, 3, 1}},
    {.name = "scatter_2d", .build = f_scatter, .n_in = 2, .ndim = {2, 2},
     .shape = {SH(3, 4), SH(3, 3)}, .axis = 1, .index_ndim = 2, .index_shape = {3, 2},
     .index = {0, 0, 3, 1, 2, 2}},
    {.name = "masked_fill_row_mask", .build = f_masked_fill, .n_in = 2, .ndim = {2, 1},
     .shape = {SH(3, 4), SH(4)}, .fill = {F_SIGNED, F_MASK}, .value = (tg_real)1.5},
    {.name = "masked_fill_x_broadcast", .build = f_masked_fill, .n_in = 2, .ndim = {1, 2},
     .shape = {SH(4), SH(3, 4)}, .fill = {F_SIGNED, F_MASK}, .value = -2},
    {.name = "take_along_dim_bcast", .build = f_take_along_dim, .n_in = 1, .ndim = {2},
     .shape = {SH(1, 5)}, .axis = 1, .index_ndim = 2, .index_shape = {3, 2},
     .index = {4, 0, 1, 1, 3, 4}},
    {.name = "take_along_dim_flat", .build = f_take_along_dim, .n_in = 1, .ndim = {2},
     .shape = {SH(3, 4)}, .axis = TG_ALL, .index_ndim = 2, .index_shape = {2, 3},
     .index = {11, 0, 5, 5, 7, 2}},
    {.name = "slice_with_x", .build = f_with_x, .inner = f_slice, .n_in = 1, .ndim = {2},
     .shape = {SH(4, 6)}, .axis = 1, .a = 1, .b = 5, .c = 2},
    {.name = "index_select_with_x", .build = f_with_x, .inner = f_index_select, .n_in = 1,
     .ndim = {2}, .shape = {SH(4, 3)}, .axis = 0, .index_ndim = 1, .index_shape = {3},
     .index = {1, 3, 1}},
    {.name = "gather_with_x", .build = f_with_x, .inner = f_gather, .n_in = 1, .ndim = {2},
     .shape = {SH(3, 4)}, .axis = 1, .index_ndim = 2, .index_shape = {3, 2},
     .index = {0, 3, 3, 3, 1, 0}},
    {.name = "scatter_add_with_x", .build = f_with_x, .inner = f_scatter_add, .n_in = 2,
     .ndim = {2, 2}, .shape = {SH(3, 4), SH(3, 2)}, .axis = 1, .index_ndim = 2,
     .index_shape = {3, 2}, .index = {0, 0, 3, 1, 2, 2}},
    {.name = "scatter_with_x", .build = f_with_x, .inner = f_scatter, .n_in = 2,
     .ndim = {2, 2}, .shape = {SH(3, 4), SH(3, 2)}, .axis = 1, .index_ndim = 2,
     .index_shape = {3, 2}, .index = {0, 0, 3, 1, 2, 2}},
    {.name = "masked_fill_with_x", .build = f_with_x, .inner = f_masked_fill, .n_in = 2,
     .ndim = {2, 1}, .shape = {SH(3, 4), SH(4)}, .fill = {F_SIGNED, F_MASK}, .value = 3},
};

static uint64_t rng_state;

/* The case's inputs at a random point: signed values in [-1, 1) that
   require grad, or 0/1 masks that do not. */
static void make_inputs(tg_tape *t, const fd_case *c, tg_tensor **in)
{
    for (int k = 0; k < c->n_in; k++) {
        in[k] = tg_zeros(t, c->ndim[k], c->shape[k]);
        cr_assert(in[k], "%s", tg_tape_error(t));
        for (int64_t i = 0; i < in[k]->size; i++) {
            double u = gt_unit(&rng_state);
            in[k]->data[i] = (tg_real)(c->fill[k] == F_MASK ? u < 0.4 : 2 * u - 1);
        }
        tg_requires_grad(in[k], c->fill[k] != F_MASK);
    }
}

/* The parameter is the number of a case in the table (gt_case_numbers). */
ParameterizedTestParameters(fd_index, each)
{
    return gt_case_numbers(sizeof cases / sizeof *cases);
}

ParameterizedTest(int *id, fd_index, each)
{
    const fd_case *c = &cases[*id];
    rng_state = 20240701 + (uint64_t)*id;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[FD_MAX_IN];
    make_inputs(t, c, in);
    int64_t want = 0;
    for (int k = 0; k < c->n_in; k++)
        if (c->fill[k] != F_MASK) want += in[k]->size;
    gt_expect_gradcheck(c->build, (void *)c, in, c->n_in, want, c->name);
    tg_tape_free(t);
}

/* The same cases through create_graph: the vjp rules give the fast
   backward's gradients at the case's point (the only check of the vjps
   where PyTorch has no answer: scatter's repeated positions, scatter_add's
   unused src). */
ParameterizedTestParameters(fd_index, vjp_matches)
{
    return gt_case_numbers(sizeof cases / sizeof *cases);
}

ParameterizedTest(int *id, fd_index, vjp_matches)
{
    const fd_case *c = &cases[*id];
    rng_state = 20240711 + (uint64_t)*id;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[FD_MAX_IN], *wrt[FD_MAX_IN];
    int m = 0;
    make_inputs(t, c, in);
    for (int k = 0; k < c->n_in; k++)
        if (c->fill[k] != F_MASK) wrt[m++] = in[k];
    gt_expect_vjp_matches(t, c->build(t, in, c->n_in, (void *)c), m, wrt, (uint64_t)*id,
                          c->name);
    tg_tape_free(t);
}
