/* The wrappers of failalloc.h (see there). The linker's --wrap=malloc
   makes every call to malloc in the program's own objects a call to
   __wrap_malloc, and __real_malloc the C library's; the C library and the
   shared libraries keep their own calls. */
#include "failalloc.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void __wrap_free(void *p);

/* The live allocations made while armed: an open-addressing table of
   pointer and size (a freed slot keeps a tombstone). The library's own
   threads allocate too, so everything is under one lock. */
enum { SLOTS = 1 << 16 };
#define TOMB ((void *)1)
static struct {
    void *p;
    size_t n;
} table[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool armed, failed;
static long counter, fail_at;
static size_t live, live_bytes, peak_bytes;

static size_t slot_of(const void *p) { return ((uintptr_t)p >> 4) * 2654435761u % SLOTS; }

static void remember(void *p, size_t n)
{
    for (size_t i = slot_of(p), k = 0; k < SLOTS; i = (i + 1) % SLOTS, k++)
        if (!table[i].p || table[i].p == TOMB) {
            table[i].p = p;
            table[i].n = n;
            live++;
            live_bytes += n;
            if (live_bytes > peak_bytes) peak_bytes = live_bytes;
            return;
        }
    fprintf(stderr, "failalloc: more than %d live allocations\n", SLOTS);
    abort();
}

/* Forgets p if it is in the table; its size, or 0. */
static size_t forget(const void *p)
{
    for (size_t i = slot_of(p), k = 0; k < SLOTS && table[i].p; i = (i + 1) % SLOTS, k++)
        if (table[i].p == p) {
            size_t n = table[i].n;
            table[i].p = TOMB;
            live--;
            live_bytes -= n;
            return n;
        }
    return 0;
}

/* Whether the allocation being made now must fail (with the lock). */
static bool must_fail(void)
{
    if (!armed) return false;
    if (counter++ != fail_at) return false;
    failed = true;
    return true;
}

void fa_arm(long at)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++) table[i].p = NULL;
    armed = true;
    failed = false;
    counter = 0;
    fail_at = at;
    live = live_bytes = peak_bytes = 0;
    pthread_mutex_unlock(&lock);
}

long fa_disarm(void)
{
    pthread_mutex_lock(&lock);
    armed = false;
    long n = counter;
    pthread_mutex_unlock(&lock);
    return n;
}

bool fa_failed(void) { return failed; }
size_t fa_live(void) { return live; }
size_t fa_peak_bytes(void) { return peak_bytes; }

void *__wrap_malloc(size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = must_fail() ? NULL : __real_malloc(n);
    if (p && armed) remember(p, n);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_calloc(size_t k, size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = must_fail() ? NULL : __real_calloc(k, n);
    if (p && armed) remember(p, k * n);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = must_fail() ? NULL : __real_aligned_alloc(a, n);
    if (p && armed) remember(p, n);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = must_fail() ? NULL : __real_realloc(old, n);
    if (p) {
        /* a block made before arming stays untracked, grown or not */
        bool tracked = old && forget(old) > 0;
        if (armed || tracked) remember(p, n);
    }
    pthread_mutex_unlock(&lock);
    return p;
}

void __wrap_free(void *p)
{
    if (!p) return;
    pthread_mutex_lock(&lock);
    forget(p);
    __real_free(p);
    pthread_mutex_unlock(&lock);
}

static void *cjson_malloc(size_t n) { return __wrap_malloc(n); }
static void cjson_free(void *p) { __wrap_free(p); }

void fa_hook_cjson(void)
{
    cJSON_Hooks h = {cjson_malloc, cjson_free};
    cJSON_InitHooks(&h);
}
