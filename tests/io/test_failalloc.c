/* Running out of memory, at every allocation in turn (tests/support/
   failalloc.h): saving and loading parameters, reading IDX files, loading
   and batching datasets, and the op registry's first use. Each failure
   must give an error status (never TG_OK), a message naming the call,
   nothing half-written or half-loaded, and no leak; the first N for which
   nothing fails must give the normal result. Linked with the wrappers
   (tests/CMakeLists.txt); the leak check is the wrappers' table, and ASan's
   at exit in the sanitizer build. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failalloc.h"
#include "io_files.h"
#include "ops/ops_internal.h" /* the built-in tables: what the registry must hold */

/* The most allocations any call below makes; a loop past it is a bug. */
enum { MAX_N = 2000 };

/* After a call made while the N-th allocation failed: the call failed with
   an error status and a message that names `who`, and nothing it
   allocated is left. Returns whether the allocation did fail (false: the
   call saw every allocation succeed). */
static bool failed_cleanly(int status, const char *who, long n)
{
    fa_disarm();
    if (!fa_failed()) return false;
    cr_expect_neq(status, TG_OK, "%s: allocation %ld failed, yet TG_OK", who, n);
    cr_expect(strstr(tg_last_error(), who) != NULL, "%s: allocation %ld: message \"%s\"", who, n,
              tg_last_error());
    cr_expect_eq(fa_live(), 0, "%s: allocation %ld failed: %zu allocations left", who, n,
                 fa_live());
    return true;
}

/* ------------------------------------------------------------ safetensors */

/* Three parameters, one with a name JSON must escape. */
static tg_params *model(void)
{
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "fc1.weight", TG_SHAPE(4, 3));
    tg_tensor *b = tg_params_add(p, "fc1.bias", TG_SHAPE(4));
    tg_tensor *c = tg_params_add(p, "q\"uote\\\n", TG_SHAPE(2, 2, 2));
    cr_assert(a && b && c, "%s", tg_last_error());
    for (int i = 0; i < 12; i++) a->data[i] = (tg_real)(i - 5);
    for (int i = 0; i < 4; i++) b->data[i] = (tg_real)(0.25 * i);
    for (int i = 0; i < 8; i++) c->data[i] = (tg_real)(-i);
    return p;
}

static bool same_file(const char *path, const unsigned char *b, size_t n)
{
    size_t m;
    unsigned char *f = read_bytes(path, &m);
    bool same = m == n && memcmp(f, b, n) == 0;
    free(f);
    return same;
}

Test(failalloc, params_save)
{
    fa_hook_cjson();
    tg_params *p = model();
    char path[1024], tmp[1100];
    tmp_path(path, sizeof path, "fa_save.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "the old file", 12);
    long n = 0;
    for (;; n++) {
        cr_assert_lt(n, MAX_N);
        fa_arm(n);
        int st = tg_params_save(p, path, TG_F32);
        if (!failed_cleanly(st, "tg_params_save", n)) {
            cr_assert_eq(st, TG_OK, "%s", tg_last_error());
            break;
        }
        cr_expect_eq(st, TG_ERR_NOMEM, "allocation %ld: status %d", n, st);
        cr_expect(same_file(path, (const unsigned char *)"the old file", 12),
                  "allocation %ld: the old file was changed", n);
        cr_expect(access(tmp, F_OK) != 0, "allocation %ld: %s left behind", n, tmp);
    }
    cr_expect_gt(n, 0, "the save allocated nothing");
    /* the file written at last is the one written without failures */
    size_t len;
    unsigned char *got = read_bytes(path, &len);
    char ref[1100];
    snprintf(ref, sizeof ref, "%s.ref", path);
    cr_assert_eq(tg_params_save(p, ref, TG_F32), TG_OK);
    cr_expect(same_file(ref, got, len), "the file differs from an undisturbed save");
    free(got);
    remove(ref);
    remove(path);
    tg_params_free(p);
}

/* Loads `file` into a copy of the model (values changed first) and into an
   empty registry, failing each allocation in turn. */
static void load_every_way(const unsigned char *file, size_t len, const char *path)
{
    for (int way = 0; way < 4; way++) {
        bool empty = way % 2, from_path = way >= 2;
        const char *who = from_path ? "tg_params_load" : "tg_params_load_mem";
        long n = 0;
        for (;; n++) {
            cr_assert_lt(n, MAX_N);
            tg_params *p = empty ? tg_params_new() : model();
            if (!empty)
                for (size_t i = 0; i < tg_params_block_len(p); i++) tg_params_data(p)[i] = 7;
            snapshot s = snap(p);
            fa_arm(n);
            int st = from_path ? tg_params_load(p, path) : tg_params_load_mem(p, file, len);
            bool failed = failed_cleanly(st, who, n);
            if (failed) {
                cr_expect_eq(st, TG_ERR_NOMEM, "%s way %d allocation %ld: status %d (%s)", who,
                             way, n, st, tg_last_error());
                expect_unchanged(p, &s, empty ? 0 : 3, who);
            } else {
                cr_assert_eq(st, TG_OK, "%s way %d: %s", who, way, tg_last_error());
                const tg_tensor *c = tg_params_get(p, "q\"uote\\\n");
                cr_assert_not_null(c);
                cr_expect_eq(c->data[7], -7);
                cr_expect_eq(tg_params_get(p, "fc1.bias")->data[3], (tg_real)0.75);
            }
            free(s.data);
            tg_params_free(p);
            if (!failed) break;
        }
        cr_expect_gt(n, 3, "%s way %d: only %ld allocations", who, way, n);
    }
}

Test(failalloc, params_load)
{
    fa_hook_cjson();
    tg_params *p = model();
    char path[1024];
    tmp_path(path, sizeof path, "fa_load.safetensors");
    cr_assert_eq(tg_params_save(p, path, TG_F64), TG_OK, "%s", tg_last_error());
    tg_params_free(p);
    size_t len;
    unsigned char *file = read_bytes(path, &len);
    load_every_way(file, len, path);
    free(file);
    remove(path);
}

/* ------------------------------------------------------------------- IDX */

/* A [30, 40] uint8 image file, raw or gzip, written to path; the bytes are
   returned (header included). */
static unsigned char *image_file(const char *path, bool gz, size_t *n)
{
    unsigned char *raw = malloc(12 + 1200);
    size_t h = idx_header(raw, 0x08, 2, (const uint32_t[]){30, 40});
    for (int i = 0; i < 1200; i++) raw[h + (size_t)i] = (unsigned char)(i * 13);
    *n = h + 1200;
    if (gz) {
        unsigned char *z = gzip_bytes(raw, *n, n);
        free(raw);
        raw = z;
    }
    write_bytes(path, raw, *n);
    return raw;
}

Test(failalloc, idx_load)
{
    for (int gz = 0; gz < 2; gz++) {
        char path[1024];
        tmp_path(path, sizeof path, gz ? "fa.idx.gz" : "fa.idx");
        size_t len;
        unsigned char *bytes = image_file(path, gz, &len);
        for (int mem = 0; mem < 2; mem++) {
            const char *who = mem ? "tg_idx_load_mem" : "tg_idx_load";
            long n = 0;
            for (;; n++) {
                cr_assert_lt(n, MAX_N);
                fa_arm(n);
                tg_idx *x = mem ? tg_idx_load_mem(bytes, len) : tg_idx_load(path);
                if (!failed_cleanly(x ? TG_OK : TG_ERR_NOMEM, who, n)) {
                    cr_assert_not_null(x, "%s: %s", who, tg_last_error());
                    cr_expect_eq(x->size, 1200);
                    cr_expect_eq(((unsigned char *)x->data)[1199], (unsigned char)(1199 * 13));
                    tg_idx_free(x);
                    break;
                }
                cr_expect_null(x, "%s gz %d: allocation %ld failed, yet an array", who, gz, n);
                tg_idx_free(x);
            }
            cr_expect_gt(n, gz ? 2 : 0, "%s gz %d: %ld allocations", who, gz, n);
        }
        free(bytes);
        remove(path);
    }
}

Test(failalloc, dataset_load_open_and_batch)
{
    char im[1024], lb[1024];
    tmp_path(im, sizeof im, "fa-images");
    tmp_path(lb, sizeof lb, "fa-labels.gz");
    size_t len;
    free(image_file(im, false, &len));
    unsigned char lab[8 + 30];
    size_t h = idx_header(lab, 0x08, 1, (const uint32_t[]){30});
    for (int i = 0; i < 30; i++) lab[h + (size_t)i] = (unsigned char)(i % 10);
    unsigned char *z = gzip_bytes(lab, h + 30, &len);
    write_bytes(lb, z, len);
    free(z);
    for (int open = 0; open < 2; open++) {
        const char *who = open ? "tg_dataset_open_idx" : "tg_dataset_load_idx";
        long n = 0;
        for (;; n++) {
            cr_assert_lt(n, MAX_N);
            fa_arm(n);
            tg_dataset *d = open ? tg_dataset_open_idx(im, lb) : tg_dataset_load_idx(im, lb);
            if (!failed_cleanly(d ? TG_OK : TG_ERR_NOMEM, who, n)) {
                cr_assert_not_null(d, "%s", tg_last_error());
                cr_expect_eq(tg_dataset_len(d), 30);
                cr_expect_eq(tg_dataset_classes(d), 10);
                tg_dataset_free(d);
                break;
            }
            cr_expect_null(d, "%s: allocation %ld failed, yet a dataset", who, n);
            tg_dataset_free(d);
        }
        /* batching: the buffers, all or none */
        tg_dataset *d = open ? tg_dataset_open_idx(im, lb) : tg_dataset_load_idx(im, lb);
        cr_assert_not_null(d, "%s", tg_last_error());
        tg_batch_opts o = tg_batch_defaults();
        o.batch_size = 7;
        for (n = 0;; n++) {
            cr_assert_lt(n, MAX_N);
            fa_arm(n);
            int st = tg_dataset_batching(d, &o);
            if (!failed_cleanly(st, "tg_dataset_batching", n)) {
                cr_assert_eq(st, TG_OK, "%s", tg_last_error());
                break;
            }
            cr_expect_eq(st, TG_ERR_NOMEM);
        }
        tg_batch b;
        int64_t seen = 0;
        while (tg_dataset_next(d, &b)) seen += b.n;
        cr_expect_eq(seen, 30);
        cr_expect_eq(tg_dataset_error(d), TG_OK, "%s", tg_last_error());
        tg_dataset_free(d);
    }
    remove(im);
    remove(lb);
}

/* ------------------------------------------------------------ the registry */

/* The registry's first use, failing at each allocation: the call fails
   with a message and leaves nothing (the registry emptied again), and the
   next call tries again; so the first call that sees no failure fills it
   whole. Criterion runs each test in a process of its own: nothing here
   has used the registry before. */
Test(failalloc, registry_first_use_is_retried)
{
    size_t builtins = 0;
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        builtins += tg_builtin_op_tables[t]->n;
    long n = 0;
    for (;; n++) {
        cr_assert_lt(n, MAX_N);
        fa_arm(n);
        size_t count = tg_op_count();
        if (!failed_cleanly(count ? TG_OK : TG_ERR_NOMEM, "tg_op_count", n)) break;
        cr_expect_eq(count, 0, "allocation %ld failed, yet %zu ops", n, count);
        cr_expect(strstr(tg_last_error(), "out of memory") != NULL, "%s", tg_last_error());
    }
    cr_expect_gt(n, 1, "the registry's filling made %ld allocations", n);
    cr_expect_eq(tg_op_count(), builtins);
    for (size_t t = 0; t < tg_builtin_op_table_count; t++)
        for (size_t i = 0; i < tg_builtin_op_tables[t]->n; i++) {
            const tg_op *op = tg_builtin_op_tables[t]->ops[i];
            cr_expect_eq(tg_op_find(op->name), op, "'%s' missing after the retries", op->name);
        }
}

/* A user op (registered, never run): y = x. */
static int same_shape(const tg_record *r, int *ndim, int64_t shape[TG_MAX_DIMS], char *msg,
                      size_t msg_len)
{
    (void)msg, (void)msg_len;
    *ndim = r->in[0]->ndim;
    memcpy(shape, r->in[0]->shape, sizeof r->in[0]->shape);
    return TG_OK;
}

static int copy_forward(tg_record *r)
{
    memcpy(r->out->data, r->in[0]->data, (size_t)r->out->size * sizeof(tg_real));
    return TG_OK;
}

/* The same through the other entry points, each the first use. */
Test(failalloc, registry_first_use_through_find_and_register)
{
    fa_arm(0);
    const tg_op *op = tg_op_find("relu");
    cr_expect(failed_cleanly(op ? TG_OK : TG_ERR_NOMEM, "tg_op_find", 0));
    cr_expect_null(op);
    fa_arm(1); /* the copy of the op is made first */
    static const tg_op mine = {.name = "fa_identity", .n_inputs = 1, .shape = same_shape,
                               .forward = copy_forward};
    int st = tg_op_register(&mine);
    cr_expect(failed_cleanly(st, "tg_op_register", 1));
    cr_expect_eq(st, TG_ERR_NOMEM);
    cr_expect_not_null(tg_op_find("relu"), "%s", tg_last_error());
    cr_expect_null(tg_op_find("fa_identity"));
}

/* ------------------------------------------------------------- the tape */

/* Allocations on the tape that fail name their caller: an op's output, a
   forward's scratch, a new tensor. Each call is made on a new tape over
   `data` (a leaf of `ndim, shape` wrapped, taking the tape's first chunk of
   1 MiB), and the allocation each time fails at the next of the chunks it
   asks for; the call must return NULL with a message naming it. */
static void names_its_caller(const char *who, tg_tensor *(*call)(tg_tape *, tg_tensor *),
                             int ndim, const int64_t *shape, tg_real *data)
{
    long n = 0;
    for (;; n++) {
        cr_assert_lt(n, MAX_N);
        tg_tape *t = tg_tape_new();
        cr_assert_not_null(t);
        tg_tensor *x = tg_tensor_wrap(t, ndim, shape, data);
        cr_assert_not_null(x, "%s", tg_tape_error(t));
        fa_arm(n);
        tg_tensor *y = call(t, x);
        fa_disarm();
        bool failed = fa_failed();
        if (failed) {
            cr_expect_null(y, "%s: allocation %ld failed, yet a tensor", who, n);
            cr_expect(strstr(tg_tape_error(t), who) != NULL,
                      "%s: allocation %ld: message \"%s\"", who, n, tg_tape_error(t));
            cr_expect(strstr(tg_tape_error(t), "out of memory") != NULL, "%s",
                      tg_tape_error(t));
        } else {
            cr_expect_not_null(y, "%s: %s", who, tg_tape_error(t));
        }
        tg_tape_free(t);
        if (!failed) break;
    }
    cr_expect_gt(n, 0, "%s made no allocation", who);
}

enum { BIG = 1 << 19 }; /* 2 MiB of floats: more than the arena's first chunk */

static tg_tensor *call_exp(tg_tape *t, tg_tensor *x) { return tg_exp(t, x); }
static tg_tensor *call_sum_axes(tg_tape *t, tg_tensor *x)
{
    /* over axes 0 and 2 of [2, BIG, 2]: the output (2 MiB), then the sums
       in doubles (4 MiB), the forward's scratch */
    return tg_sum_axes(t, x, 2, (const int[]){0, 2}, false);
}
static tg_tensor *call_zeros(tg_tape *t, tg_tensor *x)
{
    (void)x;
    return tg_zeros(t, TG_SHAPE(4 * BIG));
}

Test(failalloc, an_allocation_on_the_tape_names_its_caller)
{
    tg_real *data = calloc(4 * BIG, sizeof *data);
    cr_assert_not_null(data);
    for (int64_t i = 0; i < 4 * BIG; i++) data[i] = (tg_real)(i % 7);
    names_its_caller("tg_exp", call_exp, TG_SHAPE(4 * BIG), data);
    names_its_caller("tg_sum", call_sum_axes, TG_SHAPE(2, BIG, 2), data);
    names_its_caller("tg_zeros", call_zeros, TG_SHAPE(4 * BIG), data);
    free(data);
}

/* A loss, its gradient with create_graph (rules composed of ops, each of
   which may be the one whose allocation fails) and a gradient of that, on
   inputs of 1 MiB, failing at each allocation in turn: NULL and a message,
   never a crash or a result computed without the part that failed
   (triplet_margin_loss's rule read the tensor of a failed op: found by
   fuzz_ops; batch and group norm's rules and attention's masks had the
   same kind of read or skip, found by reading). */
typedef tg_tensor *(*loss_fn)(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c);

static tg_tensor *loss_triplet(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    return tg_triplet_margin_loss(t, a, b, c, 1, 3, 1e-6f, true, TG_REDUCE_MEAN);
}
static tg_tensor *loss_cosine(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    return tg_sum(t, tg_cosine_similarity(t, a, tg_mul(t, b, c), 1, 1e-8f), TG_ALL, false);
}
static tg_tensor *loss_norms(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    tg_tensor *y = tg_layer_norm(t, tg_add(t, a, b), TG_SHAPE(64), NULL, NULL, 1e-5);
    return tg_sum(t, tg_mul(t, tg_log_softmax(t, y, 1), c), TG_ALL, false);
}

static tg_tensor *loss_batch_norm(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    tg_tensor *w = tg_requires_grad(tg_full(t, TG_SHAPE(64), 1.5f), true);
    tg_tensor *y = tg_batch_norm(t, tg_add(t, a, b), NULL, NULL, w, NULL, true, 0.1, 1e-5);
    return tg_sum(t, tg_mul(t, tg_square(t, y), c), TG_ALL, false);
}
static tg_tensor *loss_group_norm(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    tg_tensor *w = tg_requires_grad(tg_full(t, TG_SHAPE(64), 0.5f), true);
    tg_tensor *x = tg_reshape(t, tg_mul(t, a, b), TG_SHAPE(64, 64, 64));
    tg_tensor *y = tg_group_norm(t, x, 8, w, NULL, 1e-5);
    return tg_sum(t, tg_mul(t, tg_square(t, y), tg_reshape(t, c, TG_SHAPE(64, 64, 64))),
                  TG_ALL, false);
}
static tg_tensor *loss_attention(tg_tape *t, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    /* sequences of 1024: the causal mask (4 MiB) takes a chunk of its own */
    tg_tensor *q = tg_reshape(t, a, TG_SHAPE(4, 1024, 64));
    tg_tensor *k = tg_reshape(t, b, TG_SHAPE(4, 1024, 64));
    tg_tensor *v = tg_reshape(t, c, TG_SHAPE(4, 1024, 64));
    tg_tensor *y = tg_scaled_dot_product_attention(t, q, k, v, NULL, TG_MASK_ADDITIVE, true, 0);
    return tg_sum(t, tg_square(t, y), TG_ALL, false);
}

/* One run of loss k on a new tape over v, failing allocation n (n < 0:
   none): the loss in *loss (NAN if it failed) and the second gradient's
   values in out; false when that failed, with the tape's message in msg. */
static bool gradient_of_gradient(size_t k, long n, const tg_real *v, double *loss, tg_real *out,
                                 char *msg, size_t len)
{
    static const loss_fn losses[] = {loss_triplet,    loss_cosine,     loss_norms,
                                     loss_batch_norm, loss_group_norm, loss_attention};
    cr_assert_lt(k, sizeof losses / sizeof *losses);
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    tg_tensor *x[3];
    for (int j = 0; j < 3; j++)
        x[j] = tg_requires_grad(tg_tensor_wrap(t, TG_SHAPE(4096, 64), (tg_real *)v + j * 4096 * 64),
                                true);
    fa_arm(n);
    tg_tensor *l = losses[k](t, x[0], x[1], x[2]);
    tg_tensor *g = l ? tg_grad1(t, l, x[0], true) : NULL;
    tg_tensor *gg = g ? tg_grad1(t, tg_sum(t, g, TG_ALL, false), x[1], false) : NULL;
    fa_disarm();
    *loss = l ? (double)l->data[0] : NAN;
    if (gg) memcpy(out, gg->data, (size_t)gg->size * sizeof *out);
    snprintf(msg, len, "%s", tg_tape_error(t));
    tg_tape_free(t);
    return gg != NULL;
}

Test(failalloc, a_gradient_of_a_gradient_that_runs_out_of_memory_fails_cleanly)
{
    enum { M = 4096 * 64 };
    tg_real *v = malloc((size_t)3 * M * sizeof *v), *want = malloc(M * sizeof *want),
            *got = malloc(M * sizeof *got);
    cr_assert(v && want && got);
    for (int64_t i = 0; i < 3 * M; i++) v[i] = (tg_real)((i * 37 % 101) - 50) / 25;
    char msg[512];
    for (size_t k = 0; k < 6; k++) {
        double l0, l;
        cr_assert(gradient_of_gradient(k, -1, v, &l0, want, msg, sizeof msg), "loss %zu: %s", k,
                  msg);
        long n = 0;
        for (;; n++) {
            cr_assert_lt(n, MAX_N);
            bool ok = gradient_of_gradient(k, n, v, &l, got, msg, sizeof msg);
            if (!fa_failed()) {
                cr_expect(ok, "loss %zu: %s", k, msg);
                break;
            }
            /* a loss that came out (the failure later, or done without) is the
               loss, bit for bit: a fallback does the same arithmetic */
            cr_expect(isnan(l) || l == l0,
                      "loss %zu, allocation %ld failed: the loss is %g, not %g", k, n, l, l0);
            if (!ok) { /* NULL and a message */
                cr_expect(msg[0], "loss %zu, allocation %ld: NULL without a message", k, n);
                continue;
            }
            /* or a fallback that did without the memory: the same bits */
            int64_t bad = -1;
            for (int64_t i = 0; i < M && bad < 0; i++)
                if (got[i] != want[i])
                    bad = i;
            cr_expect(bad < 0, "loss %zu, allocation %ld failed: value %lld is %g, not %g", k, n,
                      (long long)bad, bad < 0 ? 0 : got[bad], bad < 0 ? 0 : want[bad]);
        }
        cr_expect_gt(n, 0, "loss %zu made no allocation", k);
    }
    free(v), free(want), free(got);
}

/* ------------------------------------------ what a lying header costs */

/* A stream whose header declares far more data than follows: the loaders'
   buffers grow with the bytes that arrive, so the claim costs nothing. */
Test(failalloc, a_lying_header_costs_nothing)
{
    alarm(60);
    char path[1024];
    tmp_path(path, sizeof path, "fa-lying");
    /* safetensors: 512 MiB declared, 64 bytes sent, through a FIFO */
    const char *json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[134217728],"
                       "\"data_offsets\":[0,536870912]}}";
    unsigned char data[64] = {0};
    size_t n;
    unsigned char *f = st_file(json, data, sizeof data, &n);
    pid_t pid = pipe_bytes(path, f, n);
    tg_params *p = tg_params_new();
    fa_arm(-1);
    int st = tg_params_load(p, path);
    fa_disarm();
    waitpid(pid, NULL, 0);
    expect_error(st, TG_ERR_FORMAT, "truncated", "cover 536870912 bytes");
    cr_expect_lt(fa_peak_bytes(), (size_t)1 << 20, "a peak of %zu bytes", fa_peak_bytes());
    tg_params_free(p);
    free(f);
    /* IDX: 512 MiB declared, raw and gzip, through a FIFO */
    unsigned char b[64] = {0};
    size_t h = idx_header(b, 0x08, 2, (const uint32_t[]){1u << 15, 1u << 14});
    size_t zn;
    unsigned char *z = gzip_bytes(b, h + 20, &zn);
    for (int gz = 0; gz < 2; gz++) {
        pid = gz ? pipe_bytes(path, z, zn) : pipe_bytes(path, b, h + 20);
        fa_arm(-1);
        tg_idx *x = tg_idx_load(path);
        fa_disarm();
        waitpid(pid, NULL, 0);
        cr_expect_null(x);
        expect_msg("truncated", "need 536870912 bytes");
        cr_expect_lt(fa_peak_bytes(), (size_t)4 << 20, "gz %d: a peak of %zu bytes", gz,
                     fa_peak_bytes());
        tg_idx_free(x);
    }
    free(z);
    remove(path);
}

/* A gzip file that inflates past the limit is refused before its data
   is held. */
Test(failalloc, a_gzip_bomb_over_the_limit_costs_nothing)
{
    size_t raw_n = 8 + ((size_t)64 << 20);
    unsigned char *raw = calloc(raw_n, 1);
    idx_header(raw, 0x08, 1, (const uint32_t[]){64u << 20});
    size_t zn;
    unsigned char *z = gzip_bytes(raw, raw_n, &zn);
    free(raw);
    tg_io_set_max_bytes(1 << 20);
    fa_arm(-1);
    tg_idx *x = tg_idx_load_mem(z, zn);
    fa_disarm();
    cr_expect_null(x);
    expect_msg("over the limit of 1048576", NULL);
    cr_expect_lt(fa_peak_bytes(), (size_t)1 << 20, "a peak of %zu bytes", fa_peak_bytes());
    tg_io_set_max_bytes(0);
    free(z);
}
