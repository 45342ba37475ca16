/* libFuzzer target: safetensors loading and saving on arbitrary bytes.
   - The input is loaded from memory and from a file, into an empty
     tg_params (creating parameters) and into a fixed model (matching names
     and shapes): the file gives the memory's outcome; a failed load must
     say why and leave the model's values exactly as they were (nothing
     half-loaded).
   - What loaded is saved, as F32 and as F64, and loaded back: the same
     names in the same order, the same shapes and values (F32: the values
     rounded to float). A save must never write a file its load refuses.
   - The input also names parameters (split at its '|' bytes): the names
     tg_params_add accepts must come back from a file byte for byte.
   Nothing may crash, leak or hit undefined behaviour. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <tapegrad.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether two values are the same, NaN included. */
static bool same_value(tg_real a, tg_real b) { return a == b || (isnan(a) && isnan(b)); }

/* p saved as dtype and loaded back into an empty registry equals p. */
static void round_trip(const tg_params *p, tg_dtype dtype)
{
    const char *path = fuzz_path("round.safetensors");
    int st = tg_params_save(p, path, dtype);
    if (st != TG_OK) {
        if (!*tg_last_error()) abort();
        return; /* refused (a parameter too large for the header?), with a message */
    }
    tg_params *q = tg_params_new();
    if (!q) return;
    st = tg_params_load(q, path);
    if (st == TG_ERR_NOMEM) {
        tg_params_free(q);
        return;
    }
    /* a save must not write what its load refuses */
    if (st != TG_OK || tg_params_count(q) != tg_params_count(p)) abort();
    for (size_t i = 0; i < tg_params_count(p); i++) {
        const tg_tensor *a = tg_params_at(p, i), *b = tg_params_at(q, i);
        if (strcmp(a->name, b->name) || a->ndim != b->ndim || a->size != b->size ||
            memcmp(a->shape, b->shape, sizeof a->shape))
            abort();
        for (int64_t k = 0; k < a->size; k++) {
            tg_real want = dtype == TG_F32 ? (tg_real)(float)a->data[k] : a->data[k];
            if (!same_value(want, b->data[k])) abort();
        }
    }
    /* and into itself, matching the names and shapes */
    if (tg_params_load(q, path) != TG_OK && !*tg_last_error()) abort();
    tg_params_free(q);
}

/* The model of tests/golden/io_torch_model_*.safetensors, values 0, 1, ... */
static tg_params *model(void)
{
    tg_params *p = tg_params_new();
    if (!p) return NULL;
    tg_params_add(p, "fc1.weight", TG_SHAPE(5, 6));
    tg_params_add(p, "fc1.bias", TG_SHAPE(5));
    tg_params_add(p, "fc2.weight", TG_SHAPE(3, 5));
    tg_params_add(p, "fc2.bias", TG_SHAPE(3));
    if (tg_params_count(p) != 4) {
        tg_params_free(p);
        return NULL;
    }
    for (size_t i = 0; i < tg_params_block_len(p); i++) tg_params_data(p)[i] = (tg_real)i;
    return p;
}

/* Loads the input into the model, from memory or from the file: a failure
   leaves it as it was. Returns the status. */
static int into_model(const uint8_t *data, size_t size, const char *path)
{
    tg_params *p = model();
    if (!p) return TG_ERR_NOMEM;
    size_t len = tg_params_block_len(p);
    tg_real *before = malloc(len * sizeof *before);
    int st = TG_ERR_NOMEM;
    if (before) {
        memcpy(before, tg_params_data(p), len * sizeof *before);
        st = path ? tg_params_load(p, path) : tg_params_load_mem(p, data, size);
        if (st != TG_OK) {
            if (!*tg_last_error()) abort();
            if (memcmp(before, tg_params_data(p), len * sizeof *before) != 0) abort();
        }
        if (tg_params_count(p) != 4) abort();
    }
    free(before);
    tg_params_free(p);
    return st;
}

/* Parameters named by the input's pieces between '|' bytes, of shapes
   [1], [2], [3], [1]...: those tg_params_add accepts come back from a file. */
static void names_round_trip(const uint8_t *data, size_t size)
{
    tg_params *p = tg_params_new();
    if (!p) return;
    char *name = malloc(size + 1);
    size_t start = 0;
    for (size_t i = 0; name && i <= size && tg_params_count(p) < 32; i++) {
        if (i < size && data[i] != '|') continue;
        memcpy(name, data + start, i - start);
        name[i - start] = 0;
        int64_t n = (int64_t)(tg_params_count(p) % 3) + 1;
        tg_tensor *x = tg_params_add(p, name, TG_SHAPE(n));
        if (x)
            for (int64_t k = 0; k < n; k++) x->data[k] = (tg_real)(k + 1);
        else if (!*tg_last_error())
            abort();
        start = i + 1;
    }
    free(name);
    round_trip(p, TG_F64);
    tg_params_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("input.safetensors", data, size);

    /* 1: into an empty registry, from memory and from the file */
    tg_params *p = tg_params_new();
    if (!p) return 0;
    int st = tg_params_load_mem(p, data, size);
    if (st != TG_OK && !*tg_last_error()) abort();
    if (st != TG_OK && tg_params_count(p) != 0) abort();
    tg_params *f = tg_params_new();
    if (f) {
        int fst = tg_params_load(f, path);
        if (fst != st && fst != TG_ERR_NOMEM && st != TG_ERR_NOMEM) abort();
        if (fst == TG_OK && st == TG_OK) {
            if (tg_params_count(f) != tg_params_count(p)) abort();
            for (size_t i = 0; i < tg_params_count(p); i++) {
                const tg_tensor *a = tg_params_at(p, i), *b = tg_params_at(f, i);
                if (strcmp(a->name, b->name) || a->size != b->size) abort();
                for (int64_t k = 0; k < a->size; k++)
                    if (!same_value(a->data[k], b->data[k])) abort();
            }
        }
        tg_params_free(f);
    }
    /* 2: what loaded goes back out and in again */
    if (st == TG_OK) {
        round_trip(p, TG_F32);
        round_trip(p, TG_F64);
    }
    tg_params_free(p);

    /* 3: into the model, from memory and from the file */
    int a = into_model(data, size, NULL), b = into_model(data, size, path);
    if (a != b && a != TG_ERR_NOMEM && b != TG_ERR_NOMEM) abort();

    /* 4: names from the input */
    names_round_trip(data, size);
    return 0;
}
