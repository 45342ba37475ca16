/* Helpers shared by the io sources (io_idx.c, io_safetensors.c, dataset.c).
   Not installed. */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include "core/internal.h"

/* Reads the whole file at `path` into a new buffer (*buf, freed by the
   caller; one byte more than *len, set to 0). `who` names the calling
   function in the error message. Returns TG_OK, TG_ERR_IO (cannot open or
   read) or TG_ERR_NOMEM, with the message set. */
int tg_io_read_file(const char *who, const char *path, unsigned char **buf, size_t *len);

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

#endif
