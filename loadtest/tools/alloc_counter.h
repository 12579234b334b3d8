/* alloc_counter.h: the layout of the counter file that alloc_counter.so writes.
 *
 * Every process that loads the library with the same ALLOC_COUNTER_FILE maps the same file
 * MAP_SHARED, so the counts of a forking server (nginx's master and workers) add up in one
 * place, and a reader (the runner, or alloc_counter_check) sees them while the server runs.
 * Counters only grow; a reader takes two snapshots and subtracts.
 *
 * The runner (loadtest/runner/alloc_file.py) reads this layout with Python's struct module:
 * keep the two in step, and bump ALLOC_COUNTER_VERSION when the layout changes.
 */
#ifndef MEMPOOL_LOADTEST_ALLOC_COUNTER_H
#define MEMPOOL_LOADTEST_ALLOC_COUNTER_H

#include <stdint.h>

#define ALLOC_COUNTER_MAGIC "ALLOCCNT"   /* 8 bytes, no terminator in the file */
#define ALLOC_COUNTER_VERSION 1u
#define ALLOC_COUNTER_SLOTS 16           /* room for more counters without a new layout */

/* Environment: the counter file (created if missing), and where on-demand backtraces go. */
#define ALLOC_COUNTER_FILE_ENV "ALLOC_COUNTER_FILE"
#define ALLOC_COUNTER_TRACE_ENV "ALLOC_COUNTER_TRACE"

/* Index of each counter in alloc_counter_file.count[]: calls of that function.
 * free counts only non-null pointers; realloc counts every call (realloc(NULL, n) too). */
enum alloc_counter_index {
  AC_MALLOC = 0,
  AC_CALLOC = 1,
  AC_REALLOC = 2,          /* realloc and reallocarray */
  AC_FREE = 3,
  AC_POSIX_MEMALIGN = 4,
  AC_ALIGNED_ALLOC = 5,
  AC_MEMALIGN = 6,
  AC_VALLOC = 7,           /* valloc and pvalloc */
  AC_BYTES = 8,            /* bytes asked for by every allocating call above */
  AC_COUNT = 9
};

struct alloc_counter_file {
  char magic[8];                          /* ALLOC_COUNTER_MAGIC */
  uint32_t version;                       /* ALLOC_COUNTER_VERSION */
  uint32_t slots;                         /* ALLOC_COUNTER_SLOTS */
  uint64_t count[ALLOC_COUNTER_SLOTS];    /* indexed by alloc_counter_index; only grows */
  /* Written by a reader to ask for backtraces: the next trace_budget allocations (in any
   * process mapping the file) each write one to ALLOC_COUNTER_TRACE, decrementing it. */
  uint64_t trace_budget;
};

#endif
