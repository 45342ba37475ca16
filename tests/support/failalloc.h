/* Failure injection for tests of what a call does when memory runs out.

   A test program linked with
       -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=free
   (tests/CMakeLists.txt does it for test_failalloc*) sends every
   allocation of its own code and of the static library through the
   wrappers of failalloc.c; cJSON (a shared library) is sent there by
   fa_hook_cjson, zlib by the library's own allocation functions. Unarmed,
   the wrappers only pass the calls on. Armed, they count the allocations,
   make one of them fail, and keep the ones made since arming in a table:
   which are still live, and the most bytes live at once.

   The usual loop: for N = 0, 1, 2, ... arm(N), make the call, disarm; if
   fa_failed(), the call must have failed cleanly (an error status and
   message, nothing half-done, fa_live() == 0); if not, every allocation
   succeeded and the loop is over. */
#ifndef TG_TEST_FAILALLOC_H
#define TG_TEST_FAILALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Starts counting: allocation number `fail_at` (0-based) fails, every
   other succeeds; fail_at < 0: none fails (count and measure only). */
void fa_arm(long fail_at);
/* Stops counting; returns the number of allocations made while armed
   (the failed one included). */
long fa_disarm(void);
/* Whether the armed failure happened. */
bool fa_failed(void);
/* Allocations made while armed and not freed since (after disarming too). */
size_t fa_live(void);
/* The most bytes that allocations made while armed held at once. */
size_t fa_peak_bytes(void);
/* Sends cJSON's allocations through the wrappers. */
void fa_hook_cjson(void);

#endif
