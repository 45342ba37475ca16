/* The arena: a chunked bump allocator, 64-byte aligned. Every tensor and
   saved buffer of a step lives in it; a reset rewinds it in O(1) and keeps
   its chunks, so a loop of steps of the same shapes allocates nothing after
   the first. */
#include "core/internal.h"

#include <stdlib.h>

#define TG_CHUNK_MIN ((size_t)1 << 20) /* 1 MiB */

static size_t round_up(size_t n) { return (n + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1); }

static tg_chunk *chunk_new(tg_arena *a, size_t cap)
{
    tg_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = aligned_alloc(TG_ALIGN, cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    if (a->heap_allocs) *a->heap_allocs += 2;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    a->n_chunks++;
    a->reserved += cap;
    return c;
}

/* Bump within the current chunk; move to the next kept chunk that fits, or
   append a new one at least twice the previous size. */
void *tg_arena_alloc(tg_arena *a, size_t bytes)
{
    size_t need = round_up(bytes ? bytes : 1);
    if (need < bytes) return NULL; /* overflow */
    tg_chunk *c = a->cur;
    while (c && c->used + need > c->cap) {
        if (!c->next) break;
        c = c->next;
        c->used = 0;
        a->cur = c;
    }
    if (!c || c->used + need > c->cap) {
        size_t cap = a->cur ? a->cur->cap * 2 : TG_CHUNK_MIN;
        if (cap < need) cap = round_up(need);
        tg_chunk *n = chunk_new(a, cap);
        if (!n) return NULL;
        if (a->cur) {
            /* keep any later chunks (too small for this request) after it */
            n->next = a->cur->next;
            a->cur->next = n;
        } else {
            a->first = n;
        }
        a->cur = c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    return p;
}

void tg_arena_rewind(tg_arena *a)
{
    for (tg_chunk *c = a->first; c; c = c->next) c->used = 0;
    a->cur = a->first;
}

void tg_arena_release(tg_arena *a)
{
    tg_chunk *c = a->first;
    while (c) {
        tg_chunk *next = c->next;
        free(c->mem);
        free(c);
        c = next;
    }
    a->first = a->cur = NULL;
    a->n_chunks = a->reserved = 0;
}

size_t tg_arena_used(const tg_arena *a)
{
    size_t used = 0;
    for (tg_chunk *c = a->first; c; c = c->next) {
        used += c->used;
        if (c == a->cur) break;
    }
    return used;
}

tg_arena_mark tg_arena_get_mark(const tg_arena *a)
{
    return (tg_arena_mark){a->cur, a->cur ? a->cur->used : 0};
}

/* Back to m: what was allocated since is free again. Chunks after m's are
   emptied when the bump pointer reaches them (tg_arena_alloc). */
void tg_arena_rewind_to(tg_arena *a, tg_arena_mark m)
{
    if (!m.chunk) {
        tg_arena_rewind(a);
        return;
    }
    a->cur = m.chunk;
    m.chunk->used = m.used;
}
