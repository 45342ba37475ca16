/** @file tapegrad/io.h — data in and weights out: IDX files (MNIST's format), image
 * datasets with mini-batching, datasets of any float data and CSV files,
 * and safetensors files that PyTorch reads and writes.
 *
 * Part of <tapegrad.h>; include that. A file that is truncated, corrupt or
 * of the wrong shape is refused with a message naming it, and nothing is
 * half-loaded. docs/data.md has the formats and the limits.
 */
#ifndef TAPEGRAD_IO_H
#define TAPEGRAD_IO_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- how much a loader reads

   Every loader (tg_idx_load, the dataset loaders, tg_params_load and their
   _mem forms) reads a file's header first, then exactly the data the
   header declares, then one byte more to see that nothing follows: a
   stream that goes on (a FIFO, /dev/zero) is refused, never read to its
   end. Its buffers grow as the bytes arrive, so a header that claims more
   than the file holds costs nothing. And none reads more than a limit,
   process-wide: a regular file, a buffer or a stream larger than it, a
   gzip file that inflates to more, or a header that declares more (the
   dimensions of an IDX file, the tensors of a safetensors file) is
   refused with TG_ERR_FORMAT and a message naming the limit. Gzip can
   inflate about 1000-fold: a 1 MB .gz may hold a 1 GB file, which the
   limit lets you refuse. Images that tg_dataset_open_idx leaves in their
   file are not held in memory, and are not limited. */

/** The default limit: 1 GiB, over any MNIST-family file (EMNIST's largest,
   550 MB) and a model of 250 million float parameters. */
#define TG_IO_DEFAULT_MAX_BYTES ((uint64_t)1 << 30)
/** Sets the limit, in bytes, for every thread (0: back to the default);
   returns the one it replaces. Raise it for larger files; lower it before
   loading files you do not trust. */
TG_API uint64_t tg_io_set_max_bytes(uint64_t bytes);
/** The limit in force. */
TG_API uint64_t tg_io_max_bytes(void);

/* ---- IDX files: MNIST's own format (docs/data.md).
   A file is the magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32
   dimensions, then the elements, big-endian, row-major. */

/** IDX element types: the third byte of the magic. */
enum {
    TG_IDX_U8 = 0x08,  /**< uint8_t */
    TG_IDX_I8 = 0x09,  /**< int8_t */
    TG_IDX_I16 = 0x0B, /**< int16_t */
    TG_IDX_I32 = 0x0C, /**< int32_t */
    TG_IDX_F32 = 0x0D, /**< float */
    TG_IDX_F64 = 0x0E  /**< double */
};

/** An IDX array in memory: `size` elements of `type`, converted to the host's
   byte order, in `data` (uint8_t *, int16_t *, float *, ... by type). */
typedef struct tg_idx {
    int type;                   /**< TG_IDX_U8, ... */
    int ndim;                   /**< 1..TG_MAX_DIMS */
    int64_t shape[TG_MAX_DIMS]; /**< shape[0..ndim-1] */
    int64_t size;               /**< product of the shape (may be 0) */
    void *data;                 /**< uint8_t *, int16_t *, float *, ... by type */
} tg_idx;

/** Reads an IDX file, raw or gzip-compressed (told apart by the first two
   bytes, not by the name). Checks the magic, the type, the dimensions (at most
   TG_MAX_DIMS, no overflow) and that the data is exactly as long as they say
   (no missing, no extra bytes; for gzip, a complete stream with a good CRC).
   Returns a new array (free with tg_idx_free), or NULL with tg_last_error()
   naming the file and what is wrong. */
TG_API tg_idx *tg_idx_load(const char *path);
/** The same from `len` bytes in memory (raw or gzip); buf is not kept. */
TG_API tg_idx *tg_idx_load_mem(const void *buf, size_t len);
/** Frees x and its data. Accepts NULL. */
TG_API void tg_idx_free(tg_idx *x);

/* ---- datasets of uint8 images with class labels (MNIST, Fashion-MNIST)

   Images stay uint8 in memory; each mini-batch is converted on the fly into
   buffers the dataset owns (allocated once: no allocation per batch):
       x = (pixel / 255 − mean) / std           as tg_real, [n, features]
       y = label                                as int64_t (for tg_cross_entropy)
   The standard MNIST normalisation: */
#define TG_MNIST_MEAN 0.1307 /**< the mean of MNIST's pixel/255 */
#define TG_MNIST_STD 0.3081  /**< and their standard deviation */

/** A data set of uint8 images with class labels, in memory or streamed from its
    file (opaque). */
typedef struct tg_dataset tg_dataset;

/** Loads an image file ([N, rows, cols] or [N, features], type uint8) and a
   label file ([N], uint8) in IDX format, raw or .gz. NULL on failure
   (tg_last_error names the file: a bad file, or counts that differ).
   A sample must hold at least one value: images of shape [N, 0] or [0, 0]
   are refused. N may be 0: the dataset is empty, and every epoch of it
   has no batch (the same for every loader below). */
TG_API tg_dataset *tg_dataset_load_idx(const char *images_path, const char *labels_path);
/** The training (train = true, 60,000 in MNIST) or test set found in `dir`
   under the standard names train-images-idx3-ubyte, train-labels-idx1-ubyte,
   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or with ".gz"
   (".gz" is tried first). Works for MNIST, Fashion-MNIST and the bundled
   data/mnist. NULL on failure, with tg_last_error naming what is missing. */
TG_API tg_dataset *tg_mnist_load(const char *dir, bool train);
/** The same data left in the file: opens a raw (uncompressed) IDX image file
   and reads each batch's samples from it when tg_dataset_next asks for
   them, instead of loading every image into memory. The labels (1 byte per
   sample, raw or .gz) are loaded. Batches are the same, bit for bit, as
   with tg_dataset_load_idx; the process holds eight batches of pixels
   instead of the whole set (47 MB for Fashion-MNIST). Reading costs one
   pread per run of consecutive samples (64 for a shuffled batch of 64),
   made on one thread by a thread of the dataset up to eight batches ahead
   of the caller, and on more (tg_set_num_threads) by the library's worker
   a batch ahead, with the conversion (see tg_batch); the first batch of an
   epoch is read on the spot (docs/data.md). In a child of fork() the
   dataset goes on without the parent's threads: a batch the parent's
   worker was reading is read again, and the child reads the rest of the
   epoch with workers of its own, or by itself and with a reader thread of
   its own from the next epoch. The file stays open until tg_dataset_free.
   A gzip file is refused with a message saying to gunzip it. */
TG_API tg_dataset *tg_dataset_open_idx(const char *images_path, const char *labels_path);
/** tg_mnist_load's directory lookup for tg_dataset_open_idx: the images
   under their raw names only (a directory with only the .gz is refused,
   saying so), the labels raw or .gz. */
TG_API tg_dataset *tg_mnist_open(const char *dir, bool train);
/** A dataset from memory, copied: images [n, features] and labels [n];
   n >= 0 (images and labels may be NULL if it is 0), features in
   [1, 2^40]. NULL with a message otherwise. */
TG_API tg_dataset *tg_dataset_new(const uint8_t *images, const uint8_t *labels, int64_t n,
                                  int64_t features);
/** A new dataset of the samples idx[0..n-1] of d, in that order (e.g. only
   the digits 0 and 1). NULL if an index is out of range. Batching options
   are not copied. */
TG_API tg_dataset *tg_dataset_subset(const tg_dataset *d, const int64_t *idx, int64_t n);
/** Frees the dataset and its buffers. Accepts NULL. */
TG_API void tg_dataset_free(tg_dataset *d);

TG_API int64_t tg_dataset_len(const tg_dataset *d);      /**< samples N */
TG_API int64_t tg_dataset_features(const tg_dataset *d); /**< values per sample (rows·cols) */
/** The shape of one sample ([28, 28] for MNIST) into shape; returns its ndim. */
TG_API int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[TG_MAX_DIMS]);
TG_API int tg_dataset_classes(const tg_dataset *d);      /**< 1 + the largest label */
TG_API const uint8_t *tg_dataset_images(const tg_dataset *d); /**< [N, features]; NULL: streamed */
TG_API const uint8_t *tg_dataset_labels(const tg_dataset *d); /**< [N] */
/** true if the images are read from their file batch by batch (opened with
   tg_dataset_open_idx or tg_mnist_open); tg_dataset_subset of such a
   dataset reads its samples into memory. */
TG_API bool tg_dataset_streamed(const tg_dataset *d);

/** How tg_dataset_next cuts an epoch into mini-batches (a DataLoader's
   arguments). tg_batch_defaults(): batch 64, shuffle, keep the last partial
   batch (PyTorch's drop_last=False), seed 0, mean 0, std 1 (x in [0, 1]). */
typedef struct tg_batch_opts {
    int64_t batch_size; /**< > 0 */
    bool shuffle;       /**< a new random order every epoch (tg_rng_shuffle) */
    bool drop_last;     /**< drop the last batch if it is smaller than batch_size */
    uint64_t seed;      /**< seed of the shuffling */
    /** @{ */
    double mean, std;   /**< x = (pixel/255 − mean) / std; std > 0 */
    /** @} */
} tg_batch_opts;
/** The defaults above: batch 64, shuffled, the last batch kept, seed 0, x in
    [0, 1]. */
TG_API tg_batch_opts tg_batch_defaults(void);

/** One mini-batch; the pointers are the dataset's buffers, valid until the
   next call to tg_dataset_next (or free). On more than one thread
   (tg_set_num_threads), a worker converts the next batch while the caller
   trains on this one, reading it from the file first if the dataset is
   streamed (for one dataset at a time; another converts its batches on the
   spot, a streamed one with its reader thread), so x may alternate between
   two buffers; the values are the same, bit for bit. */
typedef struct tg_batch {
    int64_t n;             /**< samples in this batch (the last may be smaller) */
    int64_t features;      /**< values per sample */
    const tg_real *x;      /**< [n, features] scaled and normalised */
    const int64_t *y;      /**< [n] class labels, for tg_cross_entropy */
    const tg_real *y_real; /**< [n] the same labels as tg_real (tg_bce_with_logits) */
    const int64_t *index;  /**< [n] which samples of the dataset these are */
    int64_t number;        /**< 0-based number of this batch in its epoch */
    int64_t epoch;         /**< 0-based epoch */
} tg_batch;

/** Sets the batching options (NULL: defaults) and allocates the batch
   buffers; rewinds to the start of a new epoch. Returns TG_OK, or
   TG_ERR_INVALID / TG_ERR_NOMEM with tg_last_error. */
TG_API int tg_dataset_batching(tg_dataset *d, const tg_batch_opts *opts);
/** Batches per epoch with the current options. */
TG_API int64_t tg_dataset_num_batches(const tg_dataset *d);
/** Fills *b with the next batch of the epoch and returns true; returns false
   when the epoch is over (b is then untouched), and the call after that
   starts the next epoch (reshuffled). So one epoch is
       while (tg_dataset_next(d, &b)) { ... }
   Uses the default options if tg_dataset_batching was never called.
   A streamed dataset can also fail to read a batch (the file has become
   shorter, an I/O error): the call then returns false, ends the epoch and
   tg_dataset_error(d) gives TG_ERR_IO, with tg_last_error() naming the
   file and the sample. Check it after the loop. */
TG_API bool tg_dataset_next(tg_dataset *d, tg_batch *b);
/** TG_OK, or the error of the last call to tg_dataset_next if it failed. */
TG_API int tg_dataset_error(const tg_dataset *d);
/** Abandons the current epoch: the next call starts a new one. */
TG_API void tg_dataset_rewind(tg_dataset *d);

/* ---- datasets of any float data (torch.utils.data.TensorDataset)

   Features of any shape and, for each sample, a regression target (any
   shape, tg_real) or a class label (int64, for tg_cross_entropy), held in
   memory as tg_real. Batches are cut, shuffled and gathered into buffers
   the dataset owns, allocated once by tg_tensor_dataset_batching: like
   tg_dataset_next, tg_tensor_dataset_next allocates nothing. It uses the
   same tg_batch_opts (mean and std apply to the features: x = (v −
   mean)/std; the defaults leave them as they are). */

/** A dataset of tg_real features with targets or class labels (opaque). */
typedef struct tg_tensor_dataset tg_tensor_dataset;

/** What tg_tensor_dataset_new copies: n samples, each x_shape (x_ndim
   dimensions, at least 1 value), and at most one of y (each sample
   y_shape) and labels. */
typedef struct tg_tensor_data {
    int64_t n;                       /**< samples, >= 0 */
    const tg_real *x;                /**< [n, x_shape...] features */
    int x_ndim;                      /**< 1..TG_MAX_DIMS − 1 */
    int64_t x_shape[TG_MAX_DIMS - 1]; /**< one sample's shape */
    const tg_real *y;                /**< [n, y_shape...] regression targets, or NULL */
    int y_ndim;                      /**< 0 (one value per sample) .. TG_MAX_DIMS − 1 */
    int64_t y_shape[TG_MAX_DIMS - 1]; /**< one target's shape */
    const int64_t *labels;           /**< [n] class labels >= 0, or NULL */
} tg_tensor_data;

/** A dataset of a copy of src's arrays. NULL with tg_last_error on a bad
   shape (a dimension < 1, a sample of more than 2^40 values), both y and
   labels given, a negative label, or no memory. */
TG_API tg_tensor_dataset *tg_tensor_dataset_new(const tg_tensor_data *src);
/** A new dataset of the samples idx[0..n) of d, in that order. NULL if an
   index is out of range. Batching options are not copied. */
TG_API tg_tensor_dataset *tg_tensor_dataset_subset(const tg_tensor_dataset *d,
                                                   const int64_t *idx, int64_t n);
/** A seeded random split (torch.utils.data.random_split): the samples in
   the order of a shuffle by tg_rng seeded with `seed`; the first
   floor(val_fraction·n) go to *val, the rest to *train, each in that
   shuffled order. val_fraction in [0, 1]. TG_OK, or an error with both
   outputs NULL. */
TG_API int tg_tensor_dataset_split(const tg_tensor_dataset *d, double val_fraction,
                                   uint64_t seed, tg_tensor_dataset **train,
                                   tg_tensor_dataset **val);
/** Frees the dataset. Accepts NULL. */
TG_API void tg_tensor_dataset_free(tg_tensor_dataset *d);

TG_API int64_t tg_tensor_dataset_len(const tg_tensor_dataset *d);      /**< samples */
TG_API int64_t tg_tensor_dataset_features(const tg_tensor_dataset *d); /**< values per sample */
/** Values per target: the product of y_shape, 0 without y. */
TG_API int64_t tg_tensor_dataset_target_size(const tg_tensor_dataset *d);
/** 1 + the largest label, 0 without labels. */
TG_API int tg_tensor_dataset_classes(const tg_tensor_dataset *d);
/** The arrays: x [n, features], y [n, target size] (NULL without),
    labels [n] (NULL without). @{ */
TG_API const tg_real *tg_tensor_dataset_x(const tg_tensor_dataset *d);
TG_API const tg_real *tg_tensor_dataset_y(const tg_tensor_dataset *d);
TG_API const int64_t *tg_tensor_dataset_labels(const tg_tensor_dataset *d);
/** @} */

/** A mini-batch of a tg_tensor_dataset: the dataset's buffers, valid until
   the next call to tg_tensor_dataset_next. x_shape (and y_shape) are
   ready for tg_tensor_wrap: [n, sample shape...]. */
typedef struct tg_tensor_batch {
    int64_t n;                   /**< samples in this batch */
    int x_ndim;                  /**< 1 + the sample's dimensions */
    int64_t x_shape[TG_MAX_DIMS]; /**< [n, x_shape...] */
    const tg_real *x;            /**< the features */
    int y_ndim;                  /**< 1 + the target's dimensions (0 without y) */
    int64_t y_shape[TG_MAX_DIMS]; /**< [n, y_shape...] */
    const tg_real *y;            /**< the targets, or NULL */
    const int64_t *labels;       /**< [n] class labels, or NULL */
    const int64_t *index;        /**< [n] which samples of the dataset these are */
    int64_t number;              /**< 0-based number of this batch in its epoch */
    int64_t epoch;               /**< 0-based epoch */
} tg_tensor_batch;

/** Sets the batching options (NULL: tg_batch_defaults()) and allocates the
   batch buffers; rewinds to the start of a new epoch (and reseeds the
   shuffle). TG_OK, or TG_ERR_INVALID / TG_ERR_NOMEM with tg_last_error. */
TG_API int tg_tensor_dataset_batching(tg_tensor_dataset *d, const tg_batch_opts *opts);
/** Batches per epoch with the current options. */
TG_API int64_t tg_tensor_dataset_num_batches(const tg_tensor_dataset *d);
/** The next batch of the epoch into *b and true; false when the epoch is
   over (the call after starts the next, reshuffled), as tg_dataset_next.
   Uses the default options if tg_tensor_dataset_batching was never
   called (false if their buffers cannot be allocated). */
TG_API bool tg_tensor_dataset_next(tg_tensor_dataset *d, tg_tensor_batch *b);
/** Abandons the current epoch: the next call starts a new one. */
TG_API void tg_tensor_dataset_rewind(tg_tensor_dataset *d);

/* ---- CSV files (RFC 4180), read with libcsv

   A file of numbers: an optional header row naming the columns, then one
   record per row, fields separated by `delimiter`; a field may be quoted
   ("1.5", "a ""quoted"" name"), and a quoted field may hold delimiters and
   line breaks. Spaces around an unquoted field are ignored, and so are
   empty lines; a UTF-8 byte order mark is skipped. Values are read with
   the C locale's strtod (a '.' decimal point, whatever the process's
   locale). Every record must have the header's number of fields (or the
   first record's, without a header); every value must be a finite
   number. A file that breaks a rule is refused with a message naming the
   file, the line and the column: "tg_csv_read: data.csv: line 4, column 3
   ('petal_width'): 'abc' is not a number". The file is read through a
   small buffer; no record may be longer than max_line bytes, and no file
   larger than tg_io_max_bytes(). */

/** CSV options (tg_csv_defaults gives these defaults). */
typedef struct tg_csv_opts {
    char delimiter;       /**< ',' */
    bool header;          /**< the first row names the columns; true */
    size_t max_line;      /**< the longest record, in bytes: 1 MiB (0 also means 1 MiB) */
    /** For tg_csv_dataset: the target column by name (with a header; a
       name two columns share is refused), or NULL to use target_index. */
    const char *target;
    int target_index;     /**< the target column: -1 the last; -2 none (features only) */
    bool classify;        /**< the target holds class labels (integers >= 0); false:
                             regression targets */
} tg_csv_opts;
/** ',' delimited, a header, records up to 1 MiB, the last column the
   target, regression. */
TG_API tg_csv_opts tg_csv_defaults(void);

/** A CSV file's values (tg_csv_read). */
typedef struct tg_csv_table {
    int64_t rows;   /**< records (the header not counted) */
    int64_t cols;   /**< fields per record */
    char **names;   /**< [cols] the header's names, or NULL without a header */
    double *values; /**< [rows, cols] row-major */
} tg_csv_table;

/** Reads a CSV file of numbers (opts NULL: the defaults; the target
   options are not used). NULL with tg_last_error naming the file, line and
   column on a malformed file, TG_ERR_IO if it cannot be read. An empty file
   (no header, no record) is refused; a header without records gives 0 rows. */
TG_API tg_csv_table *tg_csv_read(const char *path, const tg_csv_opts *opts);
/** The same from len bytes in memory ("<memory>" in messages). */
TG_API tg_csv_table *tg_csv_read_mem(const void *buf, size_t len, const tg_csv_opts *opts);
/** Frees the table. Accepts NULL. */
TG_API void tg_csv_free(tg_csv_table *t);
/** A dataset of a CSV file: the target column (opts->target or
   opts->target_index) as class labels (opts->classify: each must be an
   integer in [0, 2^31), refused with its line and column otherwise) or as
   a regression target of one value, every other column a feature. NULL
   with tg_last_error on failure. */
TG_API tg_tensor_dataset *tg_csv_dataset(const char *path, const tg_csv_opts *opts);

/* ---- safetensors: weights to and from PyTorch (docs/data.md)
   A file is an 8-byte little-endian header length, a JSON header
   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
    "__metadata__": {...}} and the tensors' bytes, little-endian, row-major. */

/** The element type of a tensor in a safetensors file. */
typedef enum tg_dtype {
    TG_F32 = 0, /**< "F32": float, what torch saves by default */
    TG_F64 = 1  /**< "F64": double */
} tg_dtype;

/** Writes every parameter of p, under its name, in the order added, as dtype
   (converted from tg_real), with __metadata__ {"format": "pt"}. The file is
   written under a temporary name beside it and renamed at the end, so a
   failure never leaves a half-written file at `path` (nor changes one that
   is there). The temporary is `path`.tmp, or `path`.tmp1, .tmp2 ... if that
   exists: it is created with O_EXCL, so no other file is ever touched. An
   empty path is refused (TG_ERR_INVALID).
   It writes only what tg_params_load reads back: a parameter whose name
   was changed through its tensor (no longer valid UTF-8, or not its name
   in p), a parameter named "__metadata__", or a header over the format's
   100,000,000 bytes (names that long) is refused with TG_ERR_INVALID.
   Returns TG_OK, TG_ERR_INVALID, TG_ERR_NOMEM or TG_ERR_IO, with
   tg_last_error. A file larger than tg_io_max_bytes() is written, and
   read back once the limit is raised. */
TG_API int tg_params_save(const tg_params *p, const char *path, tg_dtype dtype);
/** Reads a safetensors file into p. The whole file is validated first (header
   size at most 100,000,000 bytes, JSON to the letter of RFC 8259 in UTF-8,
   no string holding \\u0000 (a name "fc1.weight\\u0000x" would otherwise
   load as fc1.weight), dtypes, shapes, data offsets in bounds, contiguous,
   not overlapping and covering the data exactly, within tg_io_max_bytes),
   then:
   - if p already has parameters, the file must hold exactly the same names
     with the same shapes (like load_state_dict(strict=True)): a missing, an
     extra or a mismatched tensor is an error naming it;
   - if p is empty, a parameter is created for every F32 or F64 tensor and
     an integer buffer for every I64 one, in the order of their data in the
     file. A float buffer of the file (BatchNorm's running_mean and
     running_var) then becomes a parameter, which an optimizer would train:
     for a model with buffers, build its layers first, then load.
   F32 and F64 tensors are accepted (converted to tg_real), I64 ones into
   integer buffers only (tg_params_add_int_buffer); other dtypes are
   refused by name. Nothing is changed unless every check passes and every
   allocation succeeds (new parameters are built aside and put in place at
   the end). Returns TG_OK, TG_ERR_IO, TG_ERR_FORMAT, TG_ERR_SHAPE or
   TG_ERR_NOMEM, with tg_last_error. */
TG_API int tg_params_load(tg_params *p, const char *path);
/** The same from `len` bytes in memory (not kept). */
TG_API int tg_params_load_mem(tg_params *p, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TAPEGRAD_IO_H */
