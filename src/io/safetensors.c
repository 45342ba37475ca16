/* safetensors save and load of a tg_params: weights to and from PyTorch.

   The format (huggingface/safetensors):
     8 bytes   N, the header's length, unsigned 64-bit little-endian
     N bytes   a JSON object, UTF-8, possibly padded with spaces:
                 {"fc1.weight": {"dtype": "F32", "shape": [500, 784],
                                 "data_offsets": [0, 1568000]}, ...,
                  "__metadata__": {"format": "pt"}}
     the rest  the byte buffer; data_offsets [begin, end) are relative to its
               start; tensors are little-endian, row-major (C order).
   What a reader must check (the reference implementation's rules, which
   this one follows): N <= 100,000,000 and inside the file; the header is a
   JSON object in well-formed UTF-8; each tensor has a known dtype, a
   shape of non-negative integers, and end − begin = numel · dtype size;
   sorted by begin, the tensors tile the buffer exactly: the first begins
   at 0, each begins where the previous ends, the last ends at the end of
   the file. __metadata__, if present, maps strings to strings. Besides,
   no string may hold \u0000 (a C string would end there) and the JSON
   must be well formed to the letter (json.c).

   What is saved is the registry's state: its parameters and its buffers
   (tg_params_add_buffer), in the order they were added, under their names,
   as PyTorch's state_dict holds them. Parameters and buffers are written in
   the dtype asked for (F32 or F64); integer buffers (TG_INT64, PyTorch's
   int64 num_batches_tracked) as I64, which PyTorch's load_state_dict wants
   there. Loading reads F32 and F64 into any tensor and I64 into integer
   buffers only (a float tensor given I64 is refused); into an empty
   registry, F32/F64 tensors become parameters and I64 ones integer buffers.

   Loading reads the 8 bytes, then the header, then exactly the data the
   header declares, converting it as it arrives, then one byte more to see
   that the file ends there (so a stream that goes on is refused, not read
   to its end); every buffer grows as bytes arrive. It never touches the
   parameters until the whole file has been validated against them and its
   data converted into a temporary buffer: a failure leaves them as they
   were. Saving writes only what loading accepts. */
#define _POSIX_C_SOURCE 200809L /* fdopen */
#include "io/io_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* uthash must not exit on OOM: it sets a flag that we turn into an error. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (st_oom = 1)
static _Thread_local int st_oom;
#include <uthash.h>

#define ST_MAX_HEADER 100000000ull /* the reference implementation's limit */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: integers JSON numbers hold exactly */

/* ------------------------------------------------------- little-endian */

static void put_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static tg_real get_f32(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return (tg_real)f;
}

static tg_real get_f64(const unsigned char *b)
{
    uint64_t u = get_le64(b);
    double d;
    memcpy(&d, &u, 8);
    return (tg_real)d;
}

static tg_real get_i64(const unsigned char *b)
{
    uint64_t u = get_le64(b);
    int64_t v;
    memcpy(&v, &u, 8); /* two's complement, as int64_t is */
    return (tg_real)v;
}

/* A value an integer buffer may hold: a whole number that int64 holds
   (2^63 is the first double past INT64_MAX). */
static bool whole_int64(double v)
{
    return v == floor(v) && v >= -0x1p63 && v < 0x1p63;
}

/* ---------------------------------------------------------------- dtypes */

/* Every dtype of the format, so that an unsupported one is named as such
   rather than called unknown. Bytes per element; 0: not a safetensors dtype. */
static size_t dtype_bytes(const char *s)
{
    static const struct {
        const char *name;
        size_t bytes;
    } t[] = {{"BOOL", 1}, {"U8", 1},      {"I8", 1},      {"F8_E5M2", 1}, {"F8_E4M3", 1},
             {"I16", 2},  {"U16", 2},     {"F16", 2},     {"BF16", 2},    {"I32", 4},
             {"U32", 4},  {"F32", 4},     {"I64", 8},     {"U64", 8},     {"F64", 8}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(s, t[i].name)) return t[i].bytes;
    return 0;
}

/* ------------------------------------------------------------------ save */

/* Whether the i-th tensor (parameter or buffer, tg_params_state_at) can be
   written so that loading gives it back: its name (a public field: it may
   have been changed) is the registry's key for it, UTF-8, and not the
   format's own "__metadata__". */
static int check_name(const char *who, const tg_params *p, size_t i, const tg_tensor *x)
{
    const char *nm = x->name;
    if (!nm || !*nm)
        return tg_set_error(TG_ERR_INVALID, "%s: parameter %zu has %s name", who, i,
                            !nm ? "a NULL" : "an empty");
    long bad = tg_utf8_invalid_at((const unsigned char *)nm, strlen(nm));
    if (bad >= 0)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: the name of parameter %zu is not valid UTF-8 (byte %ld of it is "
                            "0x%02x)",
                            who, i, bad, (unsigned)(unsigned char)nm[bad]);
    if (!strcmp(nm, "__metadata__"))
        return tg_set_error(TG_ERR_INVALID,
                            "%s: a parameter named '__metadata__' cannot be saved (the name is "
                            "reserved by the format)",
                            who);
    if (tg_params_get(p, nm) != x)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: parameter %zu is named '%s', which is not its name in the "
                            "registry (was the tensor's name changed?)",
                            who, i, nm);
    return TG_OK;
}

/* Appends text (measuring only, if out is NULL). */
static void put(char *out, size_t *k, const char *text)
{
    size_t n = strlen(text);
    if (out) memcpy(out + *k, text, n);
    *k += n;
}

/* The header's JSON, as the reference writer lays it out:
     {"<name>":{"dtype":"F32","shape":[d0,d1],"data_offsets":[b,e]},...,
      "__metadata__":{"format":"pt"}}
   in one pass that writes it into out, or only measures it if out is NULL
   (so the one allocation is exact). Integers are written as integers. */
static size_t header_json(const tg_params *p, size_t esize, char *out)
{
    size_t k = 0, n = tg_params_state_count(p);
    uint64_t offset = 0;
    char num[96];
    put(out, &k, "{");
    for (size_t i = 0; i < n; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        k += tg_json_string(out ? out + k : NULL, x->name);
        bool i64 = (x->flags & TG_INT64) != 0;
        put(out, &k, i64 ? ":{\"dtype\":\"I64\",\"shape\":["
                     : esize == 4 ? ":{\"dtype\":\"F32\",\"shape\":["
                                  : ":{\"dtype\":\"F64\",\"shape\":[");
        for (int d = 0; d < x->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%" PRId64 : "%" PRId64, x->shape[d]);
            put(out, &k, num);
        }
        uint64_t end = offset + (uint64_t)x->size * (i64 ? 8 : esize);
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]},", offset, end);
        put(out, &k, num);
        offset = end;
    }
    put(out, &k, "\"__metadata__\":{\"format\":\"pt\"}}");
    return k;
}

int tg_io_create_temp(const char *who, const char *path, FILE **f, char **tmp)
{
    *f = NULL, *tmp = NULL;
    if (!*path) return tg_set_error(TG_ERR_INVALID, "%s: the path is empty", who);
    size_t plen = strlen(path);
    char *name = malloc(plen + 16);
    if (!name) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    /* O_EXCL: a name that exists (a user's file, another thread's save) is
       never opened; the next suffix is tried instead */
    int fd = -1, err = 0;
    for (int i = 0; i < 100 && fd < 0; i++) {
        if (i == 0) snprintf(name, plen + 16, "%s.tmp", path);
        else snprintf(name, plen + 16, "%s.tmp%d", path, i);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0666); /* 0666 less the umask, as fopen */
        err = errno;
        if (fd < 0 && err != EEXIST) break;
    }
    FILE *s = fd < 0 ? NULL : fdopen(fd, "wb");
    if (fd >= 0 && !s) {
        err = errno;
        close(fd);
        remove(name);
    }
    if (!s) {
        free(name);
        if (err == EEXIST)
            return tg_set_error(TG_ERR_IO, "%s: cannot create a temporary file beside %s: "
                                "%s.tmp to %s.tmp99 all exist", who, path, path, path);
        return tg_set_error(err == ENOMEM ? TG_ERR_NOMEM : TG_ERR_IO,
                            "%s: cannot create %s.tmp: %s", who, path, strerror(err));
    }
    *f = s, *tmp = name;
    return TG_OK;
}

/* Writes the file at path, under a temporary name beside it
   (tg_io_create_temp) renamed at the end: never a half-written file at
   path, and nothing left behind on a failure. */
static int write_file(const char *who, const tg_params *p, const char *path, const char *head,
                      size_t hlen, size_t esize)
{
    FILE *f;
    char *tmp;
    int cst = tg_io_create_temp(who, path, &f, &tmp);
    if (cst != TG_OK) return cst;
    unsigned char prefix[8];
    put_le64(prefix, hlen);
    bool wok = fwrite(prefix, 1, 8, f) == 8 && fwrite(head, 1, hlen, f) == hlen;
    unsigned char buf[4096];
    for (size_t i = 0; i < tg_params_state_count(p) && wok; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        size_t used = 0;
        for (int64_t k = 0; k < x->size && wok; k++) {
            if (x->flags & TG_INT64) { /* a whole number (checked before writing) */
                int64_t v = (int64_t)x->data[k];
                uint64_t u;
                memcpy(&u, &v, 8);
                put_le64(buf + used, u);
                used += 8;
            } else if (esize == 4) {
                float v = (float)x->data[k];
                uint32_t u;
                memcpy(&u, &v, 4);
                for (int j = 0; j < 4; j++) buf[used++] = (unsigned char)(u >> (8 * j));
            } else {
                double v = (double)x->data[k];
                uint64_t u;
                memcpy(&u, &v, 8);
                put_le64(buf + used, u);
                used += 8;
            }
            if (used == sizeof buf) {
                wok = fwrite(buf, 1, used, f) == used;
                used = 0;
            }
        }
        if (wok && used) wok = fwrite(buf, 1, used, f) == used;
    }
    int err = errno;
    if (fclose(f) != 0 && wok) {
        wok = false;
        err = errno;
    }
    int st = TG_OK;
    if (!wok)
        st = tg_set_error(TG_ERR_IO, "%s: cannot write %s: %s", who, path, strerror(err));
    else if (rename(tmp, path) != 0)
        st = tg_set_error(TG_ERR_IO, "%s: cannot rename %s to %s: %s", who, tmp, path,
                          strerror(errno));
    if (st != TG_OK) remove(tmp);
    free(tmp);
    return st;
}

int tg_params_save(const tg_params *p, const char *path, tg_dtype dtype)
{
    const char *who = "tg_params_save";
    if (!p || !path)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL", who, !p ? "params" : "path");
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_set_error(TG_ERR_INVALID, "%s: dtype must be TG_F32 or TG_F64, got %d", who,
                            (int)dtype);
    const size_t esize = dtype == TG_F32 ? 4 : 8;
    /* what loading will check: names, and offsets that a JSON number
       holds exactly (2^53; no registry comes near) */
    uint64_t data = 0;
    for (size_t i = 0; i < tg_params_state_count(p); i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        int st = check_name(who, p, i, x);
        if (st != TG_OK) return st;
        for (int64_t k = 0; (x->flags & TG_INT64) && k < x->size; k++)
            if (!whole_int64((double)x->data[k]))
                return tg_set_error(TG_ERR_INVALID,
                                    "%s: buffer '%s' holds %g at element %lld, which is not a "
                                    "whole number in int64's range: it is saved as I64",
                                    who, x->name, (double)x->data[k], (long long)k);
        data += (uint64_t)x->size * ((x->flags & TG_INT64) ? 8 : esize);
        if (data > (uint64_t)ST_MAX_INT)
            return tg_set_error(TG_ERR_INVALID, "%s: the parameters hold more than 2^53 bytes",
                                who);
    }
    /* the header, padded with spaces to a multiple of 8 as the reference
       writer does (the data then starts 8-byte aligned), within the
       format's limit */
    size_t jlen = header_json(p, esize, NULL), hlen = (jlen + 7) / 8 * 8;
    if (hlen > ST_MAX_HEADER)
        return tg_set_error(TG_ERR_INVALID,
                            "%s: the header would take %zu bytes, over the format's limit of "
                            "%llu (the parameters' names are too long)",
                            who, hlen, ST_MAX_HEADER);
    char *head = malloc(hlen);
    if (!head) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory building the header", who);
    header_json(p, esize, head);
    memset(head + jlen, ' ', hlen - jlen);
    int st = write_file(who, p, path, head, hlen, esize);
    free(head);
    return st;
}

/* ------------------------------------------------------------------ load */

typedef struct st_entry {
    const char *name;     /* points into the cJSON tree */
    UT_hash_handle hh;    /* by name */
    int esize;            /* 4 (F32) or 8 (F64, I64) */
    bool i64;             /* I64 */
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;  /* into the byte buffer */
    tg_tensor *param;     /* the matching parameter (NULL when creating) */
    size_t slot;          /* offset into the temporary tg_real buffer */
} st_entry;

/* A JSON number that is an integer in [0, 2^53]; false otherwise. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d > ST_MAX_INT || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Validates one tensor entry of the header into e. */
static int parse_entry(const char *who, const char *file, const cJSON *item, st_entry *e)
{
    const char *nm = item->string;
    if (!cJSON_IsObject(item))
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': the entry is not a JSON object",
                            who, file, nm);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL, *c;
    cJSON_ArrayForEach(c, item)
    {
        if (!strcmp(c->string, "dtype") && !dt) dt = c;
        else if (!strcmp(c->string, "shape") && !shape) shape = c;
        else if (!strcmp(c->string, "data_offsets") && !offs) offs = c;
        else
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': unexpected key '%s'", who,
                                file, nm, c->string);
    }
    if (!dt || !shape || !offs)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': no '%s'", who, file, nm,
                            !dt ? "dtype" : (!shape ? "shape" : "data_offsets"));
    if (!cJSON_IsString(dt))
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': dtype is not a string", who,
                            file, nm);
    size_t bytes = dtype_bytes(dt->valuestring);
    if (!bytes)
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': unknown dtype '%.32s'", who,
                            file, nm, dt->valuestring);
    if (strcmp(dt->valuestring, "F32") && strcmp(dt->valuestring, "F64") &&
        strcmp(dt->valuestring, "I64"))
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: tensor '%s' has dtype %s: tapegrad loads F32 and F64 (and "
                            "I64 into integer buffers) only",
                            who, file, nm, dt->valuestring);
    e->name = nm;
    e->esize = (int)bytes;
    e->i64 = !strcmp(dt->valuestring, "I64");
    if (!cJSON_IsArray(shape))
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': shape is not an array", who, file,
                            nm);
    int nd = cJSON_GetArraySize(shape);
    if (nd > TG_MAX_DIMS)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: tensor '%s' has %d dimensions: tapegrad supports up to %d",
                            who, file, nm, nd, TG_MAX_DIMS);
    e->ndim = nd;
    uint64_t numel = 1;
    int k = 0;
    cJSON_ArrayForEach(c, shape)
    {
        uint64_t d;
        if (!json_uint(c, &d))
            return tg_set_error(TG_ERR_FORMAT,
                                "%s: %s: tensor '%s': shape[%d] is not a non-negative integer",
                                who, file, nm, k);
        e->shape[k++] = (int64_t)d;
        /* numel·bytes must stay <= 2^53 (a JSON offset can say no more) */
        if (d && numel > (uint64_t)ST_MAX_INT / bytes / d)
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s': the shape is too large", who,
                                file, nm);
        numel *= d;
    }
    e->numel = (int64_t)numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !json_uint(cJSON_GetArrayItem(offs, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), &e->end))
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: tensor '%s': data_offsets is not [begin, end] of "
                            "non-negative integers",
                            who, file, nm);
    if (e->end < e->begin || e->end - e->begin != numel * bytes) {
        char dims[160];
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: tensor '%s': data_offsets [%llu, %llu] hold %lld bytes, "
                            "but %s %s needs %llu",
                            who, file, nm, (unsigned long long)e->begin,
                            (unsigned long long)e->end,
                            (long long)(e->end >= e->begin ? (long long)(e->end - e->begin) : -1),
                            dt->valuestring, tg_dims_str(e->ndim, e->shape, dims, sizeof dims),
                            (unsigned long long)(numel * bytes));
    }
    return TG_OK;
}

static int check_metadata(const char *who, const char *file, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: __metadata__ is not a JSON object", who, file);
    const cJSON *c;
    cJSON_ArrayForEach(c, meta) if (!cJSON_IsString(c)) return tg_set_error(
        TG_ERR_FORMAT, "%s: %s: __metadata__ '%s' is not a string", who, file, c->string);
    return TG_OK;
}

/* The header: its length, then its JSON text (*json, freed by the caller;
   *hlen bytes), checked: the length within the format's limit and the
   file, the text UTF-8 and JSON to the letter. */
static int read_header(tg_src *s, char **json, uint64_t *hlen)
{
    const char *who = s->who, *file = s->name;
    *json = NULL;
    unsigned char len8[8];
    size_t got;
    int st = tg_src_read(s, len8, 8, &got);
    if (st != TG_OK) return st;
    if (got < 8)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: %zu bytes, fewer than the 8 of the header length",
                            who, file, got);
    uint64_t n = get_le64(len8);
    if (n > ST_MAX_HEADER)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: header length %llu is over the limit of %llu bytes (corrupt "
                            "or not a safetensors file)",
                            who, file, (unsigned long long)n, ST_MAX_HEADER);
    if (s->size_known && (s->size < 8 || n > s->size - 8))
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: the header needs %llu bytes, the file has %llu "
                            "after the length",
                            who, file, (unsigned long long)n,
                            (unsigned long long)(s->size < 8 ? 0 : s->size - 8));
    if (8 + n > s->limit) return tg_io_over_limit(s, "the header length says a file of", 8 + n);
    void *text;
    st = tg_src_read_new(s, (size_t)n, &text, &got);
    if (st != TG_OK) return st;
    *json = text;
    *hlen = n;
    if (got < n)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: the header needs %llu bytes, the file has %zu "
                            "after the length",
                            who, file, (unsigned long long)n, got);
    if (n < 2 || *json[0] != '{')
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: the header does not start with '{': not a safetensors file",
                            who, file);
    long bad = tg_utf8_invalid_at(text, (size_t)n);
    if (bad >= 0)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: the header is not valid UTF-8 (byte %ld of it, 0x%02x)", who,
                            file, bad, (unsigned)((unsigned char *)text)[bad]);
    return tg_json_check(who, file, text, (size_t)n);
}

/* The entries of the header (ents[0..*n), by[] the same sorted by their
   data, *names a hash of them by name): each valid, names unique, the data
   tiled exactly; *data_len is the data they cover. */
static int read_entries(tg_src *s, const cJSON *root, st_entry *ents, st_entry **by, size_t *n,
                        st_entry **names, uint64_t *data_len)
{
    const char *who = s->who, *file = s->name;
    const cJSON *item;
    bool seen_meta = false;
    int st = TG_OK;
    *n = 0;
    cJSON_ArrayForEach(item, root)
    {
        if (!strcmp(item->string, "__metadata__")) {
            if (seen_meta)
                return tg_set_error(TG_ERR_FORMAT, "%s: %s: two __metadata__ entries", who, file);
            seen_meta = true;
            st = check_metadata(who, file, item);
            if (st != TG_OK) return st;
            continue;
        }
        st_entry *e = &ents[*n];
        st = parse_entry(who, file, item, e);
        if (st != TG_OK) return st;
        st_entry *dup = NULL;
        HASH_FIND_STR(*names, e->name, dup);
        if (dup)
            return tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s' appears twice in the header",
                                who, file, e->name);
        st_oom = 0;
        HASH_ADD_KEYPTR(hh, *names, e->name, strlen(e->name), e);
        if (st_oom) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
        by[*n] = e;
        (*n)++;
    }
    /* offsets tile the data: sorted by begin, each starts where the last
       ended, the first at 0 */
    qsort(by, *n, sizeof *by, cmp_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < *n; i++) {
        if (by[i]->begin != at)
            return tg_set_error(TG_ERR_FORMAT,
                                "%s: %s: tensor '%s' starts at byte %llu of the data, expected "
                                "%llu (tensors must be contiguous and must not overlap)",
                                who, file, by[i]->name, (unsigned long long)by[i]->begin,
                                (unsigned long long)at);
        at = by[i]->end;
    }
    *data_len = at;
    return TG_OK;
}

/* The message for data that is not as long as the tensors cover; `have`
   is its length, or more than `want` if only that is known. */
static int wrong_data_length(const tg_src *s, uint64_t want, uint64_t have, bool have_known)
{
    if (!have_known)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: extra bytes at the end: the tensors cover %llu bytes of "
                            "data, the file has more",
                            s->who, s->name, (unsigned long long)want);
    return tg_set_error(TG_ERR_FORMAT,
                        "%s: %s: %s: the tensors cover %llu bytes of data, the file has %llu",
                        s->who, s->name, have < want ? "truncated" : "extra bytes at the end",
                        (unsigned long long)want, (unsigned long long)have);
}

/* Matches the entries with p's parameters (create: p is empty, each entry
   will make one): names and shapes, both ways, by hash lookups. Sets each
   entry's param and slot in the values; *total is the values' count. */
static int match(tg_src *s, tg_params *p, bool create, st_entry **by, size_t n, st_entry *names,
                 size_t *total)
{
    const char *who = s->who, *file = s->name;
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        st_entry *e = by[i];
        if (!create) {
            e->param = tg_params_get(p, e->name);
            if (!e->param)
                return tg_set_error(TG_ERR_SHAPE,
                                    "%s: %s: unexpected tensor '%s': the model has no such "
                                    "parameter",
                                    who, file, e->name);
            if (e->i64 && !(e->param->flags & TG_INT64))
                return tg_set_error(TG_ERR_FORMAT,
                                    "%s: %s: tensor '%s' has dtype I64: tapegrad loads I64 into "
                                    "integer buffers only (tg_params_add_int_buffer), and '%s' "
                                    "is a %s of reals",
                                    who, file, e->name, e->name,
                                    (e->param->flags & TG_BUFFER) ? "buffer" : "parameter");
            bool same = e->param->ndim == e->ndim;
            for (int k = 0; k < e->ndim && same; k++) same = e->param->shape[k] == e->shape[k];
            if (!same) {
                char a[160], b[160];
                return tg_set_error(TG_ERR_SHAPE,
                                    "%s: %s: tensor '%s' has shape %s in the file, the parameter "
                                    "has %s",
                                    who, file, e->name, tg_dims_str(e->ndim, e->shape, a, sizeof a),
                                    tg_dims_str(e->param->ndim, e->param->shape, b, sizeof b));
            }
        } else {
            for (int k = 0; k < e->ndim; k++)
                if (e->shape[k] == 0)
                    return tg_set_error(TG_ERR_SHAPE,
                                        "%s: %s: tensor '%s' is empty (a dimension is 0): "
                                        "tapegrad parameters cannot be",
                                        who, file, e->name);
            if (!*e->name)
                return tg_set_error(TG_ERR_FORMAT, "%s: %s: a tensor has an empty name", who,
                                    file);
        }
        e->slot = *total;
        *total += (size_t)e->numel;
    }
    /* every file tensor matched a parameter or buffer, and names are
       unique: if the counts differ, one is missing from the file; name the
       first */
    size_t have = tg_params_state_count(p);
    for (size_t i = 0; !create && n != have && i < have; i++) {
        const tg_tensor *x = tg_params_state_at(p, i);
        st_entry *e = NULL;
        HASH_FIND_STR(names, x->name, e);
        if (!e)
            return tg_set_error(TG_ERR_SHAPE,
                                "%s: %s: missing tensor '%s': the file has no such tensor", who,
                                file, x->name);
    }
    return TG_OK;
}

/* Reads the data, in the order of the file, converting each tensor to
   tg_real into *vals (total values, freed by the caller), which grows as
   the bytes arrive: a header that claims more than the file holds costs
   only what it holds. Then the file must end. */
static int read_values(tg_src *s, st_entry **by, size_t n, size_t total, uint64_t data_len,
                       tg_real **vals)
{
    const char *who = s->who, *file = s->name;
    size_t cap = total < 4096 ? total : 4096;
    *vals = malloc((cap ? cap : 1) * sizeof **vals);
    if (!*vals) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
    unsigned char buf[4096]; /* whole F32 and F64 elements */
    uint64_t read = 0;
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = by[i];
        size_t done = 0; /* values of e converted */
        while (done < (size_t)e->numel) {
            size_t k = (size_t)e->numel - done, got;
            if (k > sizeof buf / (size_t)e->esize) k = sizeof buf / (size_t)e->esize;
            int st = tg_src_read(s, buf, k * (size_t)e->esize, &got);
            if (st != TG_OK) return st;
            read += got;
            if (got < k * (size_t)e->esize) return wrong_data_length(s, data_len, read, true);
            if (e->slot + done + k > cap) {
                size_t ncap = cap > total / 2 ? total : 2 * cap;
                if (ncap < e->slot + done + k) ncap = e->slot + done + k;
                tg_real *nv = realloc(*vals, ncap * sizeof **vals);
                if (!nv) return tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
                *vals = nv;
                cap = ncap;
            }
            tg_real *dst = *vals + e->slot + done;
            for (size_t j = 0; j < k; j++)
                dst[j] = e->esize == 4 ? get_f32(buf + 4 * j)
                         : e->i64      ? get_i64(buf + 8 * j)
                                       : get_f64(buf + 8 * j);
            done += k;
        }
    }
    bool end;
    int st = tg_src_at_end(s, &end);
    if (st != TG_OK) return st;
    return end ? TG_OK : wrong_data_length(s, data_len, 0, false);
}

/* Integer buffers get whole numbers: F32 or F64 data loaded into one must
   hold them (I64 data does). */
static int check_whole(const tg_src *s, st_entry **by, size_t n, const tg_real *vals)
{
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = by[i];
        if (e->i64 || !e->param || !(e->param->flags & TG_INT64)) continue;
        for (int64_t k = 0; k < e->numel; k++)
            if (!whole_int64((double)vals[e->slot + (size_t)k]))
                return tg_set_error(TG_ERR_FORMAT,
                                    "%s: %s: tensor '%s' holds %g at element %lld, but '%s' is "
                                    "an integer buffer",
                                    s->who, s->name, e->name, (double)vals[e->slot + (size_t)k],
                                    (long long)k, e->name);
    }
    return TG_OK;
}

/* The whole load: header, entries, matching, values, then the commit. */
static int load(tg_params *p, tg_src *s)
{
    const char *who = s->who, *file = s->name;
    char *json = NULL;
    uint64_t hlen = 0;
    int st = tg_src_start(s, false);
    if (st == TG_OK) st = read_header(s, &json, &hlen);
    cJSON *root = NULL;
    if (st == TG_OK) {
        /* the text is JSON to the letter: cJSON fails only for memory */
        root = cJSON_ParseWithLengthOpts(json, (size_t)hlen, NULL, false);
        if (!root)
            st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory parsing the header", who, file);
    }
    /* the entries */
    size_t n_items = st == TG_OK ? (size_t)cJSON_GetArraySize(root) : 0, n = 0, total = 0;
    st_entry *ents = NULL, **by = NULL, *names = NULL;
    tg_real *vals = NULL;
    uint64_t data_len = 0;
    if (st == TG_OK) {
        ents = calloc(n_items + 1, sizeof *ents);
        by = calloc(n_items + 1, sizeof *by);
        if (!ents || !by) st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
    }
    if (st == TG_OK) st = read_entries(s, root, ents, by, &n, &names, &data_len);
    if (st == TG_OK && 8 + hlen + data_len > s->limit)
        st = tg_io_over_limit(s, "the header describes a file of", 8 + hlen + data_len);
    if (st == TG_OK && s->size_known && tg_src_left(s) != data_len)
        st = wrong_data_length(s, data_len, tg_src_left(s), true);
    bool create = tg_params_state_count(p) == 0;
    if (st == TG_OK) st = match(s, p, create, by, n, names, &total);
    if (st == TG_OK && total > SIZE_MAX / sizeof *vals)
        st = tg_set_error(TG_ERR_NOMEM, "%s: %s: too large for this machine", who, file);
    if (st == TG_OK) st = read_values(s, by, n, total, data_len, &vals);
    if (st == TG_OK) st = check_whole(s, by, n, vals);

    /* commit: everything checked, the values ready. New parameters are
       built in a registry of their own and swapped into p only when all of
       them exist, so running out of memory midway leaves p empty, as it was. */
    tg_params *fresh = NULL;
    if (st == TG_OK && create) {
        fresh = tg_params_new();
        if (!fresh) st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
    }
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        st_entry *e = by[i];
        tg_tensor *x = e->param;
        if (create) {
            x = e->i64 ? tg_params_add_int_buffer(fresh, e->name, e->ndim, e->shape)
                       : tg_params_add(fresh, e->name, e->ndim, e->shape);
            if (!x) {
                char msg[TG_MSG_LEN];
                snprintf(msg, sizeof msg, "%s", tg_last_error());
                st = tg_set_error(TG_ERR_NOMEM, "%s: %s: %s", who, file, msg);
                break;
            }
        }
        if (e->numel) memcpy(x->data, vals + e->slot, (size_t)e->numel * sizeof *vals);
    }
    if (st == TG_OK && create) tg_params_swap(p, fresh); /* fresh now holds p's empty self */
    tg_params_free(fresh);
    HASH_CLEAR(hh, names);
    free(vals);
    free(by);
    free(ents);
    cJSON_Delete(root);
    free(json);
    return st;
}

int tg_params_load_mem(tg_params *p, const void *buf, size_t len)
{
    if (!p || (!buf && len))
        return tg_set_error(TG_ERR_INVALID, "tg_params_load_mem: %s is NULL",
                            !p ? "params" : "buf");
    static const unsigned char empty[1];
    tg_src s;
    tg_src_mem(&s, "tg_params_load_mem", "<memory>", buf ? buf : empty, len);
    int st = load(p, &s);
    tg_src_close(&s);
    return st;
}

int tg_params_load(tg_params *p, const char *path)
{
    if (!p) return tg_set_error(TG_ERR_INVALID, "tg_params_load: params is NULL");
    tg_src s;
    int st = tg_src_file(&s, "tg_params_load", path);
    if (st == TG_OK) st = load(p, &s);
    tg_src_close(&s);
    return st;
}
