// The reactor's small parts, each on its own: deadline lists, Asio handler memory, the
// connection's readiness wait, the read buffer, the response head and writer, the date cache.
#include <asio.hpp>
#include <asio/bind_allocator.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include <mempool/http/response.hpp>
#include <mempool/pool.hpp>
#include <mempool/ring_buffer.hpp>

#include "date_cache.hpp"
#include "deadlines.hpp"
#include "handler_memory.hpp"
#include "readiness_wait.hpp"
#include "read_buffer.hpp"
#include "response_head.hpp"
#include "response_writer.hpp"

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

// --- readiness wait -----------------------------------------------------------------------------

namespace {

// A connected loopback pair: the server end is a non-blocking ReactorSocket on `io`.
struct LoopbackPair {
  explicit LoopbackPair(asio::io_context& io) : client(io), server(accept(io)) {
    server.non_blocking(true);
  }
  asio::ip::tcp::socket client;
  ReactorSocket server;
  std::vector<std::error_code> completions;
  ReadinessWait wait{this, [](void* self, std::error_code ec) { static_cast<LoopbackPair*>(self)->completions.push_back(ec); }};

  void send(std::string_view bytes) { asio::write(client, asio::buffer(bytes.data(), bytes.size())); }
  std::size_t drain() {
    char buf[256];
    std::size_t total = 0;
    for (ssize_t n; (n = ::recv(server.native_handle(), buf, sizeof buf, 0)) > 0;) total += static_cast<std::size_t>(n);
    return total;
  }

 private:
  ReactorSocket::Base accept(asio::io_context& io) {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    client.connect(acceptor.local_endpoint());
    ReactorSocket::Base accepted(io.get_executor());
    acceptor.accept(accepted);
    return accepted;
  }
};

// Lets the reactor harvest whatever epoll has for us, without blocking. The timer is pending
// work: without any, poll() returns before it asks epoll.
void poll_for(asio::io_context& io, std::chrono::milliseconds how_long) {
  io.restart();
  asio::steady_timer keep_polling(io, std::chrono::hours(1));
  keep_polling.async_wait([](std::error_code) {});
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) io.poll();
  keep_polling.cancel();
  io.poll();
}

}  // namespace

// The keep-alive case: the socket was read dry, then the next request arrives and wakes the wait.
TEST_CASE("a drained-socket wait completes when bytes arrive after it is queued") {
  asio::io_context io(1);
  LoopbackPair pair(io);
  pair.send("first");
  poll_for(io, std::chrono::milliseconds(20));  // the edge for "first" is harvested with nothing waiting
  CHECK(pair.drain() == 5);
  pair.server.wait_readable_drained(pair.wait);
  poll_for(io, std::chrono::milliseconds(20));
  CHECK(pair.completions.empty());  // nothing to read yet
  pair.send("second");
  for (int i = 0; i < 200 && pair.completions.empty(); ++i) poll_for(io, std::chrono::milliseconds(5));
  REQUIRE(pair.completions.size() == 1);
  CHECK_FALSE(pair.completions[0]);
  CHECK(pair.drain() == 6);
}

#if MEMPOOL_REACTOR_WAIT  // the portable wait (async_wait) always re-arms
// Why the drained wait is only for a socket drained in the same handler: it does not re-arm, so an
// edge already harvested is not reported again. The re-arming wait() sees the bytes at once.
TEST_CASE("only the re-arming wait sees bytes whose readiness was harvested before it") {
  asio::io_context io(1);
  LoopbackPair pair(io);
  pair.send("unread");
  poll_for(io, std::chrono::milliseconds(20));  // harvested: no wait was queued
  pair.server.wait_readable_drained(pair.wait);
  poll_for(io, std::chrono::milliseconds(50));
  CHECK(pair.completions.empty());  // no syscall, no event: the proof is the caller's to give
  pair.server.cancel();
  poll_for(io, std::chrono::milliseconds(5));
  REQUIRE(pair.completions.size() == 1);
  CHECK(pair.completions[0] == asio::error::operation_aborted);
  pair.server.wait(pair.wait, asio::socket_base::wait_read);
  for (int i = 0; i < 200 && pair.completions.size() < 2; ++i) poll_for(io, std::chrono::milliseconds(5));
  REQUIRE(pair.completions.size() == 2);
  CHECK_FALSE(pair.completions[1]);
  CHECK(pair.drain() == 6);
}
#endif

// The connection closes its socket with a wait pending: the wait ends, aborted, and may be reused.
TEST_CASE("closing the socket ends a pending readiness wait with operation_aborted") {
  asio::io_context io(1);
  LoopbackPair pair(io);
  pair.server.wait_readable_drained(pair.wait);
  pair.server.close();
  io.restart();
  io.run();  // returns: the aborted wait was the only work
  REQUIRE(pair.completions.size() == 1);
  CHECK(pair.completions[0] == asio::error::operation_aborted);
}

// A write wait re-arms for EPOLLOUT and completes once the socket can take bytes.
TEST_CASE("a write readiness wait completes on a socket that can take bytes") {
  asio::io_context io(1);
  LoopbackPair pair(io);
  pair.server.wait(pair.wait, asio::socket_base::wait_write);
  io.restart();
  io.run();
  REQUIRE(pair.completions.size() == 1);
  CHECK_FALSE(pair.completions[0]);
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

// --- response writer ----------------------------------------------------------------------------

namespace {

// A connected pair of non-blocking stream sockets: [0] the server's side, [1] the client's.
struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd) == 0);
  }
  ~SocketPair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  /// Everything readable on the client's side now.
  std::string drain() const {
    std::string out;
    char chunk[65536];
    for (ssize_t n; (n = ::recv(fd[1], chunk, sizeof chunk, 0)) > 0;) out.append(chunk, static_cast<std::size_t>(n));
    return out;
  }
};

constexpr HeadOptions plain_head{true, false, "", "s"};

}  // namespace

// The head and a memory body leave together, in order, and bytes_sent counts both.
TEST_CASE("the response writer sends the head and a memory body in one flush") {
  SocketPair sockets;
  Pool pool;
  http::Response res(pool);
  res.text(200, "Hello, World!");
  ResponseWriter writer;
  std::uint64_t writes = 0;
  REQUIRE(writer.add(res, plain_head, false, pool));
  CHECK_FALSE(writer.empty());
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::done);
  CHECK(writer.empty());
  const std::string sent = sockets.drain();
  CHECK(sent == std::string(serialize_head(res, plain_head, pool)) + "Hello, World!");
  CHECK(writer.response_bytes() == sent.size());
  CHECK(writes == 1);
}

// Batching: staged responses are copies, so their pool may be reset before the flush; the next
// flush carries every staged response and the last, borrowed one in one sendmsg, in order.
TEST_CASE("the response writer sends staged responses and a borrowed one in one gather write") {
  SocketPair sockets;
  std::array<char, 1024> staging{};
  ResponseWriter writer;
  writer.set_staging(staging.data(), staging.size());
  std::string expected;
  Pool pool;
  for (int i = 0; i < 3; ++i) {
    http::Response res(pool);
    const std::string body = "staged " + std::to_string(i);  // borrowed until stage() copies it
    res.text(200, body);
    REQUIRE(writer.add(res, plain_head, i == 1, pool));  // the second is a HEAD: no body
    const std::string bytes = std::string(serialize_head(res, plain_head, pool)) + (i == 1 ? "" : body);
    expected += bytes;
    REQUIRE(writer.stage());
    CHECK(writer.response_bytes() == bytes.size());
    pool.reset();  // the staged copy no longer borrows from it
    (void)pool.alloc(1);
  }
  http::Response last(pool);
  last.text(200, "borrowed");
  REQUIRE(writer.add(last, plain_head, false, pool));
  const std::string last_bytes = std::string(serialize_head(last, plain_head, pool)) + "borrowed";
  expected += last_bytes;
  std::uint64_t writes = 0;
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::done);
  CHECK(writes == 1);
  CHECK(sockets.drain() == expected);
  CHECK(writer.response_bytes() == last_bytes.size());
  writer.clear();
  CHECK(writer.empty());
}

// stage() refuses what it cannot copy: a file body, or more than the staging room; then the
// response stays queued borrowed and nothing staged is lost.
TEST_CASE("the response writer does not stage a file body or a response larger than its room") {
  SocketPair sockets;
  std::array<char, 256> staging{};
  ResponseWriter writer;
  CHECK(writer.empty());
  Pool pool;
  http::Response small(pool);
  small.text(200, "s");
  REQUIRE(writer.add(small, plain_head, false, pool));
  CHECK_FALSE(writer.stage());  // no staging lent yet
  writer.clear();
  writer.set_staging(staging.data(), staging.size());
  REQUIRE(writer.add(small, plain_head, false, pool));
  REQUIRE(writer.stage());
  const std::string first = std::string(serialize_head(small, plain_head, pool)) + "s";
  http::Response big(pool);
  const std::string big_body(300, 'b');
  big.text(200, big_body);
  REQUIRE(writer.add(big, plain_head, false, pool));
  CHECK_FALSE(writer.add(small, plain_head, false, pool));  // one borrowed response at a time
  CHECK_FALSE(writer.stage());
  http::Response file(pool);
  file.set_file({0, 0, 1});
  CHECK_FALSE(writer.stage());
  std::uint64_t writes = 0;
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::done);
  CHECK(sockets.drain() == first + std::string(serialize_head(big, plain_head, pool)) + std::string(300, 'b'));
  writer.clear();
  REQUIRE(writer.add(file, plain_head, true, pool));  // HEAD of a file: the head alone, stageable
  CHECK(writer.stage());
  writer.clear();
  file.status = 200;
  REQUIRE(writer.add(file, plain_head, false, pool));
  CHECK_FALSE(writer.stage());  // a file body goes by sendfile, never copied
  writer.drop_borrowed();
  CHECK(writer.empty());
}

// HEAD (and a status without a body) sends the head only, Content-Length included.
TEST_CASE("the response writer leaves the body out for HEAD") {
  SocketPair sockets;
  Pool pool;
  http::Response res(pool);
  res.text(200, "Hello, World!");
  ResponseWriter writer;
  std::uint64_t writes = 0;
  REQUIRE(writer.add(res, plain_head, true, pool));
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::done);
  const std::string sent = sockets.drain();
  CHECK(sent.ends_with("Content-Length: 13\r\n\r\n"));
}

// A full socket stops the flush where it is; flushing again once the peer read goes on from
// there, and the bytes arrive whole and in order.
TEST_CASE("the response writer reports a full socket and resumes where it stopped") {
  SocketPair sockets;
  const int small = 4096;
  ::setsockopt(sockets.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  Pool pool;
  std::string body(1 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 31 + i / 7);
  http::Response res(pool);
  res.text(200, body);
  ResponseWriter writer;
  std::uint64_t writes = 0;
  REQUIRE(writer.add(res, plain_head, false, pool));
  std::string received;
  int blocked = 0;
  for (ResponseWriter::Flush f; (f = writer.flush(sockets.fd[0], writes)) != ResponseWriter::Flush::done;) {
    REQUIRE(f == ResponseWriter::Flush::blocked);
    ++blocked;
    received += sockets.drain();
  }
  received += sockets.drain();
  CHECK(blocked > 0);
  CHECK(received == std::string(serialize_head(res, plain_head, pool)) + body);
  CHECK(writer.response_bytes() == received.size());
}

// A file body goes by sendfile after the head, from its offset, for its length.
TEST_CASE("the response writer sends a file range by sendfile after the head") {
  SocketPair sockets;
  char name[] = "/tmp/mempool-writer-XXXXXX";
  const int file = ::mkstemp(name);
  REQUIRE(file >= 0);
  ::unlink(name);
  const std::string content = "0123456789abcdefghij";
  REQUIRE(::write(file, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  Pool pool;
  http::Response res(pool);
  res.status = 206;
  res.set_file({file, 5, 10});
  ResponseWriter writer;
  std::uint64_t writes = 0;
  REQUIRE(writer.add(res, plain_head, false, pool));
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::done);
  const std::string sent = sockets.drain();
  CHECK(sent.ends_with("Content-Length: 10\r\n\r\n56789abcde"));
  ::close(file);
}

// A peer that is gone fails the flush (the connection closes); it is not "blocked".
TEST_CASE("the response writer reports a broken connection as failed") {
  SocketPair sockets;
  ::close(std::exchange(sockets.fd[1], -1));
  Pool pool;
  http::Response res(pool);
  res.text(200, "x");
  ResponseWriter writer;
  std::uint64_t writes = 0;
  REQUIRE(writer.add(res, plain_head, false, pool));
  CHECK(writer.flush(sockets.fd[0], writes) == ResponseWriter::Flush::failed);
}

// A pool too small for the head queues nothing; clear() starts the next response afresh.
TEST_CASE("the response writer queues nothing when the head does not fit the pool") {
  Pool handler_pool;
  http::Response res(handler_pool);
  res.text(200, "x");
  Pool full(PoolOptions{.capacity = 4096});
  (void)full.alloc(4096 - 64);
  ResponseWriter writer;
  CHECK_FALSE(writer.add(res, plain_head, false, full));
  CHECK(writer.empty());
  CHECK(writer.response_bytes() == 0);
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
