/* libFuzzer target: the IDX reader (raw and gzip) on arbitrary bytes.
   Whatever the input, tg_idx_load_mem must return NULL with a message or a
   consistent array, without a crash, a leak or undefined behaviour. */
#include <tapegrad.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_idx *x = tg_idx_load_mem(data, size);
    if (!x) {
        if (!*tg_last_error()) abort(); /* a failure always says why */
        return 0;
    }
    /* the size is the product of the dimensions (0 if any is 0; the
       reader refuses products over 2^40, so no overflow once 0 is ruled out) */
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] == 0) n = 0;
    for (int i = 0; i < x->ndim && n; i++) n *= x->shape[i];
    if (x->ndim < 1 || x->ndim > TG_MAX_DIMS || n != x->size || !x->data) abort();
    /* touch every byte so ASan checks the allocation's size */
    size_t esize = x->type == TG_IDX_I16 ? 2 : (x->type == TG_IDX_I32 || x->type == TG_IDX_F32) ? 4
                 : x->type == TG_IDX_F64 ? 8 : 1;
    volatile unsigned char sum = 0;
    for (size_t i = 0; i < (size_t)x->size * esize; i++) sum ^= ((unsigned char *)x->data)[i];
    (void)sum;
    /* an image file makes a dataset: batch it once */
    if (x->type == TG_IDX_U8 && x->ndim >= 2 && x->shape[0] > 0 && x->size > 0 &&
        x->size <= (1 << 20)) {
        uint8_t *labels = calloc((size_t)x->shape[0], 1);
        tg_dataset *d = labels ? tg_dataset_new(x->data, labels, x->shape[0], x->size / x->shape[0])
                               : NULL;
        tg_batch b;
        if (d) while (tg_dataset_next(d, &b)) {}
        tg_dataset_free(d);
        free(labels);
    }
    tg_idx_free(x);
    return 0;
}
