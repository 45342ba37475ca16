/* IDX files, MNIST's own format (LeCun et al.), raw or gzip-compressed.

     bytes 0..3   magic: 0x00 0x00 <type> <ndim>
     then         ndim dimensions, each a big-endian uint32
     then         the elements, big-endian, row-major: exactly
                  d0·d1·...·d(ndim-1) of them, nothing after

   Everything goes through one parser fed by the loaders' byte source
   (source.c): the raw bytes, or a zlib inflate stream over them (gzip is
   detected by its magic 0x1f 0x8b, never by the file name), taken from
   memory or streamed from a file through a 64 KiB buffer, so loading a
   file needs the decompressed data and little more (never the file and the
   data at once). The parser reads the header, then exactly the data it
   declares, then one byte more to see that nothing follows. The data
   buffer grows as bytes actually arrive, up to what the dimensions
   declare, so a small corrupt file can never make us allocate the
   gigabytes it claims; raw bytes whose length is known (memory, a regular
   file) are checked against the dimensions before the one allocation. A
   file whose dimensions describe more than tg_io_max_bytes() is refused
   before its data is read. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */

#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- parsing */

static size_t type_size(int type)
{
    switch (type) {
    case TG_IDX_U8:
    case TG_IDX_I8: return 1;
    case TG_IDX_I16: return 2;
    case TG_IDX_I32:
    case TG_IDX_F32: return 4;
    case TG_IDX_F64: return 8;
    default: return 0;
    }
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Big-endian elements to host order, in place (the bit patterns of signed
   integers and IEEE floats are reassembled through unsigned integers). */
static void to_host(unsigned char *data, int64_t count, size_t esize)
{
    for (int64_t i = 0; i < count; i++) {
        unsigned char *e = data + (size_t)i * esize;
        if (esize == 2) {
            uint16_t v = (uint16_t)(e[0] << 8 | e[1]);
            memcpy(e, &v, 2);
        } else if (esize == 4) {
            uint32_t v = be32(e);
            memcpy(e, &v, 4);
        } else if (esize == 8) {
            uint64_t v = (uint64_t)be32(e) << 32 | be32(e + 4);
            memcpy(e, &v, 8);
        }
    }
}

/* Largest data section we accept: 2⁴⁰ bytes (1 TiB). Beyond any real
   file, and small enough that no size computation can overflow. */
#define IDX_MAX_BYTES ((uint64_t)1 << 40)

/* Reads and checks the magic and the dimensions: *hdr gets the type, the
   shape and the element count (size), *bytes the data's length and dims
   the shape as text, for messages. */
static int parse_header(tg_src *s, tg_idx *hdr, uint64_t *bytes, char dims[160])
{
    unsigned char magic[4];
    int st = tg_src_read_exact(s, magic, 4, "the 4-byte magic number");
    if (st != TG_OK) return st;
    if (magic[0] != 0 || magic[1] != 0)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: bad magic number 0x%02x%02x%02x%02x: not an IDX file "
                            "(IDX starts with 0x00 0x00 <type> <ndim>)",
                            s->who, s->name, magic[0], magic[1], magic[2], magic[3]);
    int type = magic[2], ndim = magic[3];
    size_t esize = type_size(type);
    if (!esize)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: unknown IDX element type 0x%02x (known: 0x08 uint8, 0x09 "
                            "int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)",
                            s->who, s->name, type);
    if (ndim < 1 || ndim > TG_MAX_DIMS)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: %d dimensions: tapegrad reads 1 to %d",
                            s->who, s->name, ndim, TG_MAX_DIMS);
    unsigned char dimb[4 * TG_MAX_DIMS];
    st = tg_src_read_exact(s, dimb, 4 * (size_t)ndim, "the dimensions");
    if (st != TG_OK) return st;

    *hdr = (tg_idx){.type = type, .ndim = ndim};
    for (int i = 0; i < ndim; i++) hdr->shape[i] = be32(dimb + 4 * i);
    tg_dims_str(ndim, hdr->shape, dims, 160);
    /* the product of the nonzero dimensions, in bytes, must stay within
       the limit even when a 0 makes the data empty: the other dimensions
       still size things (a sample of a dataset is the product of all but
       the first). Checked before each step: every factor is < 2^32 and the
       product stays <= 2^40, so nothing overflows. */
    uint64_t nonzero = esize;
    bool zero = false, too_big = false;
    for (int i = 0; i < ndim && !too_big; i++) {
        uint64_t d = (uint64_t)hdr->shape[i];
        if (d == 0)
            zero = true;
        else if (nonzero > IDX_MAX_BYTES / d)
            too_big = true;
        else
            nonzero *= d;
    }
    if (too_big)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: dimensions %s describe more than 2^40 bytes%s: refused as "
                            "corrupt or too large",
                            s->who, s->name, dims, zero ? " (leaving out the 0)" : "");
    uint64_t count = zero ? 0 : nonzero / esize;
    *bytes = count * esize;
    if (*bytes > SIZE_MAX - 1)
        return tg_set_error(TG_ERR_NOMEM, "%s: %s: %s is too large for this machine", s->who,
                            s->name, dims);
    hdr->size = (int64_t)count;
    return TG_OK;
}

/* The message for raw data whose length is not what the dimensions say. */
static int wrong_length(const tg_src *s, const char *dims, uint64_t want, uint64_t have)
{
    return tg_set_error(TG_ERR_FORMAT,
                        "%s: %s: %s: the dimensions %s need %llu bytes of data, the file has %llu",
                        s->who, s->name, have < want ? "truncated" : "extra bytes at the end",
                        dims, (unsigned long long)want, (unsigned long long)have);
}

static int parse(tg_src *s, tg_idx **out)
{
    tg_idx hdr;
    uint64_t bytes;
    char dims[160];
    int st = parse_header(s, &hdr, &bytes, dims);
    if (st != TG_OK) return st;
    size_t esize = type_size(hdr.type);
    uint64_t total = 4 + 4 * (uint64_t)hdr.ndim + bytes; /* the (inflated) file */
    if (total > s->limit) {
        char what[200];
        snprintf(what, sizeof what, "the dimensions %s describe a file of", dims);
        return tg_io_over_limit(s, what, total);
    }
    /* raw bytes of known length must be exactly the data the dimensions
       describe: checked before allocating */
    if (!s->gz && s->size_known && tg_src_left(s) != bytes)
        return wrong_length(s, dims, bytes, tg_src_left(s));

    /* the data, then nothing: a gzip stream must end cleanly (CRC checked),
       a pipe must end (one more byte is read at most) */
    size_t want = (size_t)bytes, have;
    void *data;
    st = tg_src_read_new(s, want, &data, &have);
    if (st != TG_OK) return st;
    bool end = true;
    if (have < want)
        st = tg_set_error(TG_ERR_FORMAT,
                          "%s: %s: truncated: the dimensions %s need %zu bytes of data, the "
                          "file has %zu",
                          s->who, s->name, dims, want, have);
    else
        st = tg_src_at_end(s, &end);
    if (st == TG_OK && !end)
        st = tg_set_error(TG_ERR_FORMAT,
                          "%s: %s: extra bytes at the end: the dimensions %s need %zu bytes of "
                          "data, the file has more",
                          s->who, s->name, dims, want);
    tg_idx *x = st == TG_OK ? malloc(sizeof *x) : NULL;
    if (st == TG_OK && !x)
        st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", s->who, s->name);
    if (st != TG_OK) {
        free(data);
        return st;
    }
    *x = hdr;
    to_host(data, x->size, esize);
    x->data = data;
    *out = x;
    return TG_OK;
}

/* Starts, parses and closes a source. */
static tg_idx *parse_src(tg_src *s)
{
    tg_idx *x = NULL;
    if (tg_src_start(s, true) == TG_OK) parse(s, &x);
    tg_src_close(s);
    return x;
}

tg_idx *tg_idx_read(const char *who, const char *path)
{
    tg_src s;
    if (tg_src_file(&s, who, path) != TG_OK) {
        tg_src_close(&s);
        return NULL;
    }
    return parse_src(&s);
}

tg_idx *tg_idx_load_mem(const void *buf, size_t len)
{
    if (!buf && len) {
        tg_set_error(TG_ERR_INVALID, "tg_idx_load_mem: buf is NULL");
        return NULL;
    }
    static const unsigned char empty[1];
    tg_src s;
    tg_src_mem(&s, "tg_idx_load_mem", "<memory>", buf ? buf : empty, len);
    return parse_src(&s);
}

tg_idx *tg_idx_load(const char *path) { return tg_idx_read("tg_idx_load", path); }

/* ------------------------------------------- a raw file, read where it is */

size_t tg_io_pread(int fd, void *buf, size_t n, uint64_t offset)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (unsigned char *)buf + got, n - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = 0; /* the end of the file */
            break;
        }
        got += (size_t)r;
    }
    return got;
}

int tg_idx_open_raw(const char *who, const char *path, tg_idx *hdr, uint64_t *offset, int *fd)
{
    *fd = -1;
    if (!path) return tg_set_error(TG_ERR_INVALID, "%s: path is NULL", who);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return tg_set_error(TG_ERR_IO,
                            "%s: %s is not a regular file: the samples are read at their "
                            "places in the file, so it must be one",
                            who, path);
    }
    unsigned char head[4 + 4 * TG_MAX_DIMS];
    size_t n = tg_io_pread(f, head, sizeof head, 0);
    if (n < sizeof head && errno != 0) {
        int err = errno;
        close(f);
        return tg_set_error(TG_ERR_IO, "%s: cannot read %s: %s", who, path, strerror(err));
    }
    if (tg_io_is_gzip(head, n)) {
        close(f);
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s is gzip-compressed: images read from the file as they are "
                            "needed must be stored raw (gunzip it first), or load them into "
                            "memory with tg_dataset_load_idx",
                            who, path);
    }
    tg_src s;
    tg_src_mem(&s, who, path, head, n);
    uint64_t bytes;
    char dims[160];
    int rc = parse_header(&s, hdr, &bytes, dims);
    uint64_t start = 4 + 4 * (uint64_t)(rc == TG_OK ? hdr->ndim : 0);
    uint64_t have = (uint64_t)st.st_size > start ? (uint64_t)st.st_size - start : 0;
    if (rc == TG_OK && have != bytes) rc = wrong_length(&s, dims, bytes, have);
    if (rc != TG_OK) {
        close(f);
        return rc;
    }
#ifdef POSIX_FADV_RANDOM
    posix_fadvise(f, 0, 0, POSIX_FADV_RANDOM); /* no read-ahead around each sample */
#endif
    *offset = start;
    *fd = f;
    return TG_OK;
}

void tg_idx_free(tg_idx *x)
{
    if (!x) return;
    free(x->data);
    free(x);
}
