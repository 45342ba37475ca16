/* libFuzzer target: the IDX reader (raw and gzip) and the dataset loaders
   on arbitrary bytes. Each input is read from memory (tg_idx_load_mem) and
   from a file (tg_idx_load: the same outcome), then used as the images of
   a dataset, with labels made to match their count, and as the labels,
   with images made to match: through tg_dataset_load_idx,
   tg_dataset_open_idx, tg_mnist_load and tg_mnist_open, each dataset
   batched for one epoch. Whatever the input, every call must return a
   consistent result or NULL with a message, without a crash, a leak or
   undefined behaviour; a dataset must have values in each sample and give
   each sample once per epoch. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <tapegrad.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t esize_of(int type)
{
    return type == TG_IDX_I16 ? 2 : (type == TG_IDX_I32 || type == TG_IDX_F32) ? 4
         : type == TG_IDX_F64 ? 8 : 1;
}

/* An array's invariants: the size is the product of the dimensions (0 if
   any is 0; the reader refuses products over 2^40, so no overflow once 0
   is ruled out); every byte is read, so ASan checks the allocation. */
static void check_idx(const tg_idx *x)
{
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] == 0) n = 0;
    for (int i = 0; i < x->ndim && n; i++) n *= x->shape[i];
    if (x->ndim < 1 || x->ndim > TG_MAX_DIMS || n != x->size || !x->data) abort();
    volatile unsigned char sum = 0;
    for (size_t i = 0; i < (size_t)x->size * esize_of(x->type); i++)
        sum ^= ((unsigned char *)x->data)[i];
    (void)sum;
}

/* One epoch of d (NULL: the call that made it must have said why), in
   batches of 3: every sample once, every value in [0, 1], every label
   below the class count. */
static void epoch(tg_dataset *d)
{
    if (!d) {
        if (!*tg_last_error()) abort();
        return;
    }
    int64_t n = tg_dataset_len(d), f = tg_dataset_features(d);
    if (n < 0 || f < 1) abort(); /* a sample without values would divide by 0 */
    tg_batch_opts o = tg_batch_defaults();
    o.batch_size = 3;
    if (tg_dataset_batching(d, &o) == TG_OK) {
        tg_batch b;
        int64_t seen = 0;
        while (tg_dataset_next(d, &b)) {
            if (b.n < 1 || b.n > 3 || b.features != f) abort();
            for (int64_t i = 0; i < b.n * f; i++)
                if (!(b.x[i] >= 0 && b.x[i] <= 1)) abort();
            for (int64_t i = 0; i < b.n; i++)
                if (b.y[i] < 0 || b.y[i] >= tg_dataset_classes(d)) abort();
            seen += b.n;
        }
        if (tg_dataset_error(d) == TG_OK && seen != n) abort();
    } else if (!*tg_last_error()) {
        abort();
    }
    tg_dataset_free(d);
}

/* An IDX header of type uint8 and the given dims, followed by `body`
   bytes taken from the input (repeated; zeros if it is empty). */
static unsigned char *u8_file(int ndim, const uint32_t *dims, const uint8_t *src, size_t src_n,
                              size_t *len)
{
    size_t body = 1;
    for (int i = 0; i < ndim; i++) body *= dims[i];
    unsigned char *b = malloc(4 + 4 * (size_t)ndim + body + 1);
    if (!b) abort();
    b[0] = 0, b[1] = 0, b[2] = 0x08, b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    unsigned char *p = b + 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < body; i++) p[i] = src_n ? src[i % src_n] : 0;
    *len = 4 + 4 * (size_t)ndim + body;
    return b;
}

/* The dataset loaders on a pair of files, images and labels, which lie in
   the scratch directory under the standard names of the training (train)
   or test set, so that tg_mnist_load and tg_mnist_open find them. */
static void datasets(const char *images, const char *labels, bool train)
{
    epoch(tg_dataset_load_idx(images, labels));
    epoch(tg_dataset_open_idx(images, labels));
    epoch(tg_mnist_load(fuzz_scratch(), train));
    epoch(tg_mnist_open(fuzz_scratch(), train));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* from memory */
    tg_idx *x = tg_idx_load_mem(data, size);
    if (x) check_idx(x);
    else if (!*tg_last_error()) abort(); /* a failure always says why */

    /* from a file: the same outcome */
    const char *images = fuzz_write("train-images-idx3-ubyte", data, size);
    tg_idx *y = tg_idx_load(images);
    if (!x != !y) abort();
    if (y) {
        check_idx(y);
        if (y->type != x->type || y->ndim != x->ndim || y->size != x->size ||
            memcmp(y->shape, x->shape, sizeof x->shape) ||
            memcmp(y->data, x->data, (size_t)x->size * esize_of(x->type)))
            abort();
    }
    tg_idx_free(y);

    /* the input as images: labels for as many samples as the first
       dimension says (at most 4096; more or fewer must be refused) */
    uint32_t count = 0;
    if (size >= 8) count = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
                           (uint32_t)data[6] << 8 | data[7];
    if (count > 4096) count = 4096;
    size_t len;
    unsigned char *lb = u8_file(1, &count, data, size, &len);
    const char *labels = fuzz_write("train-labels-idx1-ubyte", lb, len);
    free(lb);
    datasets(images, labels, true);

    /* the input as labels: images of 2 x 2 pixels, as many as it has */
    if (x && x->type == TG_IDX_U8 && x->ndim == 1) {
        uint32_t dims[3] = {(uint32_t)x->shape[0], 2, 2};
        unsigned char *im = u8_file(3, dims, data, size, &len);
        const char *im_path = fuzz_write("t10k-images-idx3-ubyte", im, len);
        free(im);
        const char *lb_path = fuzz_write("t10k-labels-idx1-ubyte", data, size);
        datasets(im_path, lb_path, false);
    }

    /* an image array from memory makes a dataset too: batch it once */
    if (x && x->type == TG_IDX_U8 && x->ndim >= 2 && x->shape[0] > 0 && x->size > 0 &&
        x->size <= (1 << 20)) {
        uint8_t *lab = calloc((size_t)x->shape[0], 1);
        epoch(lab ? tg_dataset_new(x->data, lab, x->shape[0], x->size / x->shape[0]) : NULL);
        free(lab);
    }
    tg_idx_free(x);
    return 0;
}
