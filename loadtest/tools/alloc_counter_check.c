/* alloc_counter_check: proves alloc_counter.so counts what it should, before anyone trusts it.
 *
 *   ALLOC_COUNTER_FILE=/tmp/c LD_PRELOAD=.../liballoc_counter.so alloc_counter_check
 *
 * Maps the same counter file the library writes, makes a known number of calls of each kind
 * between two snapshots, and compares the deltas exactly: one call of each function, a batch
 * of mallocs, strdup (which allocates inside glibc), a forked child's calls (the file adds up
 * across processes, as nginx's workers need) and four threads at once (no lost updates).
 * Prints one line per check and "N passed, M failed" at the end; exits 1 on any failure.
 */
#define _GNU_SOURCE
#include "alloc_counter.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 1000
#define CHILD_MALLOCS 50
#define THREADS 4
#define THREAD_MALLOCS 10000
#define MAX_RESULTS 32

static const struct alloc_counter_file *file;
static void *volatile keep[BATCH];  /* volatile: the compiler may not drop a malloc/free pair */

struct snapshot {
  uint64_t count[AC_COUNT];
};

static struct snapshot take(void) {
  struct snapshot s;
  for (int i = 0; i < AC_COUNT; ++i) s.count[i] = __atomic_load_n(&file->count[i], __ATOMIC_SEQ_CST);
  return s;
}

static uint64_t delta(const struct snapshot *before, const struct snapshot *after, enum alloc_counter_index i) {
  return after->count[i] - before->count[i];
}

/* Results are kept and printed at the end: nothing allocates or writes between snapshots. */
struct result {
  const char *what;
  uint64_t got, want;
};
static struct result results[MAX_RESULTS];
static int result_count;

static void expect(const char *what, uint64_t got, uint64_t want) {
  if (result_count < MAX_RESULTS) results[result_count++] = (struct result){what, got, want};
}

static int print_results(void) {
  int passed = 0, failed = 0;
  for (int i = 0; i < result_count; ++i) {
    const struct result *r = &results[i];
    const int ok = r->got == r->want;
    printf("%s %-50s counted %llu, expected %llu\n", ok ? "ok  " : "FAIL", r->what, (unsigned long long)r->got,
           (unsigned long long)r->want);
    passed += ok;
    failed += !ok;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed;
}

static int open_counter_file(void) {
  const char *path = getenv(ALLOC_COUNTER_FILE_ENV);
  if (path == NULL || *path == '\0') {
    fprintf(stderr, "alloc_counter_check: set %s and LD_PRELOAD the counter library\n", ALLOC_COUNTER_FILE_ENV);
    return 0;
  }
  const int fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror(path);
    return 0;
  }
  void *map = mmap(NULL, sizeof(struct alloc_counter_file), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    perror("mmap");
    return 0;
  }
  file = map;
  if (memcmp(file->magic, ALLOC_COUNTER_MAGIC, sizeof file->magic) != 0) {
    fprintf(stderr, "alloc_counter_check: %s has no counter header: is the library preloaded?\n", path);
    return 0;
  }
  return 1;
}

/* --- the checks ----------------------------------------------------------------------------- */

static void check_each_function(void) {
  const struct snapshot before = take();
  keep[0] = malloc(24);
  keep[1] = calloc(3, 8);
  keep[2] = realloc(NULL, 40);
  keep[2] = realloc(keep[2], 4000);
  keep[3] = reallocarray(NULL, 10, 10);
  void *aligned = NULL;
  if (posix_memalign(&aligned, 64, 100) == 0) keep[4] = aligned;
  keep[5] = aligned_alloc(256, 512);
  keep[6] = memalign(128, 10);
  keep[7] = valloc(100);
  for (int i = 0; i < 8; ++i) free(keep[i]);
  free(NULL);  /* not counted */
  const struct snapshot after = take();
  expect("malloc, 1 call", delta(&before, &after, AC_MALLOC), 1);
  expect("calloc, 1 call", delta(&before, &after, AC_CALLOC), 1);
  expect("realloc + reallocarray, 3 calls", delta(&before, &after, AC_REALLOC), 3);
  expect("posix_memalign, 1 call", delta(&before, &after, AC_POSIX_MEMALIGN), 1);
  expect("aligned_alloc, 1 call", delta(&before, &after, AC_ALIGNED_ALLOC), 1);
  expect("memalign, 1 call", delta(&before, &after, AC_MEMALIGN), 1);
  expect("valloc, 1 call", delta(&before, &after, AC_VALLOC), 1);
  expect("free, 8 non-null calls (free(NULL) not counted)", delta(&before, &after, AC_FREE), 8);
  expect("bytes asked for", delta(&before, &after, AC_BYTES), 24 + 24 + 40 + 4000 + 100 + 100 + 512 + 10 + 100);
}

static void check_batch(void) {
  const struct snapshot before = take();
  for (int i = 0; i < BATCH; ++i) keep[i] = malloc((size_t)(16 + i % 256));
  for (int i = 0; i < BATCH; ++i) free(keep[i]);
  const struct snapshot after = take();
  expect("malloc, a batch of 1000", delta(&before, &after, AC_MALLOC), BATCH);
  expect("free, a batch of 1000", delta(&before, &after, AC_FREE), BATCH);
}

static void check_strdup(void) {
  const struct snapshot before = take();
  keep[0] = strdup("allocated inside glibc");
  free(keep[0]);
  const struct snapshot after = take();
  expect("strdup counts as malloc", delta(&before, &after, AC_MALLOC), 1);
}

static void check_fork(void) {
  const struct snapshot before = take();
  const pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < CHILD_MALLOCS; ++i) keep[i] = malloc(32);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  const struct snapshot after = take();
  expect("a forked child's mallocs add up", delta(&before, &after, AC_MALLOC), CHILD_MALLOCS);
}

static pthread_barrier_t ready_line, start_line, finish_line, release_line;

/* Each barrier holds THREADS workers and the main thread, so the main thread reads the counters
 * while every worker waits: after ready_line (before any counted malloc) and after finish_line. */
static void *thread_work(void *unused) {
  (void)unused;
  void **mine = malloc(sizeof(void *) * THREAD_MALLOCS);  /* before the first snapshot */
  pthread_barrier_wait(&ready_line);
  pthread_barrier_wait(&start_line);
  for (int i = 0; i < THREAD_MALLOCS; ++i) mine[i] = malloc(8);
  pthread_barrier_wait(&finish_line);
  pthread_barrier_wait(&release_line);
  for (int i = 0; i < THREAD_MALLOCS; ++i) free(mine[i]);
  free(mine);
  return NULL;
}

static void check_threads(void) {
  pthread_t threads[THREADS];
  pthread_barrier_t *lines[] = {&ready_line, &start_line, &finish_line, &release_line};
  for (int i = 0; i < 4; ++i) pthread_barrier_init(lines[i], NULL, THREADS + 1);
  for (int i = 0; i < THREADS; ++i) pthread_create(&threads[i], NULL, thread_work, NULL);
  pthread_barrier_wait(&ready_line);
  const struct snapshot before = take();
  pthread_barrier_wait(&start_line);
  pthread_barrier_wait(&finish_line);
  const struct snapshot after = take();
  pthread_barrier_wait(&release_line);
  for (int i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  expect("4 threads x 10000 mallocs, no lost update", delta(&before, &after, AC_MALLOC),
         THREADS * THREAD_MALLOCS);
}

int main(void) {
  if (!open_counter_file()) return 2;
  check_each_function();
  check_batch();
  check_strdup();
  check_fork();
  check_threads();
  printf("alloc_counter_check: exact counts through the preloaded counter\n");
  return print_results() == 0 ? 0 : 1;
}
