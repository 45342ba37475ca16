/* Helpers shared by the io sources (source.c, json.c, idx.c,
   safetensors.c, dataset.c). Not installed. */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include "core/internal.h"

#include <stdio.h>

#include <zlib.h>

/* ---- the byte source every loader reads through (source.c)

   Bytes from memory or from a file, through a window [next, next + avail)
   of unread bytes that a file refills from its TG_SRC_BUF_BYTES buffer as
   the parser asks for more; gzip is inflated on the way if the caller
   allows it. At most `limit` (tg_io_max_bytes() when opened) bytes of
   input are ever read. Open with tg_src_mem or tg_src_file, then
   tg_src_start; always tg_src_close (also after a failed open). */
#define TG_SRC_BUF_BYTES ((size_t)1 << 16)

typedef struct tg_src {
    const char *who, *name;     /* for messages: "<who>: <name>: ..." */
    FILE *f;                    /* NULL: the input is in memory */
    unsigned char *buf;         /* [TG_SRC_BUF_BYTES] a file's buffer */
    const unsigned char *next;  /* [avail] the unread bytes at hand */
    size_t avail;
    bool eof;                   /* nothing more to fetch */
    bool size_known;            /* size: the input's length (memory, regular file) */
    uint64_t size, taken;       /* taken: bytes fetched into the window so far */
    uint64_t limit;             /* the most input bytes it reads */
    bool gz;                    /* the input is gzip, inflated by z */
    bool z_live;                /* inflateInit2 succeeded */
    bool z_done;                /* the last gzip member ended cleanly */
    z_stream z;
} tg_src;

/* A source over len bytes of memory (not copied); `name` stands for the
   file in messages. */
void tg_src_mem(tg_src *s, const char *who, const char *name, const void *buf, size_t len);
/* A source over the file at path. TG_OK, or TG_ERR_INVALID (NULL path),
   TG_ERR_IO (cannot open), TG_ERR_NOMEM, with the message set. */
int tg_src_file(tg_src *s, const char *who, const char *path);
/* Refuses an input known to be over the limit, fills the window and, if
   `gzip` and the input starts with gzip's magic, inflates from there on. */
int tg_src_start(tg_src *s, bool gzip);
/* Closes the file, frees the buffer and zlib's state. */
void tg_src_close(tg_src *s);
/* Makes at least n (<= TG_SRC_BUF_BYTES) raw bytes unread at hand, unless
   the input ends first. TG_ERR_IO on a read error, TG_ERR_FORMAT past the
   limit. */
int tg_src_fill(tg_src *s, size_t n);
/* The raw bytes left unread of an input of known size. */
uint64_t tg_src_left(const tg_src *s);
/* Reads up to n (inflated) bytes into dst; *got is how many, fewer than n
   only at the end of the input. TG_OK or an error with its message
   (corrupt or truncated gzip, a read error, the limit). */
int tg_src_read(tg_src *s, void *dst, size_t n, size_t *got);
/* Reads exactly n bytes, or fails saying the file ends inside `what`. */
int tg_src_read_exact(tg_src *s, void *dst, size_t n, const char *what);
/* Reads up to n bytes into a new buffer (*out, the caller frees it; *got
   bytes of it read, fewer than n if the input ended) that grows as the
   bytes arrive: a header that claims more than the input holds costs only
   what the input held. */
int tg_src_read_new(tg_src *s, size_t n, void **out, size_t *got);
/* After the data: *end is true if no byte follows (one more byte is read
   at most, so a stream that never ends is not read to its end). */
int tg_src_at_end(tg_src *s, bool *end);
/* Creates a new file for writing beside path, to be renamed to path once
   written: path.tmp, or path.tmp1, path.tmp2 ... if that exists (opened
   with O_EXCL, so no existing file is ever opened, truncated or removed).
   TG_OK with the stream in *f and its name in *tmp (the caller frees it);
   TG_ERR_INVALID for an empty path, TG_ERR_IO or TG_ERR_NOMEM, with the
   message. */
int tg_io_create_temp(const char *who, const char *path, FILE **f, char **tmp);
/* Whether b starts with gzip's magic 0x1f 0x8b. */
bool tg_io_is_gzip(const unsigned char *b, size_t n);
/* The message for an input of `bytes` over the source's limit, e.g.
   what = "the dimensions describe". Returns TG_ERR_FORMAT. */
int tg_io_over_limit(const tg_src *s, const char *what, uint64_t bytes);

/* ---- JSON for safetensors headers (json.c) */

/* Checks that text[0..n) is one JSON value (RFC 8259) with only JSON's
   whitespace around it, in which no string holds \u0000 or a lone UTF-16
   surrogate, nested at most 64 deep, no number longer than 63 characters:
   then cJSON parses it unchanged, and fails only for want of memory.
   TG_OK or TG_ERR_FORMAT with "<who>: <file>: ..." saying where. */
int tg_json_check(const char *who, const char *file, const char *text, size_t n);
/* Writes s (NUL-terminated UTF-8) as a JSON string, quotes included, into
   out (no NUL added), or only measures it if out is NULL; returns its
   length. */
size_t tg_json_string(char *out, const char *s);

/* ---- IDX */

/* An IDX array (raw or gzip) streamed from the file at `path` through a
   small buffer, so the peak memory is the decompressed data plus change;
   `who` names the caller in messages ("tg_idx_load: data/x.gz: ..."). NULL
   on failure (cannot open or read: TG_ERR_IO; NULL path: TG_ERR_INVALID;
   bad contents: TG_ERR_FORMAT). */
tg_idx *tg_idx_read(const char *who, const char *path);

/* Checks the raw (uncompressed) IDX file at `path` and leaves it open for
   reading where it lies: *hdr gets its type, shape and size (data NULL),
   *offset where the data starts, *fd the open file (close it). The file
   must be a regular file whose length is exactly the header and the data
   its dimensions describe. Returns TG_OK, or TG_ERR_IO / TG_ERR_FORMAT /
   TG_ERR_INVALID with the message set (the file is then closed). */
int tg_idx_open_raw(const char *who, const char *path, tg_idx *hdr, uint64_t *offset, int *fd);

/* Reads n bytes at `offset` of fd, going on after short reads and
   interruptions. Returns how many were read: fewer than n at the end of
   the file (errno then 0) or on an error (errno says which). */
size_t tg_io_pread(int fd, void *buf, size_t n, uint64_t offset);

/* ---- a tensor dataset's batching position, for checkpoints
   (tensor_dataset.c; src/nn/checkpoint.c saves and restores it) */

typedef struct tg_data_pos {
    int64_t n;            /* samples (checked on restore) */
    bool configured;
    tg_batch_opts opts;   /* the batching options (checked on restore) */
    tg_rng rng;           /* the shuffling generator now */
    tg_rng epoch_rng;     /* and as the current epoch started: its order comes from it */
    bool in_epoch;
    int64_t pos, number, epoch;
} tg_data_pos;

int tg_tensor_dataset_get_pos(const tg_tensor_dataset *d, tg_data_pos *pos);
/* TG_OK if pos, read from the file at path, can be restored into d (same
   size and options), else TG_ERR_FORMAT with a message naming
   tg_checkpoint_load and the file. */
int tg_tensor_dataset_check_pos(const tg_tensor_dataset *d, const tg_data_pos *pos,
                                const char *path);
/* Restores pos (checked) into d, whose batch buffers exist: cannot fail. */
void tg_tensor_dataset_set_pos(tg_tensor_dataset *d, const tg_data_pos *pos);

#endif
