/* Every joining and splitting op against central finite differences
   (tg_gradcheck with its defaults: PyTorch's in the double build, the float
   ones documented in the header in the float build; both builds run every
   case): cat of a few tensors and of more than one op takes (a tree of cat
   records), stack, each split with its pieces weighted differently (so a
   piece's gradient in the wrong place shows), pad in each mode with crops
   and on several axes (including the forms PyTorch does not offer: reflect
   on every axis of a 2-d tensor, replicate wider than the axis), repeat
   over more axes than one expand holds, and tile.

   The cases are a table (name, builder, inputs with their shapes, the op's
   arguments), run one Criterion test each, so that a second-order checker
   can take the same table. The ops are linear: any point is generic. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <string.h>
#include <tapegrad.h>

#include "golden.h"

#define FD_MAX_IN 10

typedef struct fd_case {
    const char *name;
    tg_gradcheck_fn build; /* ctx: this case */
    tg_gradcheck_fn inner; /* f_with_x: the op's own builder */
    int n_in;
    bool same_shape; /* every input has shape[0] */
    int ndim[3];
    int64_t shape[3][TG_MAX_DIMS];
    int axis;
    int64_t a;        /* split: the size or the number of chunks */
    int n;            /* pads, repeat counts or split sizes */
    int64_t v[8];
    tg_pad_mode mode;
    tg_real value;
} fd_case;

static tg_tensor *f_cat(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    return tg_cat(t, in, n, c->axis);
}
static tg_tensor *f_stack(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    return tg_stack(t, in, n, c->axis);
}
/* The pieces, piece k times k + 1, joined again */
static tg_tensor *weighted_join(tg_tape *t, tg_tensor **pieces, int count, int axis)
{
    if (count < 1) return NULL;
    for (int k = 0; k < count; k++) pieces[k] = tg_scale(t, pieces[k], (tg_real)(k + 1));
    return tg_cat(t, pieces, count, axis);
}
static tg_tensor *f_split(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    tg_tensor *p[16];
    (void)n;
    return weighted_join(t, p, tg_split(t, in[0], c->a, c->axis, p, 16), c->axis);
}
static tg_tensor *f_split_sizes(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    tg_tensor *p[16];
    (void)n;
    return weighted_join(t, p, tg_split_sizes(t, in[0], c->n, c->v, c->axis, p), c->axis);
}
static tg_tensor *f_split_chunks(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    tg_tensor *p[16];
    (void)n;
    return weighted_join(t, p, tg_split_chunks(t, in[0], (int)c->a, c->axis, p, 16), c->axis);
}
static tg_tensor *f_pad(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_pad(t, in[0], c->n, c->v, c->mode, c->value);
}
/* pad of x·x: the second derivative runs through pad_backward */
static tg_tensor *f_pad_sq(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    return tg_square(t, f_pad(t, in, n, ctx));
}
static tg_tensor *f_repeat(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_repeat(t, in[0], c->n, c->v);
}
static tg_tensor *f_tile(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    (void)n;
    return tg_tile(t, in[0], c->n, c->v);
}

/* op(x) and x joined (gt_with_input): x's gradient comes from two records */
static tg_tensor *f_with_x(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const fd_case *c = ctx;
    return gt_with_input(t, c->inner(t, in, n, ctx), in[0]);
}

#define SH(...) {__VA_ARGS__}

static const fd_case cases[] = {
    {.name = "cat_cols", .build = f_cat, .n_in = 3, .ndim = {2, 2, 2},
     .shape = {SH(2, 1), SH(2, 3), SH(2, 2)}, .axis = 1},
    {.name = "cat_neg_axis", .build = f_cat, .n_in = 2, .ndim = {3, 3},
     .shape = {SH(2, 2, 3), SH(1, 2, 3)}, .axis = -3},
    {.name = "cat_ten", .build = f_cat, .n_in = 10, .same_shape = true, .ndim = {2},
     .shape = {SH(1, 2)}, .axis = 0},
    {.name = "stack_mid", .build = f_stack, .n_in = 3, .same_shape = true, .ndim = {2},
     .shape = {SH(2, 3)}, .axis = 1},
    {.name = "stack_nine", .build = f_stack, .n_in = 9, .same_shape = true, .ndim = {1},
     .shape = {SH(2)}, .axis = -1},
    {.name = "split_2", .build = f_split, .n_in = 1, .ndim = {2}, .shape = {SH(5, 2)},
     .axis = 0, .a = 2},
    {.name = "split_sizes", .build = f_split_sizes, .n_in = 1, .ndim = {2}, .shape = {SH(2, 6)},
     .axis = -1, .n = 3, .v = {1, 0, 5}},
    {.name = "split_chunks", .build = f_split_chunks, .n_in = 1, .ndim = {2},
     .shape = {SH(3, 7)}, .axis = 1, .a = 3},
    {.name = "pad_constant_crop", .build = f_pad, .n_in = 1, .ndim = {2}, .shape = {SH(4, 5)},
     .n = 4, .v = {-1, 2, 1, -2}, .mode = TG_PAD_CONSTANT, .value = (tg_real)0.5},
    {.name = "pad_reflect", .build = f_pad, .n_in = 1, .ndim = {2}, .shape = {SH(4, 5)},
     .n = 4, .v = {4, 2, 1, 3}, .mode = TG_PAD_REFLECT},
    {.name = "pad_reflect_crop", .build = f_pad, .n_in = 1, .ndim = {2}, .shape = {SH(2, 6)},
     .n = 2, .v = {4, -3}, .mode = TG_PAD_REFLECT},
    {.name = "pad_replicate_wide", .build = f_pad, .n_in = 1, .ndim = {2}, .shape = {SH(3, 2)},
     .n = 4, .v = {5, 3, 4, 1}, .mode = TG_PAD_REPLICATE},
    {.name = "pad_circular", .build = f_pad, .n_in = 1, .ndim = {3}, .shape = {SH(2, 3, 4)},
     .n = 6, .v = {4, 2, -1, 2, 1, 1}, .mode = TG_PAD_CIRCULAR},
    {.name = "pad_reflect_sq", .build = f_pad_sq, .n_in = 1, .ndim = {2}, .shape = {SH(3, 4)},
     .n = 4, .v = {2, 3, 1, 2}, .mode = TG_PAD_REFLECT},
    {.name = "repeat", .build = f_repeat, .n_in = 1, .ndim = {2}, .shape = {SH(2, 3)},
     .n = 3, .v = {2, 1, 2}},
    {.name = "repeat_rounds", .build = f_repeat, .n_in = 1, .ndim = {5},
     .shape = {SH(2, 2, 2, 2, 2)}, .n = 5, .v = {1, 2, 2, 2, 2}},
    {.name = "tile_fewer", .build = f_tile, .n_in = 1, .ndim = {3}, .shape = {SH(2, 1, 3)},
     .n = 2, .v = {3, 2}},
    {.name = "cat_with_x", .build = f_with_x, .inner = f_cat, .n_in = 2, .ndim = {2, 2},
     .shape = {SH(2, 3), SH(1, 3)}, .axis = 0},
    {.name = "pad_with_x", .build = f_with_x, .inner = f_pad, .n_in = 1, .ndim = {2},
     .shape = {SH(3, 4)}, .n = 4, .v = {2, 1, -1, 1}, .mode = TG_PAD_REFLECT},
    {.name = "pad_constant_with_x", .build = f_with_x, .inner = f_pad, .n_in = 1, .ndim = {2},
     .shape = {SH(3, 4)}, .n = 4, .v = {2, -1, 1, 1}, .mode = TG_PAD_CONSTANT},
};

static uint64_t rng_state;

/* The parameter is the number of a case in the table (gt_case_numbers). */
ParameterizedTestParameters(fd_join, each)
{
    return gt_case_numbers(sizeof cases / sizeof *cases);
}

/* The case's inputs at a random point: values in [-1, 1) that require
   grad. Returns their number of elements. */
static int64_t make_inputs(tg_tape *t, const fd_case *c, tg_tensor **in)
{
    int64_t total = 0;
    for (int k = 0; k < c->n_in; k++) {
        int s = c->same_shape ? 0 : k;
        in[k] = tg_zeros(t, c->ndim[s], c->shape[s]);
        cr_assert(in[k], "%s", tg_tape_error(t));
        for (int64_t i = 0; i < in[k]->size; i++)
            in[k]->data[i] = (tg_real)(2 * gt_unit(&rng_state) - 1);
        tg_requires_grad(in[k], true);
        total += in[k]->size;
    }
    return total;
}

ParameterizedTest(int *id, fd_join, each)
{
    const fd_case *c = &cases[*id];
    rng_state = 20240702 + (uint64_t)*id;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[FD_MAX_IN];
    int64_t want = make_inputs(t, c, in);
    gt_expect_gradcheck(c->build, (void *)c, in, c->n_in, want, c->name);
    tg_tape_free(t);
}

/* The same cases through create_graph: the vjp rules give the fast
   backward's gradients at the case's point (the only check of the vjps
   for the pads PyTorch does not offer). */
ParameterizedTestParameters(fd_join, vjp_matches)
{
    return gt_case_numbers(sizeof cases / sizeof *cases);
}

ParameterizedTest(int *id, fd_join, vjp_matches)
{
    const fd_case *c = &cases[*id];
    rng_state = 20240712 + (uint64_t)*id;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[FD_MAX_IN];
    make_inputs(t, c, in);
    gt_expect_vjp_matches(t, c->build(t, in, c->n_in, (void *)c), c->n_in, in, (uint64_t)*id,
                          c->name);
    tg_tape_free(t);
}
