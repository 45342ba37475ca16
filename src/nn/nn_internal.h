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

#endif
