// How mempool-server ends a connection (issue 10, close semantics), over loopback: a HEAD request
// never gets a body, error answers included; a client that half-closes after its request gets
// the answer and then EOF at once; after an error answer to a request still arriving, a
// lingering close lets the client read the answer (not a reset), within its time and byte bounds.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <thread>

#include "support/http_client.hpp"

using namespace mempool::test;
using namespace std::string_literals;

namespace {

/// How a connection ended, seen by a client that reads everything until then.
struct Ending {
  std::string received;  ///< every byte that arrived
  bool eof = false;      ///< a FIN
  bool reset = false;    ///< ECONNRESET
  std::chrono::milliseconds after{0};  ///< from the start of the wait to the end
};

/// Reads `fd` until the connection ends or `timeout` passes.
Ending read_to_end(int fd, std::chrono::milliseconds timeout) {
  Ending e;
  const auto start = Clock::now();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(start + timeout - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      e.received.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    (n == 0 ? e.eof : e.reset) = true;
    break;
  }
  e.after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return e;
}

/// Sends `bytes` in `pieces` writes `pause` apart (blocking); false once the server refused them
/// (EPIPE, ECONNRESET).
bool send_slowly(int fd, const std::string& bytes, int pieces, std::chrono::milliseconds pause) {
  const std::size_t piece = bytes.size() / pieces;
  for (int i = 0; i < pieces; ++i) {
    const std::size_t size = i + 1 == pieces ? bytes.size() - i * piece : piece;
    for (std::size_t sent = 0; sent < size;) {
      const ssize_t n = ::send(fd, bytes.data() + i * piece + sent, size - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    std::this_thread::sleep_for(pause);
  }
  return true;
}

/// The status of the first response in `bytes`, and the bytes after its head.
std::pair<int, std::string> status_and_rest(const std::string& bytes) {
  const auto end = bytes.find("\r\n\r\n");
  if (!bytes.starts_with("HTTP/1.1 ") || end == std::string::npos) return {0, bytes};
  return {std::stoi(bytes.substr(9, 3)), bytes.substr(end + 4)};
}

mempool::http::ServerConfig long_idle() {
  auto config = test_config();
  config.timeouts.idle = config.timeouts.header = 10s;  // an EOF that waits for them shows
  return config;
}

}  // namespace

// --- HEAD ---------------------------------------------------------------------------------------

// RFC 9110 §9.3.2: the answer to HEAD has no body, whatever its status; the parser refuses this
// one before any handler sees it. Bytes after the head would read as a second, garbage, response.
TEST_CASE("a HEAD request refused by the parser gets its error head and no body") {
  TestServer server;
  for (const std::string& request : {"HEAD /hello HTTP/1.1\r\nHost: test\r\nX-Nul: a\0b\r\n\r\n"s,
                                     "HEAD /hello HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n"s,
                                     "HEAD /hello HTTP/1.1\r\n\r\n"s}) {
    INFO(printable(request));
    Client c = server.connect();
    REQUIRE(c.send(request));
    const Ending e = read_to_end(c.fd(), 3s);
    const auto [status, rest] = status_and_rest(e.received);
    CHECK(status / 100 == 4);
    CHECK(e.received.find("Content-Length: ") != std::string::npos);  // the length a GET would get
    CHECK(rest.empty());
    CHECK(e.eof);
  }
}

TEST_CASE("a HEAD request with a head over the limit gets 431 and no body") {
  TestServer server;
  Client c = server.connect();
  c.send("HEAD /hello HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
  const Ending e = read_to_end(c.fd(), 3s);
  const auto [status, rest] = status_and_rest(e.received);
  CHECK(status == 431);
  CHECK(rest.empty());
}

TEST_CASE("a HEAD request that times out half sent gets 408 and no body") {
  auto config = test_config();
  config.timeouts.header = 300ms;
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send("HEAD /hello HTTP/1.1\r\nHost: test\r\n"));
  const Ending e = read_to_end(c.fd(), 3s);
  const auto [status, rest] = status_and_rest(e.received);
  CHECK(status == 408);
  CHECK(rest.empty());
  CHECK(e.eof);
}

// --- half-close ---------------------------------------------------------------------------------

// The client's FIN often arrives with its request, in the same readiness event: a short read
// takes the bytes and leaves the FIN, for which no further event comes. The server must still
// see it and close at once, not after the idle timeout (10 s here). Repeated, since the FIN and
// the request travel together only some of the time.
TEST_CASE("a client that half-closes after its request gets the answer and then EOF at once") {
  TestServer server(long_idle());
  for (int i = 0; i < 40; ++i) {
    INFO("attempt " << i);
    Client c = server.connect();
    REQUIRE(c.send(get("/hello")));
    REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    const Ending e = read_to_end(c.fd(), 5s);
    const auto [status, rest] = status_and_rest(e.received);
    CHECK(status == 200);
    CHECK(rest == "Hello, World!");
    REQUIRE(e.eof);
    REQUIRE(e.after < 2s);
  }
}

TEST_CASE("a client that half-closes after a request sent in pieces and pipelined ones gets every answer") {
  TestServer server(long_idle());
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HT"));
  std::this_thread::sleep_for(50ms);
  REQUIRE(c.send("TP/1.1\r\nHost: test\r\n\r\n" + get("/hello") + get("/hello")));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const Ending e = read_to_end(c.fd(), 5s);
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = e.received.find("HTTP/1.1 200", at)) != std::string::npos; ++at) ++answers;
  CHECK(answers == 3);
  CHECK(e.eof);
  CHECK(e.after < 2s);
}

// --- lingering close ----------------------------------------------------------------------------

// 413 is decided by the head; the body (3 MiB) keeps coming. Closing with it unread would send a
// reset, which makes the client's kernel drop the 413 it has not read yet. The server shuts its
// side (the client sees EOF after the answer) and discards the rest until the client is done.
TEST_CASE("413 while the body is still arriving: the client reads the answer, then a clean EOF") {
  TestServer server;
  Client c = server.connect();
  const std::string body(3 * 1024 * 1024, 'b');
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3145728\r\n\r\n"));
  std::this_thread::sleep_for(50ms);  // the 413 is on its way back before the body goes out
  CHECK(send_slowly(c.fd(), body, 48, 5ms));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const Ending e = read_to_end(c.fd(), 5s);
  CHECK(status_and_rest(e.received).first == 413);
  CHECK(e.eof);
  CHECK_FALSE(e.reset);
  Client next = server.connect();
  REQUIRE(next.send(get("/hello")));
  const auto r = next.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("400 in the middle of a chunked body still arriving: the answer, then a clean EOF") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX"));
  std::this_thread::sleep_for(50ms);
  CHECK(send_slowly(c.fd(), std::string(2 * 1024 * 1024, 'b'), 32, 5ms));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const Ending e = read_to_end(c.fd(), 5s);
  CHECK(status_and_rest(e.received).first == 400);
  CHECK(e.eof);
  CHECK_FALSE(e.reset);
}

TEST_CASE("431 while the head is still arriving: the answer, then a clean EOF") {
  TestServer server;  // max_header_bytes: 16 KiB
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: "));
  CHECK(send_slowly(c.fd(), std::string(1024 * 1024, 'h'), 16, 5ms));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const Ending e = read_to_end(c.fd(), 5s);
  CHECK(status_and_rest(e.received).first == 431);
  CHECK(e.eof);
  CHECK_FALSE(e.reset);
}

// The bounds: a client that keeps sending is cut off after limits.linger_bytes, and one that
// neither sends nor closes after timeouts.linger; the server holds nothing for either meanwhile.
TEST_CASE("a lingering close ends after linger_bytes discarded") {
  auto config = test_config();
  config.limits.linger_bytes = 256 * 1024;
  config.timeouts.linger = 10s;
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 104857600\r\n\r\n"));
  REQUIRE(c.read_response(false, 2s));
  // 100 MiB offered: the server stops reading after 256 KiB, so the sends fail (reset) or stall.
  const auto start = Clock::now();
  timeval stall{2, 0};
  ::setsockopt(c.fd(), SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall);
  CHECK_FALSE(send_slowly(c.fd(), std::string(100 * 1024 * 1024, 'b'), 100, 0ms));
  CHECK(Clock::now() - start < 5s);
}

TEST_CASE("a lingering close ends after timeouts.linger when the client goes quiet") {
  auto config = test_config();
  config.timeouts.linger = 300ms;
  config.timeouts.idle = config.timeouts.body = config.timeouts.header = 10s;
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 3145728\r\n\r\n" + std::string(4096, 'b')));
  const Ending e = read_to_end(c.fd(), 5s);  // the answer, then the end of the server's side
  CHECK(status_and_rest(e.received).first == 413);
  CHECK(e.eof);
  // The client never closes; after timeouts.linger the server does: a send then fails.
  std::this_thread::sleep_for(1500ms);
  const std::string more(64 * 1024, 'b');
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {
    refused = ::send(c.fd(), more.data(), more.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(refused);
  std::uint64_t open = 0;
  for (const auto& s : server.server().snapshots()) open += s.server.open;
  CHECK(open == 0);
}

// After the last request a keep-alive limit allows, pipelined requests the server will not
// answer may still be arriving: the answer it did send must not be lost to a reset.
TEST_CASE("the last allowed response with more requests pipelined behind it is read, then EOF") {
  auto config = test_config();
  config.limits.keepalive_requests = 1;
  TestServer server(config);
  Client c = server.connect();
  std::string pipeline;
  for (int i = 0; i < 200; ++i) pipeline += get("/hello");
  REQUIRE(c.send(pipeline));
  std::this_thread::sleep_for(100ms);  // answered by now: the rest arrives after the answer
  CHECK(send_slowly(c.fd(), pipeline, 4, 10ms));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const Ending e = read_to_end(c.fd(), 3s);
  const auto [status, rest] = status_and_rest(e.received);
  CHECK(status == 200);
  CHECK(rest == "Hello, World!");
  CHECK(e.eof);
  CHECK_FALSE(e.reset);
}
