/* CSV files of numbers (RFC 4180) into tables and datasets, parsed by
   libcsv (Debian's libcsv-dev) in its strict mode.

   The bytes are read through a 64 KiB buffer and handed to libcsv one
   physical line at a time (each piece ends at a '\n' or at the end of the
   buffer), so every field and record that libcsv reports during a call
   ends on the line being fed: that is the line an error names. A record
   (which a quoted line break may spread over several lines) may not grow
   past opts->max_line bytes: the bytes fed since the last record ended
   are counted, and the file is refused before libcsv is given more, so
   libcsv's field buffer stays below the bound too. libcsv cannot be
   stopped from a callback: after the first error the callbacks do nothing
   and no more bytes are fed. Numbers are read with strtod_l in the C
   locale. */
#define _GNU_SOURCE /* strtod_l, newlocale */

#include "io/io_internal.h"

#include <csv.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

#define CSV_CHUNK ((size_t)1 << 16)

tg_csv_opts tg_csv_defaults(void)
{
    return (tg_csv_opts){.delimiter = ',', .header = true, .max_line = (size_t)1 << 20,
                         .target = NULL, .target_index = -1, .classify = false};
}

void tg_csv_free(tg_csv_table *t)
{
    if (!t) return;
    for (int64_t i = 0; t->names && i < t->cols; i++) free(t->names[i]);
    free(t->names);
    free(t->values);
    free(t);
}

/* The C locale, made once. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

typedef struct {
    const char *who, *file;
    const tg_csv_opts *o;
    bool dataset;          /* resolve opts' target column (tg_csv_dataset) */
    int64_t line;          /* the physical line being fed, from 1 */
    int64_t col;           /* fields of the current record so far */
    int64_t cols;          /* fields per record, -1 until known */
    bool in_header;
    int64_t target;        /* the target column, -1 none (dataset only) */
    char **names;          /* [cols] with a header */
    int64_t n_names;
    double *vals;
    size_t n_vals, cap_vals;
    int64_t rows;
    bool ended_row;        /* a record ended in the piece being fed */
    int err;
} csv_ctx;

/* "column 3 ('petal_width')" into buf, for messages. */
static const char *column(const csv_ctx *c, int64_t col, char *buf, size_t len)
{
    if (c->names && col >= 1 && col <= c->n_names)
        snprintf(buf, len, "column %lld ('%.60s')", (long long)col, c->names[col - 1]);
    else
        snprintf(buf, len, "column %lld", (long long)col);
    return buf;
}

/* "line 4, column 3 ('petal_width')" into buf. */
static const char *where(const csv_ctx *c, int64_t col, char *buf, size_t len)
{
    char cb[100];
    snprintf(buf, len, "line %lld, %s", (long long)c->line, column(c, col, cb, sizeof cb));
    return buf;
}

/* The first 40 bytes of a field, for messages. */
static void quote_field(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len < 40 ? len : 40;
    snprintf(buf, cap, "%.*s%s", (int)n, s ? s : "", len > 40 ? "..." : "");
}

static void fail(csv_ctx *c, int st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(csv_ctx *c, int st, const char *fmt, ...)
{
    if (c->err) return;
    char msg[TG_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err = tg_set_error(st, "%s: %s: %s", c->who, c->file, msg);
}

/* The target column once the number of columns is known: by name (with a
   header) or index. */
static void resolve_target(csv_ctx *c)
{
    c->target = -1;
    if (!c->dataset || c->o->target_index == -2) return;
    if (c->o->target) {
        for (int64_t i = 0; c->names && i < c->n_names; i++)
            if (strcmp(c->names[i], c->o->target) == 0) {
                if (c->target >= 0) { /* which one is meant cannot be told */
                    fail(c, TG_ERR_FORMAT, "columns %lld and %lld are both named '%.80s': give "
                         "the target by target_index", (long long)c->target + 1,
                         (long long)i + 1, c->o->target);
                    return;
                }
                c->target = i;
            }
        if (c->target < 0)
            fail(c, TG_ERR_FORMAT, "no column is named '%.80s'%s", c->o->target,
                 c->names ? "" : " (the file has no header)");
        return;
    }
    int64_t t = c->o->target_index < 0 ? c->cols - 1 : c->o->target_index;
    if (c->o->target_index < -2 || t >= c->cols)
        fail(c, TG_ERR_INVALID, "target_index %d is not a column of the %lld", c->o->target_index,
             (long long)c->cols);
    else
        c->target = t;
}

static void on_field(void *s, size_t len, void *data)
{
    csv_ctx *c = data;
    if (c->err) return;
    const char *f = s;
    c->col++;
    char at[160], text[64];
    if (c->in_header) {
        char **nn = realloc(c->names, (size_t)c->col * sizeof *nn);
        char *name = nn ? malloc(len + 1) : NULL;
        if (nn) c->names = nn;
        if (!name) {
            fail(c, TG_ERR_NOMEM, "out of memory for the header");
            return;
        }
        if (len) memcpy(name, f, len);
        name[len] = '\0';
        c->names[c->n_names++] = name;
        return;
    }
    if (c->cols >= 0 && c->col > c->cols) {
        fail(c, TG_ERR_FORMAT, "line %lld: more fields than the %lld of %s", (long long)c->line,
             (long long)c->cols, c->o->header ? "the header" : "the first record");
        return;
    }
    if (!f || len == 0) {
        fail(c, TG_ERR_FORMAT, "%s: the field is empty", where(c, c->col, at, sizeof at));
        return;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod_l(f, &end, c_locale);
    if (end != f + len || memchr(f, '\0', len)) {
        quote_field(f, len, text, sizeof text);
        fail(c, TG_ERR_FORMAT, "%s: '%s' is not a number", where(c, c->col, at, sizeof at), text);
        return;
    }
    if (!isfinite(v)) {
        quote_field(f, len, text, sizeof text);
        fail(c, TG_ERR_FORMAT, "%s: '%s' is not a finite number", where(c, c->col, at, sizeof at),
             text);
        return;
    }
    if (c->dataset && c->o->classify && c->col - 1 == c->target &&
        !(v >= 0 && v < 2147483648.0 && v == floor(v))) {
        quote_field(f, len, text, sizeof text);
        fail(c, TG_ERR_FORMAT, "%s: '%s' is not a class label (an integer in [0, 2^31))",
             where(c, c->col, at, sizeof at), text);
        return;
    }
    if (c->n_vals == c->cap_vals) {
        size_t cap = c->cap_vals ? c->cap_vals * 2 : 1024;
        double *nv = cap < SIZE_MAX / sizeof *nv ? realloc(c->vals, cap * sizeof *nv) : NULL;
        if (!nv) {
            fail(c, TG_ERR_NOMEM, "out of memory for %zu values", cap);
            return;
        }
        c->vals = nv;
        c->cap_vals = cap;
    }
    c->vals[c->n_vals++] = v;
}

static void on_row(int term, void *data)
{
    (void)term;
    csv_ctx *c = data;
    if (c->err) return;
    c->ended_row = true;
    if (c->in_header) {
        c->in_header = false;
        c->cols = c->col;
        resolve_target(c);
    } else if (c->cols < 0) {
        c->cols = c->col;
        resolve_target(c);
        c->rows++;
    } else if (c->col < c->cols) {
        char at[160];
        fail(c, TG_ERR_FORMAT, "line %lld: %lld field%s, expected %lld: %s is missing",
             (long long)c->line, (long long)c->col, c->col == 1 ? "" : "s", (long long)c->cols,
             column(c, c->col + 1, at, sizeof at));
    } else {
        c->rows++;
    }
    c->col = 0;
}

/* What the parser reads from: a file through a buffer, or memory. */
typedef struct {
    FILE *f;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    unsigned char *buf;
} csv_src;

/* The next bytes: up to CSV_CHUNK; 0 at the end (or on an error, *err). */
static size_t next_chunk(csv_src *s, const unsigned char **out, int *err)
{
    if (s->f) {
        size_t got = fread(s->buf, 1, CSV_CHUNK, s->f);
        if (got == 0 && ferror(s->f)) *err = errno ? errno : EIO;
        *out = s->buf;
        return got;
    }
    size_t left = s->mem_len - s->mem_pos, n = left < CSV_CHUNK ? left : CSV_CHUNK;
    *out = s->mem + s->mem_pos;
    s->mem_pos += n;
    return n;
}

/* Parses everything from src; TG_OK with the context filled, or the error. */
static int parse(csv_ctx *c, csv_src *src, struct csv_parser *p)
{
    const tg_csv_opts *o = c->o;
    uint64_t total = 0, limit = tg_io_max_bytes();
    size_t rec_bytes = 0;
    bool first = true, any = false;
    const unsigned char *chunk;
    size_t n;
    int rerr = 0;
    while (!c->err && (n = next_chunk(src, &chunk, &rerr)) > 0) {
        total += n;
        if (total > limit) {
            fail(c, TG_ERR_FORMAT, "larger than the limit of %llu bytes (tg_io_set_max_bytes)",
                 (unsigned long long)limit);
            break;
        }
        if (first && n >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF)
            chunk += 3, n -= 3; /* a UTF-8 byte order mark */
        first = false;
        while (n > 0 && !c->err) {
            const unsigned char *nl = memchr(chunk, '\n', n);
            size_t piece = nl ? (size_t)(nl - chunk) + 1 : n;
            if (rec_bytes + piece > o->max_line) {
                fail(c, TG_ERR_FORMAT, "line %lld: a record longer than the limit of %zu bytes "
                     "(tg_csv_opts.max_line)", (long long)c->line, o->max_line);
                break;
            }
            for (size_t k = 0; k < piece && !any; k++)
                any = chunk[k] != '\n' && chunk[k] != '\r' && chunk[k] != ' ' && chunk[k] != '\t';
            c->ended_row = false;
            if (csv_parse(p, chunk, piece, on_field, on_row, c) != piece && !c->err) {
                int e = csv_error(p);
                if (e == CSV_EPARSE)
                    fail(c, TG_ERR_FORMAT, "line %lld, column %lld: a quote inside an unquoted "
                         "field, or text after a closing quote (write a quote inside a quoted "
                         "field as \"\")", (long long)c->line, (long long)c->col + 1);
                else
                    fail(c, TG_ERR_NOMEM, "line %lld: out of memory (%s)", (long long)c->line,
                         csv_strerror(e));
            }
            rec_bytes = c->ended_row ? 0 : rec_bytes + piece;
            if (nl) c->line++;
            chunk += piece;
            n -= piece;
        }
    }
    if (rerr && !c->err) fail(c, TG_ERR_IO, "cannot read: %s", strerror(rerr));
    if (!c->err && csv_fini(p, on_field, on_row, c) != 0 && !c->err)
        fail(c, TG_ERR_FORMAT, "line %lld: a quoted field is not closed before the end of the "
             "file", (long long)c->line);
    if (!c->err && (!any || c->cols < 0))
        fail(c, TG_ERR_FORMAT, "the file is empty (no %s)", o->header ? "header" : "record");
    return c->err;
}

static tg_csv_table *read_csv(const char *who, const char *file, csv_src *src,
                              const tg_csv_opts *opts, bool dataset, int64_t *target)
{
    tg_csv_opts o = opts ? *opts : tg_csv_defaults();
    if (o.max_line == 0) o.max_line = tg_csv_defaults().max_line;
    pthread_once(&c_locale_once, make_c_locale);
    if (!c_locale) {
        tg_set_error(TG_ERR_NOMEM, "%s: cannot make the C locale", who);
        return NULL;
    }
    if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r' || o.delimiter == '\0') {
        tg_set_error(TG_ERR_INVALID, "%s: the delimiter cannot be a quote, a line break or NUL",
                     who);
        return NULL;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    csv_set_delim(&p, (unsigned char)o.delimiter);
    csv_ctx c = {.who = who, .file = file, .o = &o, .dataset = dataset, .line = 1, .cols = -1,
                 .in_header = o.header, .target = -1};
    int st = parse(&c, src, &p);
    csv_free(&p);
    tg_csv_table *t = NULL;
    if (st == TG_OK && !(t = calloc(1, sizeof *t)))
        st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    if (st != TG_OK) {
        for (int64_t i = 0; i < c.n_names; i++) free(c.names[i]);
        free(c.names);
        free(c.vals);
        return NULL;
    }
    t->rows = c.rows;
    t->cols = c.cols;
    t->names = c.names;
    t->values = c.vals;
    if (target) *target = c.target;
    return t;
}

static tg_csv_table *read_path(const char *who, const char *path, const tg_csv_opts *opts,
                               bool dataset, int64_t *target)
{
    if (!path) {
        tg_set_error(TG_ERR_INVALID, "%s: path is NULL", who);
        return NULL;
    }
    csv_src src = {.f = fopen(path, "rb"), .buf = malloc(CSV_CHUNK)};
    if (!src.f || !src.buf) {
        int err = errno;
        if (src.f) fclose(src.f);
        free(src.buf);
        if (!src.buf) tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        else tg_set_error(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(err));
        return NULL;
    }
    tg_csv_table *t = read_csv(who, path, &src, opts, dataset, target);
    fclose(src.f);
    free(src.buf);
    return t;
}

tg_csv_table *tg_csv_read(const char *path, const tg_csv_opts *opts)
{
    return read_path("tg_csv_read", path, opts, false, NULL);
}

tg_csv_table *tg_csv_read_mem(const void *buf, size_t len, const tg_csv_opts *opts)
{
    if (!buf && len) {
        tg_set_error(TG_ERR_INVALID, "tg_csv_read_mem: buf is NULL");
        return NULL;
    }
    csv_src src = {.mem = buf, .mem_len = len};
    return read_csv("tg_csv_read_mem", "<memory>", &src, opts, false, NULL);
}

tg_tensor_dataset *tg_csv_dataset(const char *path, const tg_csv_opts *opts)
{
    const char *who = "tg_csv_dataset";
    int64_t target = -1;
    tg_csv_opts o = opts ? *opts : tg_csv_defaults();
    tg_csv_table *t = read_path(who, path, &o, true, &target);
    if (!t) return NULL;
    int64_t feats = t->cols - (target >= 0);
    tg_tensor_dataset *d = NULL;
    if (feats < 1) {
        tg_set_error(TG_ERR_FORMAT, "%s: %s: no column is left for the features", who, path);
        tg_csv_free(t);
        return NULL;
    }
    size_t rows = t->rows > 0 ? (size_t)t->rows : 1;
    tg_real *x = malloc(rows * (size_t)feats * sizeof *x);
    tg_real *y = target >= 0 && !o.classify ? malloc(rows * sizeof *y) : NULL;
    int64_t *lab = target >= 0 && o.classify ? malloc(rows * sizeof *lab) : NULL;
    if (x && (target < 0 || y || lab)) {
        for (int64_t r = 0; r < t->rows; r++) {
            const double *v = t->values + (size_t)r * (size_t)t->cols;
            tg_real *xr = x + (size_t)r * (size_t)feats;
            for (int64_t j = 0, k = 0; j < t->cols; j++) {
                if (j == target) {
                    if (y) y[r] = (tg_real)v[j];
                    else lab[r] = (int64_t)v[j];
                } else {
                    xr[k++] = (tg_real)v[j];
                }
            }
        }
        tg_tensor_data src = {.n = t->rows, .x = x, .x_ndim = 1, .x_shape = {feats},
                              .y = y, .y_ndim = 0, .labels = lab};
        d = tg_tensor_dataset_new(&src);
    } else {
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    }
    free(x);
    free(y);
    free(lab);
    tg_csv_free(t);
    return d;
}
