/* libFuzzer target: the CSV reader and the CSV dataset on arbitrary bytes.
   Each input is read from memory (tg_csv_read_mem) with and without a
   header and with ',' and ';' as the delimiter, then from a file
   (tg_csv_read: the same outcome) and as a dataset (tg_csv_dataset, as
   regression and as classification), batched for one epoch. Whatever the
   input, every call must return a consistent result or NULL with a
   message, without a crash, a leak or undefined behaviour. max_line is
   small (256 bytes) so that the limit is reached often. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <tapegrad.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A table's invariants: a shape that fits its values, every value finite
   (the reader refuses others), every name a string; all bytes read. */
static void check_table(const tg_csv_table *t, bool header)
{
    if (t->rows < 0 || t->cols < 1 || (t->rows && !t->values) || (header != (t->names != NULL)))
        abort();
    for (int64_t i = 0; i < t->rows * t->cols; i++)
        if (!isfinite(t->values[i])) abort();
    for (int64_t j = 0; header && j < t->cols; j++)
        if (!t->names[j] || strlen(t->names[j]) > 256) abort();
}

static tg_csv_table *read_mem(const uint8_t *data, size_t size, char delim, bool header)
{
    tg_csv_opts o = tg_csv_defaults();
    o.delimiter = delim;
    o.header = header;
    o.max_line = 256;
    tg_csv_table *t = tg_csv_read_mem(data, size, &o);
    if (t) check_table(t, header);
    else if (!*tg_last_error()) abort(); /* a failure always says why */
    return t;
}

/* One epoch of a dataset in batches of 2: every sample once, labels in
   range. */
static void epoch(tg_tensor_dataset *d)
{
    if (!d) {
        if (!*tg_last_error()) abort();
        return;
    }
    int64_t n = tg_tensor_dataset_len(d), seen = 0;
    int classes = tg_tensor_dataset_classes(d);
    tg_batch_opts o = tg_batch_defaults();
    o.batch_size = 2;
    if (tg_tensor_dataset_batching(d, &o) == TG_OK) {
        tg_tensor_batch b;
        while (tg_tensor_dataset_next(d, &b)) {
            if (b.n < 1 || b.n > 2) abort();
            for (int64_t i = 0; b.labels && i < b.n; i++)
                if (b.labels[i] < 0 || b.labels[i] >= classes) abort();
            seen += b.n;
        }
        if (seen != n) abort();
    } else if (!*tg_last_error()) {
        abort();
    }
    tg_tensor_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_csv_table *a = read_mem(data, size, ',', true);
    tg_csv_free(read_mem(data, size, ',', false));
    tg_csv_free(read_mem(data, size, ';', true));

    /* from a file: the same outcome as from memory */
    const char *path = fuzz_write("data.csv", data, size);
    tg_csv_opts o = tg_csv_defaults();
    o.max_line = 256;
    tg_csv_table *b = tg_csv_read(path, &o);
    if (!a != !b) abort();
    if (a && (a->rows != b->rows || a->cols != b->cols ||
              (a->rows && memcmp(a->values, b->values,
                                 (size_t)(a->rows * a->cols) * sizeof *a->values))))
        abort();
    tg_csv_free(a);
    tg_csv_free(b);

    /* as datasets: regression on the last column, classes in the first */
    epoch(tg_csv_dataset(path, &o));
    o.classify = true;
    o.target_index = 0;
    epoch(tg_csv_dataset(path, &o));
    return 0;
}
