#define _POSIX_C_SOURCE 200809L
#include "workers.h"

#include <stdatomic.h>
#include <time.h>

#include "gemm/gemm.h"

static void mark(void *ctx, int task)
{
    (void)task;
    atomic_store((atomic_bool *)ctx, true);
}

bool tw_worker_running(void)
{
    atomic_bool ran = false;
    if (!tg_background_post(1, mark, &ran)) return false;
    for (int ms = 0; ms < 10000 && !atomic_load(&ran); ms++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    bool by_worker = atomic_load(&ran); /* before tg_background_wait runs it here */
    tg_background_wait();
    return by_worker;
}
