// Bounded memory per connection (issue 10, limits.connection_memory), over loopback: a client
// that pipelines without pause costs the server no more per request, big chunked bodies cost no
// fresh block each, and a client whose request cannot fit its connection's budget gets 503.
#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include "support/http_client.hpp"

using namespace mempool::test;

namespace {

// A /stats figure of reactor 0, read on a connection of its own.
long long stat(const TestServer& server, std::string_view group, std::string_view key) {
  Client c = server.connect();
  if (!c.send(get("/stats"))) return -1;
  const auto r = c.read_response();
  if (r && r->status != 200) UNSCOPED_INFO("/stats: " << r->status_line);
  return r && r->status == 200 ? json_number(r->body, group, key) : -1;
}

std::string chunked_post(std::size_t body, std::size_t chunk) {
  std::string request = "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk);
  for (std::size_t sent = 0; sent < body; sent += chunk) request += size_line + std::string(chunk, 'c') + "\r\n";
  return request + "0\r\n\r\n";
}

}  // namespace

// The body of each is de-chunked in place in one buffer of one size, which the reactor's block
// allocator keeps between requests: after the first few, no request takes a block from the OS.
TEST_CASE("pipelined chunked 1 MiB POSTs take no fresh block from the OS per request") {
  TestServer server;  // max_body_bytes 1 MiB
  const std::string request = chunked_post(1 << 20, 64 * 1024);
  Client c = server.connect();
  std::string warm_up;
  for (int i = 0; i < 4; ++i) warm_up += request;
  REQUIRE(c.send(warm_up));
  for (int i = 0; i < 4; ++i) {
    const auto r = c.read_response(false, 10s);
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  const long long before = stat(server, "block_allocator", "os_allocs");
  constexpr int requests = 40;
  std::thread writer([&] {
    for (int i = 0; i < requests; ++i) c.send(request);
  });
  int answered = 0;
  for (int i = 0; i < requests; ++i) {
    const auto r = c.read_response(false, 10s);
    if (!r || r->status != 200 || r->body.size() != (1u << 20)) break;
    ++answered;
  }
  writer.join();
  CHECK(answered == requests);
  const long long after = stat(server, "block_allocator", "os_allocs");
  INFO("OS blocks taken for " << requests << " requests: " << after - before);
  CHECK(after - before <= 4);  // (the /stats requests' own, at most)
}

// A slow client's body holds the oldest item of a small ring, so every other read falls back to
// its connection's pool, which only going idle gives back. A client pipelining thousands of
// requests never goes idle: its fallback buffer must serve again and again, within a budget that
// thousands of fresh ones would exceed many times over.
TEST_CASE("a pipelining client behind a slow body is served within its connection budget") {
  auto config = test_config();
  config.ring_buffer_bytes = 4096;
  config.limits.request_pool_capacity = 64 * 1024;  // room for /stats' table
  config.limits.connection_memory = 256 * 1024;     // 3000 fresh 1 KiB head buffers: 3 MiB
  config.limits.keepalive_requests = 100000;
  config.timeouts.body = config.timeouts.header = config.timeouts.idle = 10s;
  TestServer server(config);
  Client slow = server.connect();
  REQUIRE(slow.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nsome"));
  std::this_thread::sleep_for(50ms);
  Client fill = server.connect();  // takes the rest of the ring until its request is answered
  REQUIRE(fill.send(get("/hello")));
  REQUIRE(fill.read_response());

  constexpr int requests = 3000;
  Client c = server.connect();
  std::thread writer([&] {
    std::string batch;
    for (int i = 0; i < requests; ++i) {
      batch += get("/hello");
      if (batch.size() > 16 * 1024) c.send(std::exchange(batch, {}));
    }
    c.send(batch);
  });
  int answered = 0;
  for (int i = 0; i < requests; ++i) {
    const auto r = c.read_response(false, 5s);
    if (!r || r->status != 200) {
      INFO("answer " << i << ": " << (r ? r->status_line : "none"));
      CHECK(false);
      break;
    }
    ++answered;
  }
  writer.join();
  CHECK(answered == requests);
  CHECK(stat(server, "server", "ring_fallbacks") > 0);
  REQUIRE(slow.send(std::string(96, 'b')));
  const auto r = slow.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

// Past the connection's budget the answer is 503 and the connection closes: never an abort. (A
// small ring: a body that grows in its ring item is the reactor's memory, bounded by the ring.)
TEST_CASE("a request that cannot fit its connection's budget is answered 503 and closed") {
  auto config = test_config();
  config.ring_buffer_bytes = 4096;
  config.limits.max_body_bytes = 1 << 20;
  config.limits.request_pool_capacity = 64 * 1024;
  config.limits.connection_memory = 64 * 1024;
  TestServer server(config);
  for (const std::string& request :
       {"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 200000\r\n\r\n" + std::string(200000, 'b'),
        chunked_post(200 * 1024, 4096)}) {
    Client c = server.connect();
    c.send(request);
    const auto r = c.read_response(false, 5s);
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->closes());
    CHECK(c.wait_closed(5s));
  }
  Client c = server.connect();
  REQUIRE(c.send(post("/echo", std::string(10000, 'e'))));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}
