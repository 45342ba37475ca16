/* Helpers of the io test suites (test_io.c, test_io_limits.c): scratch
   files, IDX and safetensors bytes made by hand, gzip, FIFOs, and checks of
   an error's status and message. Static inline: each suite uses some. */
#ifndef TG_TEST_IO_FILES_H
#define TG_TEST_IO_FILES_H

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <tapegrad.h>

/* A scratch file in the build tree, distinct per precision and process. */
static inline char *tmp_path(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "%s/io_test_%s_%ld_%s", TG_BINARY_DIR, tg_real_name(), (long)getpid(), tag);
    return buf;
}

static inline void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static inline unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* One gzip member of n bytes whose header carries an extra field of
   extra_len bytes (RFC 1952 FEXTRA): it moves where the member ends. */
static inline unsigned char *gzip_member(const void *in, size_t n, size_t extra_len,
                                         size_t *out_n)
{
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    unsigned char *pad = calloc(extra_len + 1, 1);
    gz_header head = {0};
    head.extra = pad;
    head.extra_len = (uInt)extra_len;
    head.os = 3;
    if (extra_len) cr_assert_eq(deflateSetHeader(&z, &head), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + extra_len + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_n = z.total_out;
    deflateEnd(&z);
    free(pad);
    return out;
}

/* gzip-compresses n bytes (zlib's deflate with a gzip wrapper). */
static inline unsigned char *gzip_bytes(const void *in, size_t n, size_t *out_n)
{
    return gzip_member(in, n, 0, out_n);
}

/* The error must be `want` and its message must contain every needle. */
static inline void expect_error(int got, int want, const char *n1, const char *n2)
{
    const char *msg = tg_last_error();
    cr_expect_eq(got, want, "status %d (%s), expected %d; message: %s", got, tg_status_str(got),
                 want, msg);
    if (n1) cr_expect(strstr(msg, n1) != NULL, "message \"%s\" lacks \"%s\"", msg, n1);
    if (n2) cr_expect(strstr(msg, n2) != NULL, "message \"%s\" lacks \"%s\"", msg, n2);
}

/* For calls that return NULL: the message must contain every needle. */
static inline void expect_msg(const char *n1, const char *n2) { expect_error(0, 0, n1, n2); }

/* An IDX header: magic, then dims. Returns its length. */
static inline size_t idx_header(unsigned char *b, int type, int ndim, const uint32_t *dims)
{
    b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

/* Pseudo-random bytes (an LCG): incompressible, so their gzip also spans
   several buffers. */
static inline void fill_noise(unsigned char *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        b[i] = (unsigned char)(seed >> 24);
    }
}


/* Writes n bytes to a FIFO at path from a child process (the reader opens
   it), then, if tail_n > 0, the tail_n bytes of tail again and again for
   as long as the reader reads; returns the child, to be waited for (or
   killed, if it writes for ever). */
static inline pid_t pipe_stream(const char *path, const unsigned char *b, size_t n,
                                const unsigned char *tail, size_t tail_n)
{
    remove(path);
    cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo %s", path);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL); /* the reader may stop early: SIGPIPE ends us */
        FILE *f = fopen(path, "wb");
        if (f && fwrite(b, 1, n, f) == n)
            while (tail_n && fwrite(tail, 1, tail_n, f) == tail_n) {}
        if (f) fclose(f);
        _exit(0);
    }
    return pid;
}

/* Writes n bytes to a FIFO at path from a child process; returns it. */
static inline pid_t pipe_bytes(const char *path, const unsigned char *b, size_t n)
{
    return pipe_stream(path, b, n, NULL, 0);
}

/* A safetensors file from a header (JSON text, padded as given) and data. */
static inline unsigned char *st_file(const char *json, const void *data, size_t dlen, size_t *n)
{
    size_t h = strlen(json);
    unsigned char *b = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    *n = 8 + h + dlen;
    return b;
}

/* A copy of a registry's values, to check that a failed load left them. */
typedef struct snapshot {
    size_t len;
    tg_real *data;
} snapshot;

static inline snapshot snap(tg_params *p)
{
    snapshot s = {tg_params_block_len(p), NULL};
    s.data = malloc((s.len ? s.len : 1) * sizeof(tg_real));
    if (s.len) memcpy(s.data, tg_params_data(p), s.len * sizeof(tg_real));
    return s;
}

static inline void expect_unchanged(tg_params *p, snapshot *s, size_t count, const char *what)
{
    cr_expect_eq(tg_params_count(p), count, "%s: parameters were added", what);
    cr_expect_eq(tg_params_block_len(p), s->len, "%s", what);
    cr_expect(!s->len || memcmp(tg_params_data(p), s->data, s->len * sizeof(tg_real)) == 0,
              "%s: a failed load changed the parameters", what);
}

/* Loads a header + data into a [2, 3] "w" and [3] "b" model and expects
   the error status and message pieces. */
static inline void bad_file(const char *json, size_t dlen, int want, const char *n1,
                            const char *n2)
{
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", TG_SHAPE(2, 3));
    tg_params_add(p, "b", TG_SHAPE(3));
    for (int i = 0; i < 6; i++) w->data[i] = (tg_real)(i + 1);
    snapshot s = snap(p);
    unsigned char data[256] = {0};
    size_t n;
    unsigned char *f = st_file(json, data, dlen, &n);
    int st = tg_params_load_mem(p, f, n);
    expect_error(st, want, n1, n2);
    expect_unchanged(p, &s, 2, json);
    free(f);
    free(s.data);
    tg_params_free(p);
}

/* the two entries of a valid file for that model */
#define W_OK_ "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define B_OK_ "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"

#endif
