/* Helpers shared by the io sources (io_idx.c, io_safetensors.c, dataset.c).
   Not installed. */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include "tg_internal.h"

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

#endif
