/* JSON for safetensors headers: a strict check of the text before cJSON
   parses it, and strings escaped for the writer.

   The check follows RFC 8259's grammar exactly and refuses, besides
   anything malformed, what cJSON would let through changed: a string
   holding \u0000 (cJSON decodes it to a NUL byte, so the C string ends
   there: "fc1.weight\u0000evil" would load as fc1.weight) and a \u escape
   that is not hex (cJSON reads it as 0). It also refuses what cJSON would
   refuse for reasons of its own: a lone UTF-16 surrogate, nesting deeper
   than TG_JSON_MAX_DEPTH (cJSON stops at 1000; a safetensors header is 3
   deep), a number longer than 63 characters (cJSON's buffer for one). So
   once the text has passed, cJSON can fail only for want of memory, and
   its failure is reported as that. The raw bytes must already be UTF-8
   (tg_utf8_invalid_at). */
#include "io/io_internal.h"

#include <stdio.h>

#define TG_JSON_MAX_DEPTH 64
#define TG_JSON_MAX_NUMBER 63

typedef struct json {
    const unsigned char *start, *p, *end;
    const char *who, *file;
    int depth;
} json;

/* The message for a fault at p: "<who>: <file>: the header is not valid
   JSON (byte N: why)". Returns TG_ERR_FORMAT. */
static int bad(const json *j, const unsigned char *at, const char *why)
{
    return tg_set_error(TG_ERR_FORMAT, "%s: %s: the header is not valid JSON (byte %ld: %s)",
                        j->who, j->file, (long)(at - j->start), why);
}

static void skip_ws(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* The code unit of a \uXXXX escape at p (p[0] == '\\'), or -1 if the four
   hex digits are not there. */
static long hex4(const json *j, const unsigned char *p)
{
    if (j->end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
    long v = 0;
    for (int k = 2; k < 6; k++) {
        int h = hex(p[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string, from its opening quote to past its closing one. */
static int string(json *j)
{
    const unsigned char *open = j->p++;
    while (j->p < j->end) {
        unsigned c = *j->p;
        if (c == '"') {
            j->p++;
            return TG_OK;
        }
        if (c < 0x20) return bad(j, j->p, "a raw control character in a string (JSON escapes it)");
        if (c != '\\') {
            j->p++;
            continue;
        }
        if (j->end - j->p < 2) break;
        unsigned e = j->p[1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
            e == 't') {
            j->p += 2;
            continue;
        }
        if (e != 'u') return bad(j, j->p, "an unknown escape in a string");
        long u = hex4(j, j->p);
        if (u < 0) return bad(j, j->p, "\\u without four hex digits");
        if (u == 0)
            return tg_set_error(TG_ERR_FORMAT,
                                "%s: %s: a string of the header holds \\u0000 at byte %ld: a NUL "
                                "character would cut it short (names and values cannot hold one)",
                                j->who, j->file, (long)(j->p - j->start));
        if (u >= 0xDC00 && u <= 0xDFFF)
            return bad(j, j->p, "a \\u escape is a lone UTF-16 surrogate");
        if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate: a low one must follow */
            long lo = hex4(j, j->p + 6);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return bad(j, j->p, "a \\u escape is a lone UTF-16 surrogate");
            j->p += 6;
        }
        j->p += 6;
    }
    return bad(j, open, "a string that does not end");
}

static bool digit(const json *j) { return j->p < j->end && *j->p >= '0' && *j->p <= '9'; }

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(json *j)
{
    const unsigned char *at = j->p;
    if (*j->p == '-') j->p++;
    if (!digit(j)) return bad(j, at, "a malformed number");
    if (*j->p++ != '0')
        while (digit(j)) j->p++;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digit(j)) return bad(j, at, "a malformed number");
        while (digit(j)) j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!digit(j)) return bad(j, at, "a malformed number");
        while (digit(j)) j->p++;
    }
    if (j->p - at > TG_JSON_MAX_NUMBER) return bad(j, at, "a number of more than 63 characters");
    return TG_OK;
}

static int literal(json *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return bad(j, j->p, "an unexpected character");
    j->p += n;
    return TG_OK;
}

static int value(json *j);

/* An object or an array, from its opening bracket to past its closing one. */
static int container(json *j)
{
    bool object = *j->p == '{';
    unsigned char close = object ? '}' : ']';
    if (++j->depth > TG_JSON_MAX_DEPTH) return bad(j, j->p, "nested more than 64 deep");
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return TG_OK;
    }
    for (;;) {
        skip_ws(j);
        int st;
        if (object) {
            if (j->p >= j->end || *j->p != '"') return bad(j, j->p, "expected a name in quotes");
            if ((st = string(j)) != TG_OK) return st;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') return bad(j, j->p, "expected ':'");
            j->p++;
        }
        if ((st = value(j)) != TG_OK) return st;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return TG_OK;
        }
        return bad(j, j->p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int value(json *j)
{
    skip_ws(j);
    if (j->p >= j->end) return bad(j, j->p, "the text ends where a value should be");
    switch (*j->p) {
    case '{':
    case '[': return container(j);
    case '"': return string(j);
    case 't': return literal(j, "true");
    case 'f': return literal(j, "false");
    case 'n': return literal(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) return number(j);
        return bad(j, j->p, "an unexpected character");
    }
}

int tg_json_check(const char *who, const char *file, const char *text, size_t n)
{
    const unsigned char *t = (const unsigned char *)text;
    json j = {.start = t, .p = t, .end = t + n, .who = who, .file = file};
    int st = value(&j);
    if (st != TG_OK) return st;
    skip_ws(&j);
    if (j.p < j.end)
        return tg_set_error(TG_ERR_FORMAT,
                            "%s: %s: the header has bytes after its JSON object (only spaces may "
                            "pad it)",
                            who, file);
    return TG_OK;
}

size_t tg_json_string(char *out, const char *s)
{
    /* RFC 8259's escapes, and \u00XX for the other control characters;
       every other byte as it is (UTF-8 needs no escaping) */
    size_t k = 0;
#define PUT(c) (out ? (void)(out[k++] = (char)(c)) : (void)k++)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) {
            PUT(esc[0]);
            PUT(esc[1]);
        } else if (*p < 0x20) {
            static const char digits[] = "0123456789abcdef";
            PUT('\\'), PUT('u'), PUT('0'), PUT('0'), PUT(digits[*p >> 4]), PUT(digits[*p & 15]);
        } else {
            PUT(*p);
        }
    }
    PUT('"');
#undef PUT
    return k;
}
