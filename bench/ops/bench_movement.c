/* bench_movement: the ops that only move data, against memcpy.

   Each op's forward runs on tensors of about --mb MiB of output (recording
   off, so that only the op is timed; the tape is reset between runs and
   its arena reused), and memcpy copies the same number of output bytes
   between two buffers of that size in the same run, just before it. Each
   figure is the median of --reps runs. Two ratios: the time one, op time /
   memcpy time of the output bytes, and the bandwidth one the goal
   names ("within 2x of memcpy bandwidth"), memcpy's GB/s over the op's,
   where the op's bytes are those it must read and write (2 x the output,
   plus gather's index). They differ only for gather, which reads an 8-byte
   index for every element it writes: its bandwidth ratio is its time ratio
   over 2 in float (x 2/3 in double). The ops:
     cat          four [R, C/4] joined along axis 1 into [R, C]
     gather       [R, C] along axis 1 with an index of [R, C] (random)
     index_select [V, 256] rows taken in a random order (as many as V)
     pad          [N, 8, H, W] padded by 1 on H and W (constant)
     permute      [R, C] transposed to [C, R] (tg_transpose)
   gather, index_select and permute are also timed as the plain C loop a
   user would write for them (the same inputs, in the same run; "loop
   ms"): a random gather from int64 indices costs about five memcpys
   written by hand on the machine measured, three as tapegrad now does it
   (AVX-512's gather instruction, streaming stores).

   usage: bench_movement [--mb M] [--reps R] [--csv] */
#define _POSIX_C_SOURCE 200809L
#include <tapegrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_stats.h"

enum { MAX_REPS = 201, N_CAT = 4, ROW = 256 };

/* The inputs of every op, made once: the tensors as parameters (a tensor
   of one tape may not be used on another, and the ops' tape is reset after
   each run), the indices as arrays wrapped on the ops' tape at each run (a
   wrap copies nothing). */
typedef struct {
    int64_t R, C, V, N, H, W;
    tg_tensor *parts[N_CAT], *x, *table, *img;
    int64_t *gidx, *rows;
} inputs;

typedef tg_tensor *(*op_fn)(tg_tape *t, const inputs *in);
typedef void (*plain_fn)(const inputs *in, tg_real *out);

/* the plain C loops */
static void plain_gather(const inputs *in, tg_real *out)
{
    const tg_real *x = in->x->data;
    for (int64_t r = 0; r < in->R; r++)
        for (int64_t c = 0; c < in->C; c++)
            out[r * in->C + c] = x[r * in->C + in->gidx[r * in->C + c]];
}
static void plain_index_select(const inputs *in, tg_real *out)
{
    for (int64_t v = 0; v < in->V; v++)
        memcpy(out + v * ROW, in->table->data + in->rows[v] * ROW, ROW * sizeof(tg_real));
}
static void plain_permute(const inputs *in, tg_real *out)
{
    const tg_real *x = in->x->data;
    for (int64_t c = 0; c < in->C; c++)
        for (int64_t r = 0; r < in->R; r++) out[c * in->R + r] = x[r * in->C + c];
}

static tg_tensor *op_cat(tg_tape *t, const inputs *in)
{
    return tg_cat(t, in->parts, N_CAT, 1);
}
static tg_tensor *op_gather(tg_tape *t, const inputs *in)
{
    return tg_gather(t, in->x, 1, tg_index_wrap(t, TG_SHAPE(in->R, in->C), in->gidx));
}
static tg_tensor *op_index_select(tg_tape *t, const inputs *in)
{
    return tg_index_select(t, in->table, 0, tg_index_wrap(t, TG_SHAPE(in->V), in->rows));
}
static tg_tensor *op_pad(tg_tape *t, const inputs *in)
{
    const int64_t pad[4] = {1, 1, 1, 1};
    return tg_pad(t, in->img, 4, pad, TG_PAD_CONSTANT, 0);
}
static tg_tensor *op_permute(tg_tape *t, const inputs *in) { return tg_transpose(t, in->x, 0, 1); }

static void fill(tg_tensor *x, uint64_t *s)
{
    for (int64_t i = 0; i < x->size; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        x->data[i] = (tg_real)((double)(*s >> 11) * 0x1p-53 - 0.5);
    }
}

/* n random indices below `below` (free them). */
static int64_t *random_index(int64_t n, int64_t below, uint64_t *s)
{
    int64_t *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (int64_t)((*s >> 33) % (uint64_t)below);
    }
    return v;
}

/* Sizes for about `bytes` of output per op. */
static bool make_inputs(tg_params *p, inputs *in, int64_t bytes)
{
    int64_t elems = bytes / (int64_t)sizeof(tg_real);
    in->R = 4096;
    in->C = elems / in->R / N_CAT * N_CAT;
    in->V = elems / ROW;
    in->N = 8, in->H = 256;
    in->W = elems / (in->N * 8 * in->H);
    if (in->C < N_CAT || in->W < 1) return false;
    uint64_t s = 42;
    for (int k = 0; k < N_CAT; k++) {
        char name[16];
        snprintf(name, sizeof name, "part%d", k);
        in->parts[k] = tg_params_add(p, name, TG_SHAPE(in->R, in->C / N_CAT));
        if (!in->parts[k]) return false;
        fill(in->parts[k], &s);
    }
    in->x = tg_params_add(p, "x", TG_SHAPE(in->R, in->C));
    in->table = tg_params_add(p, "table", TG_SHAPE(in->V, ROW));
    in->img = tg_params_add(p, "img", TG_SHAPE(in->N, 8, in->H - 2, in->W - 2));
    if (!in->x || !in->table || !in->img) return false;
    fill(in->x, &s);
    fill(in->table, &s);
    fill(in->img, &s);
    in->gidx = random_index(in->R * in->C, in->C, &s);
    in->rows = random_index(in->V, in->V, &s);
    return in->gidx && in->rows;
}

int main(int argc, char **argv)
{
    int mb = 64, reps = 11;
    bool csv = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) mb = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0) csv = true;
        else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            fprintf(help ? stdout : stderr, "usage: %s [--mb M] [--reps R] [--csv]\n", argv[0]);
            return help ? 0 : 2;
        }
    }
    if (mb < 1) mb = 1;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    int64_t bytes = (int64_t)mb << 20;
    tg_tape *t = tg_tape_new();
    tg_params *params = tg_params_new();
    inputs in = {0};
    if (!t || !params || !make_inputs(params, &in, bytes)) {
        fprintf(stderr, "bench_movement: cannot make the inputs: %s\n", tg_last_error());
        return 1;
    }
    tg_tape_set_recording(t, false);
    static const struct {
        const char *name;
        op_fn fn;
        int read_per_elem; /* bytes read per output element, besides the data */
        plain_fn plain;    /* the plain C loop, or NULL */
    } ops[] = {{"cat", op_cat, 0, NULL},
               {"gather", op_gather, 8, plain_gather},
               {"index_select", op_index_select, 0, plain_index_select},
               {"pad", op_pad, 0, NULL},
               {"permute", op_permute, 0, plain_permute}};
    if (!csv)
        printf("bench_movement: %s, about %d MiB of output per op, median of %d runs\n"
               "%-13s %10s %10s %8s %9s %9s %10s %8s\n",
               tg_real_name(), mb, reps, "op", "op ms", "memcpy ms", "ratio", "GB/s op",
               "bw ratio", "loop ms", "op/loop");
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        static double top[MAX_REPS], tcp[MAX_REPS], tpl[MAX_REPS];
        void *src = NULL, *dst = NULL;
        size_t out_bytes = 0;
        double check = 0;
        for (int r = -2; r < reps; r++) { /* 2 warm-up runs size the arena */
            double t0 = now();
            tg_tensor *y = ops[k].fn(t, &in);
            double t1 = now();
            if (!y) {
                fprintf(stderr, "bench_movement: %s: %s\n", ops[k].name, tg_tape_error(t));
                return 1;
            }
            if (!src) {
                out_bytes = (size_t)y->size * sizeof(tg_real);
                src = malloc(out_bytes);
                dst = malloc(out_bytes);
                if (!src || !dst) return 1;
                memset(src, 1, out_bytes);
                memset(dst, 2, out_bytes);
            }
            check += (double)y->data[y->size / 2];
            tg_tape_reset(t);
            double t2 = now();
            memcpy(dst, src, out_bytes);
            double t3 = now();
            check += ((unsigned char *)dst)[out_bytes / 3];
            double t4 = now();
            if (ops[k].plain) ops[k].plain(&in, (tg_real *)dst);
            double t5 = now();
            check += ((unsigned char *)dst)[out_bytes / 5];
            if (r >= 0) top[r] = t1 - t0, tcp[r] = t3 - t2, tpl[r] = t5 - t4;
        }
        qsort(top, (size_t)reps, sizeof(double), cmp_double);
        qsort(tcp, (size_t)reps, sizeof(double), cmp_double);
        qsort(tpl, (size_t)reps, sizeof(double), cmp_double);
        double op = top[reps / 2], cp = tcp[reps / 2], pl = tpl[reps / 2];
        double moved = 2.0 * (double)out_bytes +
                       (double)ops[k].read_per_elem * (double)(out_bytes / sizeof(tg_real));
        double bw = (2.0 * (double)out_bytes / cp) / (moved / op); /* memcpy's GB/s / the op's */
        if (csv)
            printf("movement,%s,%zu,%.4f,%.4f,%.3f,%.4f,%.3f\n", ops[k].name, out_bytes,
                   op * 1e3, cp * 1e3, op / cp, ops[k].plain ? pl * 1e3 : NAN, bw);
        else if (ops[k].plain)
            printf("%-13s %10.3f %10.3f %8.2f %9.2f %9.2f %10.3f %8.2f%s\n", ops[k].name,
                   op * 1e3, cp * 1e3, op / cp, moved / op * 1e-9, bw, pl * 1e3, op / pl,
                   check == 12345.678 ? "*" : "");
        else
            printf("%-13s %10.3f %10.3f %8.2f %9.2f %9.2f %10s %8s%s\n", ops[k].name, op * 1e3,
                   cp * 1e3, op / cp, moved / op * 1e-9, bw, "-", "-",
                   check == 12345.678 ? "*" : "");
        free(src);
        free(dst);
    }
    if (!csv)
        printf("ratio = op time / memcpy of the output bytes; GB/s op counts the bytes read and "
               "written;\nbw ratio = memcpy's GB/s / the op's (goal: within 2); loop = the plain "
               "C loop for the same op\n");
    tg_tape_free(t);
    tg_params_free(params);
    free(in.gidx);
    free(in.rows);
    return 0;
}
