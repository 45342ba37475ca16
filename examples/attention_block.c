/* attention_block: a causal multi-head self-attention block written with the
   tensor ops, checked against the library's attention and against einsum.

       q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ            [B, T, D] each
       split into H heads                        [B, H, T, D/H]  (reshape, permute)
       s = (q @ kᵀ) / √(D/H)                     [B, H, T, T]    (matmul_t, scale)
       s[.., i, j] = −∞ where key j comes after query i  (a comparison, masked_fill)
       a = softmax(s) @ v, heads merged          [B, T, D]       (softmax, matmul)
       y = x + a·Woᵀ                             [B, T, D]       (the residual)

   The same block is computed three ways: from those ops; with the library's
   tg_scaled_dot_product_attention (itself checked against PyTorch's
   F.scaled_dot_product_attention by tests/ops/test_golden_attention.c) in
   place of the middle three lines; and with every product written as a
   tg_einsum ("btd,ed->bte", "bhqd,bhkd->bhqk", "bhqk,bhkd->bhqd"). The
   outputs and the gradients of Σ y·R (R fixed, random) with respect to x
   and the four weights must agree within the rounding of the build's
   precision; then tg_gradcheck compares the ops' gradients with finite
   differences. The exit status is 0 when everything agrees, 1 otherwise.

     ./attention_block [--seed N] [--heads H]
     ./attention_block_f64 ...       (the same in double, where tg_gradcheck
                                      holds PyTorch's tolerances) */
#include <tapegrad.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5, D = 8, N_IN = 5 }; /* batch, sequence, model width; x and 4 weights */

typedef enum { WITH_OPS, WITH_SDPA, WITH_EINSUM } form;
static const char *const FORM_NAME[] = {"ops", "scaled_dot_product_attention", "einsum"};

typedef struct {
    form how;
    int heads;
} block_cfg;

/* [B, T, D] -> [B, H, T, D/H]: each head's slice of the features, heads first */
static tg_tensor *split_heads(tg_tape *t, tg_tensor *x, int H)
{
    tg_tensor *y = tg_reshape(t, x, TG_SHAPE(B, T, H, D / H));
    return tg_permute(t, y, 4, (const int[]){0, 2, 1, 3});
}

/* [B, H, T, D/H] -> [B, T, D] */
static tg_tensor *merge_heads(tg_tape *t, tg_tensor *x)
{
    return tg_reshape(t, tg_permute(t, x, 4, (const int[]){0, 2, 1, 3}), TG_SHAPE(B, T, D));
}

/* [T, T], 1 where key j comes after query i (j > i): positions compared */
static tg_tensor *future_keys(tg_tape *t)
{
    tg_real pos[T];
    for (int i = 0; i < T; i++) pos[i] = (tg_real)i;
    tg_tensor *query = tg_tensor_new(t, TG_SHAPE(T, 1), pos);
    tg_tensor *key = tg_tensor_new(t, TG_SHAPE(1, T), pos);
    return tg_gt(t, key, query);
}

/* x·Wᵀ for x [B, T, D] and W [D, D] stored as nn.Linear's [out, in] */
static tg_tensor *project(tg_tape *t, tg_tensor *x, tg_tensor *W, form how)
{
    if (how == WITH_EINSUM) return tg_einsum(t, "btd,ed->bte", 2, (tg_tensor *[]){x, W});
    return tg_matmul_t(t, x, W, false, true);
}

/* causal attention of q, k, v [B, H, T, dh] -> [B, H, T, dh] */
static tg_tensor *attend(tg_tape *t, tg_tensor *q, tg_tensor *k, tg_tensor *v, form how)
{
    if (how == WITH_SDPA)
        return tg_scaled_dot_product_attention(t, q, k, v, NULL, TG_MASK_ADDITIVE, true, 0);
    tg_real scale = (tg_real)(1 / sqrt((double)q->shape[3]));
    tg_tensor *s = how == WITH_EINSUM ? tg_einsum(t, "bhqd,bhkd->bhqk", 2, (tg_tensor *[]){q, k})
                                      : tg_matmul_t(t, q, k, false, true);
    s = tg_masked_fill(t, tg_scale(t, s, scale), future_keys(t), -INFINITY);
    tg_tensor *p = tg_softmax(t, s, -1);
    return how == WITH_EINSUM ? tg_einsum(t, "bhqk,bhkd->bhqd", 2, (tg_tensor *[]){p, v})
                              : tg_matmul(t, p, v);
}

/* y = x + attention(x)·Woᵀ; in = {x, Wq, Wk, Wv, Wo}. A tg_gradcheck_fn. */
static tg_tensor *block(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    const block_cfg *c = ctx;
    if (n != N_IN || !in[0]) return NULL;
    tg_tensor *q = split_heads(t, project(t, in[0], in[1], c->how), c->heads);
    tg_tensor *k = split_heads(t, project(t, in[0], in[2], c->how), c->heads);
    tg_tensor *v = split_heads(t, project(t, in[0], in[3], c->how), c->heads);
    tg_tensor *a = merge_heads(t, attend(t, q, k, v, c->how));
    return tg_add(t, in[0], project(t, a, in[4], c->how));
}

/* ------------------------------------------------------------- comparing */

/* The largest |a − b| and the largest |a| over n values. */
static void compare(const tg_real *a, const tg_real *b, int64_t n, double *diff, double *scale)
{
    for (int64_t i = 0; i < n; i++) {
        *diff = fmax(*diff, fabs((double)a[i] - (double)b[i]));
        *scale = fmax(*scale, fabs((double)a[i]));
    }
}

/* How far two computations of the block that differ only in the order of
   their roundings may drift apart. Each step on the way from x to y rounds:
   a dot product of length n errs by at most γ_n ≈ n·u of the sum of its
   terms' magnitudes (u the unit roundoff), the softmax's sum of T
   exponentials by T·u (plus one rounding of each exp and of the division),
   and the path is the projection (D), the scores (D/H ≤ D), the softmax
   (T + 2), the weighted sum of values (T) and the output projection (D) with
   the residual (1). Inputs of size 1 and weights of size 1/√D keep every
   intermediate within a small multiple of 1, so the error of one
   computation is at most (3D + 2T + 3)·u in units of the output's largest
   magnitude, and two computations differ by twice that. The gradient walks
   the path twice (forward, then back): twice again. */
static double tolerance(double scale, bool gradient)
{
    double u = (sizeof(tg_real) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON) / 2;
    return (gradient ? 4 : 2) * (3 * D + 2 * T + 3) * u * fmax(scale, 1);
}

typedef struct {
    tg_tensor *y;
    tg_tensor *grad[N_IN];
} result;

/* The block one way, and the gradients of Σ y·R. false on failure. */
static bool run(tg_tape *t, tg_tensor *const *in, const block_cfg *c, tg_tensor *R,
                result *r)
{
    r->y = block(t, in, N_IN, (void *)c);
    if (!r->y) return false;
    tg_tensor *loss = tg_sum(t, tg_mul(t, r->y, R), TG_ALL, false);
    return tg_grad(t, 1, &loss, NULL, N_IN, in, r->grad, NULL) == TG_OK;
}

static const char USAGE[] =
    "usage: attention_block [--seed N] [--heads H]\n"
    "A causal multi-head self-attention block (batch 2, sequence 5, width 8)\n"
    "written with matmul, scale, masked_fill, softmax, reshape and permute;\n"
    "prints its output, compares it and its gradients with the same block\n"
    "through tg_scaled_dot_product_attention and through tg_einsum, and runs\n"
    "tg_gradcheck on it. --seed: of the input and weights (default 1);\n"
    "--heads: 1, 2, 4 or 8 (default 2). Exit status 0 when all agree.\n";

static bool number_arg(const char *opt, const char *s, unsigned long long *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno || *end || !*s || s[0] == '-') {
        fprintf(stderr, "attention_block: %s needs a number >= 0, not '%s'\n", opt, s);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1, heads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (!number_arg("--seed", argv[++i], &seed)) return 2;
        } else if (!strcmp(argv[i], "--heads") && i + 1 < argc) {
            if (!number_arg("--heads", argv[++i], &heads)) return 2;
            if (heads == 0 || heads > D || D % heads) {
                fprintf(stderr, "attention_block: --heads must divide %d, not %llu\n", D, heads);
                return 2;
            }
        } else {
            fprintf(stderr, "attention_block: unknown option or argument '%s'\n", argv[i]);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    tg_tape *t = tg_tape_new();
    if (!t) {
        fprintf(stderr, "attention_block: %s\n", tg_last_error());
        return 1;
    }
    /* x ~ N(0, 1); weights ~ N(0, 1/D), so that every projection keeps size 1 */
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_tensor *in[N_IN] = {tg_zeros(t, TG_SHAPE(B, T, D))};
    for (int k = 1; k < N_IN; k++) in[k] = tg_zeros(t, TG_SHAPE(D, D));
    tg_tensor *R = tg_zeros(t, TG_SHAPE(B, T, D));
    for (int k = 0; k < N_IN; k++) {
        if (!in[k]) break;
        double sd = k == 0 ? 1 : 1 / sqrt((double)D);
        for (int64_t i = 0; i < in[k]->size; i++) in[k]->data[i] = (tg_real)(sd * tg_rng_normal(&rng));
        tg_requires_grad(in[k], true);
    }
    for (int64_t i = 0; R && i < R->size; i++) R->data[i] = (tg_real)tg_rng_normal(&rng);

    result r[3];
    block_cfg cfg[3];
    bool ran = R != NULL;
    for (int f = 0; f < 3 && ran; f++) {
        cfg[f] = (block_cfg){(form)f, (int)heads};
        ran = run(t, in, &cfg[f], R, &r[f]);
    }
    if (!ran) {
        fprintf(stderr, "attention_block: %s\n", tg_tape_error(t));
        tg_tape_free(t);
        return 1;
    }
    printf("causal self-attention, %llu head%s, x [%d, %d, %d], seed %llu (%s)\n", heads,
           heads == 1 ? "" : "s", B, T, D, seed, tg_real_name());
    printf("y = x + attention(x)·Woᵀ, batch 0:\n");
    for (int i = 0; i < T; i++) {
        printf("  t=%d ", i);
        for (int j = 0; j < D; j++) printf(" %8.4f", (double)r[0].y->data[i * D + j]);
        printf("\n");
    }

    bool ok = true;
    printf("\nagainst the block written with the ops:\n");
    for (int f = 1; f < 3; f++) {
        double dy = 0, sy = 0, dg = 0, sg = 0;
        compare(r[0].y->data, r[f].y->data, r[0].y->size, &dy, &sy);
        for (int k = 0; k < N_IN; k++)
            compare(r[0].grad[k]->data, r[f].grad[k]->data, r[0].grad[k]->size, &dg, &sg);
        double ty = tolerance(sy, false), tgr = tolerance(sg, true);
        bool same = dy <= ty && dg <= tgr;
        ok = ok && same;
        printf("  %-29s max |dy| %.2e (tolerance %.1e), max |d grad| %.2e (tolerance %.1e): "
               "%s\n",
               FORM_NAME[f], dy, ty, dg, tgr, same ? "agree" : "DIFFER");
    }

    /* the gradients of the ops against finite differences, on fresh tapes */
    tg_gradcheck_result gc = tg_gradcheck(block, &cfg[WITH_OPS], in, N_IN, NULL);
    ok = ok && gc.status == TG_OK && gc.ok;
    printf("\ntg_gradcheck (%s): %s\n", tg_real_name(), gc.message);
    printf("%s\n", ok ? "all agree" : "FAILED");
    tg_tape_free(t);
    return ok ? 0 : 1;
}
