/* The nn layer's internal declarations (src/nn): the optimizer's struct,
   which the schedules (sched.c) and checkpoints (checkpoint.c) read and set,
   and the scheduler's. Not installed. */
#ifndef TG_NN_INTERNAL_H
#define TG_NN_INTERNAL_H

#include "core/internal.h"

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD } opt_kind;

/* The scalar factors of one step, the same for every element of a group
   (optim.c fills them; the ones that depend on a parameter's own step
   count are set per parameter). */
typedef struct {
    tg_real wd, mu, keep, neg_lr;
    bool maximize, decay, momentum, nesterov, first;
} sgd_coef;

typedef struct {
    tg_real b1, one_b1, b2, one_b2, eps, wd, decay, neg_step, bc2_sqrt;
    bool adamw, amsgrad, maximize, coupled_wd;
} adam_coef;

typedef struct {
    tg_real alpha, one_alpha, eps, wd, mu, neg_lr;
    bool maximize, decay, centered, momentum;
} rms_coef;

typedef struct {
    tg_real wd, eps, neg_clr;
    bool maximize, decay;
} ada_coef;

/* A parameter group (PyTorch's param_groups[i]): the options its
   parameters are stepped with. lr, weight_decay and momentum are the live
   values (schedules set lr; OneCycleLR sets momentum, which is Adam's β₁);
   the options struct of the kind holds the rest. */
typedef struct opt_group {
    double lr, weight_decay, momentum;
    double initial_lr;    /* set by the first scheduler (group['initial_lr']) */
    bool has_initial_lr;
    size_t n_params;      /* how many parameters are in it */
    /* the factors of the step being taken */
    sgd_coef sgd;
    adam_coef adam;
    rms_coef rms;
    ada_coef ada;
} opt_group;

enum { OPT_MAX_STATE = 3 }; /* state blocks: Adam with amsgrad, centered RMSprop with momentum */

struct tg_optim {
    opt_kind kind;
    tg_params *p;
    size_t len;    /* tg_params_block_len when created */
    size_t count;  /* tg_params_count when created */
    tg_sgd_opts sgd;
    tg_adam_opts adam;
    tg_rmsprop_opts rms;
    tg_adagrad_opts ada;
    int n_groups;
    opt_group *groups;       /* [n_groups] */
    int *param_group;        /* [count]: the group of each parameter */
    int64_t steps;           /* step calls */
    int64_t *param_steps;    /* [count]: the steps that updated each parameter */
    uint8_t *buf_ready;      /* [count]: SGD's momentum buffer holds a value (PyTorch's
                                buffer is None until a step with momentum) */
    tg_real *state;          /* one allocation holding the blocks below */
    int n_state;
    const char *state_name[OPT_MAX_STATE];
    tg_real *state_block[OPT_MAX_STATE];
    tg_real *buf;            /* SGD, RMSprop: momentum buffer [len], or NULL */
    tg_real *exp_avg;        /* Adam m [len] */
    tg_real *exp_avg_sq;     /* Adam v [len] */
    tg_real *max_exp_avg_sq; /* amsgrad max of v [len], or NULL */
    tg_real *square_avg;     /* RMSprop [len] */
    tg_real *grad_avg;       /* centered RMSprop [len], or NULL */
    tg_real *sum;            /* Adagrad [len] */
    unsigned gemm_splits;    /* tg_gemm_split_count at the last step */
};

/* Whether the optimizer has a momentum that OneCycleLR can cycle: SGD's
   and RMSprop's momentum, Adam's and AdamW's β₁ (not Adagrad). */
bool tg_optim_has_momentum(const tg_optim *o);
/* Sets group g's momentum (β₁ for Adam). An SGD or RMSprop optimizer made
   without momentum gets its momentum buffer here (one allocation, zeros):
   TG_OK or TG_ERR_NOMEM / TG_ERR_INVALID with the message set. */
int tg_optim_set_group_momentum(tg_optim *o, int g, double m);

/* ---- "key=value key=value ..." strings: the checkpoint's metadata
   (kv.c). Integers in decimal, doubles as the hex digits of their bits,
   lists comma-separated. A
   writer that runs out of memory sets oom and writes nothing more. */
typedef struct tg_kv {
    char *s;
    size_t len, cap;
    bool oom;
} tg_kv;
/* Appends n bytes (a space first if sep and the string is not empty). */
void tg_kv_append(tg_kv *b, const char *text, size_t n, bool sep);
void tg_kv_str(tg_kv *b, const char *key, const char *v);
void tg_kv_num(tg_kv *b, const char *key, double v);
void tg_kv_int(tg_kv *b, const char *key, int64_t v);
void tg_kv_nums(tg_kv *b, const char *key, const double *v, size_t n);
void tg_kv_ints(tg_kv *b, const char *key, const int64_t *v, size_t n);
void tg_kv_u64s(tg_kv *b, const char *key, const uint64_t *v, size_t n);
/* The value of key in s, parsed: false if it is missing or malformed
   (lists: exactly n values). */
bool tg_kv_get_num(const char *s, const char *key, double *v);
bool tg_kv_get_int(const char *s, const char *key, int64_t *v);
bool tg_kv_get_nums(const char *s, const char *key, double *v, size_t n);
bool tg_kv_get_ints(const char *s, const char *key, int64_t *v, size_t n);
bool tg_kv_get_u64s(const char *s, const char *key, uint64_t *v, size_t n);
/* Where the value of key is in s (*v, *len bytes, up to the next space). */
bool tg_kv_value(const char *s, const char *key, const char **v, size_t *len);
/* The value of key as a word (up to the next space) into buf. */
bool tg_kv_get_str(const char *s, const char *key, char *buf, size_t len);

/* ---- schedulers in checkpoints (sched.c) */

/* Writes every field of s (its kind and options, its counters and rates),
   not those it holds. */
void tg_sched_write(const tg_sched *s, tg_kv *b);
/* The optimizer s sets the rates of. */
tg_optim *tg_sched_optim(const tg_sched *s);
/* The schedulers s holds (SequentialLR, ChainedScheduler). */
int tg_sched_n_sub(const tg_sched *s);
tg_sched *tg_sched_sub(const tg_sched *s, int i);
/* A scheduler like live whose counters and rates are read from str (what
   tg_sched_write wrote), or NULL with a message (naming `who`) if str is
   malformed or describes another scheduler (kind, options, groups). */
tg_sched *tg_sched_read(const char *who, const tg_sched *live, const char *str);
/* Puts the counters and rates of `from` (from tg_sched_read) into live:
   cannot fail. */
void tg_sched_commit(tg_sched *live, const tg_sched *from);

#endif
