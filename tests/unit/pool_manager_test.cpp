#include <mempool/pool_manager.hpp>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

using mempool::BlockAllocator;
using mempool::Pool;
using mempool::PoolManager;

namespace {
void count_call(void* counter) { ++*static_cast<int*>(counter); }
}  // namespace

// The point of the manager: the next connection gets the same pool back, already reset.
TEST_CASE("a released pool is reset and handed to the next acquire") {
  PoolManager manager;
  int cleanups = 0;
  Pool* first;
  {
    auto handle = manager.acquire("connection");
    first = handle.get();
    REQUIRE(handle->alloc(1000) != nullptr);
    REQUIRE(handle->add_cleanup(count_call, &cleanups));
    CHECK(std::string_view(handle->tag()) == "connection");
  }
  CHECK(cleanups == 1);  // ran at release, not later
  auto again = manager.acquire("request");
  CHECK(again.get() == first);
  CHECK(again->bytes_used() == 0);
  CHECK(std::string_view(again->tag()) == "request");
  const auto s = manager.stats();
  CHECK(s.created == 1);
  CHECK(s.reused == 1);
  CHECK(s.released == 1);
  CHECK(s.outstanding == 1);
}

// Beyond max_idle a recycler must let pools go, or a burst pins memory forever.
TEST_CASE("pools released beyond max_idle are destroyed") {
  PoolManager manager({.max_idle = 2});
  std::vector<PoolManager::Handle> handles;
  for (int i = 0; i < 5; ++i) handles.push_back(manager.acquire());
  handles.clear();
  const auto s = manager.stats();
  CHECK(s.idle == 2);
  CHECK(s.destroyed == 3);
  CHECK(s.outstanding == 0);
}

// The byte cap: idle pools past it are kept without their blocks.
TEST_CASE("idle pools together hold no more than max_idle_bytes") {
  BlockAllocator blocks;
  PoolManager manager({.allocator = &blocks, .max_idle_bytes = 3 * BlockAllocator::page_size});
  std::vector<PoolManager::Handle> handles;
  for (int i = 0; i < 6; ++i) {
    handles.push_back(manager.acquire());
    REQUIRE(handles.back()->alloc(100) != nullptr);  // each takes a 4 KiB block
  }
  handles.clear();
  const auto s = manager.stats();
  CHECK(s.idle == 6);
  CHECK(s.idle_bytes <= 3 * BlockAllocator::page_size);
  CHECK(blocks.stats().bytes_in_use == s.idle_bytes);
}

// DESIGN §5: recycled pools shrink; one huge request does not stay in the idle list.
TEST_CASE("a recycled pool keeps no more than its retained block") {
  BlockAllocator blocks;
  PoolManager manager({.allocator = &blocks, .pool = {.retain_bytes = 4 * BlockAllocator::page_size}});
  {
    auto handle = manager.acquire();
    for (int i = 0; i < 100; ++i) REQUIRE(handle->alloc(3000) != nullptr);
    REQUIRE(handle->alloc(1 << 20) != nullptr);
  }
  CHECK(manager.stats().idle_bytes <= 4 * BlockAllocator::page_size);
  CHECK(blocks.stats().bytes_in_use <= 4 * BlockAllocator::page_size);
}

// Zero heap allocations per request in steady state: after warm-up nothing new is built.
TEST_CASE("a steady acquire and allocate and release loop builds nothing after warm-up") {
  BlockAllocator blocks;
  PoolManager manager({.allocator = &blocks});
  auto one_request = [&] {
    auto conn = manager.acquire("conn");
    Pool request(*conn);
    for (int i = 0; i < 64; ++i) REQUIRE(request.alloc(static_cast<std::size_t>(16 + i * 4)) != nullptr);
    REQUIRE(conn->strdup("peer 127.0.0.1").data() != nullptr);
  };
  for (int i = 0; i < 3; ++i) one_request();
  const auto created = manager.stats().created;
  const auto os_allocs = blocks.stats().os_allocs;
  for (int i = 0; i < 1000; ++i) one_request();
  CHECK(manager.stats().created == created);
  CHECK(blocks.stats().os_allocs == os_allocs);
  CHECK(manager.stats().reused >= 1000);
}

// The leak detector the server's /stats relies on.
TEST_CASE("outstanding counts pools acquired and not yet released") {
  PoolManager manager;
  auto a = manager.acquire("a");
  auto b = manager.acquire("b");
  CHECK(manager.stats().outstanding == 2);
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  manager.report_outstanding(out);
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  CHECK(report.find("pool 'a'") != std::string::npos);
  CHECK(report.find("pool 'b'") != std::string::npos);
  a.release();
  CHECK(manager.stats().outstanding == 1);
}

// STYLE lesson 11: releasing twice must be impossible, moving must transfer ownership.
TEST_CASE("a handle releases once and moving it moves the pool") {
  PoolManager manager;
  auto a = manager.acquire();
  Pool* pool = a.get();
  PoolManager::Handle b = std::move(a);
  CHECK_FALSE(a);
  CHECK(b.get() == pool);
  b.release();
  b.release();
  CHECK_FALSE(b);
  CHECK(manager.stats().released == 1);
  auto c = manager.acquire();
  PoolManager::Handle d = manager.acquire();
  d = std::move(c);  // d's old pool is released by the assignment
  CHECK(manager.stats().released == 2);
  CHECK(manager.stats().outstanding == 1);
}

// switch_core_memory_reclaim: let every idle pool go now.
TEST_CASE("reclaim destroys every idle pool") {
  BlockAllocator blocks;
  PoolManager manager({.allocator = &blocks});
  {
    auto a = manager.acquire();
    auto b = manager.acquire();
    (void)a->alloc(10);
    (void)b->alloc(10);
  }
  REQUIRE(manager.stats().idle == 2);
  manager.reclaim();
  CHECK(manager.stats().idle == 0);
  CHECK(manager.stats().destroyed == 2);
  CHECK(blocks.stats().bytes_in_use == 0);
}

// h2o's trim: pools unused through a whole period go, half at a time.
TEST_CASE("trim destroys half of the pools that stayed idle through the period") {
  PoolManager manager;
  {
    std::vector<PoolManager::Handle> handles;
    for (int i = 0; i < 8; ++i) handles.push_back(manager.acquire());
  }
  manager.trim();  // starts a period: nothing is known to be surplus yet
  CHECK(manager.stats().idle == 8);
  manager.trim();  // all 8 stayed idle: half go
  CHECK(manager.stats().idle == 4);
  { auto busy = manager.acquire(); }  // the low-water mark drops to 3
  manager.trim();
  CHECK(manager.stats().idle == 3);  // 4 - 3/2
}

// After stop() nothing is kept; releases still work and destroy their pools.
TEST_CASE("after stop releases destroy their pools") {
  PoolManager manager;
  auto handle = manager.acquire();
  manager.stop();
  manager.stop();  // idempotent
  handle.release();
  CHECK(manager.stats().idle == 0);
  CHECK(manager.stats().destroyed == 1);
  CHECK(manager.stats().outstanding == 0);
}

// STYLE lesson 10: a recycler that dies with pools outstanding must say so.
TEST_CASE("a manager destroyed with pools outstanding reports them") {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    {
      PoolManager manager;
      auto* leaked = new PoolManager::Handle(manager.acquire("leaky-connection"));
      (void)(*leaked)->alloc(100000);
    }
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(err.find("1 pools outstanding") != std::string::npos);
  CHECK(err.find("leaky-connection") != std::string::npos);
}
