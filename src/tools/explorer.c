/* The tape as an interactive page (tg_tape_html): one self-contained HTML
   file, the graph laid out here as inline SVG, the numbers as a script
   object, and the stepping done by a small script (src/tools/explorer_page.c).

     tensors:  every distinct tensor the records touch (leaves as first read,
               results as made), with its value
     records:  op, rule (src/tools/rules.c), inputs, output, backward_of
     steps:    the backward pass from the seed, record by record: the
               gradient arriving at the output, what the rule adds into each
               input (and the sum so far), one element worked out
     grads:    each tensor's gradient at the end of the pass

   The backward here is a walk of its own, tg_backward's with every step
   kept: the records the loss depends on, last to first, each rule run on a
   copy of the record whose tensors are copies ("shadows") with gradient
   buffers of this file's. Nothing of the tape, its tensors or their .grad is
   written; scratch that a rule takes from its record's tape comes from a
   tape of our own. */
#include "core/internal.h"

#include <limits.h>
#include <stdlib.h>

/* Pages from src/tools/explorer_page.c: the style and the script. */
extern const char *const tg_explorer_css[];
extern const char *const tg_explorer_js[];

/* ------------------------------------------------------------ the tensors */

/* The distinct tensors of the records, in order of first appearance, with a
   hash from address to index (open addressing, linear probing). */
typedef struct {
    const tg_tensor **v;
    size_t n, cap;
    long *slot; /* [nslots]: index in v, or -1 */
    size_t nslots;
} tensor_index;

static size_t hash_ptr(const void *p, size_t nslots)
{
    uint64_t z = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;
    return (size_t)(z >> 17) & (nslots - 1);
}

static long tindex_find(const tensor_index *s, const tg_tensor *x)
{
    for (size_t h = hash_ptr(x, s->nslots);; h = (h + 1) & (s->nslots - 1)) {
        if (s->slot[h] < 0) return -1;
        if (s->v[s->slot[h]] == x) return s->slot[h];
    }
}

static int tindex_add(tensor_index *s, const tg_tensor *x)
{
    if (!x || tindex_find(s, x) >= 0) return TG_OK;
    size_t h = hash_ptr(x, s->nslots);
    while (s->slot[h] >= 0) h = (h + 1) & (s->nslots - 1);
    s->slot[h] = (long)s->n;
    s->v[s->n++] = x;
    return TG_OK;
}

/* At most n_in + 1 tensors per record: sized once, so no growth. */
static int tindex_build(tensor_index *s, const tg_tape *t, size_t nrec)
{
    size_t most = 1;
    for (size_t i = 0; i < nrec; i++) most += (size_t)tg_tape_record(t, i)->n_in + 1;
    s->cap = most;
    s->nslots = 16;
    while (s->nslots < 2 * most) s->nslots *= 2;
    s->v = malloc(most * sizeof *s->v);
    s->slot = malloc(s->nslots * sizeof *s->slot);
    if (!s->v || !s->slot) return TG_ERR_NOMEM;
    for (size_t i = 0; i < s->nslots; i++) s->slot[i] = -1;
    for (size_t i = 0; i < nrec; i++) {
        const tg_record *r = tg_tape_record(t, i);
        for (int k = 0; k < r->n_in; k++) tindex_add(s, r->in[k]);
        tindex_add(s, r->out);
    }
    return TG_OK;
}

static const char *kind_of(const tg_tensor *x)
{
    if (x->flags & TG_PARAM) return "param";
    if (x->rec >= 0) return "result";
    if (x->flags & TG_REQUIRES_GRAD) return "input";
    return "const";
}

static bool needs_grad(const tg_tensor *x) { return x && (x->flags & TG_REQUIRES_GRAD); }

/* ------------------------------------------------------------ writing */

typedef struct {
    FILE *f;
    tg_html_opts o;
} page;

/* A number as a JavaScript literal: enough digits to read tg_real back. */
static void num(FILE *f, double v)
{
    if (isnan(v)) fputs("NaN", f);
    else if (isinf(v)) fputs(v > 0 ? "Infinity" : "-Infinity", f);
    else fprintf(f, sizeof(tg_real) == sizeof(float) ? "%.9g" : "%.17g", v);
}

/* A string as a JavaScript literal, safe inside <script> ('<' escaped). */
static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '<') fputs("\\u003c", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Text inside HTML or SVG. */
static void html(FILE *f, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*p, f);
        }
    }
}

static void shape_js(FILE *f, int ndim, const int64_t *shape)
{
    fputc('[', f);
    for (int i = 0; i < ndim; i++) fprintf(f, i ? ",%lld" : "%lld", (long long)shape[i]);
    fputc(']', f);
}

/* The flat index k of a tensor of shape `shape` as [i,j,...]. */
static void index_js(FILE *f, const tg_tensor *x, int64_t k)
{
    int64_t idx[TG_MAX_DIMS];
    for (int d = x->ndim - 1; d >= 0; d--) {
        idx[d] = x->shape[d] ? k % x->shape[d] : 0;
        k = x->shape[d] ? k / x->shape[d] : 0;
    }
    shape_js(f, x->ndim, idx);
}

/* A view of n values of tensor x's shape: every value when small, else the
   summary and a heat map (the tensor as [rows, rest] averaged over at most
   24 × 48 blocks). Statistics always (for the graph's labels). */
static void view(const page *pg, const tg_tensor *x, const tg_real *v)
{
    FILE *f = pg->f;
    int64_t n = x->size;
    double lo = INFINITY, hi = -INFINITY, s = 0, ss = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = (double)v[i];
        if (!isfinite(a)) {
            bad++;
            continue;
        }
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
        s += a;
        ss += a * a;
    }
    int64_t good = n - bad;
    fputs("{s:{min:", f);
    num(f, good ? lo : NAN);
    fputs(",max:", f);
    num(f, good ? hi : NAN);
    fputs(",mean:", f);
    num(f, good ? s / (double)good : NAN);
    fputs(",norm:", f);
    num(f, sqrt(ss));
    fprintf(f, ",bad:%lld}", (long long)bad);
    if (n <= pg->o.max_full) {
        fputs(",v:[", f);
        for (int64_t i = 0; i < n; i++) {
            if (i) fputc(',', f);
            num(f, (double)v[i]);
        }
        fputs("]}", f);
        return;
    }
    int64_t rows = x->ndim >= 2 ? x->shape[0] : 1, cols = rows ? n / rows : 0;
    int64_t br = rows < 24 ? rows : 24, bc = cols < 48 ? cols : 48;
    fprintf(f, ",h:{r:%lld,c:%lld,v:[", (long long)br, (long long)bc);
    for (int64_t a = 0; a < br; a++) {
        int64_t r0 = a * rows / br, r1 = (a + 1) * rows / br;
        for (int64_t b = 0; b < bc; b++) {
            int64_t c0 = b * cols / bc, c1 = (b + 1) * cols / bc;
            double m = 0;
            int64_t cnt = 0;
            for (int64_t i = r0; i < r1; i++)
                for (int64_t j = c0; j < c1; j++) {
                    double e = (double)v[i * cols + j];
                    if (isfinite(e)) m += e, cnt++;
                }
            if (a || b) fputc(',', f);
            num(f, cnt ? m / (double)cnt : NAN);
        }
    }
    fputs("]}}", f);
}

/* ------------------------------------------------------------ the walk */

typedef struct {
    const tg_tape *t;
    const tg_tensor *loss;
    tensor_index ti;
    size_t nrec;
    bool *reached;    /* [nrec] */
    tg_real **acc;    /* [ti.n] the gradient so far, NULL until reached */
    int *uses;        /* [ti.n] how many rules have added into it */
    tg_tape *scratch; /* for the scratch that rules take from their tape */
    tg_real *onehot;  /* [largest output] */
} walk;

/* Marks the records the loss depends on. */
static void mark_reached(walk *w)
{
    if (!w->loss || w->loss->rec < 0) return;
    w->reached[w->loss->rec] = true;
    for (size_t i = (size_t)w->loss->rec + 1; i-- > 0;) {
        if (!w->reached[i]) continue;
        const tg_record *r = tg_tape_record(w->t, i);
        for (int k = 0; k < r->n_in; k++)
            if (r->in[k] && r->in[k]->rec >= 0) w->reached[r->in[k]->rec] = true;
    }
}

/* The record on shadows: a copy whose output carries gradient `g` and whose
   inputs that need a gradient carry zeroed buffers grads[k] (one shadow per
   distinct tensor, so a tensor read twice receives both contributions).
   Runs the rule; the buffers then hold what it adds. */
static void run_rule(walk *w, const tg_record *r, const tg_real *g, tg_real *const *grads,
                     tg_tensor *sh /* [TG_MAX_INPUTS + 1] */)
{
    tg_record c = *r;
    c.tape = w->scratch;
    sh[TG_MAX_INPUTS] = *r->out;
    sh[TG_MAX_INPUTS].grad = (tg_real *)g; /* read, never written */
    sh[TG_MAX_INPUTS].flags &= ~TG_GRAD_FRESH;
    c.out = &sh[TG_MAX_INPUTS];
    for (int k = 0; k < r->n_in; k++) {
        if (!r->in[k]) continue;
        int first = k;
        for (int a = 0; a < k; a++)
            if (r->in[a] == r->in[k]) {
                first = a;
                break;
            }
        if (first == k) {
            sh[k] = *r->in[k];
            sh[k].flags &= ~TG_GRAD_FRESH;
            sh[k].grad = needs_grad(r->in[k]) ? grads[k] : NULL;
            if (sh[k].grad) memset(sh[k].grad, 0, (size_t)sh[k].size * sizeof(tg_real));
        }
        c.in[k] = &sh[first];
    }
    r->op->backward(&c);
    tg_tape_reset(w->scratch);
}

/* The first input slot holding the same tensor as slot k. */
static int first_slot(const tg_record *r, int k)
{
    for (int a = 0; a < k; a++)
        if (r->in[a] == r->in[k]) return a;
    return k;
}

/* The element of x that output element o of y reads under broadcasting
   (x's dimensions right-aligned to y's, size 1 repeated); -1 if x does not
   broadcast to y. */
static int64_t broadcast_index(const tg_tensor *x, const tg_tensor *y, int64_t o)
{
    if (x->ndim > y->ndim) return -1;
    int64_t k = 0, stride = 1;
    for (int d = y->ndim - 1; d >= 0; d--) {
        int64_t i = y->shape[d] ? o % y->shape[d] : 0;
        o = y->shape[d] ? o / y->shape[d] : 0;
        int dx = d - (y->ndim - x->ndim);
        if (dx < 0) continue;
        if (x->shape[dx] != y->shape[d] && x->shape[dx] != 1) return -1;
        if (x->shape[dx] != 1) k += i * stride;
        stride *= x->shape[dx];
    }
    return k;
}

/* A local-derivative template with its numbers filled in at output element
   o: {x} {a} input 0, {b} input 1, {c} input 2, {y} the output (negative
   numbers in parentheses, so that "1 − {y}²" stays right). */
static void fill_template(FILE *f, const char *tpl, const tg_record *r, int64_t o)
{
    for (const char *p = tpl; *p; p++) {
        const tg_tensor *src = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}') {
            char c = p[1];
            if (c == 'x' || c == 'a') src = r->in[0];
            else if (c == 'b') src = r->n_in > 1 ? r->in[1] : NULL;
            else if (c == 'c') src = r->n_in > 2 ? r->in[2] : NULL;
            else if (c == 'y') src = r->out;
        }
        if (!src) {
            if (*p == '"' || *p == '\\') fputc('\\', f);
            fputc(*p, f);
            continue;
        }
        int64_t k = src == r->out ? o : broadcast_index(src, r->out, o);
        double v = k >= 0 ? (double)src->data[k] : NAN;
        char buf[48];
        snprintf(buf, sizeof buf, "%.9g", v);
        fprintf(f, v < 0 ? "(%s)" : "%s", buf);
        p += 2;
    }
}

static bool has_numbers(const char *tpl) { return tpl && strchr(tpl, '{'); }

/* The local derivative of input slot k from the table (",sym:..,num:.."),
   for a built-in op. A tensor that is several inputs of the record gets the
   sum of each slot's (mul(h, h): "{b} + {a}", 2h), when each slot has one. */
static void local_derivative(FILE *f, const tg_record *r, int k, int64_t o)
{
    if (!tg_op_is_builtin(r->op)) return;
    const char *tpl[TG_MAX_INPUTS];
    int n = 0;
    bool numbers = true;
    for (int a = k; a < r->n_in; a++) {
        if (r->in[a] != r->in[k]) continue;
        tpl[n] = tg_op_local_derivative(r->op->name, a);
        if (!tpl[n]) return;
        numbers &= has_numbers(tpl[n]);
        n++;
    }
    fputs(",sym:\"", f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? " + " : "", tpl[i]);
    fputc('"', f);
    if (!numbers || o < 0) return;
    fputs(",num:\"", f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(" + ", f);
        fill_template(f, tpl[i], r, o);
    }
    fputc('"', f);
}

/* One element of each input worked out: for input slot k, the element j
   that this rule changes most, and the terms Σ_o g[o]·∂y[o]/∂x[j] of the
   chain rule behind it. ∂y[o]/∂x[j] comes from the rule itself, run with a
   one-hot arriving gradient at o, for every o when the output has at most
   max_terms elements (else for the o of the largest |g|, as one term). */
/* Whether input k of r gets an element worked out: the first slot of a
   tensor the rule added into, with an element, of an output with one. */
static bool workable(const tg_record *r, tg_real *const *contrib, int k)
{
    return contrib[k] && first_slot(r, k) == k && r->in[k]->size > 0 && r->out->size > 0;
}

static int worked(walk *w, const page *pg, const tg_record *r, const tg_real *g,
                  tg_real *const *contrib, tg_real *const *buf, tg_tensor *sh)
{
    FILE *f = pg->f;
    const tg_tensor *y = r->out;
    int64_t jk[TG_MAX_INPUTS] = {0};
    if (y->size == 0) { /* nothing to work out (an empty tensor's reads are out of bounds) */
        fputs(",worked:[]", f);
        return TG_OK;
    }
    for (int k = 0; k < r->n_in; k++) {
        if (!workable(r, contrib, k)) continue;
        int64_t best = 0;
        for (int64_t i = 1; i < r->in[k]->size; i++)
            if (fabs((double)contrib[k][i]) > fabs((double)contrib[k][best])) best = i;
        jk[k] = best;
    }
    bool all = y->size <= pg->o.max_terms;
    int64_t omax = 0;
    for (int64_t o = 1; o < y->size && !all; o++)
        if (fabs((double)g[o]) > fabs((double)g[omax])) omax = o;
    int64_t n_o = all ? y->size : 1;
    /* terms[k·n_o + i] = ∂y[o_i]/∂x_k[j_k] */
    double *d = malloc((size_t)(r->n_in * n_o) * sizeof *d);
    if (!d) return TG_ERR_NOMEM;
    for (int64_t i = 0; i < n_o; i++) {
        int64_t o = all ? i : omax;
        memset(w->onehot, 0, (size_t)y->size * sizeof(tg_real));
        w->onehot[o] = 1;
        run_rule(w, r, w->onehot, buf, sh);
        for (int k = 0; k < r->n_in; k++)
            d[k * n_o + i] = workable(r, contrib, k) ? (double)buf[k][jk[k]] : 0;
    }
    fputs(",worked:[", f);
    bool first = true;
    for (int k = 0; k < r->n_in; k++) {
        if (!workable(r, contrib, k)) continue;
        if (!first) fputc(',', f);
        first = false;
        const tg_tensor *x = r->in[k];
        fprintf(f, "{slot:%d,j:", k);
        index_js(f, x, jk[k]);
        fprintf(f, ",all:%s,terms:[", all ? "true" : "false");
        int shown = 0;
        int64_t nonzero = 0, first_o = -1;
        double sum = 0;
        for (int64_t i = 0; i < n_o; i++) {
            double dd = d[k * n_o + i];
            if (dd == 0) continue;
            int64_t o = all ? i : omax;
            if (first_o < 0) first_o = o;
            nonzero++;
            sum += (double)g[o] * dd;
            if (shown == 8) continue;
            fprintf(f, "%s{o:", shown ? "," : "");
            index_js(f, y, o);
            fputs(",g:", f);
            num(f, (double)g[o]);
            fputs(",d:", f);
            num(f, dd);
            fputc('}', f);
            shown++;
        }
        fprintf(f, "],n:%lld,sum:", (long long)nonzero);
        num(f, sum);
        fputs(",add:", f);
        num(f, (double)contrib[k][jk[k]]);
        local_derivative(f, r, k, first_o);
        fputc('}', f);
    }
    fputc(']', f);
    free(d);
    return TG_OK;
}

/* The backward pass, one step per reached record, streamed as the `steps`
   array; w->acc ends with every tensor's gradient. */
static int walk_backward(walk *w, const page *pg)
{
    FILE *f = pg->f;
    long lt = tindex_find(&w->ti, w->loss);
    w->acc[lt] = malloc(sizeof(tg_real));
    if (!w->acc[lt]) return TG_ERR_NOMEM;
    w->acc[lt][0] = 1;
    w->uses[lt] = 1;
    fprintf(f, "steps:[{rec:-1,t:%ld,arrive:", lt);
    view(pg, w->loss, w->acc[lt]);
    fputc('}', f);
    tg_real *contrib[TG_MAX_INPUTS] = {0}, *buf[TG_MAX_INPUTS] = {0};
    tg_tensor sh[TG_MAX_INPUTS + 1];
    int st = TG_OK;
    for (size_t i = w->nrec; i-- > 0 && st == TG_OK;) {
        if (!w->reached[i]) continue;
        const tg_record *r = tg_tape_record(w->t, i);
        long to = tindex_find(&w->ti, r->out);
        bool any = false;
        for (int k = 0; k < r->n_in; k++) any |= needs_grad(r->in[k]);
        if (!w->acc[to] || !any) continue; /* as tg_backward: nothing to send */
        for (int k = 0; k < r->n_in && st == TG_OK; k++) {
            contrib[k] = buf[k] = NULL;
            if (!needs_grad(r->in[k])) continue;
            contrib[k] = malloc((size_t)r->in[k]->size * sizeof(tg_real));
            buf[k] = malloc((size_t)r->in[k]->size * sizeof(tg_real));
            if (!contrib[k] || !buf[k]) st = TG_ERR_NOMEM;
        }
        if (st == TG_OK) {
            run_rule(w, r, w->acc[to], contrib, sh);
            fprintf(f, ",{rec:%zu,t:%ld,arrive:", i, to);
            view(pg, r->out, w->acc[to]);
            fputs(",adds:[", f);
            bool first = true;
            for (int k = 0; k < r->n_in && st == TG_OK; k++) {
                if (!contrib[k] || first_slot(r, k) != k) continue;
                const tg_tensor *x = r->in[k];
                long tx = tindex_find(&w->ti, x);
                fprintf(f, "%s{slot:%d,t:%ld,nth:%d,slots:[%d", first ? "" : ",", k, tx,
                        w->uses[tx] + 1, k);
                for (int a = k + 1; a < r->n_in; a++)
                    if (r->in[a] == x) fprintf(f, ",%d", a);
                fputs("],add:", f);
                first = false;
                view(pg, x, contrib[k]);
                if (w->acc[tx]) {
                    fputs(",before:", f);
                    view(pg, x, w->acc[tx]);
                    for (int64_t e = 0; e < x->size; e++) w->acc[tx][e] += contrib[k][e];
                } else {
                    w->acc[tx] = malloc((size_t)x->size * sizeof(tg_real));
                    if (!w->acc[tx]) {
                        st = TG_ERR_NOMEM;
                        break;
                    }
                    memcpy(w->acc[tx], contrib[k], (size_t)x->size * sizeof(tg_real));
                }
                w->uses[tx]++;
                fputs(",after:", f);
                view(pg, x, w->acc[tx]);
                fputc('}', f);
            }
            fputc(']', f);
            if (st == TG_OK) st = worked(w, pg, r, w->acc[to], contrib, buf, sh);
            fputc('}', f);
        }
        for (int k = 0; k < r->n_in; k++) {
            free(contrib[k]);
            free(buf[k]);
            contrib[k] = buf[k] = NULL;
        }
    }
    fputs("],\n", f);
    return st;
}

/* ------------------------------------------------------------ the layout */

/* Layers by depth, as dot draws a graph: a leaf at 0, a record one past its
   deepest input, its output one past it; then each leaf moves next to its
   first reader. Tensors are therefore on even layers and records on odd
   ones. An edge that spans more than one layer passes a small placeholder
   node ("dummy") on each layer between, so that it is routed around the
   nodes there, not through them. Within a layer the nodes are ordered by
   the mean position of their neighbours (a few barycentre sweeps), which
   untangles most edges, then stacked about the middle. An edge leaves its
   tensor and enters its record at a point of its own, so that two uses of
   one tensor by one record are two lines.

   A tape longer than opts.max_records is drawn in part: the records nearest
   the loss, the ones backward visits first (without a loss, the first). */
enum { NODE_W = 196, NODE_H = 62, REC_W = 118, REC_H = 38, GAP = 56, ROW_H = 84, DUMMY_H = 14,
       PAD = 24, MAX_DUMMIES = 100000 };

typedef struct {
    int level;
    int h;      /* the height it takes in its layer */
    double key; /* the sort key of the current sweep */
    double y;   /* its centre, from the layer's middle */
} node;

typedef struct {
    size_t from, to;
} link;

typedef struct {
    size_t r0, r1;  /* records drawn: r0..r1-1 */
    long *tnode;    /* [ti.n] each tensor's node, -1 when not drawn */
    size_t nt, nrd; /* nodes: nt tensors, then nrd records (nt + i - r0), then dummies */
    size_t *eoff;   /* [nrd + 1] the first input edge of each drawn record */
    size_t *dummy;  /* [edges + 1] the first dummy of each input edge; dummy[e + 1] ends it */
    node *nodes;
    size_t nn;
    int levels;
    double tallest;
} layout;

static void layout_free(layout *L)
{
    free(L->tnode);
    free(L->eoff);
    free(L->dummy);
    free(L->nodes);
}

static size_t rec_node(const layout *L, size_t i) { return L->nt + i - L->r0; }
static size_t ten_node(const walk *w, const layout *L, const tg_tensor *x)
{
    return (size_t)L->tnode[tindex_find(&w->ti, x)];
}

static double col_left(int level)
{
    return PAD + (level / 2) * (double)(NODE_W + REC_W + 2 * GAP) + (level % 2 ? NODE_W + GAP : 0);
}
static double col_width(int level) { return level % 2 ? REC_W : NODE_W; }
static double node_x(const layout *L, size_t n)
{
    return col_left(L->nodes[n].level) + col_width(L->nodes[n].level) / 2;
}
static double node_y(const layout *L, size_t n) { return PAD + L->tallest / 2 + L->nodes[n].y; }
static double layout_width(const layout *L)
{
    return L->levels ? col_left(L->levels - 1) + col_width(L->levels - 1) + PAD : 2 * PAD + NODE_W;
}
static double layout_height(const layout *L)
{
    return L->nn ? 2 * PAD + L->tallest : 2 * PAD + NODE_H;
}

typedef struct {
    double key;
    size_t n;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Levels of the tensors and records drawn; returns how many dummies the
   input edges need (each capped so that all stay under MAX_DUMMIES). */
static size_t assign_levels(const walk *w, layout *L)
{
    node *nd = L->nodes;
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        int lv = 0;
        for (int k = 0; k < r->n_in; k++)
            if (r->in[k]) {
                int l = nd[ten_node(w, L, r->in[k])].level;
                lv = l > lv ? l : lv;
            }
        nd[rec_node(L, i)].level = lv + 1;
        nd[ten_node(w, L, r->out)].level = lv + 2;
    }
    /* a tensor not made by a drawn record is a leaf here: next to its first
       reader (every one has a reader: it is drawn because one reads it) */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = L->r0; i < L->r1; i++) {
            const tg_record *r = tg_tape_record(w->t, i);
            for (int k = 0; k < r->n_in; k++) {
                const tg_tensor *x = r->in[k];
                if (!x || (x->rec >= 0 && (size_t)x->rec >= L->r0)) continue;
                node *n = &nd[ten_node(w, L, x)];
                int l = nd[rec_node(L, i)].level - 1;
                if (pass == 0) n->level = INT_MAX;
                else if (l < n->level) n->level = l;
            }
        }
    size_t e = 0, dummies = 0;
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        L->eoff[i - L->r0] = e;
        for (int k = 0; k < r->n_in; k++, e++) {
            L->dummy[e] = dummies;
            if (!r->in[k]) continue;
            int from = nd[ten_node(w, L, r->in[k])].level;
            size_t span = (size_t)(nd[rec_node(L, i)].level - from - 1);
            if (dummies + span <= MAX_DUMMIES) dummies += span;
        }
    }
    L->eoff[L->r1 - L->r0] = e;
    L->dummy[e] = dummies;
    return dummies;
}

/* Stacks each layer's nodes in the order of their keys, about the middle. */
static void place(layout *L, const size_t *bylevel, const size_t *loff, keyed *tmp)
{
    L->tallest = 0;
    for (int lv = 0; lv < L->levels; lv++) {
        size_t m = loff[lv + 1] - loff[lv];
        double total = 0;
        for (size_t p = 0; p < m; p++) {
            size_t n = bylevel[loff[lv] + p];
            tmp[p] = (keyed){L->nodes[n].key, n};
            total += L->nodes[n].h;
        }
        qsort(tmp, m, sizeof *tmp, by_key);
        double at = -total / 2;
        for (size_t p = 0; p < m; p++) {
            node *n = &L->nodes[tmp[p].n];
            n->y = at + n->h / 2.0;
            at += n->h;
        }
        L->tallest = total > L->tallest ? total : L->tallest;
    }
}

static int make_layout(const walk *w, size_t max_records, layout *L)
{
    size_t n = w->nrec < max_records ? w->nrec : max_records, end = n;
    if (w->loss && w->loss->rec >= 0 && (size_t)w->loss->rec + 1 > end)
        end = (size_t)w->loss->rec + 1;
    L->r0 = end - n;
    L->r1 = end;
    L->nrd = n;
    size_t edges = 0;
    L->tnode = malloc((w->ti.n ? w->ti.n : 1) * sizeof *L->tnode);
    if (!L->tnode) return TG_ERR_NOMEM;
    for (size_t x = 0; x < w->ti.n; x++) L->tnode[x] = -1;
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        edges += (size_t)r->n_in;
        for (int k = 0; k <= r->n_in; k++) {
            const tg_tensor *x = k < r->n_in ? r->in[k] : r->out;
            long j = x ? tindex_find(&w->ti, x) : -1;
            if (j >= 0 && L->tnode[j] < 0) L->tnode[j] = (long)L->nt++;
        }
    }
    size_t base = L->nt + L->nrd;
    L->eoff = malloc((L->nrd + 1) * sizeof *L->eoff);
    L->dummy = malloc((edges + 1) * sizeof *L->dummy);
    L->nodes = calloc(base + 1, sizeof *L->nodes);
    if (!L->eoff || !L->dummy || !L->nodes) return TG_ERR_NOMEM;
    size_t nd_count = assign_levels(w, L);
    L->nn = base + nd_count;
    node *grown = realloc(L->nodes, (L->nn + 1) * sizeof *L->nodes);
    if (!grown) return TG_ERR_NOMEM;
    L->nodes = grown;
    memset(grown + base, 0, (nd_count + 1) * sizeof *grown);
    node *nd = L->nodes;
    for (size_t i = 0; i < base; i++) nd[i].h = ROW_H;
    /* the dummies of each edge, and the links: every edge in steps of one layer */
    size_t nl = L->nrd + edges + nd_count, l = 0;
    link *links = malloc((nl ? nl : 1) * sizeof *links);
    if (!links) return TG_ERR_NOMEM;
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        size_t ri = rec_node(L, i);
        for (int k = 0; k < r->n_in; k++) {
            if (!r->in[k]) continue;
            size_t e = L->eoff[i - L->r0] + (size_t)k, prev = ten_node(w, L, r->in[k]);
            for (size_t d = L->dummy[e]; d < L->dummy[e + 1]; d++) {
                nd[base + d].level = nd[prev].level + 1;
                nd[base + d].h = DUMMY_H;
                links[l++] = (link){prev, base + d};
                prev = base + d;
            }
            links[l++] = (link){prev, ri};
        }
        links[l++] = (link){ri, ten_node(w, L, r->out)};
    }
    int levels = 0;
    for (size_t i = 0; i < L->nn; i++) levels = nd[i].level + 1 > levels ? nd[i].level + 1 : levels;
    L->levels = levels;
    /* the nodes of each layer */
    size_t *loff = calloc((size_t)levels + 2, sizeof *loff);
    size_t *bylevel = malloc((L->nn ? L->nn : 1) * sizeof *bylevel);
    keyed *tmp = malloc((L->nn ? L->nn : 1) * sizeof *tmp);
    double *sum = malloc((L->nn ? L->nn : 1) * sizeof *sum);
    int *cnt = malloc((L->nn ? L->nn : 1) * sizeof *cnt);
    int st = loff && bylevel && tmp && sum && cnt ? TG_OK : TG_ERR_NOMEM;
    if (st == TG_OK) {
        for (size_t i = 0; i < L->nn; i++) loff[nd[i].level + 2]++;
        for (int lv = 0; lv < levels; lv++) loff[lv + 2] += loff[lv + 1];
        for (size_t i = 0; i < L->nn; i++) bylevel[loff[nd[i].level + 1]++] = i;
        /* first the order of appearance; then sweeps, forward and back */
        for (size_t i = 0; i < L->nn; i++) nd[i].key = (double)i;
        for (int sweep = 0;; sweep++) {
            place(L, bylevel, loff, tmp);
            if (sweep == 6) break;
            bool forward = sweep % 2 == 0;
            for (size_t i = 0; i < L->nn; i++) sum[i] = 0, cnt[i] = 0;
            for (size_t j = 0; j < l; j++) {
                size_t to = forward ? links[j].to : links[j].from;
                size_t from = forward ? links[j].from : links[j].to;
                sum[to] += nd[from].y, cnt[to]++;
            }
            for (size_t i = 0; i < L->nn; i++)
                nd[i].key = cnt[i] ? sum[i] / cnt[i] + 1e-6 * nd[i].y : nd[i].y;
        }
    }
    free(links);
    free(loff);
    free(bylevel);
    free(tmp);
    free(sum);
    free(cnt);
    return st;
}

/* An edge's path through its points: curves between layers, straight
   through a dummy's column. */
static void path_to(FILE *f, double *px, double *py, double x, double y)
{
    if (y == *py) fprintf(f, "L%.1f %.1f", x, y);
    else {
        double mx = (*px + x) / 2;
        fprintf(f, "C%.1f %.1f %.1f %.1f %.1f %.1f", mx, *py, mx, y, x, y);
    }
    *px = x, *py = y;
}

/* The vertical offset of a tensor's u-th of n outgoing edges at its box. */
static double fan(size_t u, size_t n)
{
    if (n < 2 || n > 16) return 0;
    double step = (NODE_H - 20.0) / (double)(n - 1);
    step = step > 10 ? 10 : step;
    return ((double)u - (double)(n - 1) / 2) * step;
}

static void write_edges(const walk *w, const layout *L, FILE *f, size_t *uses, size_t *used)
{
    const node *nd = L->nodes;
    size_t base = L->nt + L->nrd;
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        for (int k = 0; k < r->n_in; k++)
            if (r->in[k]) uses[ten_node(w, L, r->in[k])]++;
    }
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        size_t ri = rec_node(L, i);
        int present = 0, j = 0;
        for (int k = 0; k < r->n_in; k++) present += r->in[k] != NULL;
        for (int k = 0; k < r->n_in; k++) {
            if (!r->in[k]) continue;
            size_t s = ten_node(w, L, r->in[k]), e = L->eoff[i - L->r0] + (size_t)k;
            double x = node_x(L, s) + NODE_W / 2.0, y = node_y(L, s) + fan(used[s]++, uses[s]);
            fprintf(f, "<path class=\"edge\" id=\"e%zu_%d\" d=\"M%.1f %.1f", i, k, x, y);
            for (size_t d = L->dummy[e]; d < L->dummy[e + 1]; d++) {
                double left = col_left(nd[base + d].level), dy = node_y(L, base + d);
                path_to(f, &x, &y, left, dy);
                path_to(f, &x, &y, left + col_width(nd[base + d].level), dy);
            }
            /* into the ellipse's left side, each input at a height of its own */
            double off = present > 1 ? ((double)j++ - (present - 1) / 2.0) * 8 : 0;
            double ry = REC_H / 2.0, q = off / ry;
            double ex = node_x(L, ri) - REC_W / 2.0 * sqrt(q * q < 1 ? 1 - q * q : 0);
            path_to(f, &x, &y, ex, node_y(L, ri) + off);
            fputs("\"/>\n", f);
            if (present > 1)
                fprintf(f, "<text class=\"slot\" x=\"%.1f\" y=\"%.1f\">%d</text>\n", ex - 9, y - 2,
                        k);
        }
        double x = node_x(L, ri) + REC_W / 2.0, y = node_y(L, ri);
        size_t o = ten_node(w, L, r->out);
        fprintf(f, "<path class=\"edge\" id=\"e%zu_out\" d=\"M%.1f %.1f", i, x, y);
        path_to(f, &x, &y, node_x(L, o) - NODE_W / 2.0, node_y(L, o));
        fputs("\"/>\n", f);
    }
}

static int write_svg(const walk *w, const layout *L, FILE *f)
{
    size_t *uses = calloc(L->nt ? 2 * L->nt : 1, sizeof *uses);
    if (!uses) return TG_ERR_NOMEM;
    double width = layout_width(L), height = layout_height(L);
    fprintf(f, "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            width, height, width, height);
    fputs("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
          "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
          "<path d=\"M0 0L10 5L0 10z\"/></marker></defs>\n",
          f);
    write_edges(w, L, f, uses, uses + L->nt);
    free(uses);
    for (size_t i = L->r0; i < L->r1; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        size_t ri = rec_node(L, i);
        double x = node_x(L, ri), y = node_y(L, ri);
        fprintf(f, "<g class=\"rec%s%s\" id=\"r%zu\" data-rec=\"%zu\" tabindex=\"0\">"
                   "<ellipse cx=\"%.1f\" cy=\"%.1f\" rx=\"%d\" ry=\"%d\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">#%zu ",
                r->backward_of >= 0 ? " gradrec" : "", w->reached[i] ? "" : " unreached", i, i,
                x, y, REC_W / 2, REC_H / 2, x, y + (r->backward_of >= 0 ? -2 : 4), i);
        html(f, r->op->name);
        fputs("</text>", f);
        if (r->backward_of >= 0)
            fprintf(f, "<text class=\"small\" x=\"%.1f\" y=\"%.1f\">gradient of #%d</text>", x,
                    y + 11, (int)r->backward_of);
        fputs("</g>\n", f);
    }
    char sb[128];
    for (size_t i = 0; i < w->ti.n; i++) {
        if (L->tnode[i] < 0) continue;
        const tg_tensor *t = w->ti.v[i];
        size_t n = (size_t)L->tnode[i];
        double x = node_x(L, n) - NODE_W / 2.0, y = node_y(L, n) - NODE_H / 2.0;
        fprintf(f, "<g class=\"ten %s\" id=\"t%zu\" data-t=\"%zu\" tabindex=\"0\">"
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" rx=\"5\"/>"
                   "<text class=\"name\" x=\"%.1f\" y=\"%.1f\">",
                kind_of(t), i, i, x, y, NODE_W, NODE_H, x + 7, y + 15);
        char lb[32];
        if (t->name) html(f, t->name);
        else {
            snprintf(lb, sizeof lb, "t%d", (int)t->id);
            fputs(lb, f);
        }
        fputs(" <tspan class=\"shape\">", f);
        html(f, tg_shape_str(t, sb, sizeof sb));
        fprintf(f, "</tspan></text><text class=\"val\" x=\"%.1f\" y=\"%.1f\"></text>"
                   "<text class=\"grd\" x=\"%.1f\" y=\"%.1f\"></text></g>\n",
                x + 7, y + 33, x + 7, y + 51);
    }
    fputs("</svg>\n", f);
    return TG_OK;
}

/* ------------------------------------------------------------ the page */

static void write_tensors(const walk *w, const page *pg)
{
    FILE *f = pg->f;
    fputs("tensors:[", f);
    for (size_t i = 0; i < w->ti.n; i++) {
        const tg_tensor *x = w->ti.v[i];
        char lb[32];
        snprintf(lb, sizeof lb, "t%d", (int)x->id);
        fprintf(f, "%s\n{label:", i ? "," : "");
        jstr(f, x->name ? x->name : lb);
        fputs(",shape:", f);
        shape_js(f, x->ndim, x->shape);
        fprintf(f, ",kind:\"%s\",rec:%d,size:%lld,val:", kind_of(x), (int)x->rec,
                (long long)x->size);
        view(pg, x, x->data);
        fputc('}', f);
    }
    fputs("],\n", f);
}

static void write_records(const walk *w, const page *pg, const layout *L)
{
    FILE *f = pg->f;
    fputs("records:[", f);
    for (size_t i = 0; i < w->nrec; i++) {
        const tg_record *r = tg_tape_record(w->t, i);
        bool builtin = tg_op_is_builtin(r->op);
        fprintf(f, "%s\n{op:", i ? "," : "");
        jstr(f, r->op->name);
        fputs(",doc:", f);
        jstr(f, r->op->doc);
        fputs(",rule:", f);
        jstr(f, builtin ? tg_op_rule(r->op->name) : NULL);
        fprintf(f, ",bof:%d,reached:%s,drawn:%s,out:%ld,in:[", (int)r->backward_of,
                w->reached[i] ? "true" : "false", i >= L->r0 && i < L->r1 ? "true" : "false",
                tindex_find(&w->ti, r->out));
        for (int k = 0; k < r->n_in; k++)
            fprintf(f, k ? ",%ld" : "%ld", r->in[k] ? tindex_find(&w->ti, r->in[k]) : -1L);
        fputs("]}", f);
    }
    fputs("],\n", f);
}

static void write_grads(const walk *w, const page *pg)
{
    FILE *f = pg->f;
    fputs("grads:[", f);
    for (size_t i = 0; i < w->ti.n; i++) {
        fputs(i ? ",\n" : "\n", f);
        if (w->acc[i]) view(pg, w->ti.v[i], w->acc[i]);
        else fputs("null", f);
    }
    fputs("]\n", f);
}

static int write_page(walk *w, const page *pg)
{
    FILE *f = pg->f;
    layout L = {0};
    int st = make_layout(w, (size_t)pg->o.max_records, &L);
    if (st != TG_OK) {
        layout_free(&L);
        return st;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    html(f, pg->o.title);
    fputs("</title>\n<style>\n", f);
    for (const char *const *l = tg_explorer_css; *l; l++) fputs(*l, f);
    fputs("</style></head><body>\n<header><h1>", f);
    html(f, pg->o.title);
    fprintf(f, "</h1><p id=\"facts\">%zu record%s, %zu tensor%s (%s)", w->nrec,
            w->nrec == 1 ? "" : "s", w->ti.n, w->ti.n == 1 ? "" : "s", tg_real_name());
    if (L.nrd < w->nrec)
        fprintf(f, " <span id=\"capped\">The graph shows records #%zu to #%zu of %zu (at most "
                   "%d are drawn, %s): the others are stepped through but not drawn.</span>",
                L.r0, L.nrd ? L.r1 - 1 : 0, w->nrec, pg->o.max_records,
                w->loss ? "those nearest the loss" : "the first");
    fputs("</p></header>\n<main><div id=\"graphbox\">\n", f);
    st = write_svg(w, &L, f);
    if (st == TG_OK) {
        fputs("</div>\n<aside id=\"panel\"></aside></main>\n<script>\nconst TG = {", f);
        fputs("title:", f);
        jstr(f, pg->o.title);
        fprintf(f, ",real:\"%s\",loss:%ld,\n", tg_real_name(),
                w->loss ? tindex_find(&w->ti, w->loss) : -1L);
        write_tensors(w, pg);
        write_records(w, pg, &L);
        if (w->loss) st = walk_backward(w, pg);
        else fputs("steps:[],\n", f);
    }
    if (st == TG_OK) {
        write_grads(w, pg);
        fputs("};\n", f);
        for (const char *const *l = tg_explorer_js; *l; l++) fputs(*l, f);
        fputs("</script></body></html>\n", f);
    }
    layout_free(&L);
    return st;
}

int tg_tape_html(const tg_tape *t, const tg_tensor *loss, FILE *f, const tg_html_opts *opts)
{
    if (!t || !f)
        return tg_set_error(TG_ERR_INVALID, "tg_tape_html: %s is NULL", !t ? "the tape" : "the file");
    page pg = {f, opts ? *opts : (tg_html_opts){0}};
    if (!pg.o.title) pg.o.title = "tapegrad: the tape, step by step";
    if (pg.o.max_records <= 0) pg.o.max_records = 150;
    if (pg.o.max_full <= 0) pg.o.max_full = 64;
    if (pg.o.max_terms <= 0) pg.o.max_terms = 256;
    walk w = {.t = t, .loss = loss, .nrec = tg_tape_record_count(t)};
    if (loss) {
        char sb[128];
        if (loss->tape == t && loss->rec < 0 && tg_tensor_usable(t, loss))
            return tg_set_error(TG_ERR_INVALID, "tg_tape_html: the loss was not recorded: no "
                                                "tensor it depends on requires grad (mark the "
                                                "parameters or inputs with tg_requires_grad "
                                                "before the forward), or it is a leaf");
        if (loss->tape != t || loss->rec < 0 || !tg_tensor_usable(t, loss))
            return tg_set_error(TG_ERR_INVALID, "tg_tape_html: the loss is not a result recorded "
                                                "on this tape (or is from before its last reset)");
        if (loss->size != 1)
            return tg_set_error(TG_ERR_SHAPE, "tg_tape_html: the loss must have one element, got "
                                              "shape %s", tg_shape_str(loss, sb, sizeof sb));
    }
    int st = tindex_build(&w.ti, t, w.nrec);
    size_t largest = 1;
    for (size_t i = 0; i < w.nrec; i++) {
        size_t n = (size_t)tg_tape_record(t, i)->out->size;
        largest = n > largest ? n : largest;
    }
    if (st == TG_OK) {
        w.reached = calloc(w.nrec ? w.nrec : 1, sizeof *w.reached);
        w.acc = calloc(w.ti.n ? w.ti.n : 1, sizeof *w.acc);
        w.uses = calloc(w.ti.n ? w.ti.n : 1, sizeof *w.uses);
        w.onehot = malloc(largest * sizeof *w.onehot);
        w.scratch = tg_tape_new();
        if (!w.reached || !w.acc || !w.uses || !w.onehot || !w.scratch) st = TG_ERR_NOMEM;
    }
    if (st == TG_OK) {
        mark_reached(&w);
        st = write_page(&w, &pg);
    }
    for (size_t i = 0; w.acc && i < w.ti.n; i++) free(w.acc[i]);
    free(w.acc);
    free(w.uses);
    free(w.reached);
    free(w.onehot);
    tg_tape_free(w.scratch);
    free(w.ti.v);
    free(w.ti.slot);
    if (st == TG_ERR_NOMEM) return tg_set_error(st, "tg_tape_html: out of memory");
    if (st != TG_OK) return tg_set_error(st, "tg_tape_html: %s", tg_status_str(st));
    return tg_write_status(f, "tg_tape_html");
}
