/* Scratch files for the fuzz targets: each input is also written to a
   file, so that the path-based entry points (tg_idx_load, the dataset
   loaders, tg_params_load and tg_params_save) see it too. One directory
   per process, under $TMPDIR or /tmp, removed at exit. */
#ifndef TG_FUZZ_FILES_H
#define TG_FUZZ_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[512];
static char fuzz_names[8][600]; /* the files made, for the clean-up */
static int fuzz_n_names;

static void fuzz_cleanup(void)
{
    for (int i = 0; i < fuzz_n_names; i++) remove(fuzz_names[i]);
    rmdir(fuzz_dir);
}

/* The scratch directory, made on first use. */
static const char *fuzz_scratch(void)
{
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/tg-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir)) abort();
        atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* The path of `name` in the scratch directory (a static buffer per name,
   the same for the life of the process). */
static const char *fuzz_path(const char *name)
{
    const char *dir = fuzz_scratch();
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (int i = 0; i < fuzz_n_names; i++)
        if (!strcmp(fuzz_names[i], path)) return fuzz_names[i];
    if (fuzz_n_names == 8) abort();
    snprintf(fuzz_names[fuzz_n_names], sizeof fuzz_names[0], "%s", path);
    return fuzz_names[fuzz_n_names++];
}

/* Writes n bytes to the scratch file `name`; returns its path. */
static const char *fuzz_write(const char *name, const void *b, size_t n)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(b, 1, n, f) != n) || fclose(f) != 0) abort();
    return path;
}

#endif
