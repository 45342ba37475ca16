/* Datasets of uint8 images with class labels (MNIST, Fashion-MNIST) and
   their shuffled mini-batches, like torch.utils.data.DataLoader over
   torchvision's MNIST with ToTensor() and Normalize(mean, std).

   Pixels stay uint8 (a quarter of the memory of floats); a batch is
   converted when it is asked for, each pixel p to
       (p / 255 − mean) / std                in tg_real arithmetic,
   the same operations, in the same order and precision, as ToTensor's
   division and Normalize's subtraction and division (a loop that
   vectorises: a 256-entry table would give the same values but needs one
   scalar load per pixel). The next batch's images sit at random places in
   the whole set: on one thread they are asked for (prefetched) while this
   batch is converted. On more than one thread (tg_set_num_threads) a
   worker converts the next batch into a second buffer while the caller
   trains on this one, in the thread pool's background job (src/gemm/threads.c;
   one dataset at a time has it, the others convert on the spot, or hand
   their reads to the reader thread below): the same values, and the caller
   only swaps the buffers. Everything that changes what the worker reads
   (the next call, rewind, new options, free) first waits for it. The
   batch buffers are allocated once by tg_dataset_batching:
   tg_dataset_next never allocates.

   A dataset opened with tg_dataset_open_idx leaves its images in the file
   and reads each batch's samples from it (pread, one call per run of
   consecutive samples) into a uint8 staging buffer, then converts them the
   same way: the same batches, bit for bit, in a process that holds only
   the labels (one byte per sample) and RING batches. The kernel's page
   cache keeps a file that is read again and again, as memory that it can
   take back; the process's resident size stays small. On more than one
   thread the worker that converts the next batch reads it first, into its
   staging buffer. Otherwise, while the caller trains, a reader thread of
   the dataset reads the batches that come next into a ring of RING
   staging buffers (a DataLoader worker's prefetch), so the system calls
   cost the training loop almost nothing. The first batch of an epoch is
   read on the spot. (On two threads the reader would need a core that
   both compute threads use: the epoch took 22% longer than with the
   images in memory, and 11% with the worker reading.) Waking a sleeping
   thread is slow (tens of microseconds on the benchmark's virtual
   machine), so the reader is woken only when half the ring is free, and
   then reads half a ring in a row: one wake-up per RING/2 batches instead
   of one per batch. */
#define _GNU_SOURCE /* SCHED_BATCH; close */

#include "io/io_internal.h"
#include "gemm/gemm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tg_dataset {
    int64_t n;                          /* samples */
    int64_t features;                   /* values per sample */
    int sample_ndim;
    int64_t sample_shape[TG_MAX_DIMS];  /* [28, 28] for MNIST */
    uint8_t *images;                    /* [n, features]; NULL when streamed */
    int fd;                             /* streamed: the images' file; else -1 */
    uint64_t offset;                    /* streamed: where the pixels start in it */
    char *path;                         /* streamed: the file's name, for messages */
    int err;                            /* the last tg_dataset_next's failure, or TG_OK */
    uint8_t *labels;                    /* [n] */
    int classes;                        /* 1 + max label */

    /* batching */
    bool configured;
    tg_batch_opts opts;
    tg_real mean, std;                  /* as tg_real, for the conversion */
    int64_t *order;                     /* [n] the epoch's order of samples */
    tg_real *x;                         /* [batch_size, features] */
    int64_t *y;                         /* [batch_size] */
    tg_real *y_real;                    /* [batch_size] */
    uint8_t *stage;                     /* streamed: RING slots of slot_bytes */
    size_t slot_bytes;                  /* the largest batch: [min(batch_size, n), features] */

    /* streamed: the reader thread reads batches ready, ready + 1, ... of
       the epoch (of `end`), batch j into slot j % RING, never more than RING
       batches ahead of the caller. The lock guards everything below; the
       pixels of a slot pass from one thread to the other under it (through
       ready and taken). */
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool reader_live;                   /* the thread runs (lock and cv initialised) */
    pid_t reader_pid;                   /* in this process (see reader_here) */
    bool reader_failed;                 /* it could not be started: read on the spot */
    bool quit;
    bool active;                        /* it has an epoch's batches to read */
    bool reading;                       /* it is inside a read, without the lock */
    int64_t ready;                      /* batches [0, ready) of the epoch are read */
    int64_t end;                        /* batches in the epoch */
    int64_t taken;                      /* the caller is done with [0, taken) */
    bool sleeping;                      /* it waits to be woken */
    int fail_status;                    /* TG_OK, or the error of batch `ready` */
    char fail_msg[TG_MSG_LEN];
    tg_rng rng;
    bool in_epoch;                      /* false: the next call starts an epoch */
    int64_t pos;                        /* next sample of the order */
    int64_t number;                     /* batches given in this epoch */
    int64_t epoch;                      /* epochs started, minus one */

    /* On more than one thread: while the caller trains on a batch, a
       worker converts the next one into x_next, in the pool's background
       job (see tg_dataset_next); a streamed dataset's worker reads its
       samples from the file first, and the reader thread is used only if
       the job is taken. */
    tg_real *x_next;                    /* [batch_size, features] */
    bool converting;                    /* the background job is posted for us */
    int64_t next_pos;                   /* its batch's first sample in the order */
    int64_t next_n;                     /* and its samples */
    int64_t next_number;                /* streamed: its number in the epoch */
    atomic_bool next_failed;            /* streamed: a read of the job failed */
    bool reader_on;                     /* streamed: the reader has this epoch's batches */
};

static int gather(const char *who, const tg_dataset *d, const int64_t *idx, int64_t n,
                  uint8_t *dst);

enum { RING = 8 }; /* staging slots of a streamed dataset */

static uint8_t *slot(const tg_dataset *d, int64_t j)
{
    return d->stage + (size_t)(j % RING) * d->slot_bytes;
}

/* Batch j of the epoch: its first sample's place in the order, and its size. */
static int64_t batch_at(const tg_dataset *d, int64_t j, int64_t *n)
{
    int64_t start = j * d->opts.batch_size, left = d->n - start;
    *n = left < d->opts.batch_size ? left : d->opts.batch_size;
    return start;
}

/* Whether the reader has a batch to read and room for it (with the lock). */
static bool reader_has_work(const tg_dataset *d)
{
    return d->quit || (d->active && d->ready < d->end && d->ready < d->taken + RING);
}

static void *reader_main(void *arg)
{
    tg_dataset *d = arg;
#ifdef SCHED_BATCH
    /* woken for a batch, the reader must not take the core from the thread
       that woke it (which it would, on a machine with every core busy
       training): a batch thread never preempts on waking. Measured on two
       threads: the hand-over went from about 120 to 5 µs. */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
#endif
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!reader_has_work(d)) {
            d->sleeping = true;
            pthread_cond_wait(&d->cv, &d->lock);
            d->sleeping = false;
        }
        if (d->quit) break;
        int64_t j = d->ready, n;
        const int64_t *idx = d->order + batch_at(d, j, &n);
        d->reading = true;
        pthread_mutex_unlock(&d->lock);
        int st = gather("tg_dataset_next", d, idx, n, slot(d, j));
        pthread_mutex_lock(&d->lock);
        d->reading = false;
        if (st != TG_OK) { /* it stops there: the caller gets the error at batch j */
            d->fail_status = st;
            snprintf(d->fail_msg, sizeof d->fail_msg, "%s", tg_last_error());
            d->active = false;
        } else {
            d->ready = j + 1;
        }
        pthread_cond_broadcast(&d->cv); /* the caller may wait for batch j, or for a pause */
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Whether the reader thread runs in this process. A child of fork() has
   only the thread that forked: it forgets the reader without touching the
   lock (copied in whatever state the parent's threads left it), reads the
   rest of the epoch on the spot, and starts a reader of its own at the next
   epoch (PyTorch's DataLoader leaves its workers to the parent too). */
static bool reader_here(tg_dataset *d)
{
    if (d->reader_live && d->reader_pid != getpid()) d->reader_live = false;
    return d->reader_live;
}

/* Stops the reader's work on the current epoch and waits until it is out of
   its read (it reads from the order and into the slots). */
static void reader_pause(tg_dataset *d)
{
    if (!reader_here(d)) return;
    pthread_mutex_lock(&d->lock);
    d->active = false;
    while (d->reading) pthread_cond_wait(&d->cv, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

/* Starts the thread if it is not running yet; false if it cannot be. */
static bool reader_start(tg_dataset *d)
{
    if (!reader_here(d) && !d->reader_failed) {
        /* (after a fork, the flags are the parent's reader's) */
        d->quit = d->active = d->reading = d->sleeping = false;
        d->reader_pid = getpid();
        bool ok = pthread_mutex_init(&d->lock, NULL) == 0;
        if (ok && pthread_cond_init(&d->cv, NULL) != 0) {
            pthread_mutex_destroy(&d->lock);
            ok = false;
        }
        if (ok && pthread_create(&d->reader, NULL, reader_main, d) != 0) {
            pthread_cond_destroy(&d->cv);
            pthread_mutex_destroy(&d->lock);
            ok = false;
        }
        d->reader_live = ok;
        d->reader_failed = !ok;
    }
    return d->reader_live;
}

/* Hands the reader batches first..end-1 of the new epoch (the caller has
   batch first - 1 in hand). */
static void reader_epoch(tg_dataset *d, int64_t first, int64_t end)
{
    if (first >= end || !reader_start(d)) return;
    pthread_mutex_lock(&d->lock);
    d->end = end;
    d->fail_status = TG_OK;
    d->ready = first;
    d->taken = first - 1;
    d->active = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->lock);
}

/* Waits for batch j from the reader: TG_OK, or the error of its read (with
   the reader's message as this thread's last error). Uncontended, the lock
   costs tens of nanoseconds; only waking the thread is expensive. */
static int reader_take(tg_dataset *d, int64_t j)
{
    int st = TG_OK;
    pthread_mutex_lock(&d->lock);
    if (d->ready <= j) {
        pthread_cond_broadcast(&d->cv); /* it may sleep, waiting for room */
        /* batches are read in order, and the reader stops at a failure */
        while (d->ready <= j && d->fail_status == TG_OK) pthread_cond_wait(&d->cv, &d->lock);
        if (d->ready <= j) st = tg_set_error(d->fail_status, "%s", d->fail_msg);
    }
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* The caller is done with batch j: its slot is free. A sleeping reader is
   woken once half the ring is free, not for every slot. */
static void reader_done(tg_dataset *d, int64_t j)
{
    pthread_mutex_lock(&d->lock);
    d->taken = j + 1;
    if (d->sleeping && d->active && d->ready < d->end && d->ready - d->taken <= RING / 2)
        pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->lock);
}

static void reader_stop(tg_dataset *d)
{
    if (!reader_here(d)) return;
    pthread_mutex_lock(&d->lock);
    d->quit = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->reader, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->lock);
    d->reader_live = false;
}

static bool converted(tg_dataset *d);

static void free_batch_buffers(tg_dataset *d)
{
    reader_pause(d);
    converted(d);
    free(d->order);
    free(d->x);
    free(d->x_next);
    free(d->y);
    free(d->y_real);
    free(d->stage);
    d->order = NULL;
    d->x = NULL;
    d->x_next = NULL;
    d->y = NULL;
    d->y_real = NULL;
    d->stage = NULL;
    d->configured = false;
}

void tg_dataset_free(tg_dataset *d)
{
    if (!d) return;
    reader_stop(d);
    free_batch_buffers(d);
    free(d->images);
    free(d->labels);
    if (d->fd >= 0) close(d->fd);
    free(d->path);
    free(d);
}

static void count_classes(tg_dataset *d)
{
    int mx = -1;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] > mx) mx = d->labels[i];
    d->classes = mx + 1;
}

/* The most values one sample may have: 2^40, the IDX reader's bound on a
   file's data, so that sizes computed from it (a batch of them, as bytes
   or as tg_real) cannot overflow. */
#define TG_DATASET_MAX_FEATURES ((int64_t)1 << 40)

/* A dataset that takes ownership of images and labels (freed on failure).
   Its callers have checked that a sample has 1 to TG_DATASET_MAX_FEATURES
   values: tg_dataset_batching divides by their number. */
static tg_dataset *make(const char *who, uint8_t *images, uint8_t *labels, int64_t n,
                        int sample_ndim, const int64_t *sample_shape)
{
    tg_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        free(images);
        free(labels);
        tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    d->n = n;
    d->images = images;
    d->labels = labels;
    d->fd = -1;
    d->sample_ndim = sample_ndim;
    d->features = 1;
    for (int i = 0; i < sample_ndim; i++) {
        d->sample_shape[i] = sample_shape[i];
        d->features *= sample_shape[i];
    }
    d->epoch = -1;
    count_classes(d);
    return d;
}

/* Buffers for n samples of `features` pixels and their labels, or false
   (with the error set) if memory runs out. */
static bool alloc_samples(const char *who, int64_t n, size_t features, uint8_t **im, uint8_t **lb)
{
    *im = malloc(n ? (size_t)n * features : 1);
    *lb = malloc(n ? (size_t)n : 1);
    if (*im && *lb) return true;
    free(*im);
    free(*lb);
    tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %lld samples", who, (long long)n);
    return false;
}

tg_dataset *tg_dataset_new(const uint8_t *images, const uint8_t *labels, int64_t n,
                           int64_t features)
{
    const char *who = "tg_dataset_new";
    if ((!images || !labels) && n > 0) {
        tg_set_error(TG_ERR_INVALID, "%s: %s is NULL", who, !images ? "images" : "labels");
        return NULL;
    }
    if (n < 0) {
        tg_set_error(TG_ERR_INVALID, "%s: %lld samples: the count is negative", who, (long long)n);
        return NULL;
    }
    if (features <= 0 || features > TG_DATASET_MAX_FEATURES ||
        (n > 0 && (uint64_t)features > SIZE_MAX / (uint64_t)n)) {
        tg_set_error(TG_ERR_INVALID,
                     "%s: %lld samples of %lld values: a sample needs 1 to 2^40 values, and "
                     "all of them must fit in memory",
                     who, (long long)n, (long long)features);
        return NULL;
    }
    size_t bytes = (size_t)(n * features);
    uint8_t *im, *lb;
    if (!alloc_samples(who, n, (size_t)features, &im, &lb)) return NULL;
    if (bytes) memcpy(im, images, bytes);
    if (n) memcpy(lb, labels, (size_t)n);
    return make(who, im, lb, n, 1, &features);
}

/* Copies the pixels of samples idx[0..n) into dst [n, features]: from
   memory, or read from the file (one read per run of consecutive samples).
   TG_OK, or TG_ERR_IO when the file cannot be read or has become shorter. */
static int gather(const char *who, const tg_dataset *d, const int64_t *idx, int64_t n,
                  uint8_t *dst)
{
    const size_t f = (size_t)d->features;
    if (d->fd < 0) {
        for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * f, d->images + (size_t)idx[i] * f, f);
        return TG_OK;
    }
    for (int64_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && idx[j] == idx[j - 1] + 1; j++) {}
        size_t want = (size_t)(j - i) * f;
        size_t got = tg_io_pread(d->fd, dst + (size_t)i * f, want, d->offset + (uint64_t)idx[i] * f);
        if (got < want) {
            long long at = (long long)(idx[i] + (int64_t)(got / f)); /* the first one missing */
            if (errno)
                return tg_set_error(TG_ERR_IO, "%s: cannot read sample %lld of %s: %s", who, at,
                                    d->path, strerror(errno));
            return tg_set_error(TG_ERR_IO,
                                "%s: %s ends before sample %lld: the file has become shorter "
                                "since it was opened",
                                who, d->path, at);
        }
    }
    return TG_OK;
}

tg_dataset *tg_dataset_subset(const tg_dataset *d, const int64_t *idx, int64_t n)
{
    const char *who = "tg_dataset_subset";
    if (!d || (!idx && n > 0) || n < 0) {
        tg_set_error(TG_ERR_INVALID, "%s: %s", who,
                     !d ? "dataset is NULL" : (n < 0 ? "negative count" : "idx is NULL"));
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n) {
            tg_set_error(TG_ERR_INVALID, "%s: idx[%lld] = %lld is outside [0, %lld)", who,
                         (long long)i, (long long)idx[i], (long long)d->n);
            return NULL;
        }
    size_t f = (size_t)d->features;
    uint8_t *im, *lb;
    if (!alloc_samples(who, n, f, &im, &lb)) return NULL;
    if (gather(who, d, idx, n, im) != TG_OK) {
        free(im);
        free(lb);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) lb[i] = d->labels[idx[i]];
    return make(who, im, lb, n, d->sample_ndim, d->sample_shape);
}

/* Whether an IDX array (or header) is uint8 with a rank in [min_ndim,
   max_ndim]; if not, the error names the file and what was found. */
static bool is_u8(const char *who, const char *path, const tg_idx *x, int min_ndim, int max_ndim,
                  const char *what)
{
    if (x->type == TG_IDX_U8 && x->ndim >= min_ndim && x->ndim <= max_ndim) return true;
    char dims[160];
    tg_set_error(TG_ERR_FORMAT,
                 "%s: %s: expected %s of type uint8 (0x08) with %d%s dimensions, found "
                 "type 0x%02x with shape %s",
                 who, path, what, min_ndim, max_ndim > min_ndim ? " or more" : "", x->type,
                 tg_dims_str(x->ndim, x->shape, dims, sizeof dims));
    return false;
}

/* Loads one IDX file and checks it is uint8 with a given rank range. */
static tg_idx *load_u8(const char *who, const char *path, int min_ndim, int max_ndim,
                       const char *what)
{
    tg_idx *x = tg_idx_read(who, path); /* streamed: the file is never held whole */
    if (x && !is_u8(who, path, x, min_ndim, max_ndim, what)) {
        tg_idx_free(x);
        return NULL;
    }
    return x;
}

/* Whether images (its header) and labels go together; if not, the error
   says why. */
static bool is_pair(const char *who, const char *images_path, const tg_idx *im,
                    const char *labels_path, const tg_idx *lb)
{
    /* the values of one sample: the product of the other dimensions, each
       below 2^32, bounded by 2^40 bytes by the IDX reader even when the
       first is 0 */
    int64_t features = 1;
    for (int i = 1; i < im->ndim; i++) features *= im->shape[i];
    char dims[160];
    if (features == 0)
        tg_set_error(TG_ERR_FORMAT,
                     "%s: %s: images of shape %s: a sample has no values (a dataset needs at "
                     "least one per sample)",
                     who, images_path, tg_dims_str(im->ndim, im->shape, dims, sizeof dims));
    else if (im->shape[0] != lb->shape[0])
        tg_set_error(TG_ERR_FORMAT, "%s: %s has %lld images but %s has %lld labels", who,
                     images_path, (long long)im->shape[0], labels_path, (long long)lb->shape[0]);
    else
        return true;
    return false;
}

tg_dataset *tg_dataset_load_idx(const char *images_path, const char *labels_path)
{
    const char *who = "tg_dataset_load_idx";
    tg_idx *im = load_u8(who, images_path, 2, TG_MAX_DIMS, "images");
    if (!im) return NULL;
    tg_idx *lb = load_u8(who, labels_path, 1, 1, "labels");
    if (!lb) {
        tg_idx_free(im);
        return NULL;
    }
    tg_dataset *d = NULL;
    if (is_pair(who, images_path, im, labels_path, lb)) {
        d = make(who, im->data, lb->data, im->shape[0], im->ndim - 1, im->shape + 1);
        im->data = lb->data = NULL; /* now the dataset's (or freed by make) */
    }
    tg_idx_free(im);
    tg_idx_free(lb);
    return d;
}

tg_dataset *tg_dataset_open_idx(const char *images_path, const char *labels_path)
{
    const char *who = "tg_dataset_open_idx";
    tg_idx im;
    uint64_t offset;
    int fd;
    if (tg_idx_open_raw(who, images_path, &im, &offset, &fd) != TG_OK) return NULL;
    if (!is_u8(who, images_path, &im, 2, TG_MAX_DIMS, "images")) {
        close(fd);
        return NULL;
    }
    tg_idx *lb = load_u8(who, labels_path, 1, 1, "labels");
    char *path = malloc(strlen(images_path) + 1);
    tg_dataset *d = NULL;
    if (!lb || !path) {
        if (lb) tg_set_error(TG_ERR_NOMEM, "%s: out of memory", who);
    } else if (is_pair(who, images_path, &im, labels_path, lb)) {
        d = make(who, NULL, lb->data, im.shape[0], im.ndim - 1, im.shape + 1);
        lb->data = NULL; /* now the dataset's (or freed by make) */
    }
    tg_idx_free(lb);
    if (!d) {
        free(path);
        close(fd);
        return NULL;
    }
    strcpy(path, images_path);
    d->path = path;
    d->fd = fd;
    d->offset = offset;
    return d;
}

/* The first of dir/<stem>.gz (if gz), dir/<stem>, dir/<alt>.gz (if gz) and
   dir/<alt> that opens. */
static bool find_file(const char *dir, const char *stem, const char *alt, bool gz, char *path,
                      size_t len)
{
    const char *forms[] = {"%s/%s.gz", "%s/%s", "%s/%s.gz", "%s/%s"};
    for (int k = 0; k < 4; k++) {
        if (!gz && k % 2 == 0) continue;
        int w = snprintf(path, len, forms[k], dir, k < 2 ? stem : alt);
        if (w < 0 || (size_t)w >= len) continue;
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return true;
        }
    }
    return false;
}

/* The training or test set of an MNIST-style directory: loaded into memory
   (open = false; raw or .gz) or opened to be read batch by batch (open =
   true; the images raw, the labels either way). */
static tg_dataset *mnist(const char *who, const char *dir, bool train, bool open)
{
    if (!dir) {
        tg_set_error(TG_ERR_INVALID, "%s: dir is NULL", who);
        return NULL;
    }
    const char *set = train ? "train" : "t10k";
    char stem_i[64], stem_l[64], alt_i[64], alt_l[64];
    /* the standard names, and the dotted ones some unpackers produce */
    snprintf(stem_i, sizeof stem_i, "%s-images-idx3-ubyte", set);
    snprintf(stem_l, sizeof stem_l, "%s-labels-idx1-ubyte", set);
    snprintf(alt_i, sizeof alt_i, "%s-images.idx3-ubyte", set);
    snprintf(alt_l, sizeof alt_l, "%s-labels.idx1-ubyte", set);
    char pi[4096], pl[4096];
    if (!find_file(dir, stem_i, alt_i, !open, pi, sizeof pi)) {
        if (open && find_file(dir, stem_i, alt_i, true, pi, sizeof pi))
            tg_set_error(TG_ERR_IO,
                         "%s: %s has only %s: images read from the file as they are needed "
                         "must be stored raw (gunzip it), or load them with tg_mnist_load",
                         who, dir, pi);
        else
            tg_set_error(TG_ERR_IO, "%s: no %s%s in %s", who, stem_i, open ? "" : "(.gz)", dir);
        return NULL;
    }
    if (!find_file(dir, stem_l, alt_l, true, pl, sizeof pl)) {
        tg_set_error(TG_ERR_IO, "%s: no %s(.gz) in %s", who, stem_l, dir);
        return NULL;
    }
    tg_dataset *d = open ? tg_dataset_open_idx(pi, pl) : tg_dataset_load_idx(pi, pl);
    if (!d) {
        /* keep the detailed message, say which call it came through */
        char msg[TG_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", tg_last_error());
        tg_set_error(TG_ERR_FORMAT, "%s: %s", who, msg);
    }
    return d;
}

tg_dataset *tg_mnist_load(const char *dir, bool train)
{
    return mnist("tg_mnist_load", dir, train, false);
}

tg_dataset *tg_mnist_open(const char *dir, bool train)
{
    return mnist("tg_mnist_open", dir, train, true);
}

int64_t tg_dataset_len(const tg_dataset *d) { return d ? d->n : 0; }
int64_t tg_dataset_features(const tg_dataset *d) { return d ? d->features : 0; }
int tg_dataset_classes(const tg_dataset *d) { return d ? d->classes : 0; }
const uint8_t *tg_dataset_images(const tg_dataset *d) { return d ? d->images : NULL; }
const uint8_t *tg_dataset_labels(const tg_dataset *d) { return d ? d->labels : NULL; }
bool tg_dataset_streamed(const tg_dataset *d) { return d && d->fd >= 0; }
int tg_dataset_error(const tg_dataset *d) { return d ? d->err : TG_OK; }

int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[TG_MAX_DIMS])
{
    if (!d) return 0;
    for (int i = 0; i < d->sample_ndim && shape; i++) shape[i] = d->sample_shape[i];
    return d->sample_ndim;
}

/* ---------------------------------------------------------------- batches */

tg_batch_opts tg_batch_defaults(void)
{
    return (tg_batch_opts){.batch_size = 64, .shuffle = true, .drop_last = false, .seed = 0,
                           .mean = 0.0, .std = 1.0};
}

int tg_dataset_batching(tg_dataset *d, const tg_batch_opts *opts)
{
    const char *who = "tg_dataset_batching";
    if (!d) return tg_set_error(TG_ERR_INVALID, "%s: dataset is NULL", who);
    tg_batch_opts o = opts ? *opts : tg_batch_defaults();
    /* the buffers hold the largest batch, min(batch_size, n) samples: at
       most 2^40 values (none for an empty dataset) */
    int64_t b = o.batch_size < d->n ? o.batch_size : d->n;
    if (o.batch_size <= 0 || b > TG_DATASET_MAX_FEATURES / d->features)
        return tg_set_error(TG_ERR_INVALID, "%s: batch_size %lld is not in [1, %lld]", who,
                            (long long)o.batch_size,
                            (long long)(TG_DATASET_MAX_FEATURES / d->features));
    if (!(o.std > 0) || !isfinite(o.std) || !isfinite(o.mean))
        return tg_set_error(TG_ERR_INVALID, "%s: need a finite mean and std > 0, got %g and %g",
                            who, o.mean, o.std);
    /* (for an empty dataset, one element each) */
    size_t vals = b ? (size_t)(b * d->features) : 1, labs = b ? (size_t)b : 1;
    int64_t *order = malloc((d->n ? (size_t)d->n : 1) * sizeof *order);
    tg_real *x = malloc(vals * sizeof *x);
    tg_real *x_next = malloc(vals * sizeof *x_next);
    int64_t *y = malloc(labs * sizeof *y);
    tg_real *yr = malloc(labs * sizeof *yr);
    uint8_t *stage = d->fd >= 0 ? malloc(vals * RING) : NULL;
    if (!order || !x || !x_next || !y || !yr || (d->fd >= 0 && !stage)) {
        free(order), free(x), free(x_next), free(y), free(yr), free(stage);
        return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for batches of %lld", who,
                            (long long)o.batch_size);
    }
    free_batch_buffers(d);
    d->order = order;
    d->x = x;
    d->x_next = x_next;
    d->y = y;
    d->y_real = yr;
    d->stage = stage;
    d->slot_bytes = (size_t)(b * d->features);
    d->opts = o;
    /* ToTensor: p/255 in the tensor's precision; Normalize: (v − mean)/std */
    d->mean = (tg_real)o.mean;
    d->std = (tg_real)o.std;
    tg_rng_seed(&d->rng, o.seed);
    for (int64_t i = 0; i < d->n; i++) d->order[i] = i;
    d->configured = true;
    d->in_epoch = false;
    d->epoch = -1;
    return TG_OK;
}

int64_t tg_dataset_num_batches(const tg_dataset *d)
{
    if (!d) return 0;
    int64_t bs = d->configured ? d->opts.batch_size : tg_batch_defaults().batch_size;
    bool drop = d->configured ? d->opts.drop_last : tg_batch_defaults().drop_last;
    /* ⌈n / bs⌉ as n / bs + (n % bs != 0): n + bs − 1 overflows for bs near INT64_MAX */
    return drop ? d->n / bs : d->n / bs + (d->n % bs != 0);
}

void tg_dataset_rewind(tg_dataset *d)
{
    if (!d) return;
    converted(d);
    d->in_epoch = false;
}

/* ToTensor and Normalize on one sample: x = (p / 255 − mean) / std. Without
   Normalize (mean 0, std 1) that is p / 255 exactly: v − 0 and v / 1 change
   no value, so those two operations are skipped. */
TG_VECTOR_LOOP static void to_real(const uint8_t *restrict px, tg_real *restrict x, size_t n,
                                   tg_real mean, tg_real std)
{
    if (mean == 0 && std == 1)
        for (size_t k = 0; k < n; k++) x[k] = (tg_real)px[k] / (tg_real)255;
    else
        for (size_t k = 0; k < n; k++) x[k] = ((tg_real)px[k] / (tg_real)255 - mean) / std;
}

/* Asks for the cache lines of [p, p + n) to be loaded, without waiting. */
static void prefetch_bytes(const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k += 64) __builtin_prefetch(p + k);
    if (n) __builtin_prefetch(p + n - 1);
}

/* Converts samples idx[first..end) of the images into rows first..end of x,
   asking for the image AHEAD samples on first. */
enum { AHEAD = 2, ROWS_PER_TASK = 4 };
static void convert_rows(const tg_dataset *d, const int64_t *idx, int64_t first, int64_t end,
                         int64_t n, tg_real *x)
{
    const size_t f = (size_t)d->features;
    for (int64_t i = first; i < end; i++) {
        if (i + AHEAD < n) prefetch_bytes(d->images + (size_t)idx[i + AHEAD] * f, f);
        to_real(d->images + (size_t)idx[i] * f, x + (size_t)i * f, f, d->mean, d->std);
    }
}

/* One task of the background conversion: ROWS_PER_TASK rows of the next
   batch. A streamed dataset's task first reads its samples into their rows
   of the batch's staging slot; if that fails it converts nothing and says
   so in next_failed, and the caller reads the batch again on the spot
   (which gives the error its message, on the caller's thread). */
static void convert_task(void *ctx, int task)
{
    tg_dataset *d = ctx;
    int64_t first = (int64_t)task * ROWS_PER_TASK, end = first + ROWS_PER_TASK;
    if (end > d->next_n) end = d->next_n;
    const int64_t *idx = d->order + d->next_pos;
    if (d->fd < 0) {
        convert_rows(d, idx, first, end, d->next_n, d->x_next);
        return;
    }
    const size_t f = (size_t)d->features;
    uint8_t *px = slot(d, d->next_number) + (size_t)first * f;
    if (gather("tg_dataset_next", d, idx + first, end - first, px) != TG_OK) {
        atomic_store_explicit(&d->next_failed, true, memory_order_relaxed);
        return;
    }
    for (int64_t i = first; i < end; i++, px += f)
        to_real(px, d->x_next + (size_t)i * f, f, d->mean, d->std);
}

/* Ends the background conversion, if one is posted; true if x_next then
   holds the batch of samples [next_pos, next_pos + next_n) of the order. */
static bool converted(tg_dataset *d)
{
    if (!d->converting) return false;
    d->converting = false;
    return tg_background_wait();
}

/* The pixels of batch j of the epoch, samples idx[0..n): the reader's, or
   read on the spot (the first batch of an epoch; every batch if no thread
   could be started; or one that a worker failed to read). NULL (the epoch
   ends, the error is kept in d->err) if a read failed. */
static const uint8_t *stream_batch(tg_dataset *d, int64_t j, const int64_t *idx, int64_t n)
{
    int st;
    if (d->reader_on && reader_here(d)) st = reader_take(d, j);
    else st = gather("tg_dataset_next", d, idx, n, slot(d, j));
    if (st != TG_OK) {
        d->err = st;
        d->in_epoch = false;
        return NULL;
    }
    return slot(d, j);
}

bool tg_dataset_next(tg_dataset *d, tg_batch *b)
{
    if (!d || !b) return false;
    d->err = TG_OK;
    if (!d->configured && tg_dataset_batching(d, NULL) != TG_OK) return false;
    bool have_next = converted(d) && d->in_epoch;
    if (!d->in_epoch) {
        /* a new epoch: a fresh random order (or the natural one), once the
           reader no longer reads from the old one (after a rewind) */
        reader_pause(d);
        if (d->opts.shuffle) {
            for (int64_t i = 0; i < d->n; i++) d->order[i] = i;
            tg_rng_shuffle(&d->rng, d->order, d->n);
        }
        d->in_epoch = true;
        d->reader_on = false;
        d->pos = 0;
        d->number = 0;
        d->epoch++;
    }
    int64_t left = d->n - d->pos;
    int64_t n = left < d->opts.batch_size ? left : d->opts.batch_size;
    if (n == 0 || (d->opts.drop_last && n < d->opts.batch_size)) {
        d->in_epoch = false;
        return false;
    }
    const int64_t *idx = d->order + d->pos;
    const size_t f = (size_t)d->features;
    bool streamed = d->fd >= 0;
    if (have_next && d->next_pos == d->pos && d->next_n == n &&
        !atomic_load_explicit(&d->next_failed, memory_order_relaxed)) {
        tg_real *x = d->x; /* the worker converted this batch: take it */
        d->x = d->x_next;
        d->x_next = x;
    } else if (streamed) {
        const uint8_t *staged = stream_batch(d, d->number, idx, n); /* [n, features] */
        if (!staged) return false;
        for (int64_t i = 0; i < n; i++)
            to_real(staged + (size_t)i * f, d->x + (size_t)i * f, f, d->mean, d->std);
        if (d->reader_on) reader_done(d, d->number);
    } else {
        convert_rows(d, idx, 0, n, n, d->x);
    }
    /* the next batch: read (if streamed) and converted by a worker while
       the caller trains on this one; else a streamed dataset's reader
       thread is handed the rest of the epoch, and a loaded one's next
       images are asked for, from random places in the whole set */
    int64_t rest = left - n, n_next = rest < d->opts.batch_size ? rest : d->opts.batch_size;
    if (n_next > 0 && !(d->opts.drop_last && n_next < d->opts.batch_size) && !d->reader_on) {
        d->next_pos = d->pos + n;
        d->next_n = n_next;
        d->next_number = d->number + 1;
        atomic_store_explicit(&d->next_failed, false, memory_order_relaxed);
        d->converting = tg_background_post(
            (int)((n_next + ROWS_PER_TASK - 1) / ROWS_PER_TASK), convert_task, d);
        if (!d->converting && streamed) {
            reader_epoch(d, d->number + 1, tg_dataset_num_batches(d));
            d->reader_on = reader_here(d);
        } else if (!d->converting) {
            for (int64_t i = 0; i < n_next; i++)
                prefetch_bytes(d->images + (size_t)idx[n + i] * f, f);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        d->y[i] = d->labels[idx[i]];
        d->y_real[i] = (tg_real)d->labels[idx[i]];
    }
    b->n = n;
    b->features = d->features;
    b->x = d->x;
    b->y = d->y;
    b->y_real = d->y_real;
    b->index = idx;
    b->number = d->number++;
    b->epoch = d->epoch;
    d->pos += n;
    return true;
}
