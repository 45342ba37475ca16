/* "key=value key=value ..." strings, the metadata of checkpoints
   (checkpoint.c, and sched.c for schedulers): integers in decimal,
   doubles as the 16 hex digits of their IEEE-754 bits (exact, and the
   same in every locale), lists comma-separated. */
#include "nn/nn_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Appends n bytes (a space first if the string is not empty and sep). */
void tg_kv_append(tg_kv *b, const char *text, size_t n, bool sep)
{
    if (b->oom) return;
    size_t need = b->len + n + 2;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    if (sep && b->len) b->s[b->len++] = ' ';
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void kv_key(tg_kv *b, const char *key)
{
    tg_kv_append(b, key, strlen(key), true);
    tg_kv_append(b, "=", 1, false);
}

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void tg_kv_str(tg_kv *b, const char *key, const char *v)
{
    kv_key(b, key);
    tg_kv_append(b, v, strlen(v), false);
}

/* A list of n integers (kind 0: int64, 1: uint64) or doubles (kind 2, as
   their bits in hex). */
static void put_list(tg_kv *b, const char *key, const void *v, size_t n, int kind)
{
    kv_key(b, key);
    for (size_t i = 0; i < n; i++) {
        char num[32];
        int k = kind == 0   ? snprintf(num, sizeof num, "%" PRId64, ((const int64_t *)v)[i])
                : kind == 1 ? snprintf(num, sizeof num, "%" PRIu64, ((const uint64_t *)v)[i])
                            : snprintf(num, sizeof num, "%016" PRIx64,
                                       bits_of(((const double *)v)[i]));
        if (i) tg_kv_append(b, ",", 1, false);
        tg_kv_append(b, num, (size_t)k, false);
    }
}

void tg_kv_u64s(tg_kv *b, const char *key, const uint64_t *v, size_t n)
{
    put_list(b, key, v, n, 1);
}

void tg_kv_ints(tg_kv *b, const char *key, const int64_t *v, size_t n)
{
    put_list(b, key, v, n, 0);
}

void tg_kv_nums(tg_kv *b, const char *key, const double *v, size_t n)
{
    put_list(b, key, v, n, 2);
}

void tg_kv_int(tg_kv *b, const char *key, int64_t v) { tg_kv_ints(b, key, &v, 1); }
void tg_kv_num(tg_kv *b, const char *key, double v) { tg_kv_nums(b, key, &v, 1); }

bool tg_kv_value(const char *s, const char *key, const char **v, size_t *len)
{
    size_t k = strlen(key);
    for (const char *p = s; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > k && strncmp(p, key, k) == 0 && p[k] == '=') {
            *v = p + k + 1;
            *len = n - k - 1;
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

bool tg_kv_get_str(const char *s, const char *key, char *buf, size_t len)
{
    const char *v;
    size_t n;
    if (!tg_kv_value(s, key, &v, &n) || n >= len) return false;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return true;
}

/* n integers (base 10 signed, or 16 unsigned for bits) of a list. */
static bool get_list(const char *s, const char *key, void *out, size_t n, int kind)
{
    const char *v;
    size_t len;
    if (!tg_kv_value(s, key, &v, &len)) return false;
    const char *p = v, *end = v + len;
    if (n == 0) return len == 0;
    for (size_t i = 0; i < n; i++) {
        char num[40];
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t k = c ? (size_t)(c - p) : (size_t)(end - p);
        if (k == 0 || k >= sizeof num || (i + 1 < n) != (c != NULL)) return false;
        memcpy(num, p, k);
        num[k] = '\0';
        char *e;
        errno = 0;
        if (kind == 0) {
            ((int64_t *)out)[i] = strtoll(num, &e, 10);
        } else {
            uint64_t u = strtoull(num, &e, kind == 1 ? 10 : 16);
            if (kind == 1) ((uint64_t *)out)[i] = u;
            else ((double *)out)[i] = double_of(u);
        }
        if (*e || errno || num[0] == '+' || (kind != 0 && num[0] == '-')) return false;
        p = c ? c + 1 : end;
    }
    return true;
}

bool tg_kv_get_ints(const char *s, const char *key, int64_t *v, size_t n)
{
    return get_list(s, key, v, n, 0);
}
bool tg_kv_get_u64s(const char *s, const char *key, uint64_t *v, size_t n)
{
    return get_list(s, key, v, n, 1);
}
bool tg_kv_get_nums(const char *s, const char *key, double *v, size_t n)
{
    return get_list(s, key, v, n, 2);
}
bool tg_kv_get_int(const char *s, const char *key, int64_t *v) { return get_list(s, key, v, 1, 0); }
bool tg_kv_get_num(const char *s, const char *key, double *v) { return get_list(s, key, v, 1, 2); }

