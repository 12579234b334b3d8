// Ready-made cleanups (nginx's file cleanups) and APR's cleanup_for_exec: Pool::run_child_cleanups.
#include <mempool/pool_cleanups.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

using mempool::Pool;

namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// A descriptor with no FD_CLOEXEC: one an exec'd program would inherit.
int inheritable_fd() {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[1]);
  return fds[0];
}

// Forks; the child runs `before_exec`, then execs a shell that exits 0 when `fd` is still open
// in it. The child's exit status (the shell's answer, 127 if exec failed).
template <class BeforeExec>
int exec_and_probe(int fd, BeforeExec before_exec) {
  const std::string probe = "test -e /proc/self/fd/" + std::to_string(fd);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    before_exec();
    ::execl("/bin/sh", "sh", "-c", probe.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

struct Log {
  std::vector<std::string> entries;
};
struct Entry {
  Log* log;
  const char* name;
};
void log_plain(void* d) {
  auto* e = static_cast<Entry*>(d);
  e->log->entries.push_back(std::string("plain ") + e->name);
}
void log_child(void* d) {
  auto* e = static_cast<Entry*>(d);
  e->log->entries.push_back(std::string("child ") + e->name);
}

}  // namespace

// nginx's ngx_pool_cleanup_file: the descriptor lives exactly as long as the request.
TEST_CASE("close_on_cleanup closes the descriptor at reset and at destruction") {
  const int a = inheritable_fd();
  const int b = inheritable_fd();
  std::optional<Pool> pool(std::in_place);
  REQUIRE(mempool::close_on_cleanup(*pool, a));
  REQUIRE(mempool::close_on_cleanup(*pool, b));
  CHECK(is_open(a));
  pool->reset();
  CHECK_FALSE(is_open(a));
  CHECK_FALSE(is_open(b));
  const int c = inheritable_fd();
  REQUIRE(mempool::close_on_cleanup(*pool, c));
  CHECK(is_open(c));
  pool.reset();  // destroyed
  CHECK_FALSE(is_open(c));
}

// ngx_pool_run_cleanup_file closes early; removing hands the descriptor back to the caller.
TEST_CASE("run_close_cleanup closes now and remove_close_cleanup keeps the descriptor open") {
  const int early = inheritable_fd();
  const int kept = inheritable_fd();
  Pool pool;
  REQUIRE(mempool::close_on_cleanup(pool, early));
  REQUIRE(mempool::close_on_cleanup(pool, kept));
  CHECK(mempool::run_close_cleanup(pool, early));
  CHECK_FALSE(is_open(early));
  CHECK_FALSE(mempool::run_close_cleanup(pool, early));  // once only
  CHECK(mempool::remove_close_cleanup(pool, kept));
  pool.reset();
  CHECK(is_open(kept));
  ::close(kept);
}

// nginx's ngx_pool_delete_file: a temporary file goes with its request.
TEST_CASE("delete_on_cleanup deletes the file and closes its descriptor at reset") {
  mempool::test::TempDir dir("mempool-pool-cleanups");
  const std::filesystem::path path = dir.write("upload.tmp", "body");
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  Pool pool;
  std::string name = path.string();
  REQUIRE(mempool::delete_on_cleanup(pool, name, fd));
  name.assign(name.size(), 'x');  // the path was copied into the pool
  CHECK(std::filesystem::exists(path));
  pool.reset();
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(is_open(fd));
}

// A full pool registers nothing and says so: the caller still owns the descriptor.
TEST_CASE("a ready-made cleanup that does not fit the capacity is not registered") {
  const int fd = inheritable_fd();
  Pool pool({.capacity = 16});
  (void)pool.alloc(16);
  CHECK_FALSE(mempool::close_on_cleanup(pool, fd));
  CHECK_FALSE(mempool::delete_on_cleanup(pool, "/nonexistent/never-deleted", fd));
  pool.reset();
  CHECK(is_open(fd));
  ::close(fd);
}

// APR's apr_pool_cleanup_for_exec: the parent's listening socket must not leak into the program
// a worker execs. Without the call, the exec'd shell sees the descriptor; with it, it does not.
TEST_CASE("run_child_cleanups in a forked child closes registered descriptors before exec") {
  const int fd = inheritable_fd();
  Pool root;
  Pool connection(root);
  Pool request(connection);
  REQUIRE(mempool::close_on_cleanup(request, fd));  // deep in the tree: the walk must reach it
  CHECK(exec_and_probe(fd, [] {}) == 0);            // inherited when nobody closes it
  CHECK(exec_and_probe(fd, [&] { root.run_child_cleanups(); }) == 1);
  CHECK(is_open(fd));  // the parent's own copy is untouched
  CHECK(root.stats().cleanups == 0);
  CHECK(request.stats().cleanups == 1);
  request.reset();
  CHECK_FALSE(is_open(fd));
}

// The child cleanup of a temporary file closes it but leaves the file: it is the parent's.
TEST_CASE("run_child_cleanups keeps a delete_on_cleanup file for the parent") {
  mempool::test::TempDir dir("mempool-pool-cleanups");
  const std::filesystem::path path = dir.write("shared.tmp", "data");
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  Pool pool;
  REQUIRE(mempool::delete_on_cleanup(pool, path.string(), fd));
  CHECK(exec_and_probe(fd, [&] { pool.run_child_cleanups(); }) == 1);
  CHECK(std::filesystem::exists(path));
  pool.reset();
  CHECK_FALSE(std::filesystem::exists(path));
}

// Order and scope, as APR: a pool's child cleanups last registered first, then its children's,
// newest first; plain cleanups do not run, and none is left registered afterwards.
TEST_CASE("run_child_cleanups runs child cleanups down the tree and unregisters every cleanup") {
  Log log;
  Entry p1{&log, "p1"}, p2{&log, "p2"}, older{&log, "older"}, newer{&log, "newer"}, plain{&log, "plain"};
  Pool parent;
  Pool first(parent);
  Pool second(parent);
  REQUIRE(parent.add_cleanup(log_plain, &p1, log_child));
  REQUIRE(parent.add_cleanup(log_plain, &p2, log_child));
  REQUIRE(parent.add_cleanup(log_plain, &plain));  // no child cleanup
  REQUIRE(first.add_cleanup(log_plain, &older, log_child));
  REQUIRE(second.add_cleanup(log_plain, &newer, log_child));
  parent.run_child_cleanups();
  CHECK(log.entries == std::vector<std::string>{"child p2", "child p1", "child newer", "child older"});
  log.entries.clear();
  parent.reset();
  CHECK(log.entries.empty());
}
