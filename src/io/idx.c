/* IDX files, MNIST's own format (LeCun et al.), raw or gzip-compressed.

     bytes 0..3   magic: 0x00 0x00 <type> <ndim>
     then         ndim dimensions, each a big-endian uint32
     then         the elements, big-endian, row-major: exactly
                  d0·d1·...·d(ndim-1) of them, nothing after

   Everything goes through one parser fed by a byte source: the raw bytes,
   or a zlib inflate stream over them (gzip is detected by its magic 0x1f
   0x8b, never by the file name), taken from memory or streamed from a file
   through a 64 KiB buffer, so loading a file needs the decompressed data
   and little more (never the file and the data at once). The data buffer
   grows as bytes actually arrive, up to what the dimensions declare, so a
   small corrupt file can never make us allocate the gigabytes it claims;
   raw bytes whose length is known (memory, a regular file) are checked
   against the dimensions before the one allocation. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */

#include "io/io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ read a file */

int tg_io_read_file(const char *who, const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!path) return tg_set_error(TG_ERR_INVALID, "%s: path is NULL", who);
    FILE *f = fopen(path, "rb");
    if (!f) return tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap + 1);
    int status = b ? TG_OK : TG_ERR_NOMEM;
    while (status == TG_OK) {
        if (n == cap) {
            if (cap > (SIZE_MAX - 1) / 2) {
                status = TG_ERR_NOMEM;
                break;
            }
            unsigned char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                status = TG_ERR_NOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) status = TG_ERR_IO;
            break;
        }
    }
    int err = errno;
    fclose(f);
    if (status != TG_OK) {
        free(b);
        if (status == TG_ERR_NOMEM)
            return tg_set_error(status, "%s: out of memory reading %s", who, path);
        return tg_set_error(status, "%s: cannot read %s: %s", who, path, strerror(err));
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return TG_OK;
}

/* ------------------------------------------------------- the byte source */

/* The raw bytes come from memory (all of them at once) or from a FILE,
   through a small fixed buffer refilled as the parser asks for more. Either
   way the parser sees a window of unread bytes, [next, next + avail). */
#define SRC_BUF_BYTES ((size_t)1 << 16)

typedef struct src {
    const char *who, *name;     /* for messages */
    FILE *f;                    /* NULL: the input is in memory */
    unsigned char *buf;         /* [SRC_BUF_BYTES] a file's buffer */
    const unsigned char *next;  /* [avail] the unread bytes at hand */
    size_t avail;
    bool eof;                   /* nothing more to fetch */
    bool size_known;            /* size: the input's length (memory, regular file) */
    uint64_t size, taken;       /* taken: bytes fetched into the window so far */
    bool gz;
    bool z_live;                /* inflateInit2 succeeded */
    bool z_done;                /* the last gzip member ended cleanly */
    z_stream z;
} src;

static bool is_gzip(const unsigned char *b, size_t n) { return n >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

/* Makes at least n (<= SRC_BUF_BYTES) bytes unread at hand, unless the
   input ends first. Only a file can fail (TG_ERR_IO). */
static int src_fill(src *s, size_t n)
{
    while (s->avail < n && !s->eof) {
        if (s->avail) memmove(s->buf, s->next, s->avail);
        size_t room = SRC_BUF_BYTES - s->avail;
        size_t got = fread(s->buf + s->avail, 1, room, s->f);
        if (got < room) {
            if (ferror(s->f))
                return tg_set_error(TG_ERR_IO, "%s: cannot read %s: %s", s->who, s->name,
                                    strerror(errno));
            s->eof = true;
        }
        s->next = s->buf;
        s->avail += got;
        s->taken += got;
    }
    return TG_OK;
}

/* How many raw bytes are left unread: known from the size, or counted by
   reading to the end (a pipe). */
static int src_left(src *s, uint64_t *left)
{
    if (s->size_known) {
        *left = (s->size > s->taken ? s->size - s->taken : 0) + s->avail;
        return TG_OK;
    }
    *left = 0;
    while (s->avail) {
        *left += s->avail;
        s->avail = 0;
        int st = src_fill(s, 1);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

/* Starts reading: fills the window and tells gzip from raw. */
static int src_open(src *s)
{
    int st = src_fill(s, SRC_BUF_BYTES);
    if (st != TG_OK) return st;
    s->gz = is_gzip(s->next, s->avail);
    if (!s->gz) return TG_OK;
    memset(&s->z, 0, sizeof s->z);
    /* 16 + MAX_WBITS: a gzip wrapper (header, CRC-32 and length checked) */
    int rc = inflateInit2(&s->z, 16 + MAX_WBITS);
    if (rc != Z_OK)
        return tg_set_error(rc == Z_MEM_ERROR ? TG_ERR_NOMEM : TG_ERR_FORMAT,
                            "%s: %s: cannot start zlib: %s", s->who, s->name,
                            s->z.msg ? s->z.msg : zError(rc));
    s->z_live = true;
    return TG_OK;
}

static void src_close(src *s)
{
    if (s->z_live) inflateEnd(&s->z);
    s->z_live = false;
}

/* Reads up to n bytes into dst; *got is how many (< n only at the end of
   the data). Returns TG_OK or an error (corrupt or truncated gzip, a read
   error). */
static int src_read(src *s, unsigned char *dst, size_t n, size_t *got)
{
    *got = 0;
    if (!s->gz) {
        while (*got < n) {
            int st = src_fill(s, 1);
            if (st != TG_OK) return st;
            if (!s->avail) break;
            size_t k = s->avail < n - *got ? s->avail : n - *got;
            memcpy(dst + *got, s->next, k);
            s->next += k;
            s->avail -= k;
            *got += k;
        }
        return TG_OK;
    }
    while (*got < n && !s->z_done) {
        int st = src_fill(s, 1);
        if (st != TG_OK) return st;
        size_t want = n - *got;
        s->z.next_out = dst + *got;
        s->z.avail_out = (uInt)(want > (1u << 30) ? (1u << 30) : want);
        uInt fed = (uInt)(s->avail > (1u << 30) ? (1u << 30) : s->avail);
        s->z.next_in = (unsigned char *)s->next; /* zlib does not write it */
        s->z.avail_in = fed;
        uInt before = s->z.avail_out;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        s->next += fed - s->z.avail_in;
        s->avail -= fed - s->z.avail_in;
        *got += before - s->z.avail_out;
        if (rc == Z_STREAM_END) {
            /* the member ended with a good CRC; another member may follow
               (gzip allows concatenation), anything else is an error */
            st = src_fill(s, 2);
            if (st != TG_OK) return st;
            if (s->avail == 0) {
                s->z_done = true;
                break;
            }
            if (!is_gzip(s->next, s->avail)) {
                uint64_t left;
                st = src_left(s, &left);
                if (st != TG_OK) return st;
                return tg_set_error(TG_ERR_FORMAT, "%s: %s: %llu bytes of garbage after the gzip data",
                                    s->who, s->name, (unsigned long long)left);
            }
            inflateReset(&s->z);
            continue;
        }
        if (rc == Z_BUF_ERROR || (rc == Z_OK && before == s->z.avail_out)) {
            if (s->avail == 0 && s->eof)
                return tg_set_error(TG_ERR_FORMAT,
                                    "%s: %s: the gzip stream is truncated (it ends before its "
                                    "end marker and checksum)",
                                    s->who, s->name);
            if (rc == Z_BUF_ERROR && s->avail)
                return tg_set_error(TG_ERR_FORMAT, "%s: %s: the gzip stream is corrupt", s->who,
                                    s->name);
            continue; /* the input at hand is used up: fetch more */
        }
        if (rc == Z_MEM_ERROR)
            return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory in zlib", s->who, s->name);
        if (rc != Z_OK)
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", s->who, s->name,
                                s->z.msg ? s->z.msg : zError(rc));
    }
    return TG_OK;
}

/* Reads exactly n bytes or fails with "truncated" naming `what`. */
static int src_read_exact(src *s, unsigned char *dst, size_t n, const char *what)
{
    size_t got;
    int st = src_read(s, dst, n, &got);
    if (st != TG_OK) return st;
    if (got < n)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: truncated: the file ends inside %s", s->who,
                            s->name, what);
    return TG_OK;
}

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
static int parse_header(src *s, tg_idx *hdr, uint64_t *bytes, char dims[160])
{
    unsigned char magic[4];
    int st = src_read_exact(s, magic, 4, "the 4-byte magic number");
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
    st = src_read_exact(s, dimb, 4 * (size_t)ndim, "the dimensions");
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
static int wrong_length(const src *s, const char *dims, uint64_t want, uint64_t have)
{
    return tg_set_error(TG_ERR_FORMAT,
                        "%s: %s: %s: the dimensions %s need %llu bytes of data, the file has %llu",
                        s->who, s->name, have < want ? "truncated" : "extra bytes at the end",
                        dims, (unsigned long long)want, (unsigned long long)have);
}

static int parse(src *s, tg_idx **out)
{
    tg_idx hdr;
    uint64_t bytes;
    char dims[160];
    int st = parse_header(s, &hdr, &bytes, dims);
    if (st != TG_OK) return st;
    size_t esize = type_size(hdr.type);
    /* raw bytes of known length must be exactly the data the dimensions
       describe: checked before allocating */
    bool exact = !s->gz && s->size_known;
    if (exact) {
        uint64_t left;
        st = src_left(s, &left);
        if (st != TG_OK) return st;
        if (left != bytes) return wrong_length(s, dims, bytes, left);
    }

    /* read the data: raw bytes of known length, into one buffer of that
       size; otherwise (gzip, a pipe) into a buffer that grows with the bytes
       that really arrive, never beyond the declared size (large blocks grow
       in place: glibc's realloc moves them with mremap, without a copy) */
    size_t want = (size_t)bytes, cap = exact ? want : (want < (1u << 20) ? want : (1u << 20));
    unsigned char *data = malloc(cap ? cap : 1);
    if (!data) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory for %s", s->who, s->name, dims);
    size_t have = 0;
    while (have < want) {
        if (have == cap) {
            size_t ncap = cap > want / 2 ? want : cap * 2;
            unsigned char *nd = realloc(data, ncap);
            if (!nd) {
                free(data);
                return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory for %s", s->who, s->name,
                                    dims);
            }
            data = nd;
            cap = ncap;
        }
        size_t got;
        st = src_read(s, data + have, cap - have, &got);
        if (st != TG_OK) {
            free(data);
            return st;
        }
        have += got;
        if (got == 0) break;
    }
    if (have < want) {
        free(data);
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: the dimensions %s need %zu bytes of data, the "
                            "file has %zu",
                            s->who, s->name, dims, want, have);
    }
    /* nothing may follow, and a gzip stream must end cleanly (CRC checked) */
    unsigned char extra;
    size_t got;
    st = src_read(s, &extra, 1, &got);
    uint64_t left = 0;
    if (st == TG_OK && got && !s->gz) st = src_left(s, &left); /* raw from a pipe: count */
    if (st == TG_OK && got)
        st = s->gz ? tg_set_error(TG_ERR_FORMAT,
                                  "%s: %s: extra bytes at the end: the dimensions %s need %zu "
                                  "bytes of data, the file has more",
                                  s->who, s->name, dims, want)
                   : tg_set_error(TG_ERR_FORMAT,
                                  "%s: %s: extra bytes at the end: the dimensions %s need %zu "
                                  "bytes of data, the file has %llu",
                                  s->who, s->name, dims, want,
                                  (unsigned long long)(want + 1 + left));
    if (st != TG_OK) {
        free(data);
        return st;
    }

    tg_idx *x = malloc(sizeof *x);
    if (!x) {
        free(data);
        return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", s->who, s->name);
    }
    *x = hdr;
    to_host(data, x->size, esize);
    x->data = data;
    *out = x;
    return TG_OK;
}

/* Opens, parses and closes a source. */
static tg_idx *parse_src(src *s)
{
    tg_idx *x = NULL;
    if (src_open(s) == TG_OK) parse(s, &x);
    src_close(s);
    return x;
}

/* An IDX array parsed from `len` bytes in memory; `name` stands for the
   file in messages. */
static tg_idx *parse_mem(const char *who, const char *name, const unsigned char *buf, size_t len)
{
    src s = {.who = who, .name = name, .next = buf, .avail = len, .eof = true,
             .size_known = true, .size = len, .taken = len};
    return parse_src(&s);
}

tg_idx *tg_idx_read(const char *who, const char *path)
{
    if (!path) {
        tg_set_error(TG_ERR_INVALID, "%s: path is NULL", who);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
        return NULL;
    }
    src s = {.who = who, .name = path, .f = f, .buf = malloc(SRC_BUF_BYTES)};
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        s.size_known = true;
        s.size = (uint64_t)st.st_size;
    }
    tg_idx *x = NULL;
    if (!s.buf)
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading %s", who, path);
    else
        x = parse_src(&s);
    free(s.buf);
    fclose(f);
    return x;
}

tg_idx *tg_idx_load_mem(const void *buf, size_t len)
{
    if (!buf && len) {
        tg_set_error(TG_ERR_INVALID, "tg_idx_load_mem: buf is NULL");
        return NULL;
    }
    static const unsigned char empty[1];
    return parse_mem("tg_idx_load_mem", "<memory>", buf ? buf : empty, len);
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
    if (is_gzip(head, n)) {
        close(f);
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s is gzip-compressed: images read from the file as they are "
                            "needed must be stored raw (gunzip it first), or load them into "
                            "memory with tg_dataset_load_idx",
                            who, path);
    }
    src s = {.who = who, .name = path, .next = head, .avail = n, .eof = true};
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
