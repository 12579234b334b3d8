/* alloc_counter.so: counts heap calls of a process, for LD_PRELOAD.
 *
 *   ALLOC_COUNTER_FILE=/tmp/counts LD_PRELOAD=.../liballoc_counter.so mempool-server ...
 *
 * Defines malloc, calloc, realloc, reallocarray, free, posix_memalign, aligned_alloc, memalign,
 * valloc and pvalloc; each bumps its counter in the file named by ALLOC_COUNTER_FILE (layout in
 * alloc_counter.h) and forwards to glibc's exported __libc_* entry points, so there is no dlsym
 * bootstrap. The file is mapped MAP_SHARED when the library loads: processes forked later share
 * the mapping, processes started later with the same variable map the same file, so the counts of
 * a multi-process server add up. Calls made before the mapping exists (the dynamic loader's) go
 * to a private block nobody reads.
 *
 * Backtraces on demand: when a reader sets trace_budget in the file to N, the next N allocations
 * each append a backtrace (glibc backtrace_symbols_fd: "binary(+offset)" frames, for addr2line)
 * to the file named by ALLOC_COUNTER_TRACE.
 *
 * Thread safety: counters are relaxed atomic adds. Cost: one locked add per call.
 */
#define _GNU_SOURCE
#include "alloc_counter.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* glibc's own allocator entry points: exported, and never routed back through our symbols. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define EXPORT __attribute__((visibility("default")))
#define TRACE_FRAMES 48

static struct alloc_counter_file private_counts;                 /* until the file is mapped */
static struct alloc_counter_file *counts = &private_counts;
static int trace_fd = -1;
static int trace_lock;                                           /* one backtrace at a time per process */
static __thread int in_trace __attribute__((tls_model("initial-exec")));

/* --- counting ------------------------------------------------------------------------------- */

static void count(enum alloc_counter_index index, size_t bytes) {
  __atomic_fetch_add(&counts->count[index], 1, __ATOMIC_RELAXED);
  if (bytes != 0) __atomic_fetch_add(&counts->count[AC_BYTES], bytes, __ATOMIC_RELAXED);
}

/* --- backtraces on demand ------------------------------------------------------------------- */

/* Takes one unit of trace_budget if there is one left. */
static int take_trace_budget(void) {
  uint64_t left = __atomic_load_n(&counts->trace_budget, __ATOMIC_RELAXED);
  while (left > 0) {
    if (__atomic_compare_exchange_n(&counts->trace_budget, &left, left - 1, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
      return 1;
    }
  }
  return 0;
}

/* Writes text and an unsigned number without stdio (stdio may allocate). */
static void write_text(int fd, const char *text) { (void)!write(fd, text, strlen(text)); }

static void write_number(int fd, uint64_t value) {
  char digits[24];
  size_t at = sizeof digits;
  do {
    digits[--at] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  (void)!write(fd, digits + at, sizeof digits - at);
}

static void maybe_trace(const char *function, size_t bytes) {
  if (trace_fd < 0 || in_trace || __atomic_load_n(&counts->trace_budget, __ATOMIC_RELAXED) == 0) return;
  if (!take_trace_budget()) return;
  in_trace = 1;
  while (__atomic_exchange_n(&trace_lock, 1, __ATOMIC_ACQUIRE)) {
  }
  void *frames[TRACE_FRAMES];
  const int depth = backtrace(frames, TRACE_FRAMES);
  write_text(trace_fd, "--- ");
  write_text(trace_fd, function);
  write_text(trace_fd, " ");
  write_number(trace_fd, bytes);
  write_text(trace_fd, " bytes, pid ");
  write_number(trace_fd, (uint64_t)getpid());
  write_text(trace_fd, ", tid ");
  write_number(trace_fd, (uint64_t)gettid());
  write_text(trace_fd, "\n");
  backtrace_symbols_fd(frames + 1, depth - 1, trace_fd);  /* frame 0 is maybe_trace itself */
  __atomic_store_n(&trace_lock, 0, __ATOMIC_RELEASE);
  in_trace = 0;
}

/* --- set-up when the library loads ---------------------------------------------------------- */

static struct alloc_counter_file *map_counter_file(const char *path) {
  const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return NULL;
  (void)fchmod(fd, 0666);  /* a server that drops root (nginx's workers) keeps the mapping anyway */
  struct stat st;
  if (fstat(fd, &st) != 0 || (st.st_size < (off_t)sizeof(struct alloc_counter_file) &&
                              ftruncate(fd, sizeof(struct alloc_counter_file)) != 0)) {
    close(fd);
    return NULL;
  }
  void *map = mmap(NULL, sizeof(struct alloc_counter_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return NULL;
  struct alloc_counter_file *file = map;
  if (memcmp(file->magic, ALLOC_COUNTER_MAGIC, sizeof file->magic) != 0) {
    /* A new file (all zero). Two processes racing here write the same values. */
    file->version = ALLOC_COUNTER_VERSION;
    file->slots = ALLOC_COUNTER_SLOTS;
    memcpy(file->magic, ALLOC_COUNTER_MAGIC, sizeof file->magic);
  }
  return file;
}

static void open_trace_file(const char *path) {
  trace_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (trace_fd < 0) return;
  (void)fchmod(trace_fd, 0666);
  /* The first backtrace() loads libgcc_s, which allocates: do it now, not in a traced call. */
  void *frames[2];
  in_trace = 1;
  (void)backtrace(frames, 2);
  in_trace = 0;
}

__attribute__((constructor)) static void alloc_counter_load(void) {
  const char *path = getenv(ALLOC_COUNTER_FILE_ENV);
  if (path != NULL && *path != '\0') {
    struct alloc_counter_file *file = map_counter_file(path);
    if (file != NULL) counts = file;
  }
  const char *trace = getenv(ALLOC_COUNTER_TRACE_ENV);
  if (trace != NULL && *trace != '\0') open_trace_file(trace);
}

/* --- the interposed functions --------------------------------------------------------------- */

EXPORT void *malloc(size_t size) {
  count(AC_MALLOC, size);
  maybe_trace("malloc", size);
  return __libc_malloc(size);
}

EXPORT void *calloc(size_t count_, size_t size) {
  count(AC_CALLOC, count_ * size);
  maybe_trace("calloc", count_ * size);
  return __libc_calloc(count_, size);
}

EXPORT void *realloc(void *ptr, size_t size) {
  count(AC_REALLOC, size);
  maybe_trace("realloc", size);
  return __libc_realloc(ptr, size);
}

EXPORT void *reallocarray(void *ptr, size_t count_, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(count_, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, bytes);
}

EXPORT void free(void *ptr) {
  if (ptr == NULL) return;
  count(AC_FREE, 0);
  __libc_free(ptr);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
  count(AC_POSIX_MEMALIGN, size);
  maybe_trace("posix_memalign", size);
  /* glibc's rule: a power of two that is a multiple of sizeof(void *). */
  if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void *p = __libc_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size) {
  count(AC_ALIGNED_ALLOC, size);
  maybe_trace("aligned_alloc", size);
  return __libc_memalign(alignment, size);
}

EXPORT void *memalign(size_t alignment, size_t size) {
  count(AC_MEMALIGN, size);
  maybe_trace("memalign", size);
  return __libc_memalign(alignment, size);
}

EXPORT void *valloc(size_t size) {
  count(AC_VALLOC, size);
  maybe_trace("valloc", size);
  return __libc_valloc(size);
}

EXPORT void *pvalloc(size_t size) {
  count(AC_VALLOC, size);
  maybe_trace("pvalloc", size);
  return __libc_pvalloc(size);
}
