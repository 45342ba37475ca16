/* Data-parallel training over MPI: the gradient block summed over the
   processes in one MPI_Allreduce (in place), the weights broadcast once,
   and the buffers (batch norm's running statistics) broadcast after each
   step. Built into libtapegrad_mpi when CMake finds MPI (not into
   libtapegrad, which needs no MPI). */
#include <mpi.h>

#include "nn/nn_internal.h"

#ifdef TG_DOUBLE
#define TG_MPI_REAL MPI_DOUBLE
#else
#define TG_MPI_REAL MPI_FLOAT
#endif

/* The block as one count of MPI's int type, or an error: MPI counts are
   ints. */
static int block_count(const char *fn, const tg_params *p, int *count)
{
    size_t len = tg_params_block_len(p);
    if (len > (size_t)INT32_MAX)
        return tg_set_error(TG_ERR_INVALID, "%s: %zu values are more than one MPI call takes",
                            fn, len);
    *count = (int)len;
    return TG_OK;
}

static int mpi_failed(const char *fn, const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return tg_set_error(TG_ERR_IO, "%s: %s failed: %.*s", fn, what, len, msg);
}

int tg_dp_allreduce_grad(tg_params *p, MPI_Comm comm, double scale)
{
    const char *fn = "tg_dp_allreduce_grad";
    if (!p) return tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
    if (!isfinite(scale))
        return tg_set_error(TG_ERR_INVALID, "%s: scale %g is not finite", fn, scale);
    int count = 0, st = block_count(fn, p, &count);
    if (st != TG_OK) return st;
    tg_real *g = tg_params_grad(p); /* zeroes the released gradients' memory */
    tg_real s = (tg_real)scale;
    for (size_t k = 0; s != 1 && k < tg_params_count(p); k++) {
        tg_tensor *x = tg_params_at(p, k);
        for (int64_t i = 0; x->grad && i < x->size; i++) x->grad[i] = x->grad[i] * s;
    }
    int rc = MPI_Allreduce(MPI_IN_PLACE, g, count, TG_MPI_REAL, MPI_SUM, comm);
    if (rc != MPI_SUCCESS) return mpi_failed(fn, "MPI_Allreduce", rc);
    for (size_t k = 0; k < tg_params_count(p); k++) {
        tg_tensor *x = tg_params_at(p, k);
        if (!x->grad && (x->flags & TG_REQUIRES_GRAD)) /* the sum is there, on every process */
            x->grad = tg_param_grad_home(x);
    }
    return TG_OK;
}

int tg_dp_broadcast_params(tg_params *p, MPI_Comm comm, int root)
{
    const char *fn = "tg_dp_broadcast_params";
    if (!p) return tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
    int count = 0, st = block_count(fn, p, &count);
    if (st != TG_OK) return st;
    int rc = MPI_Bcast(tg_params_data(p), count, TG_MPI_REAL, root, comm);
    return rc == MPI_SUCCESS ? TG_OK : mpi_failed(fn, "MPI_Bcast", rc);
}

int tg_dp_broadcast_buffers(tg_params *p, MPI_Comm comm, int root)
{
    const char *fn = "tg_dp_broadcast_buffers";
    if (!p) return tg_set_error(TG_ERR_INVALID, "%s: params is NULL", fn);
    for (size_t k = 0; k < tg_params_buffer_count(p); k++) {
        tg_tensor *x = tg_params_buffer_at(p, k);
        if (x->size > INT32_MAX)
            return tg_set_error(TG_ERR_INVALID, "%s: buffer '%s' has %lld values, more than one "
                                "MPI call takes", fn, x->name, (long long)x->size);
        if (x->size == 0) continue;
        int rc = MPI_Bcast(x->data, (int)x->size, TG_MPI_REAL, root, comm);
        if (rc != MPI_SUCCESS) return mpi_failed(fn, "MPI_Bcast", rc);
    }
    return TG_OK;
}
