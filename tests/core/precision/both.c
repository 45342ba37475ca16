/* One program, both precisions: the float half and the double half each
   call their own library (the double library's names are tg_f64_...), and
   each gets its own precision. */
#include <stdio.h>

int run_float(void);
int run_double(void);

int main(void)
{
    int f = run_float(), d = run_double();
    printf("float half: %s, double half: %s\n", f ? "FAILED" : "ok", d ? "FAILED" : "ok");
    return f || d;
}
