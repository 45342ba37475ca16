/* Compiled without TG_DOUBLE: the float library's half of the program. */
#include <tapegrad.h>

/* d/dx Σ x² at x = 3, in float. 0 on success. */
int run_float(void)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_requires_grad(tg_full(t, TG_SHAPE(2), 3), true);
    int ok = tg_backward(t, tg_sum(t, tg_square(t, x), TG_ALL, false)) == TG_OK &&
             x->grad[0] == 6 && sizeof(tg_real) == 4 && tg_real_name()[0] == 'f';
    tg_tape_free(t);
    return ok ? 0 : 1;
}
