/* The arena: a chunked bump allocator. Every tensor and saved buffer of a
   step lives in it; a reset rewinds it in O(1) and keeps its chunks, so a
   loop of steps of the same shapes allocates nothing after the first.

   Alignment: tg_arena_alloc (tg_tape_alloc's, public) starts every block
   on a 64-byte line (TG_ALIGN). The tape's own small blocks need less:
   tensor values and gradients (tg_arena_alloc_values) of 64 bytes or more
   still start on a line, a smaller block is aligned to its size rounded up
   to a power of two (16 at least), so that it never straddles two lines
   and a vector of its size loads from it aligned; tensor structs and op
   attributes (tg_arena_alloc_aligned, 16) are packed. Before, each took a
   line or more of its own: a scalar's value, its gradient and its op's
   attributes 64 bytes each, its tensor struct 192, and a tape of scalars
   was spread over three times the memory it needs. A tensor's values of
   16 bytes or fewer follow its struct in the struct's own block
   (tensor_alloc, src/core/tape.c), 16-byte aligned as above. */
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

/* Bump within the current chunk (to a multiple of align, a power of two
   up to TG_ALIGN); move to the next kept chunk that fits, or append a new
   one at least twice the previous size. */
static void *arena_alloc(tg_arena *a, size_t bytes, size_t align)
{
    size_t need = (bytes + align - 1) & ~(align - 1);
    if (need < bytes) return NULL; /* overflow */
    tg_chunk *c = a->cur;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0; /* within cap: cap % 64 == 0 */
    while (c && need > c->cap - at) { /* at <= cap: no overflow */
        if (!c->next) break;
        c = c->next;
        c->used = 0;
        a->cur = c;
        at = 0;
    }
    if (!c || need > c->cap - at) {
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
        at = 0;
    }
    void *p = c->mem + at;
    c->used = at + need;
    return p;
}

void *tg_arena_alloc(tg_arena *a, size_t bytes) { return arena_alloc(a, bytes ? bytes : 1, TG_ALIGN); }

void *tg_arena_alloc_values(tg_arena *a, size_t bytes)
{
    size_t align = 16;
    while (align < TG_ALIGN && align < bytes) align *= 2;
    return arena_alloc(a, bytes ? bytes : 1, align);
}

void *tg_arena_alloc_aligned(tg_arena *a, size_t bytes, size_t align)
{
    return arena_alloc(a, bytes ? bytes : 1, align);
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
