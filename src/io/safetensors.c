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
   the file. __metadata__, if
   present, maps strings to strings.

   Loading never touches the parameters until the whole file has been
   validated against them and its data converted into a temporary buffer:
   a failure leaves them as they were. */
#include "io/io_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

int tg_params_save(const tg_params *p, const char *path, tg_dtype dtype)
{
    const char *who = "tg_params_save";
    if (!p || !path)
        return tg_set_error(TG_ERR_INVALID, "%s: %s is NULL", who, !p ? "params" : "path");
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_set_error(TG_ERR_INVALID, "%s: dtype must be TG_F32 or TG_F64, got %d", who,
                            (int)dtype);
    const size_t esize = dtype == TG_F32 ? 4 : 8;
    const size_t n = tg_params_count(p);
    if (tg_params_get(p, "__metadata__"))
        return tg_set_error(TG_ERR_INVALID,
                            "%s: a parameter named '__metadata__' cannot be saved (the name is "
                            "reserved by the format)",
                            who);

    /* the header, built with cJSON */
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    uint64_t offset = 0;
    for (size_t i = 0; i < n && ok; i++) {
        const tg_tensor *x = tg_params_at(p, i);
        cJSON *e = cJSON_CreateObject();
        cJSON *shape = cJSON_CreateArray();
        cJSON *offs = cJSON_CreateArray();
        ok = e && shape && offs;
        for (int k = 0; k < x->ndim && ok; k++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)x->shape[k]));
        uint64_t end = offset + (uint64_t)x->size * esize;
        ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)end)) &&
             cJSON_AddStringToObject(e, "dtype", dtype == TG_F32 ? "F32" : "F64");
        if (ok) {
            cJSON_AddItemToObject(e, "shape", shape);
            cJSON_AddItemToObject(e, "data_offsets", offs);
            shape = offs = NULL;
            ok = cJSON_AddItemToObject(root, x->name, e);
            if (ok) e = NULL;
        }
        cJSON_Delete(e);
        cJSON_Delete(shape);
        cJSON_Delete(offs);
        offset = end;
    }
    cJSON *meta = ok ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    ok = ok && meta && cJSON_AddStringToObject(meta, "format", "pt");
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return tg_set_error(TG_ERR_NOMEM, "%s: out of memory building the header", who);

    /* pad the header with spaces to a multiple of 8, as the reference writer
       does, so that the data starts 8-byte aligned */
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8;
    unsigned char prefix[8];
    put_le64(prefix, hlen);

    /* write to <path>.tmp, then rename: never a half-written file at path */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        cJSON_free(json);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int err = errno;
        cJSON_free(json);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: cannot create %s.tmp: %s", who, path, strerror(err));
    }
    bool wok = fwrite(prefix, 1, 8, f) == 8 && fwrite(json, 1, jlen, f) == jlen;
    for (size_t k = jlen; k < hlen && wok; k++) wok = fputc(' ', f) != EOF;
    cJSON_free(json);
    unsigned char buf[4096];
    for (size_t i = 0; i < n && wok; i++) {
        const tg_tensor *x = tg_params_at(p, i);
        size_t used = 0;
        for (int64_t k = 0; k < x->size && wok; k++) {
            if (esize == 4) {
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
    if (wok && rename(tmp, path) != 0) {
        err = errno;
        remove(tmp);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: cannot rename %s.tmp to %s: %s", who, path, path,
                            strerror(err));
    }
    if (!wok) {
        remove(tmp);
        free(tmp);
        return tg_set_error(TG_ERR_IO, "%s: cannot write %s: %s", who, path, strerror(err));
    }
    free(tmp);
    return TG_OK;
}

/* ------------------------------------------------------------------ load */

typedef struct st_entry {
    const char *name;     /* points into the cJSON tree */
    int esize;            /* 4 (F32) or 8 (F64) */
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

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
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
    if (strcmp(dt->valuestring, "F32") && strcmp(dt->valuestring, "F64"))
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: tensor '%s' has dtype %s: tapegrad loads F32 and F64 only",
                            who, file, nm, dt->valuestring);
    e->name = nm;
    e->esize = (int)bytes;
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

/* The whole load, from a buffer: validate, match, convert, then commit. */
static int load(tg_params *p, const char *who, const char *file, const unsigned char *buf,
                size_t len)
{
    if (len < 8)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: %zu bytes, fewer than the 8 of the header length",
                            who, file, len);
    uint64_t hlen = get_le64(buf);
    if (hlen > ST_MAX_HEADER)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: header length %llu is over the limit of %llu bytes (corrupt "
                            "or not a safetensors file)",
                            who, file, (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > len - 8)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: truncated: the header needs %llu bytes, the file has %zu "
                            "after the length",
                            who, file, (unsigned long long)hlen, len - 8);
    const char *hdr = (const char *)buf + 8;
    if (hlen < 2 || hdr[0] != '{')
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: the header does not start with '{': not a safetensors file",
                            who, file);
    long bad = tg_utf8_invalid_at(buf + 8, (size_t)hlen);
    if (bad >= 0)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: the header is not valid UTF-8 (byte %ld of it, 0x%02x)", who,
                            file, bad, (unsigned)buf[8 + bad]);
    const unsigned char *data = buf + 8 + hlen;
    const uint64_t data_len = len - 8 - hlen;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, false);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = (at && at >= hdr && at <= hdr + hlen) ? (long)(at - hdr) : -1;
        return tg_set_error(TG_ERR_FORMAT, "%s: %s: the header is not valid JSON (near byte %ld)",
                            who, file, pos);
    }
    int st = TG_OK;
    for (const char *q = end; q && q < hdr + hlen; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            st = tg_set_error(TG_ERR_FORMAT,
                              "%s: %s: the header has bytes after its JSON object (only spaces "
                              "may pad it)",
                              who, file);
            break;
        }
    if (st == TG_OK && !cJSON_IsObject(root))
        st = tg_set_error(TG_ERR_FORMAT, "%s: %s: the header is not a JSON object", who, file);

    /* the entries */
    int n_items = st == TG_OK ? cJSON_GetArraySize(root) : 0;
    st_entry *ents = NULL;
    st_entry **by = NULL;
    tg_real *vals = NULL;
    size_t n = 0;
    if (st == TG_OK) {
        ents = calloc((size_t)n_items + 1, sizeof *ents);
        by = calloc((size_t)n_items + 1, sizeof *by);
        if (!ents || !by) st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
    }
    const cJSON *item;
    bool seen_meta = false;
    if (st == TG_OK) cJSON_ArrayForEach(item, root)
        {
            if (!strcmp(item->string, "__metadata__")) {
                if (seen_meta)
                    st = tg_set_error(TG_ERR_FORMAT, "%s: %s: two __metadata__ entries", who, file);
                else
                    st = check_metadata(who, file, item);
                seen_meta = true;
            } else {
                st = parse_entry(who, file, item, &ents[n]);
                by[n] = &ents[n];
                n++;
            }
            if (st != TG_OK) break;
        }
    /* names are unique */
    if (st == TG_OK && n > 1) {
        qsort(by, n, sizeof *by, cmp_name);
        for (size_t i = 1; i < n && st == TG_OK; i++)
            if (!strcmp(by[i - 1]->name, by[i]->name))
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s: tensor '%s' appears twice in the header",
                                  who, file, by[i]->name);
    }
    /* offsets tile the buffer: sorted by begin, each starts where the last
       ended, the first at 0 and the last at the end of the file */
    if (st == TG_OK) {
        qsort(by, n, sizeof *by, cmp_begin);
        uint64_t at = 0;
        for (size_t i = 0; i < n && st == TG_OK; i++) {
            if (by[i]->begin != at)
                st = tg_set_error(TG_ERR_FORMAT,
                                  "%s: %s: tensor '%s' starts at byte %llu of the data, expected "
                                  "%llu (tensors must be contiguous and must not overlap)",
                                  who, file, by[i]->name, (unsigned long long)by[i]->begin,
                                  (unsigned long long)at);
            at = by[i]->end;
        }
        if (st == TG_OK && at != data_len)
            st = tg_set_error(TG_ERR_FORMAT,
                              "%s: %s: %s: the tensors cover %llu bytes of data, the file has "
                              "%llu",
                              who, file, at > data_len ? "truncated" : "extra bytes at the end",
                              (unsigned long long)at, (unsigned long long)data_len);
    }

    /* match the parameters: in the file and in p, same names and shapes */
    bool create = tg_params_count(p) == 0;
    size_t total = 0;
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        st_entry *e = by[i];
        if (!create) {
            e->param = tg_params_get(p, e->name);
            if (!e->param) {
                st = tg_set_error(TG_ERR_SHAPE,
                                  "%s: %s: unexpected tensor '%s': the model has no such "
                                  "parameter",
                                  who, file, e->name);
                break;
            }
            bool same = e->param->ndim == e->ndim;
            for (int k = 0; k < e->ndim && same; k++) same = e->param->shape[k] == e->shape[k];
            if (!same) {
                char a[160], b[160];
                st = tg_set_error(TG_ERR_SHAPE,
                                  "%s: %s: tensor '%s' has shape %s in the file, the parameter "
                                  "has %s",
                                  who, file, e->name, tg_dims_str(e->ndim, e->shape, a, sizeof a),
                                  tg_dims_str(e->param->ndim, e->param->shape, b, sizeof b));
                break;
            }
        } else {
            for (int k = 0; k < e->ndim; k++)
                if (e->shape[k] == 0) {
                    st = tg_set_error(TG_ERR_SHAPE,
                                      "%s: %s: tensor '%s' is empty (a dimension is 0): "
                                      "tapegrad parameters cannot be",
                                      who, file, e->name);
                    break;
                }
            if (st == TG_OK && !*e->name)
                st = tg_set_error(TG_ERR_FORMAT, "%s: %s: a tensor has an empty name", who, file);
        }
        e->slot = total;
        total += (size_t)e->numel;
    }
    if (st == TG_OK && !create && n != tg_params_count(p)) {
        /* every file tensor matched a parameter, and names are unique: so
           some parameter is missing from the file; name the first */
        for (size_t i = 0; i < tg_params_count(p); i++) {
            const tg_tensor *x = tg_params_at(p, i);
            bool found = false;
            for (size_t j = 0; j < n && !found; j++) found = ents[j].param == x;
            if (!found) {
                st = tg_set_error(TG_ERR_SHAPE, "%s: %s: missing tensor '%s': the file has no "
                                  "such tensor", who, file, x->name);
                break;
            }
        }
    }

    /* convert into a temporary buffer */
    if (st == TG_OK) {
        vals = malloc((total ? total : 1) * sizeof *vals);
        if (!vals) st = tg_set_error(TG_ERR_NOMEM, "%s: %s: out of memory", who, file);
    }
    for (size_t i = 0; i < n && st == TG_OK; i++) {
        const st_entry *e = by[i];
        const unsigned char *src = data + e->begin;
        tg_real *dst = vals + e->slot;
        for (int64_t k = 0; k < e->numel; k++)
            dst[k] = e->esize == 4 ? get_f32(src + 4 * k) : get_f64(src + 8 * k);
    }

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
            x = tg_params_add(fresh, e->name, e->ndim, e->shape);
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
    free(vals);
    free(by);
    free(ents);
    cJSON_Delete(root);
    return st;
}

int tg_params_load_mem(tg_params *p, const void *buf, size_t len)
{
    if (!p || (!buf && len))
        return tg_set_error(TG_ERR_INVALID, "tg_params_load_mem: %s is NULL", !p ? "params" : "buf");
    static const unsigned char empty[1];
    return load(p, "tg_params_load_mem", "<memory>", buf ? buf : empty, len);
}

int tg_params_load(tg_params *p, const char *path)
{
    if (!p) return tg_set_error(TG_ERR_INVALID, "tg_params_load: params is NULL");
    unsigned char *buf;
    size_t len;
    int st = tg_io_read_file("tg_params_load", path, &buf, &len);
    if (st != TG_OK) return st;
    st = load(p, "tg_params_load", path, buf, len);
    free(buf);
    return st;
}
