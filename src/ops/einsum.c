/* Einstein summation (torch.einsum), composed of taped ops.

       "bij,bjk->bik":  y[b,i,k] = Σ_j a[b,i,j]·c[b,j,k]

   tg_einsum is not an op of its own: it records the ops it is made of
   (tg_permute, tg_reshape, tg_slice for a diagonal, tg_sum_axes, tg_mul,
   tg_matmul_t), so its gradient and every higher one come from their
   backward and vjp rules, and it has no line in src/tools/rules.c.

   The plan, after the equation is read into one label per axis of each
   operand (a letter, or one label per dimension under "..."):
     1. a label repeated inside one operand takes the diagonal (permute the
        copies to the end, flatten them, slice with the diagonal's stride);
     2. an axis of size 1 whose label has another size elsewhere is
        reshaped away: the operand does not depend on it (broadcasting);
     3. the operands are contracted two at a time, left to right. For a
        pair, a label needed later (by the output or a later operand) and
        present in both is a batch label, one in both and not needed is
        contracted, one in one operand only and needed is kept, one in one
        operand only and not needed is summed away first. Each operand is
        laid out [batch, kept, contracted] (or the transpose the GEMM reads
        in place, when the operand already is so), flattened to 3-d, and
        multiplied: [B, M, K] @ [B, K, N]; a pair with nothing to contract
        is an element-wise product instead;
     4. a single operand has its unneeded labels summed; the result is
        permuted to the output's order. */
#include "ops/ops_internal.h"

#include <string.h>

#define EIN "tg_einsum"
#define EIN_LETTERS 52 /* 'A'..'Z' are labels 0..25, 'a'..'z' 26..51 (ASCII order) */
/* The dimensions under "..." are labels EIN_LETTERS..EIN_LABELS-1, aligned on
   the right: an operand's last ellipsis dimension is always EIN_LABELS - 1,
   so that ellipses of different lengths broadcast as NumPy's shapes do. */
#define EIN_LABELS (EIN_LETTERS + TG_MAX_DIMS)
#define EIN_MAX_OPERANDS 32

typedef uint64_t ein_set; /* a set of labels, bit per label (EIN_LABELS ≤ 64) */

/* An operand while it is worked on: its tensor and one label per axis. */
typedef struct {
    tg_tensor *x;
    int n;
    int lab[TG_MAX_DIMS];
} ein_term;

typedef struct {
    int64_t size[EIN_LABELS];   /* each label's size, broadcast over the operands */
    int from[EIN_LABELS];       /* the operand that gave it (for messages), -1: unseen */
    int count[EIN_LABELS];      /* its occurrences in all the inputs */
    int n_ell;                  /* dimensions under "..." (the most any operand has) */
    int out_n;                  /* the output's labels, in order */
    int out[TG_MAX_DIMS];
} ein_eq;

static ein_set bit(int label) { return (ein_set)1 << label; }

static ein_set labels_of(const ein_term *e)
{
    ein_set s = 0;
    for (int i = 0; i < e->n; i++) s |= bit(e->lab[i]);
    return s;
}

static int letter_label(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + c - 'a';
    return -1;
}

static char label_letter(int label) { return (char)(label < 26 ? 'A' + label : 'a' + label - 26); }

/* ------------------------------------------------------------------ parsing */

/* One side of the equation, [p, end): letters and at most one "..." (spaces
   skipped). Writes the letters' labels (up to TG_MAX_DIMS, *n_letters counts
   them all) and where "..." stands among them (-1: none). `what` names the
   side in messages. false with a message on the tape when it is malformed. */
static bool parse_term(tg_tape *t, const char *eq, const char *p, const char *end,
                       const char *what, int *lab, int *n_letters, int *ell_at)
{
    *n_letters = 0, *ell_at = -1;
    for (const char *c = p; c < end; c++) {
        if (*c == ' ') continue;
        if (*c == '.') {
            if (end - c < 3 || c[1] != '.' || c[2] != '.') {
                tg_tape_set_error(t, EIN ": a '.' at position %d of \"%s\" (%s) is not part of "
                                     "an ellipsis \"...\"",
                                  (int)(c - eq), eq, what);
                return false;
            }
            if (*ell_at >= 0) {
                tg_tape_set_error(t, EIN ": %s of \"%s\" has more than one ellipsis \"...\"",
                                  what, eq);
                return false;
            }
            *ell_at = *n_letters;
            c += 2;
            continue;
        }
        int l = letter_label(*c);
        if (l < 0) {
            tg_tape_set_error(t, EIN ": invalid character '%c' at position %d of \"%s\": "
                                 "subscripts are letters a-z and A-Z, with ',', \"->\", "
                                 "\"...\" and spaces",
                              *c, (int)(c - eq), eq);
            return false;
        }
        if (*n_letters < TG_MAX_DIMS) lab[*n_letters] = l;
        ++*n_letters;
    }
    return true;
}

/* Gives `label` the size d seen in operand k, broadcasting sizes of 1 as
   PyTorch does; false with a message naming the letter and both sizes. */
static bool see_size(tg_tape *t, ein_eq *q, int label, int64_t d, int k)
{
    if (q->from[label] < 0 || q->size[label] == 1) {
        if (q->from[label] < 0 || d != 1) q->size[label] = d, q->from[label] = k;
        return true;
    }
    if (d == q->size[label] || d == 1) return true;
    if (label < EIN_LETTERS)
        tg_tape_set_error(t, EIN ": subscript '%c' has size %lld in operand %d but %lld in "
                             "operand %d (sizes must be equal, or 1 to broadcast)",
                          label_letter(label), (long long)d, k, (long long)q->size[label],
                          q->from[label]);
    else
        tg_tape_set_error(t, EIN ": the dimensions under \"...\" do not broadcast: size %lld "
                             "in operand %d against %lld in operand %d",
                          (long long)d, k, (long long)q->size[label], q->from[label]);
    return false;
}

/* Operand k's subscripts [p, end) against its tensor: one label per axis in
   e, its sizes entered in q. A letter repeated in the operand (a diagonal)
   needs one size on all its axes. */
static bool read_operand(tg_tape *t, const char *eq, const char *p, const char *end, int k,
                         tg_tensor *x, ein_term *e, ein_eq *q)
{
    char what[32], sx[96];
    snprintf(what, sizeof what, "operand %d", k);
    int lab[TG_MAX_DIMS], nl, ell;
    if (!parse_term(t, eq, p, end, what, lab, &nl, &ell)) return false;
    if (ell < 0 ? nl != x->ndim : nl > x->ndim) {
        tg_tape_set_error(t, EIN ": operand %d has %d dimensions (%s) but %d subscripts%s in "
                             "\"%s\"",
                          k, x->ndim, tg_shape_str(x, sx, sizeof sx), nl,
                          ell < 0 ? " and no ellipsis" : " besides its ellipsis", eq);
        return false;
    }
    int ne = x->ndim - nl; /* the dimensions under "..." */
    if (ne > q->n_ell) q->n_ell = ne;
    e->x = x, e->n = x->ndim;
    for (int i = 0, j = 0; i < x->ndim; i++) {
        if (ell >= 0 && i >= ell && i < ell + ne) e->lab[i] = EIN_LABELS - ne + (i - ell);
        else e->lab[i] = lab[j++];
    }
    for (int i = 0; i < e->n; i++) {
        int l = e->lab[i];
        q->count[l]++;
        for (int j = 0; j < i; j++)
            if (e->lab[j] == l && x->shape[j] != x->shape[i]) {
                tg_tape_set_error(t, EIN ": subscript '%c' is repeated in operand %d (%s) with "
                                     "sizes %lld and %lld; a diagonal needs them equal",
                                  label_letter(l), k, tg_shape_str(x, sx, sizeof sx),
                                  (long long)x->shape[j], (long long)x->shape[i]);
                return false;
            }
        if (!see_size(t, q, l, x->shape[i], k)) return false;
    }
    return true;
}

/* The output's labels: the explicit side after "->", [p, end), or PyTorch's
   implicit one (the "..." dimensions, then every letter used once, in
   ASCII order: uppercase first). */
static bool read_output(tg_tape *t, const char *eq, const char *p, const char *end, ein_eq *q)
{
    int lab[TG_MAX_DIMS], nl, ell;
    if (p) {
        if (!parse_term(t, eq, p, end, "the output", lab, &nl, &ell)) return false;
    } else {
        nl = 0, ell = 0;
        for (int l = 0; l < EIN_LETTERS; l++)
            if (q->count[l] == 1) {
                if (nl < TG_MAX_DIMS) lab[nl] = l;
                nl++;
            }
    }
    int ne = ell >= 0 ? q->n_ell : 0;
    if (nl + ne > TG_MAX_DIMS) {
        tg_tape_set_error(t, EIN ": the output of \"%s\" would have %d dimensions, more than %d",
                          eq, nl + ne, TG_MAX_DIMS);
        return false;
    }
    q->out_n = 0;
    for (int i = 0; i <= nl; i++) {
        if (i == ell)
            for (int j = 0; j < ne; j++) q->out[q->out_n++] = EIN_LABELS - ne + j;
        if (i == nl) break;
        int l = lab[i];
        if (q->count[l] == 0) {
            tg_tape_set_error(t, EIN ": output subscript '%c' of \"%s\" appears in no operand",
                              label_letter(l), eq);
            return false;
        }
        for (int j = 0; j < q->out_n; j++)
            if (q->out[j] == l) {
                tg_tape_set_error(t, EIN ": output subscript '%c' appears more than once in "
                                     "\"%s\"",
                                  label_letter(l), eq);
                return false;
            }
        q->out[q->out_n++] = l;
    }
    return true;
}

/* ------------------------------------------------------------- contraction */

/* e's tensor with its axes in the order of the labels `to` (a permutation
   of e's labels, all distinct); nothing is recorded when it is that order. */
static bool arrange(tg_tape *t, ein_term *e, const int *to)
{
    int perm[TG_MAX_DIMS] = {0};
    bool same = true;
    for (int i = 0; i < e->n; i++) {
        for (int j = 0; j < e->n; j++)
            if (e->lab[j] == to[i]) perm[i] = j;
        same = same && perm[i] == i;
    }
    if (!same) e->x = tg_permute(t, e->x, e->n, perm);
    memcpy(e->lab, to, sizeof(int) * (size_t)e->n);
    return e->x != NULL;
}

/* e's tensor reshaped to the sizes of its labels, without the axes whose
   labels are not in `keep` (each of size 1 there). */
static bool drop_axes(tg_tape *t, ein_term *e, ein_set keep)
{
    int64_t shape[TG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < e->n; i++)
        if (keep & bit(e->lab[i])) e->lab[n] = e->lab[i], shape[n++] = e->x->shape[i];
    if (n == e->n) return true;
    e->n = n;
    e->x = tg_reshape(t, e->x, n, shape);
    return e->x != NULL;
}

/* Steps 1 and 2: each repeated label's diagonal, then the axes of size 1
   that broadcast against another size reshaped away. The diagonal of k
   axes of size d, flattened, is every s-th element, s = 1 + d + … + dᵏ⁻¹. */
static bool prepare(tg_tape *t, ein_term *e, const ein_eq *q)
{
    for (;;) {
        int rep = -1, n_rep = 0;
        for (int i = 0; i < e->n && rep < 0; i++)
            for (int j = i + 1; j < e->n; j++)
                if (e->lab[j] == e->lab[i]) rep = e->lab[i];
        if (rep < 0) break;
        int order[TG_MAX_DIMS], n = 0;
        int64_t shape[TG_MAX_DIMS], d = 0, flat = 1, step = 0;
        for (int i = 0; i < e->n; i++)
            if (e->lab[i] != rep) order[n] = i, shape[n++] = e->x->shape[i];
        for (int i = 0; i < e->n; i++)
            if (e->lab[i] == rep) {
                order[n + n_rep++] = i, d = e->x->shape[i];
                step += flat, flat *= d; /* sizes of x: no overflow (size_of) */
            }
        if (d <= 1) step = 1;
        tg_tensor *x = e->x;
        bool moved = false;
        for (int i = 0; i < e->n; i++) moved = moved || order[i] != i;
        if (moved) x = tg_permute(t, x, e->n, order);
        shape[n] = flat;
        x = tg_slice(t, tg_reshape(t, x, n + 1, shape), n, 0, TG_END, step);
        if (!x) return false;
        int lab[TG_MAX_DIMS];
        for (int i = 0; i < n; i++) lab[i] = e->lab[order[i]];
        lab[n] = rep;
        e->x = x, e->n = n + 1;
        memcpy(e->lab, lab, sizeof lab);
    }
    ein_set keep = 0;
    for (int i = 0; i < e->n; i++)
        if (e->x->shape[i] == q->size[e->lab[i]]) keep |= bit(e->lab[i]);
    return drop_axes(t, e, keep);
}

/* Sums away the labels of e that are not in `needed`. */
static bool sum_unneeded(tg_tape *t, ein_term *e, ein_set needed)
{
    int axes[TG_MAX_DIMS], n = 0;
    for (int i = 0; i < e->n; i++)
        if (!(needed & bit(e->lab[i]))) axes[n++] = i;
    if (n == 0) return true;
    e->x = tg_sum_axes(t, e->x, n, axes, false);
    int m = 0;
    for (int i = 0; i < e->n; i++)
        if (needed & bit(e->lab[i])) e->lab[m++] = e->lab[i];
    e->n = m;
    return e->x != NULL;
}

/* The labels of e in `s`, in e's order, appended to lab[*n]. */
static void pick(const ein_term *e, ein_set s, int *lab, int *n)
{
    for (int i = 0; i < e->n; i++)
        if (s & bit(e->lab[i])) lab[(*n)++] = e->lab[i];
}

/* The product of the sizes of labels lab[0..n), all of one operand: it
   cannot overflow, since a tensor's nonzero sizes multiply to at most
   INT64_MAX / sizeof(tg_real) (tg_shape_numel), even when it is empty. */
static int64_t size_of(const ein_eq *q, const int *lab, int n)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= q->size[lab[i]];
    return p;
}

/* Does e's order equal the labels of groups g0, g1, g2 in turn? */
static bool laid_out(const ein_term *e, const int *g0, int n0, const int *g1, int n1,
                     const int *g2, int n2)
{
    int want[TG_MAX_DIMS], n = 0;
    for (int i = 0; i < n0; i++) want[n++] = g0[i];
    for (int i = 0; i < n1; i++) want[n++] = g1[i];
    for (int i = 0; i < n2; i++) want[n++] = g2[i];
    return n == e->n && !memcmp(want, e->lab, sizeof(int) * (size_t)n);
}

/* One operand of the product, flattened to [B, P, Q] (or [P, Q] when there
   is no batch) from the groups batch, p, q in that order: it is permuted to
   that order unless it already is, or is in the order batch, q, p, which the
   GEMM reads transposed in place (*transposed then). */
static tg_tensor *as_matrix(tg_tape *t, const ein_eq *q, ein_term *e, const int *bt, int nb,
                            const int *p, int np, const int *r, int nr, bool *transposed)
{
    *transposed = nr > 0 && np > 0 && !laid_out(e, bt, nb, p, np, r, nr) &&
                  laid_out(e, bt, nb, r, nr, p, np);
    if (!*transposed) {
        int to[TG_MAX_DIMS], n = 0;
        for (int i = 0; i < nb; i++) to[n++] = bt[i];
        for (int i = 0; i < np; i++) to[n++] = p[i];
        for (int i = 0; i < nr; i++) to[n++] = r[i];
        if (!arrange(t, e, to)) return NULL;
    }
    int64_t B = size_of(q, bt, nb), P = size_of(q, p, np), Q = size_of(q, r, nr);
    if (*transposed) {
        int64_t s = P;
        P = Q, Q = s;
    }
    return nb ? tg_reshape(t, e->x, TG_SHAPE(B, P, Q)) : tg_reshape(t, e->x, TG_SHAPE(P, Q));
}

/* Step 3 for one pair: a becomes the contraction of a and b over the
   labels not in `needed` (the output's and the later operands'). */
static bool contract(tg_tape *t, const ein_eq *q, ein_term *a, ein_term *b, ein_set needed)
{
    if (!sum_unneeded(t, a, needed | labels_of(b)) || !sum_unneeded(t, b, needed | labels_of(a)))
        return false;
    ein_set both = labels_of(a) & labels_of(b);
    int bt[TG_MAX_DIMS], ct[TG_MAX_DIMS], lt[TG_MAX_DIMS], rt[TG_MAX_DIMS];
    int nb = 0, nc = 0, nl = 0, nr = 0;
    pick(a, both & needed, bt, &nb);
    pick(a, both & ~needed, ct, &nc);
    pick(a, ~both, lt, &nl);
    pick(b, ~both, rt, &nr);
    if (nb + nl + nr > TG_MAX_DIMS) {
        tg_tape_set_error(t, EIN ": an intermediate product would have %d dimensions, more "
                             "than %d",
                          nb + nl + nr, TG_MAX_DIMS);
        return false;
    }
    tg_tensor *y;
    if (nc == 0) { /* nothing to contract: [B, M, 1] · [B, 1, N] */
        bool ta, tb;
        tg_tensor *x = as_matrix(t, q, a, bt, nb, lt, nl, NULL, 0, &ta);
        tg_tensor *z = as_matrix(t, q, b, bt, nb, NULL, 0, rt, nr, &tb);
        y = tg_mul(t, x, z);
    } else { /* [B, M, K] @ [B, K, N], either read transposed */
        bool ta, tb;
        tg_tensor *x = as_matrix(t, q, a, bt, nb, lt, nl, ct, nc, &ta);
        tg_tensor *z = as_matrix(t, q, b, bt, nb, ct, nc, rt, nr, &tb);
        y = tg_matmul_t(t, x, z, ta, tb);
    }
    int64_t shape[TG_MAX_DIMS];
    a->n = 0;
    for (int i = 0; i < nb; i++) a->lab[a->n++] = bt[i];
    for (int i = 0; i < nl; i++) a->lab[a->n++] = lt[i];
    for (int i = 0; i < nr; i++) a->lab[a->n++] = rt[i];
    for (int i = 0; i < a->n; i++) shape[i] = q->size[a->lab[i]];
    a->x = tg_reshape(t, y, a->n, shape);
    return a->x != NULL;
}

tg_tensor *tg_einsum(tg_tape *t, const char *equation, int n, tg_tensor *const *operands)
{
    if (!t) return tg_no_tape(__func__);
    if (!equation || !operands || n < 1 || n > EIN_MAX_OPERANDS) {
        if (!equation || !operands)
            tg_tape_set_error(t, EIN ": %s is NULL", !equation ? "the equation" : "operands");
        else
            tg_tape_set_error(t, EIN ": needs 1 to %d operands, got %d", EIN_MAX_OPERANDS, n);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (!operands[k]) return tg_null_input(t, "einsum");
    const char *eq = equation, *arrow = strstr(eq, "->");
    const char *lhs_end = arrow ? arrow : eq + strlen(eq);
    int terms = 1;
    for (const char *c = eq; c < lhs_end; c++) terms += *c == ',';
    if (terms != n) {
        tg_tape_set_error(t, EIN ": \"%s\" has %d operand%s, %d given", eq, terms,
                          terms == 1 ? "" : "s", n);
        return NULL;
    }
    ein_eq q = {.n_ell = 0};
    for (int l = 0; l < EIN_LABELS; l++) q.from[l] = -1;
    ein_term e[EIN_MAX_OPERANDS];
    const char *p = eq;
    for (int k = 0; k < n; k++) {
        const char *end = k == n - 1 ? lhs_end : strchr(p, ',');
        if (!read_operand(t, eq, p, end, k, operands[k], &e[k], &q)) return NULL;
        p = end + 1;
    }
    if (!read_output(t, eq, arrow ? arrow + 2 : NULL, arrow ? eq + strlen(eq) : NULL, &q))
        return NULL;
    ein_set out = 0;
    for (int i = 0; i < q.out_n; i++) out |= bit(q.out[i]);
    for (int k = 0; k < n; k++)
        if (!prepare(t, &e[k], &q)) return NULL;
    /* left to right: after operand k, the labels still needed are the
       output's and those of operands k+1.. */
    ein_set later[EIN_MAX_OPERANDS + 1];
    later[n] = out;
    for (int k = n - 1; k >= 0; k--) later[k] = later[k + 1] | labels_of(&e[k]);
    ein_term acc = e[0];
    if (!sum_unneeded(t, &acc, later[1])) return NULL;
    for (int k = 1; k < n; k++)
        if (!contract(t, &q, &acc, &e[k], later[k + 1])) return NULL;
    return arrange(t, &acc, q.out) ? acc.x : NULL;
}
