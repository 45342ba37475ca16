/* The tape's own struct, shared by the two halves of the tape: recording
   (src/core/tape.c) and the backward passes (src/core/backward.c). Nothing
   else sees it. */
#ifndef TG_CORE_TAPE_INTERNAL_H
#define TG_CORE_TAPE_INTERNAL_H

#include "core/internal.h"

/* A leaf's gradient as a tensor, from a backward pass with create_graph. */
typedef struct tg_leaf_grad {
    const tg_tensor *leaf;
    tg_tensor *grad;
} tg_leaf_grad;

/* The replay program (src/core/program.c): each record as a compact
   instruction (tg_small, core/internal.h) where its op has one, run by the
   replays and by the backward passes after them instead of the records. */
typedef struct tg_patch {
    size_t slot;           /* an operand of the pool ... */
    const tg_tensor *leaf; /* ... that reads this leaf's data, read again at each replay */
} tg_patch;

typedef struct tg_leaf_check {
    tg_tensor *leaf; /* a leaf the backward program reaches */
    tg_real *grad;   /* its gradient's memory then (NULL: it needed none) */
} tg_leaf_check;

typedef struct tg_program {
    bool built;             /* for this recording (gen, n_recs) */
    uint32_t gen;
    size_t n_recs;
    tg_small *ins;          /* [n_recs]; fwd NULL: the record runs its op */
    tg_real **pool;         /* the instructions' operands: x[n_in] then gx[n_in] */
    size_t n_pool, cap_pool;
    tg_patch *patch;        /* pool slots that read leaves */
    size_t n_patch, cap_patch;
    size_t cap_ins;
    /* the records' attributes that instructions read, copied one after the
       other in record order (each record's own sits in the arena beside
       its record, a cache miss per instruction that reads it) */
    max_align_t *attrs;
    size_t cap_attrs;       /* in max_align_t units */
    /* the values and gradients of small compact outputs, moved together
       (in record order) out of the arena, where each had a cache line of
       its own: place[i] is record i's offset in them, or -1 */
    int64_t *place;
    size_t n_place, cap_place;
    tg_real *vals, *grads; /* [n_vals] in use */
    size_t n_vals, cap_vals, cap_grads;
    uint32_t vals_gen;      /* the generation whose tensors point into them */
    bool vals_used;
    /* the backward program: built by the first backward after a replay
       that finds every gradient in place, for one output */
    const tg_tensor *bwd_out; /* NULL: none built */
    int32_t *zeros;         /* the records it reaches, whose gradients start at 0 */
    int32_t *rules;         /* the records whose rules it runs, last first */
    size_t n_zeros, n_rules, cap_zeros, cap_rules;
    tg_leaf_check *leaves;  /* the leaves whose gradients it adds to */
    size_t n_leaves, cap_leaves;
    uint32_t sweeps_seen;   /* t->fresh_sweeps when it last cleared the flags */
} tg_program;

struct tg_tape {
    tg_arena arena;
    tg_record *recs; /* [cap_recs], n_recs in use */
    size_t n_recs, cap_recs;
    /* Scratch of the backward passes, one entry per record, grown with the
       records and kept (a step allocates nothing once the tape is sized):
       mark[i] = 1 when record i's output reaches the output being
       differentiated; grad_of[i] its gradient as a tensor (create_graph). */
    uint8_t *mark;
    tg_tensor **grad_of;
    /* the marks' output when they are the marks of one output (a loop that
       replays and backpropagates from the same loss marks once) */
    const tg_tensor *marked_out;
    size_t marked_recs;
    uint32_t marked_gen;
    int32_t marked_last;
    size_t n_tensors;
    size_t heap_allocs;
    uint32_t gen;          /* resets so far: tensors carry the generation they were made in */
    int32_t backward_of;   /* while a gradient rule (vjp) runs: its record, else -1 */
    const tg_op *applying; /* the op tg_apply is recording, else NULL: named by an
                              allocation that fails */
    bool recording;
    bool walking;          /* a backward walk runs its rules: a backward from inside
                              one is refused (and a first-order rule records nothing) */
    bool anomaly;
    bool failed;
    bool scratch_failed;   /* a forward's or a rule's tg_record_scratch failed: it fails */
    /* create_graph: the gradient tensors of leaves, for tg_tape_grad_tensor
       (this generation; the sum over every create_graph backward) */
    tg_leaf_grad *leaf_grads;
    size_t n_leaf_grads, cap_leaf_grads;
    /* replay (tg_tape_set_replayable, tg_tape_replay) */
    bool replayable;       /* record every op */
    bool replaying;        /* inside tg_tape_replay: tg_record_save reuses */
    bool replay_partial;   /* the last replay stopped part-way: the values mix two steps */
    bool replay_ready;     /* the mark and the leaves below are taken */
    char not_replayable[160]; /* why this recording cannot be replayed, "" if it can */
    tg_arena_mark replay_mark; /* the arena at the end of the recording */
    size_t replay_recs;        /* the records then: a replay drops those made since */
    tg_tensor **leaves;    /* [n_leaves]: the leaves the records read, */
    int64_t (*leaf_shapes)[TG_MAX_DIMS + 1]; /* their ndim and shapes when first read */
    size_t n_leaves, cap_leaves;
    tg_tensor **detached;  /* [2·n_detached]: tg_detach's leaf, then its source */
    size_t n_detached, cap_detached;
    bool grads_above_mark; /* a walk ran after the replay mark: it may have made
                              gradients above it */
    uint32_t fresh_sweeps; /* times records' gradients were made fresh in bulk */
    bool record_grads;     /* a record's output was given gradient memory since the
                              last reset (until then a backward has none to make
                              fresh: refresh_intermediates skips its pass) */
    tg_program prog;
    char fail_msg[TG_MSG_LEN]; /* a failing forward's reason (tg_record_fail), else "" */
    char error[TG_MSG_LEN];
    /* last, not to move the fields above on their cache lines */
    const tg_op *scratch_op; /* the op whose tg_record_scratch failed */
    bool *fail_hit;  /* tg_tape_fail_alloc's: set when its failure happens */
    int64_t fail_in; /* tests (tg_tape_fail_alloc): the allocation on the tape that
                        fails, counting down (1: the next); 0 none */
};

/* The replay program (src/core/program.c). tg_program_replay runs every
   record's forward, by its compact form where it has one, after the
   replay's checks and rewind; tg_replay_record (src/core/tape.c) is one
   record by its op. tg_program_backward runs a first-order backward from
   out seeded with dout by the program, and returns false (having changed
   nothing) when it cannot: the walk then runs. tg_program_free releases
   it; tg_program_forget drops it at a reset. */
int tg_program_replay(tg_tape *t);
int tg_replay_record(tg_tape *t, size_t i);
bool tg_program_backward(tg_tape *t, tg_tensor *out, const tg_real *dout, int *status);
void tg_program_forget(tg_tape *t);
void tg_program_free(tg_tape *t);
/* One record's first-order rule in a walk on the tensors themselves, as
   tg_backward runs it, and the marks of the records an output depends on
   (src/core/backward.c). */
int tg_run_rule(tg_tape *t, int32_t i);
/* Whether the forward that just ran had its tg_record_scratch fail (the
   reason in t->fail_msg), which fails it; clears the flag. (A walk of
   rules checks at its end: backward.c's walk_end.) */
static inline bool tg_tape_scratch_failed(tg_tape *t)
{
    if (__builtin_expect(!t->scratch_failed, 1)) return false;
    t->scratch_failed = false;
    return true;
}
int32_t tg_mark_reached(tg_tape *t, tg_tensor *const *outs, int n_out);

/* Notes that this recording cannot be replayed, and why (the first reason
   is kept). */
void tg_tape_not_replayable(tg_tape *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* tg_detach's leaf and the tensor it shares data with, noted on a
   replayable tape (false if out of memory); before each replay runs, each
   such leaf is pointed again at its source's data, which the replay
   program may have moved (a small result packed with the others) or the
   caller rewrapped. */
bool tg_tape_note_detached(tg_tape *t, tg_tensor *leaf, tg_tensor *source);
void tg_tape_repoint_detached(tg_tape *t);

/* Grows the records (and the backward scratch with them) to hold one more.
   false if out of memory. */
bool tg_tape_reserve_record(tg_tape *t);

/* "tg_" for the library's own ops, "" for a user's op ("tg_relu", "cube"),
   so that messages name an op as its user calls it. */
const char *tg_op_prefix(const tg_op *op);

/* The first NaN or Inf of v[0..n), or -1. */
int64_t tg_first_nonfinite(const tg_real *v, int64_t n);
/* "'fc1.weight' [500,784] is nan at element 17", for anomaly messages. */
void tg_describe_bad(char *buf, size_t len, const tg_tensor *x, const tg_real *v, int64_t at);

#endif
