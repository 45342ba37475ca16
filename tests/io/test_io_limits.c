/* io in its corners: datasets of no samples or of samples without values,
   parameter shapes whose size does not fit in memory arithmetic, names that
   are not UTF-8, header strings that hide a NUL, and inputs that never end
   or claim more than they hold. Each must be refused with a message that
   names the call and the culprit (or, for the empty dataset, work on every
   path), in bounded time and memory, leaving nothing half-done.

   Expected values follow from the formats (IDX, safetensors, JSON's
   RFC 8259, UTF-8's RFC 3629), not from tapegrad. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io_files.h"

/* A shape that cannot be allocated is refused by the allocator's NULL, not
   by AddressSanitizer's report (the library's answer is under test). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* A test that would hang is ended by SIGALRM after `secs` (Criterion then
   reports it as crashed). */
static void guard(unsigned secs) { alarm(secs); }

/* ============================================= datasets: no values, no samples */

/* An IDX uint8 file of the given dims and no data bytes beyond `data`
   zeros, written to a scratch path. */
static void write_idx_u8(char *path, size_t len, const char *tag, int ndim, const uint32_t *dims,
                         size_t data)
{
    unsigned char *b = calloc(4 + 4 * (size_t)ndim + data + 1, 1);
    size_t h = idx_header(b, 0x08, ndim, dims);
    write_bytes(tmp_path(path, len, tag), b, h + data);
    free(b);
}

/* Writes images and labels under the standard training-set names in a
   scratch directory; dir gets its path. */
static void mnist_dir(char *dir, size_t len, const char *tag, int ndim, const uint32_t *dims)
{
    tmp_path(dir, len, tag);
    mkdir(dir, 0700);
    char im[1200], lb[1200];
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte", dir);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte", dir);
    unsigned char b[64] = {0};
    size_t h = idx_header(b, 0x08, ndim, dims);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    unsigned char *img = calloc(h + n + 1, 1);
    memcpy(img, b, h);
    write_bytes(im, img, h + n);
    free(img);
    h = idx_header(b, 0x08, 1, dims);
    write_bytes(lb, b, h + dims[0]);
}

static void rm_mnist_dir(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    remove(path);
    rmdir(dir);
}

/* Images whose samples hold no value ([0,0], [3,0], [0,28,0]...) are
   refused by every loader, naming the file; a dataset that loaded would
   divide by its 0 features in its first batch. */
Test(dataset_edges, samples_without_values_are_refused_every_way)
{
    static const struct {
        int ndim;
        uint32_t dims[3];
    } cases[] = {{2, {0, 0}}, {2, {3, 0}}, {3, {0, 28, 0}}, {3, {0, 0, 28}}, {3, {2, 0, 28}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char im[1024], lb[1024], dir[1024];
        write_idx_u8(im, sizeof im, "nofeat-images", cases[c].ndim, cases[c].dims, 0);
        write_idx_u8(lb, sizeof lb, "nofeat-labels", 1, cases[c].dims, cases[c].dims[0]);
        tg_batch b;
        tg_dataset *d = tg_dataset_load_idx(im, lb);
        if (d) tg_dataset_next(d, &b); /* (what a user would do next) */
        cr_expect_null(d, "case %zu: load_idx accepted samples of no values", c);
        expect_msg(im, "no values");
        tg_dataset_free(d);
        d = tg_dataset_open_idx(im, lb);
        if (d) tg_dataset_next(d, &b);
        cr_expect_null(d, "case %zu: open_idx accepted samples of no values", c);
        expect_msg(im, "no values");
        tg_dataset_free(d);
        mnist_dir(dir, sizeof dir, "nofeat-dir", cases[c].ndim, cases[c].dims);
        d = tg_mnist_load(dir, true);
        if (d) tg_dataset_next(d, &b);
        cr_expect_null(d, "case %zu: mnist_load accepted samples of no values", c);
        expect_msg("tg_mnist_load", "no values");
        tg_dataset_free(d);
        d = tg_mnist_open(dir, true);
        if (d) tg_dataset_next(d, &b);
        cr_expect_null(d, "case %zu: mnist_open accepted samples of no values", c);
        expect_msg("tg_mnist_open", "no values");
        tg_dataset_free(d);
        rm_mnist_dir(dir);
        remove(im);
        remove(lb);
    }
    /* and from memory */
    const uint8_t px[4] = {0}, lbl[4] = {0};
    cr_expect_null(tg_dataset_new(px, lbl, 0, 0));
    expect_msg("tg_dataset_new", "0 values");
    cr_expect_null(tg_dataset_new(px, lbl, 3, 0));
    expect_msg("tg_dataset_new", "0 values");
    cr_expect_null(tg_dataset_new(px, lbl, 0, -1));
    expect_msg("tg_dataset_new", "-1 values");
    /* more values per sample than any batch could hold */
    cr_expect_null(tg_dataset_new(px, lbl, 0, INT64_MAX));
    expect_msg("tg_dataset_new", "9223372036854775807 values");
}

/* A dataset of 0 samples (with values per sample) is empty, not an error:
   every epoch has no batch, on every path. */
static void expect_empty(tg_dataset *d, const char *how)
{
    cr_assert_not_null(d, "%s: %s", how, tg_last_error());
    cr_expect_eq(tg_dataset_len(d), 0, "%s", how);
    cr_expect_eq(tg_dataset_features(d), 784, "%s", how);
    cr_expect_eq(tg_dataset_classes(d), 0, "%s", how);
    tg_batch b;
    for (int epoch = 0; epoch < 2; epoch++) {
        cr_expect(!tg_dataset_next(d, &b), "%s: a batch from no samples", how);
        cr_expect_eq(tg_dataset_error(d), TG_OK, "%s", how);
    }
    tg_batch_opts o = tg_batch_defaults();
    o.batch_size = 1;
    o.drop_last = true;
    cr_expect_eq(tg_dataset_batching(d, &o), TG_OK, "%s: %s", how, tg_last_error());
    cr_expect_eq(tg_dataset_num_batches(d), 0, "%s", how);
    cr_expect(!tg_dataset_next(d, &b), "%s", how);
    tg_dataset *s = tg_dataset_subset(d, NULL, 0);
    cr_expect_not_null(s, "%s: subset: %s", how, tg_last_error());
    cr_expect_eq(tg_dataset_len(s), 0);
    cr_expect(!tg_dataset_next(s, &b), "%s", how);
    tg_dataset_free(s);
    tg_dataset_free(d);
}

Test(dataset_edges, no_samples_is_an_empty_dataset)
{
    const uint32_t dims[3] = {0, 28, 28};
    char im[1024], lb[1024], dir[1024];
    write_idx_u8(im, sizeof im, "empty-images", 3, dims, 0);
    write_idx_u8(lb, sizeof lb, "empty-labels", 1, dims, 0);
    expect_empty(tg_dataset_load_idx(im, lb), "load_idx");
    expect_empty(tg_dataset_open_idx(im, lb), "open_idx");
    mnist_dir(dir, sizeof dir, "empty-dir", 3, dims);
    expect_empty(tg_mnist_load(dir, true), "mnist_load");
    expect_empty(tg_mnist_open(dir, true), "mnist_open");
    rm_mnist_dir(dir);
    expect_empty(tg_dataset_new(NULL, NULL, 0, 784), "new");
    /* no sample, however large, is held for the batches of none */
    tg_dataset *d = tg_dataset_new(NULL, NULL, 0, (int64_t)1 << 40);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_batching(d, NULL), TG_OK, "%s", tg_last_error());
    tg_batch b;
    cr_expect(!tg_dataset_next(d, &b));
    cr_expect_eq(tg_dataset_error(d), TG_OK);
    tg_dataset_free(d);
    remove(im);
    remove(lb);
}

/* A 0 among the dimensions makes the product 0, but the others must still
   be in bounds: they are the size of a sample. */
Test(idx_edges, a_zero_dimension_does_not_hide_huge_ones)
{
    unsigned char b[64];
    size_t h = idx_header(b, 0x08, 3, (const uint32_t[]){0, 0xFFFFFFFFu, 0xFFFFFFFFu});
    tg_idx *x = tg_idx_load_mem(b, h);
    cr_expect_null(x, "[0,4294967295,4294967295] accepted");
    expect_msg("[0,4294967295,4294967295]", "2^40");
    tg_idx_free(x);
    /* 2^48 values per sample, as images of 0 samples */
    char im[1024], lb[1024];
    write_idx_u8(im, sizeof im, "huge-sample", 4, (const uint32_t[]){0, 65536, 65536, 65536}, 0);
    write_idx_u8(lb, sizeof lb, "huge-sample-labels", 1, (const uint32_t[]){0}, 0);
    tg_dataset *d = tg_dataset_load_idx(im, lb);
    cr_expect_null(d, "a sample of 2^48 values accepted");
    expect_msg(im, "2^40");
    tg_dataset_free(d);
    d = tg_dataset_open_idx(im, lb);
    cr_expect_null(d, "a sample of 2^48 values accepted (open)");
    expect_msg(im, "2^40");
    tg_dataset_free(d);
    remove(im);
    remove(lb);
}

/* ======================================================== parameter sizes */

/* Shapes whose element count, or whose size in bytes, overflows 64 bits
   are refused, naming the call and the shape; the registry stays usable. */
Test(params_sizes, element_counts_that_overflow_are_refused)
{
    static const struct {
        int ndim;
        int64_t shape[3];
        const char *text;
    } cases[] = {
        {2, {1LL << 40, 1LL << 24}, "[1099511627776,16777216]"}, /* 2^64 elements */
        {2, {1LL << 32, 1LL << 32}, "[4294967296,4294967296]"},  /* 2^64 */
        {3, {1LL << 21, 1LL << 21, 1LL << 21}, "[2097152,2097152,2097152]"}, /* 2^63 */
        {2, {1LL << 40, 1LL << 22}, "[1099511627776,4194304]"}, /* 2^62: 2^64 bytes and more */
        {2, {1LL << 40, 1LL << 40}, "[1099511627776,1099511627776]"},
    };
    tg_params *p = tg_params_new();
    cr_assert_not_null(tg_params_add(p, "small", TG_SHAPE(3)));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tensor *w = tg_params_add(p, "w", cases[c].ndim, cases[c].shape);
        cr_expect_null(w, "%s accepted (size %lld)", cases[c].text, w ? (long long)w->size : 0LL);
        expect_msg("tg_params_add", cases[c].text);
        cr_expect_eq(tg_params_count(p), 1);
        cr_expect_eq(tg_params_numel(p), 3);
    }
    /* the registry goes on */
    tg_tensor *v = tg_params_add(p, "v", TG_SHAPE(2, 2));
    cr_assert_not_null(v, "%s", tg_last_error());
    cr_expect_eq(v->size, 4);
    cr_expect_eq(tg_params_numel(p), 7);
    /* a size that fits the arithmetic but not the machine: out of memory */
    cr_expect_null(tg_params_add(p, "huge", TG_SHAPE(1LL << 40, 1LL << 19)));
    expect_msg("tg_params_add", "out of memory");
    cr_expect_eq(tg_params_count(p), 2);
    tg_params_free(p);
}

Test(params_sizes, a_linear_layer_too_large_is_refused)
{
    tg_params *p = tg_params_new();
    tg_linear_layer l;
    int st = tg_linear_layer_init(&l, p, "fc", 1LL << 32, 1LL << 32, true, NULL);
    expect_error(st, TG_ERR_INVALID, "tg_linear_layer_init", "[4294967296,4294967296]");
    cr_expect_eq(tg_params_count(p), 0, "a parameter was added");
    st = tg_linear_layer_init(&l, p, "fc", 1LL << 40, 1LL << 40, false, NULL);
    expect_error(st, TG_ERR_INVALID, "tg_linear_layer_init", "fc.weight");
    cr_expect_eq(tg_params_count(p), 0, "a parameter was added");
    /* and a name that is not UTF-8 */
    st = tg_linear_layer_init(&l, p, "fc\xff", 2, 3, true, NULL);
    expect_error(st, TG_ERR_INVALID, "tg_linear_layer_init", "UTF-8");
    cr_expect_eq(tg_params_count(p), 0, "a parameter was added");
    tg_params_free(p);
}

/* ========================================================= parameter names */

/* Byte strings that are not UTF-8 (RFC 3629), each with what is wrong. */
static const char *const bad_names[] = {
    "\xff",             /* never in UTF-8 */
    "fc\x80.weight",    /* a continuation byte alone */
    "\xc0\xae",         /* overlong '.' */
    "\xe0\x80\xae",     /* overlong, 3 bytes */
    "\xf0\x80\x80\xae", /* overlong, 4 bytes */
    "\xed\xa0\x80",     /* the surrogate U+D800 */
    "\xed\xbf\xbf",     /* U+DFFF */
    "\xf4\x90\x80\x80", /* U+110000, past the last code point */
    "\xe2\x82",         /* cut short */
    "a\xf0\x9f\x98",    /* cut short at the end */
    "\xc1\xbf",         /* overlong U+007F */
    "\xf5\x80\x80\x80", /* F5: never in UTF-8 */
};

/* Names with every character that JSON must escape, and UTF-8 at each
   length, including the last code point and the one before the surrogates. */
static const char *const good_names[] = {
    "fc1.weight", "\xcf\x80.w", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
    "\xed\x9f\xbf", "\xee\x80\x80", "q\"uote", "back\\slash", "w\\u0000", "tab\tnl\ncr\r",
    "\x01\x02\x1f\x7f", "/slash",
};

Test(params_names, names_must_be_utf8)
{
    tg_params *p = tg_params_new();
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        cr_expect_null(tg_params_add(p, bad_names[i], TG_SHAPE(2)), "bad name %zu accepted", i);
        expect_msg("tg_params_add", "UTF-8");
    }
    cr_expect_eq(tg_params_count(p), 0);
    for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++)
        cr_expect_not_null(tg_params_add(p, good_names[i], TG_SHAPE(2)), "good name %zu: %s", i,
                           tg_last_error());
    tg_params_free(p);
}

/* Every valid name comes back from a file byte for byte. */
Test(params_names, every_valid_name_round_trips)
{
    size_t n = sizeof good_names / sizeof good_names[0];
    tg_params *p = tg_params_new();
    for (size_t i = 0; i < n; i++) {
        tg_tensor *x = tg_params_add(p, good_names[i], TG_SHAPE(2));
        cr_assert_not_null(x, "%s", tg_last_error());
        x->data[0] = (tg_real)i;
        x->data[1] = (tg_real)-(double)i;
    }
    char path[1024];
    tmp_path(path, sizeof path, "names.safetensors");
    cr_assert_eq(tg_params_save(p, path, TG_F64), TG_OK, "%s", tg_last_error());
    tg_params *q = tg_params_new();
    cr_assert_eq(tg_params_load(q, path), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_params_count(q), n);
    for (size_t i = 0; i < n; i++) {
        const tg_tensor *x = tg_params_get(q, good_names[i]);
        cr_assert_not_null(x, "name %zu did not come back", i);
        cr_expect_eq(x->data[0], (tg_real)i);
        cr_expect_eq(x->data[1], (tg_real)-(double)i);
    }
    /* and into the model itself */
    cr_expect_eq(tg_params_load(p, path), TG_OK, "%s", tg_last_error());
    tg_params_free(q);
    tg_params_free(p);
    remove(path);
}

/* The saver never writes a file that the loader would refuse: a name made
   invalid through the public tensor field, a name that leads to another
   parameter, or a header longer than the format's limit. The file at the
   path is left as it was. */
Test(params_names, save_refuses_what_load_cannot_read)
{
    char path[1024], tmp[1100];
    tmp_path(path, sizeof path, "refused.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "old", 3);
    tg_params *p = tg_params_new();
    tg_tensor *a = tg_params_add(p, "a", TG_SHAPE(2));
    tg_tensor *b = tg_params_add(p, "b", TG_SHAPE(2));
    cr_assert(a && b);
    const char *kept = a->name;
    const char *wrong[] = {"\xff\xfe", "b", NULL, "", "__metadata__", "c"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        a->name = wrong[i];
        int st = tg_params_save(p, path, TG_F32);
        cr_expect_eq(st, TG_ERR_INVALID, "name %zu: status %d (%s)", i, st, tg_last_error());
        expect_msg("tg_params_save", NULL);
        size_t n;
        unsigned char *f = read_bytes(path, &n);
        cr_expect(n == 3 && !memcmp(f, "old", 3), "name %zu: the file was overwritten", i);
        free(f);
        cr_expect(access(tmp, F_OK) != 0, "name %zu: %s left behind", i, tmp);
    }
    a->name = kept;
    cr_expect_eq(tg_params_save(p, path, TG_F32), TG_OK, "%s", tg_last_error());
    /* a header over 100,000,000 bytes */
    size_t len = 100000001;
    char *big = malloc(len + 1);
    memset(big, 'n', len);
    big[len] = 0;
    tg_params *q = tg_params_new();
    cr_assert_not_null(tg_params_add(q, big, TG_SHAPE(1)), "%s", tg_last_error());
    free(big);
    write_bytes(path, "old", 3);
    int st = tg_params_save(q, path, TG_F32);
    expect_error(st, TG_ERR_INVALID, "tg_params_save", "100000000");
    size_t n;
    unsigned char *f = read_bytes(path, &n);
    cr_expect(n == 3 && !memcmp(f, "old", 3), "the file was overwritten");
    free(f);
    cr_expect(access(tmp, F_OK) != 0, "%s left behind", tmp);
    tg_params_free(q);
    tg_params_free(p);
    remove(path);
}

/* ======================================================= header strings */

/* bad_file with the model's "w" entry under the JSON key `key` (quotes
   and escapes included). */
static void bad_w_key(const char *key, int want, const char *n1, const char *n2)
{
    char json[512];
    snprintf(json, sizeof json,
             "{%s:{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B_OK_ "}", key);
    bad_file(json, 36, want, n1, n2);
}

/* JSON may write a NUL character as \u0000; a C string would end there,
   so "fc1.weight\u0000evil" would load as fc1.weight. Every string of the
   header (names, dtypes, metadata) is checked, an escaped backslash
   followed by the text u0000 is not a NUL. */
Test(safetensors_strings, a_nul_escape_is_refused_anywhere)
{
    bad_w_key("\"w\\u0000evil\"", TG_ERR_FORMAT, "\\u0000", "byte 3");
    bad_w_key("\"\\u0000\"", TG_ERR_FORMAT, "\\u0000", NULL);
    bad_file("{" W_OK_ ",\"b\":{\"dtype\":\"F32\\u0000x\",\"shape\":[3],\"data_offsets\":[24,36]}}",
             36, TG_ERR_FORMAT, "\\u0000", NULL);
    bad_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":{\"format\":\"pt\\u0000\"}}", 36,
             TG_ERR_FORMAT, "\\u0000", NULL);
    bad_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":{\"\\u0000\":\"pt\"}}", 36, TG_ERR_FORMAT,
             "\\u0000", NULL);
    /* an escaped backslash, then a NUL; an escaped quote, then a NUL */
    bad_w_key("\"w\\\\\\u0000\"", TG_ERR_FORMAT, "\\u0000", NULL);
    bad_w_key("\"w\\\"\\u0000\"", TG_ERR_FORMAT, "\\u0000", NULL);
    /* an escaped backslash and the text u0000: the name w\u0000, which the
       model does not have; two escaped backslashes, then the text */
    bad_w_key("\"w\\\\u0000\"", TG_ERR_SHAPE, "unexpected tensor 'w\\u0000'", NULL);
    bad_w_key("\"w\\\\\\\\u0000\"", TG_ERR_SHAPE, "unexpected tensor 'w\\\\u0000'", NULL);
}

/* Lone UTF-16 surrogates in \u escapes encode no character. */
Test(safetensors_strings, lone_surrogate_escapes_are_refused)
{
    bad_w_key("\"w\\ud800\"", TG_ERR_FORMAT, "surrogate", NULL);
    bad_w_key("\"w\\udc00x\"", TG_ERR_FORMAT, "surrogate", NULL);
    bad_w_key("\"w\\ud800\\u0041\"", TG_ERR_FORMAT, "surrogate", NULL);
    /* a pair is one character (U+1F600), and the model has no such name */
    bad_w_key("\"\\ud83d\\ude00\"", TG_ERR_SHAPE, "unexpected tensor '\xf0\x9f\x98\x80'",
              NULL);
}

/* ================================================= bounded reads and time */

/* /dev/zero: an endless stream whose first 8 bytes already say it is no
   safetensors file (a header length of 0), and no IDX file (type 0). */
Test(io_bounds, dev_zero_is_refused_at_once)
{
    guard(20);
    tg_params *p = tg_params_new();
    expect_error(tg_params_load(p, "/dev/zero"), TG_ERR_FORMAT, "/dev/zero", "'{'");
    tg_params_free(p);
    cr_expect_null(tg_idx_load("/dev/zero"));
    expect_msg("/dev/zero", "type 0x00");
    cr_expect_null(tg_dataset_load_idx("/dev/zero", "/dev/zero"));
    expect_msg("/dev/zero", "type 0x00");
}

/* Writes n bytes to a FIFO at path from a child process, then zeros for
   as long as the reader reads. */
static pid_t pipe_endless(const char *path, const unsigned char *b, size_t n)
{
    static const unsigned char zeros[4096];
    return pipe_stream(path, b, n, zeros, sizeof zeros);
}

static void end_writer(pid_t pid, const char *path)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    remove(path);
}

/* A valid file followed by a stream that never ends: refused once one byte
   past the declared data has arrived, never read to its end. */
Test(io_bounds, endless_stream_after_a_valid_file)
{
    guard(60);
    char path[1024];
    tmp_path(path, sizeof path, "endless");
    /* raw IDX [3, 2] */
    unsigned char b[64];
    size_t h = idx_header(b, 0x08, 2, (const uint32_t[]){3, 2});
    for (int i = 0; i < 6; i++) b[h + (size_t)i] = (unsigned char)(i + 1);
    pid_t pid = pipe_endless(path, b, h + 6);
    cr_expect_null(tg_idx_load(path), "an endless IDX stream accepted");
    expect_msg(path, "extra bytes");
    end_writer(pid, path);
    /* the same gzip-compressed */
    size_t gn;
    unsigned char *gz = gzip_bytes(b, h + 6, &gn);
    pid = pipe_endless(path, gz, gn);
    cr_expect_null(tg_idx_load(path), "an endless gzip stream accepted");
    expect_msg(path, "after the gzip data");
    end_writer(pid, path);
    free(gz);
    /* as a dataset's images */
    char lb[1024];
    write_idx_u8(lb, sizeof lb, "endless-labels", 1, (const uint32_t[]){3}, 3);
    pid = pipe_endless(path, b, h + 6);
    cr_expect_null(tg_dataset_load_idx(path, lb), "an endless image stream accepted");
    expect_msg(path, "extra bytes");
    end_writer(pid, path);
    remove(lb);
    /* safetensors */
    float vals[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    size_t n;
    unsigned char *f = st_file("{" W_OK_ "," B_OK_ "}", vals, 36, &n);
    pid = pipe_endless(path, f, n);
    tg_params *p = tg_params_new();
    expect_error(tg_params_load(p, path), TG_ERR_FORMAT, path, "extra bytes");
    cr_expect_eq(tg_params_count(p), 0);
    end_writer(pid, path);
    /* and the same file, read to its end, loads */
    pid = pipe_bytes(path, f, n);
    cr_expect_eq(tg_params_load(p, path), TG_OK, "%s", tg_last_error());
    waitpid(pid, NULL, 0);
    cr_expect_eq(tg_params_count(p), 2);
    tg_params_free(p);
    free(f);
    remove(path);
}

/* A file that lacks one of 100,000 parameters: found with hash lookups,
   not by comparing every parameter with every tensor (which took 5.9 s). */
Test(io_bounds, a_missing_tensor_is_found_in_linear_time)
{
    guard(120);
    enum { N = 100000 };
    tg_params *all = tg_params_new(), *most = tg_params_new();
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer%d.w", i);
        cr_assert_not_null(tg_params_add(all, name, TG_SHAPE(1)));
        if (i != N - 1) cr_assert_not_null(tg_params_add(most, name, TG_SHAPE(1)));
    }
    char path[1024];
    tmp_path(path, sizeof path, "most.safetensors");
    cr_assert_eq(tg_params_save(most, path, TG_F32), TG_OK, "%s", tg_last_error());
    clock_t t0 = clock();
    int st = tg_params_load(all, path);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    expect_error(st, TG_ERR_SHAPE, "missing tensor", "layer99999.w");
    /* the load itself (parsing 100,000 entries, sorting, hashing) takes
       tens of milliseconds; 1.5 s of CPU leaves room for sanitizers */
    cr_expect_lt(secs, 1.5, "loading took %.2f s of CPU", secs);
    tg_params_free(all);
    tg_params_free(most);
    remove(path);
}

/* ======================================================= the read limit */

/* n bytes of zeros as an IDX uint8 file of [n], gzip-compressed (about
   1000-fold: 4 MiB take 4 KB). */
static unsigned char *zeros_gz(size_t n, size_t *zn)
{
    unsigned char *raw = calloc(8 + n, 1);
    idx_header(raw, 0x08, 1, (const uint32_t[]){(uint32_t)n});
    unsigned char *z = gzip_bytes(raw, 8 + n, zn);
    free(raw);
    return z;
}

/* What a file declares, holds or inflates to is refused past the limit,
   before the data is read; under the limit the same file loads. */
Test(io_limit, files_over_the_limit_are_refused)
{
    cr_expect_eq(tg_io_max_bytes(), TG_IO_DEFAULT_MAX_BYTES);
    cr_expect_eq(TG_IO_DEFAULT_MAX_BYTES, (uint64_t)1 << 30);
    size_t zn;
    unsigned char *z = zeros_gz((size_t)4 << 20, &zn); /* 4 MiB of data */
    cr_assert_lt(zn, 8000, "%zu bytes of gzip", zn);
    char path[1024];
    tmp_path(path, sizeof path, "bomb.gz");
    write_bytes(path, z, zn);
    tg_io_set_max_bytes(1 << 20);
    cr_expect_null(tg_idx_load(path));
    expect_msg(path, "describe a file of 4194312 bytes, over the limit of 1048576");
    cr_expect_null(tg_idx_load_mem(z, zn));
    expect_msg("<memory>", "over the limit of 1048576");
    /* a raw file larger than the limit: refused by its size */
    unsigned char *raw = calloc(8 + ((size_t)2 << 20), 1);
    idx_header(raw, 0x08, 1, (const uint32_t[]){2u << 20});
    write_bytes(path, raw, 8 + ((size_t)2 << 20));
    cr_expect_null(tg_idx_load(path));
    expect_msg("the file has 2097160 bytes", "over the limit of 1048576");
    cr_expect_null(tg_idx_load_mem(raw, 8 + ((size_t)2 << 20)));
    expect_msg("the file has 2097160 bytes", "over the limit");
    /* safetensors: a file, or a header's claim, over the limit */
    tg_params *p = tg_params_new();
    cr_assert_not_null(tg_params_add(p, "w", TG_SHAPE(512, 1024))); /* 2 MiB in F32 */
    tg_io_set_max_bytes(0);
    cr_assert_eq(tg_params_save(p, path, TG_F32), TG_OK, "%s", tg_last_error());
    tg_io_set_max_bytes(1 << 20);
    expect_error(tg_params_load(p, path), TG_ERR_FORMAT, "the file has 2097", "over the limit");
    const char *claim =
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000],\"data_offsets\":[0,4000000]}}";
    size_t n;
    unsigned char *f = st_file(claim, NULL, 0, &n);
    expect_error(tg_params_load_mem(p, f, n), TG_ERR_FORMAT,
                 "the header describes a file of 4000074 bytes", "over the limit");
    free(f);
    /* and the limit raised, they load */
    cr_expect_eq(tg_io_set_max_bytes((uint64_t)8 << 20), (uint64_t)1 << 20);
    cr_expect_eq(tg_params_load(p, path), TG_OK, "%s", tg_last_error());
    tg_idx *x = tg_idx_load_mem(z, zn);
    cr_expect_not_null(x, "%s", tg_last_error());
    if (x) cr_expect_eq(x->size, 4 << 20);
    tg_idx_free(x);
    x = tg_idx_load_mem(raw, 8 + ((size_t)2 << 20));
    cr_expect_not_null(x, "%s", tg_last_error());
    tg_idx_free(x);
    tg_io_set_max_bytes(0);
    tg_params_free(p);
    free(raw);
    free(z);
    remove(path);
}

/* An endless stream that inflates to nothing (empty gzip members, one
   after the other, after a valid IDX file): no header bounds it, the limit
   does. The members before the limit are read; the stream is refused once
   it passes the limit. */
Test(io_limit, an_endless_stream_of_empty_gzip_members)
{
    guard(60);
    unsigned char b[32];
    size_t h = idx_header(b, 0x08, 1, (const uint32_t[]){4});
    memset(b + h, 9, 4);
    size_t zn, en;
    unsigned char *z = gzip_bytes(b, h + 4, &zn);
    unsigned char *empty = gzip_bytes("", 0, &en);
    /* the stream: the file, then empty members for ever (the writer
       repeats its last `en` bytes) */
    size_t total = zn + 4096 * en;
    unsigned char *head = malloc(total);
    memcpy(head, z, zn);
    for (size_t i = 0; i < 4096; i++) memcpy(head + zn + i * en, empty, en);
    char path[1024];
    tmp_path(path, sizeof path, "empty-members");
    /* a finite run of them is a valid file */
    tg_idx *x = tg_idx_load_mem(head, total);
    cr_expect_not_null(x, "%s", tg_last_error());
    tg_idx_free(x);
    tg_io_set_max_bytes(1 << 16);
    pid_t pid = pipe_stream(path, head, total, empty, en);
    x = tg_idx_load(path);
    end_writer(pid, path);
    cr_expect_null(x, "an endless stream accepted");
    expect_msg(path, "the file has more than 65536 bytes");
    tg_idx_free(x);
    tg_io_set_max_bytes(0);
    free(head);
    free(empty);
    free(z);
}

/* The saver writes beside the path under a name that exists nowhere yet: a
   file of the user's named <path>.tmp is left as it was (it was truncated,
   then renamed over the path), and an empty path is refused (it wrote
   ./.tmp, then removed it). */
Test(params_names, save_touches_no_file_but_its_own)
{
    char path[1024], tmp[1100], tmp1[1100];
    tmp_path(path, sizeof path, "own.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(tmp1, sizeof tmp1, "%s.tmp1", path);
    write_bytes(tmp, "mine", 4);
    tg_params *p = tg_params_new();
    cr_assert_not_null(tg_params_add(p, "a", TG_SHAPE(2)));
    cr_assert_eq(tg_params_save(p, path, TG_F32), TG_OK, "%s", tg_last_error());
    size_t n;
    unsigned char *f = read_bytes(tmp, &n);
    cr_expect(n == 4 && !memcmp(f, "mine", 4), "the user's %s was changed", tmp);
    free(f);
    cr_expect(access(tmp1, F_OK) != 0, "%s left behind", tmp1);
    tg_params *q = tg_params_new();
    cr_expect_eq(tg_params_load(q, path), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(q), 1);
    tg_params_free(q);

    int st = tg_params_save(p, "", TG_F32);
    cr_expect_eq(st, TG_ERR_INVALID, "status %d: %s", st, tg_last_error());
    expect_msg("tg_params_save: the path is empty", NULL);
    /* every name it would try taken: refused, each left as it was */
    char name[1100];
    for (int i = 1; i < 100; i++) {
        snprintf(name, sizeof name, "%s.tmp%d", path, i);
        write_bytes(name, "mine", 4);
    }
    st = tg_params_save(p, path, TG_F32);
    cr_expect_eq(st, TG_ERR_IO, "status %d: %s", st, tg_last_error());
    expect_msg("tmp99 all exist", NULL);
    for (int i = 1; i < 100; i++) {
        snprintf(name, sizeof name, "%s.tmp%d", path, i);
        f = read_bytes(name, &n);
        cr_expect(n == 4 && !memcmp(f, "mine", 4), "%s was changed", name);
        free(f);
        remove(name);
    }
    tg_params_free(p);
    remove(path);
    remove(tmp);
}
