/* libFuzzer target: the safetensors reader on arbitrary bytes, both ways it
   can load: into an empty tg_params (creating parameters) and into a fixed
   model (matching names and shapes). A failed load must leave the model's
   values exactly as they were (nothing half-loaded) and say why; nothing
   may crash, leak or hit undefined behaviour. */
#include <tapegrad.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1: into an empty registry */
    tg_params *p = tg_params_new();
    if (!p) return 0;
    int st = tg_params_load_mem(p, data, size);
    if (st != TG_OK && !*tg_last_error()) abort();
    if (st != TG_OK && st != TG_ERR_NOMEM && tg_params_count(p) != 0) abort();
    tg_params_free(p);

    /* 2: into the model of tests/golden/io_torch_model_*.safetensors */
    p = tg_params_new();
    if (!p) return 0;
    tg_params_add(p, "fc1.weight", TG_SHAPE(5, 6));
    tg_params_add(p, "fc1.bias", TG_SHAPE(5));
    tg_params_add(p, "fc2.weight", TG_SHAPE(3, 5));
    tg_params_add(p, "fc2.bias", TG_SHAPE(3));
    size_t len = tg_params_block_len(p);
    tg_real *before = malloc(len * sizeof *before);
    if (before && tg_params_count(p) == 4) {
        for (size_t i = 0; i < len; i++) tg_params_data(p)[i] = (tg_real)i;
        memcpy(before, tg_params_data(p), len * sizeof *before);
        st = tg_params_load_mem(p, data, size);
        if (st != TG_OK) {
            if (!*tg_last_error()) abort();
            if (memcmp(before, tg_params_data(p), len * sizeof *before) != 0) abort();
        }
        if (tg_params_count(p) != 4) abort();
    }
    free(before);
    tg_params_free(p);
    return 0;
}
