/* Compiled without TG_DOUBLE, linked to the double library on purpose: the
   link must fail (undefined reference to tg_tape_new), not train garbage. */
#include <tapegrad.h>

int main(void)
{
    tg_tape *t = tg_tape_new();
    tg_tape_free(t);
    return 0;
}
