/* For the tests that fork() with the library's workers running. */
#ifndef TG_TEST_WORKERS_H
#define TG_TEST_WORKERS_H

#include <stdbool.h>

/* Waits (up to 10 s) until a worker of the library's pool has run a task,
   with tg_set_num_threads(2) or more; true if one did. A test that forks
   right after the first parallel job calls this first: a worker still
   starting may hold a lock of AddressSanitizer's allocator, which the
   child would then wait for forever (glibc's malloc takes its locks
   around fork(); the sanitizer of GCC 12 does not). */
bool tw_worker_running(void);

#endif
