/* The byte source every loader reads through (IDX, safetensors), and the
   limit on what a loader reads.

   Bytes come from memory (all at once) or from a file, through a 64 KiB
   window refilled as the parser asks for more; gzip, told apart by its
   magic 0x1f 0x8b (never by the name), is inflated on the way, member after
   member (gzip allows concatenation), each with its CRC checked. The parser
   asks for what the file's header declares, and then for one byte more to
   see that nothing follows: so no read is larger than the header allows,
   and a stream that never ends is refused once it has said one byte too
   many, never read to its end. Whatever the parser asks, a source gives at
   most tg_io_max_bytes() bytes of input (a regular file or a buffer larger
   than that is refused before its first byte is read): that bounds the
   time spent on an endless stream that only inflates to nothing (empty
   gzip members, one after the other), the one read no header bounds. */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */

#include "io/io_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ------------------------------------------------------------- the limit */

static _Atomic uint64_t max_bytes = TG_IO_DEFAULT_MAX_BYTES;

uint64_t tg_io_set_max_bytes(uint64_t bytes)
{
    return atomic_exchange_explicit(&max_bytes, bytes ? bytes : TG_IO_DEFAULT_MAX_BYTES,
                                    memory_order_relaxed);
}

uint64_t tg_io_max_bytes(void) { return atomic_load_explicit(&max_bytes, memory_order_relaxed); }

int tg_io_over_limit(const tg_src *s, const char *what, uint64_t bytes)
{
    return tg_set_error(TG_ERR_FORMAT,
                        "%s: %s: %s %llu bytes, over the limit of %llu (tg_io_set_max_bytes "
                        "raises it)",
                        s->who, s->name, what, (unsigned long long)bytes,
                        (unsigned long long)s->limit);
}

/* ------------------------------------------------------------- opening */

bool tg_io_is_gzip(const unsigned char *b, size_t n)
{
    return n >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

void tg_src_mem(tg_src *s, const char *who, const char *name, const void *buf, size_t len)
{
    *s = (tg_src){.who = who, .name = name, .next = buf, .avail = len, .eof = true,
                  .size_known = true, .size = len, .taken = len, .limit = tg_io_max_bytes()};
}

int tg_src_file(tg_src *s, const char *who, const char *path)
{
    *s = (tg_src){.who = who, .name = path ? path : "(null)", .limit = tg_io_max_bytes()};
    if (!path) return tg_set_error(TG_ERR_INVALID, "%s: path is NULL", who);
    s->f = fopen(path, "rb");
    if (!s->f) return tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(s->f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        s->size_known = true;
        s->size = (uint64_t)st.st_size;
    }
    s->buf = malloc(TG_SRC_BUF_BYTES);
    if (!s->buf) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory reading %s", who, path);
    return TG_OK;
}

/* zlib's allocations, through the library's own malloc and free (a count
   times a size, checked) */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size) return Z_NULL;
    return malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

int tg_src_start(tg_src *s, bool gzip)
{
    if (s->size_known && s->size > s->limit)
        return tg_io_over_limit(s, "the file has", s->size);
    int st = tg_src_fill(s, TG_SRC_BUF_BYTES);
    if (st != TG_OK || !gzip || !tg_io_is_gzip(s->next, s->avail)) return st;
    s->gz = true;
    s->z.zalloc = z_alloc;
    s->z.zfree = z_free;
    /* 16 + MAX_WBITS: a gzip wrapper (header, CRC-32 and length checked) */
    int rc = inflateInit2(&s->z, 16 + MAX_WBITS);
    if (rc != Z_OK)
        return tg_set_error(rc == Z_MEM_ERROR ? TG_ERR_NOMEM : TG_ERR_FORMAT,
                            "%s: %s: cannot start zlib: %s", s->who, s->name,
                            s->z.msg ? s->z.msg : zError(rc));
    s->z_live = true;
    return TG_OK;
}

void tg_src_close(tg_src *s)
{
    if (s->z_live) inflateEnd(&s->z);
    s->z_live = false;
    if (s->f) fclose(s->f);
    s->f = NULL;
    free(s->buf);
    s->buf = NULL;
}

/* ------------------------------------------------------------- reading */

int tg_src_fill(tg_src *s, size_t n)
{
    while (s->avail < n && !s->eof) {
        if (s->avail) memmove(s->buf, s->next, s->avail);
        /* one byte past the limit at most: enough to know the input is larger */
        size_t room = TG_SRC_BUF_BYTES - s->avail;
        if (s->limit - s->taken < room) room = (size_t)(s->limit - s->taken) + 1;
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
        if (s->taken > s->limit) return tg_io_over_limit(s, "the file has more than", s->limit);
    }
    return TG_OK;
}

uint64_t tg_src_left(const tg_src *s)
{
    return (s->size > s->taken ? s->size - s->taken : 0) + s->avail;
}

/* After a gzip member's end: another member may follow, or nothing;
   anything else is refused (counted if the size is known). */
static int member_end(tg_src *s)
{
    int st = tg_src_fill(s, 2);
    if (st != TG_OK) return st;
    if (s->avail == 0) {
        s->z_done = true;
        return TG_OK;
    }
    if (!tg_io_is_gzip(s->next, s->avail)) {
        if (s->size_known)
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: %llu bytes of garbage after the gzip data",
                                s->who, s->name, (unsigned long long)tg_src_left(s));
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: garbage after the gzip data", s->who,
                            s->name);
    }
    inflateReset(&s->z);
    return TG_OK;
}

int tg_src_read(tg_src *s, void *dst_, size_t n, size_t *got)
{
    unsigned char *dst = dst_;
    *got = 0;
    if (!s->gz) {
        while (*got < n) {
            int st = tg_src_fill(s, 1);
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
        int st = tg_src_fill(s, 1);
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
            /* the member ended with a good CRC */
            st = member_end(s);
            if (st != TG_OK) return st;
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

int tg_src_read_exact(tg_src *s, void *dst, size_t n, const char *what)
{
    size_t got;
    int st = tg_src_read(s, dst, n, &got);
    if (st != TG_OK) return st;
    if (got < n)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: truncated: the file ends inside %s", s->who,
                            s->name, what);
    return TG_OK;
}

int tg_src_read_new(tg_src *s, size_t n, void **out, size_t *got)
{
    /* bytes whose arrival is certain (raw, of known length, checked by the
       caller) take one allocation; others one that grows as they arrive,
       never past n (large blocks grow in place: glibc's realloc moves them
       with mremap, without a copy) */
    bool certain = !s->gz && s->size_known && tg_src_left(s) >= n;
    size_t cap = certain || n < ((size_t)1 << 20) ? n : (size_t)1 << 20;
    unsigned char *data = malloc(cap ? cap : 1);
    *out = NULL;
    *got = 0;
    if (!data) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", s->who, s->name);
    size_t have = 0;
    while (have < n) {
        if (have == cap) {
            size_t ncap = cap > n / 2 ? n : cap * 2;
            unsigned char *nd = realloc(data, ncap);
            if (!nd) {
                free(data);
                return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", s->who, s->name);
            }
            data = nd;
            cap = ncap;
        }
        size_t k;
        int st = tg_src_read(s, data + have, cap - have, &k);
        if (st != TG_OK) {
            free(data);
            return st;
        }
        have += k;
        if (k == 0) break;
    }
    *out = data;
    *got = have;
    return TG_OK;
}

int tg_src_at_end(tg_src *s, bool *end)
{
    unsigned char extra;
    size_t got;
    int st = tg_src_read(s, &extra, 1, &got);
    *end = got == 0;
    return st;
}
