/* Status strings and the per-thread last error of non-op calls. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[TG_MSG_LEN];

const char *tg_status_str(int status)
{
    switch (status) {
    case TG_OK: return "ok";
    case TG_ERR_INVALID: return "invalid argument";
    case TG_ERR_SHAPE: return "shape mismatch";
    case TG_ERR_NOMEM: return "out of memory";
    case TG_ERR_IO: return "input/output error";
    case TG_ERR_FORMAT: return "bad file format";
    case TG_ERR_STATE: return "invalid state";
    case TG_ERR_NUMERIC: return "NaN or Inf found";
    default: return "unknown status";
    }
}

const char *tg_last_error(void) { return last_error; }

void tg_warn_env(const char *var, const char *value, const char *using, const char *choices)
{
    /* the one place the library writes to stderr on its own: a setting the
       user made and the library cannot follow must not pass in silence */
    fprintf(stderr, "tapegrad: %s=%s is not understood (%s); using %s\n", var, value, choices,
            using);
}

int tg_set_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

int tg_write_status(FILE *f, const char *fn)
{
    if (fflush(f) != 0 || ferror(f)) return tg_set_error(TG_ERR_IO, "%s: write error", fn);
    return TG_OK;
}

void *tg_no_tape(const char *fn)
{
    /* the public name: __func__ of the double library says tg_f64_... */
    if (strncmp(fn, "tg_", 3) == 0) fn += 3;
    if (strncmp(fn, "f64_", 4) == 0) fn += 4;
    tg_set_error(TG_ERR_INVALID, "tg_%s: the tape is NULL", fn);
    return NULL;
}

#define TG_STR2(x) #x
#define TG_STR(x) TG_STR2(x)

const char *tg_version(void)
{
    return TG_STR(TG_VERSION_MAJOR) "." TG_STR(TG_VERSION_MINOR) "." TG_STR(TG_VERSION_PATCH);
}

const char *tg_real_name(void)
{
#ifdef TG_DOUBLE
    return "double";
#else
    return "float";
#endif
}
