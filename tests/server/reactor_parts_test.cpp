// The reactor's small parts, each on its own: deadline lists, Asio handler memory, the read
// buffer, the response head, the date cache.
#include <asio.hpp>
#include <asio/bind_allocator.hpp>

#include <catch2/catch.hpp>

#include <string>

#include <mempool/http/response.hpp>
#include <mempool/pool.hpp>
#include <mempool/ring_buffer.hpp>

#include "date_cache.hpp"
#include "deadlines.hpp"
#include "handler_memory.hpp"
#include "read_buffer.hpp"
#include "response_head.hpp"

using namespace mempool;
using namespace mempool::server;

namespace {

struct Node {
  explicit Node(int i) : id(i) {}
  int id;
  DeadlineLinkOf<Node> deadline_link;
};

std::vector<int> drain(DeadlineLists<Node>& lists, Clock::time_point now) {
  std::vector<int> ids;
  while (Node* n = lists.pop_expired(now)) ids.push_back(n->id);
  return ids;
}

}  // namespace

// --- deadlines ----------------------------------------------------------------------------------

// One FIFO per kind of wait: what started waiting first expires first.
TEST_CASE("deadline lists expire in the order the waits started") {
  DeadlineLists<Node> lists;
  Node a(1), b(2), c(3);
  const auto t0 = Clock::now();
  lists.set(a, Wait::idle, t0 + std::chrono::seconds(1));
  lists.set(b, Wait::idle, t0 + std::chrono::seconds(2));
  lists.set(c, Wait::idle, t0 + std::chrono::seconds(3));
  CHECK(lists.size(Wait::idle) == 3);
  CHECK(drain(lists, t0 + std::chrono::milliseconds(2500)) == std::vector<int>{1, 2});
  CHECK(lists.size(Wait::idle) == 1);
  CHECK(drain(lists, t0 + std::chrono::seconds(5)) == std::vector<int>{3});
}

// A connection that moves on (idle -> reading a head) leaves its old list at once, in O(1).
TEST_CASE("a node moved to another list or cleared no longer expires from the old one") {
  DeadlineLists<Node> lists;
  Node a(1), b(2), c(3);
  const auto t0 = Clock::now();
  lists.set(a, Wait::idle, t0);
  lists.set(b, Wait::idle, t0);
  lists.set(c, Wait::idle, t0);
  lists.set(b, Wait::header, t0 + std::chrono::seconds(10));  // from the middle of a list
  lists.clear(a);                                              // from its head
  lists.clear(a);                                              // and again: harmless
  CHECK(lists.size(Wait::idle) == 1);
  CHECK(lists.first(Wait::header) == &b);
  CHECK(drain(lists, t0) == std::vector<int>{3});
  CHECK(drain(lists, t0 + std::chrono::seconds(10)) == std::vector<int>{2});
  CHECK(b.deadline_link.wait == Wait::none);
}

// --- handler memory -----------------------------------------------------------------------------

// Zero heap allocations per request needs Asio's per-operation state to fit our slices.
TEST_CASE("Asio's wait and timer operations come from handler memory and not the heap") {
  asio::io_context io{1};
  HandlerMemory memory(4);
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
  Socket socket(io.get_executor());
  socket.open(asio::ip::tcp::v4());
  int completions = 0;
  void* owner = &completions;  // a handler captures its connection: one pointer
  socket.async_wait(asio::socket_base::wait_read,
                    asio::bind_allocator(HandlerAllocator<void>(memory), [owner, &completions](std::error_code) {
                      (void)owner;
                      ++completions;
                    }));
  CHECK(memory.stats().in_use == 1);
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, asio::io_context::executor_type> timer(io.get_executor());
  timer.expires_after(std::chrono::milliseconds(1));
  timer.async_wait(asio::bind_allocator(HandlerAllocator<void>(memory), [&completions](std::error_code) { ++completions; }));
  socket.close();
  io.run();
  CHECK(completions == 2);
  CHECK(memory.heap_allocations() == 0);
  CHECK(memory.stats().in_use == 0);
  CHECK(memory.large_stats().allocs + memory.stats().allocs == 2);
}

// Exhausted slices must not fail an operation: the heap takes over, and it shows.
TEST_CASE("handler memory falls back to the heap when its slices run out") {
  HandlerMemory memory(1);
  void* a = memory.allocate(64);
  void* b = memory.allocate(64);
  void* big = memory.allocate(4096);
  CHECK(memory.heap_allocations() == 2);
  memory.deallocate(a, 64);
  memory.deallocate(b, 64);
  memory.deallocate(big, 4096);
  CHECK(memory.stats().in_use == 0);
}

// --- read buffer --------------------------------------------------------------------------------

// A head arriving in pieces grows its ring item in place while it is the newest.
TEST_CASE("a read buffer grows its ring item in place and moves to the pool when it cannot") {
  RingBuffer ring(64 * 1024);
  Pool pool;
  ReadBuffer first, second;
  REQUIRE(first.acquire(ring, pool, 1024));
  CHECK_FALSE(first.fell_back());
  std::memcpy(first.data, "GET / HTTP/1.1\r\n", 16);
  first.filled = 16;
  char* where = first.data;
  REQUIRE(first.grow(pool, 2048));
  CHECK(first.data == where);  // in place
  REQUIRE(second.acquire(ring, pool, 1024));
  REQUIRE(first.grow(pool, 4096));  // no longer the newest: moves, bytes and all
  CHECK(first.data != where);
  CHECK(first.ring == nullptr);
  CHECK(std::string_view(first.data, 16) == "GET / HTTP/1.1\r\n");
  first.release();
  second.release();
  CHECK(ring.stats().items_live == 0);
}

// DESIGN §5: no contiguous room in the ring means a pool buffer, never a failed read.
TEST_CASE("a read buffer falls back to the pool when the ring is full") {
  RingBuffer ring(4096);
  Pool pool;
  ReadBuffer hog, next;
  REQUIRE(hog.acquire(ring, pool, 3000));
  REQUIRE(next.acquire(ring, pool, 3000));
  CHECK(next.fell_back());
  CHECK(next.ring == nullptr);
  CHECK(next.capacity == 3000);
  hog.release();
  next.release();
}

// --- response head ------------------------------------------------------------------------------

// The exact bytes: status line, server-owned headers once, the handler's others in order.
TEST_CASE("the response head carries the status line and server headers and drops handler duplicates") {
  Pool pool;
  http::Response res(pool);
  res.text(200, "Hello, World!");
  res.add_header("Content-Length", "999");  // the server's to write
  res.add_header("X-Trace", "abc");
  const std::string_view head =
      serialize_head(res, {true, false, "Date: Sat, 21 Nov 2026 10:00:00 GMT\r\n", "mempool"}, pool);
  CHECK(head ==
        "HTTP/1.1 200 OK\r\nServer: mempool\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\n"
        "X-Trace: abc\r\nContent-Length: 13\r\n\r\n");
}

// RFC 9110: a 304 or 204 has no body and no Content-Length; Connection is said when it matters.
TEST_CASE("the response head has no Content-Length for 304 and says Connection when not default") {
  Pool pool;
  http::Response res(pool);
  res.status = 304;
  const std::string_view closing = serialize_head(res, {false, false, "", "s"}, pool);
  CHECK(closing == "HTTP/1.1 304 Not Modified\r\nServer: s\r\nConnection: close\r\n\r\n");
  http::Response ok(pool);
  ok.text(200, "x");
  const std::string_view http10 = serialize_head(ok, {true, true, "", "s"}, pool);
  CHECK(http10.find("Connection: keep-alive\r\n") != std::string_view::npos);
}

// --- date cache ---------------------------------------------------------------------------------

// TechEmpower: a Date header that changes each second, formatted once per second.
TEST_CASE("the date cache formats the Date header and the log date once per second") {
  DateCache dates;
  dates.update(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(dates.date_header() == "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
  CHECK(dates.log_date() == "06/Nov/1994:08:49:37 +0000");
  dates.update(784111778);
  CHECK(dates.date_header() == "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n");
}
