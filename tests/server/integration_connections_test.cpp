// mempool-server under many connections and rude clients: hundreds of concurrent keep-alive
// connections, abrupt resets at every stage, /stats and /metrics, graceful shutdown, and the
// leak check that matters most: once every connection is closed, no pool is outstanding.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

using namespace mempool::test;
namespace http = mempool::http;

namespace {

// reactor 0's pool_manager.outstanding as /stats reports it (the /stats request's own pool
// included), or -1 if the answer was not usable.
long long outstanding_now(const TestServer& server) {
  Client c = server.connect();
  if (!c.send(get("/stats"))) return -1;
  const auto r = c.read_response();
  if (!r || r->status != 200) return -1;
  return json_number(r->body, "pool_manager", "outstanding");
}

// Polls /stats until reactor 0 shows exactly one outstanding pool (the /stats request itself):
// closes are noticed asynchronously. Returns the last figure seen.
long long settle_outstanding(const TestServer& server) {
  long long outstanding = -1;
  for (int attempt = 0; attempt < 60; ++attempt) {
    outstanding = outstanding_now(server);
    if (outstanding == 1) break;
    std::this_thread::sleep_for(50ms);
  }
  return outstanding;
}

void check_still_serving(const TestServer& server) {
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

// Brackets and braces nest and close, outside strings.
bool balanced_json(std::string_view json) {
  std::string stack;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      stack += c;
    } else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != (c == '}' ? '{' : '[')) return false;
      stack.pop_back();
    }
  }
  return stack.empty() && !in_string;
}

}  // namespace

// --- many connections ---------------------------------------------------------------------------

// 300 connections open at once on two reactors, each making 5 keep-alive requests; every round
// sends on all of them before reading any, so the server holds 300 requests in flight.
TEST_CASE("300 concurrent keep-alive connections each get all their responses") {
  auto config = test_config();
  config.reactors = 2;
  config.timeouts.header = config.timeouts.body = config.timeouts.idle = config.timeouts.send = 5s;
  TestServer server(config);
  constexpr int connections = 300;
  constexpr int rounds = 5;
  std::vector<Client> clients;
  clients.reserve(connections);
  for (int i = 0; i < connections; ++i) clients.push_back(server.connect());
  int answered = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < connections; ++i) {
      const std::string body = "c" + std::to_string(i) + "r" + std::to_string(round);
      REQUIRE(clients[i].send(round % 2 == 0 ? get("/hello") : post("/echo", body)));
    }
    for (int i = 0; i < connections; ++i) {
      INFO("connection " << i << " round " << round);
      const auto r = clients[i].read_response(false, 10s);
      REQUIRE(r);
      CHECK(r->status == 200);
      if (round % 2 == 0) {
        CHECK(r->body == "Hello, World!");
      } else {
        CHECK(r->body == "c" + std::to_string(i) + "r" + std::to_string(round));
      }
      ++answered;
    }
  }
  CHECK(answered == connections * rounds);
  clients.clear();
  REQUIRE(server.stop());
  std::uint64_t requests = 0, accepts = 0;
  for (const auto& s : server.server().snapshots()) {
    requests += s.server.requests;
    accepts += s.server.accepts;
    CHECK(s.pool_manager.outstanding == 0);
    CHECK(s.server.open == 0);
  }
  CHECK(requests == connections * rounds);
  CHECK(accepts == connections);
}

// Multi-accept: with the only reactor held in a handler, a burst of connections queues in the
// kernel; once the reactor is free it takes them in batches (Acceptor::max_accepts_per_wakeup)
// and every one is served, or refused with 503 past max_connections, none lost or left waiting.
TEST_CASE("a burst of connections queued while the reactor is busy is accepted, served or refused") {
  const int max_connections = GENERATE(100, 12);
  constexpr int burst = 60;
  auto config = test_config();
  config.reactors = 1;
  config.limits.max_connections = static_cast<std::size_t>(max_connections);
  std::atomic<bool> blocking{false}, release{false};
  TestServer server(config, [&](http::Router& routes, http::ReactorServices&) {
    routes.add_exact("/hello", [](const http::Request&, http::Response& res) { res.text(200, "Hello, World!"); });
    routes.add_exact("/block", [&](const http::Request&, http::Response& res) {
      blocking = true;
      for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(10ms);
      res.text(200, "released");
    });
  });
  Client blocker = server.connect();
  REQUIRE(blocker.send(get("/block")));
  for (int i = 0; i < 200 && !blocking; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(blocking);
  std::vector<Client> clients;
  clients.reserve(burst);
  for (int i = 0; i < burst; ++i) {
    clients.push_back(server.connect());  // the kernel completes the handshake: queued
    REQUIRE(clients.back().send(get("/hello")));
  }
  release = true;
  const auto released = blocker.read_response(false, 10s);
  REQUIRE(released);
  CHECK(released->body == "released");
  int served = 0, refused = 0;
  for (int i = 0; i < burst; ++i) {
    INFO("connection " << i << " of the burst, max_connections " << max_connections);
    const auto r = clients[i].read_response(false, 10s);
    REQUIRE(r);
    if (r->status == 200) {
      CHECK(r->body == "Hello, World!");
      ++served;
    } else {
      CHECK(r->status == 503);
      CHECK(r->closes());
      ++refused;
    }
  }
  const int room = std::min(burst, max_connections - 1);  // the blocker holds one slot
  CHECK(served == room);
  CHECK(refused == burst - room);
  clients.clear();
  REQUIRE(server.stop());
  std::uint64_t accepts = 0;
  for (const auto& s : server.server().snapshots()) accepts += s.server.accepts;
  CHECK(accepts == burst + 1);
}

// DESIGN §5: when the ring has no room, a read falls back to the connection pool, is counted,
// and never fails. Eight partial heads hold 1 KiB items of a 4 KiB ring at once.
TEST_CASE("with the ring buffer full reads fall back to pool memory and are all served") {
  auto config = test_config();
  config.ring_buffer_bytes = 4096;
  TestServer server(config);
  std::vector<Client> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(server.connect());
    REQUIRE(clients.back().send("GET /echo?n=" + std::to_string(i) + " HTTP/1.1\r\n"));
  }
  std::this_thread::sleep_for(50ms);  // every partial head read, its buffer held
  for (Client& c : clients) REQUIRE(c.send("Host: test\r\n\r\n"));
  for (int i = 0; i < 8; ++i) {
    INFO("connection " << i);
    const auto r = clients[i].read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.starts_with("GET /echo?n=" + std::to_string(i) + " HTTP/1.1\r\n"));
  }
  clients.clear();
  REQUIRE(server.stop());
  const auto snapshot = server.server().snapshots().at(0);
  CHECK(snapshot.server.ring_fallbacks > 0);
  CHECK(snapshot.pool_manager.outstanding == 0);
}

// A head that outgrows its ring item while a newer item sits after it moves (to the request
// pool) with its bytes intact.
TEST_CASE("a head that outgrows its ring item behind a newer one is served whole") {
  TestServer server;
  Client first = server.connect();
  REQUIRE(first.send("GET /echo HTTP/1.1\r\nHost: test\r\n"));
  std::this_thread::sleep_for(20ms);
  Client second = server.connect();
  REQUIRE(second.send("GET /echo HTTP/1.1\r\n"));  // the newer item, right after first's
  std::this_thread::sleep_for(20ms);
  std::string headers;
  for (int i = 0; i < 40; ++i) headers += "X-Grow-" + std::to_string(i) + ": " + std::string(100, 'g') + "\r\n";
  REQUIRE(first.send(headers + "\r\n"));  // about 5 KiB: the 1 KiB item must grow
  const auto r = first.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "GET /echo HTTP/1.1\r\nHost: test\r\n" + headers + "\r\n");
  REQUIRE(second.send("Host: second\r\n\r\n"));
  const auto r2 = second.read_response();
  REQUIRE(r2);
  CHECK(r2->body == "GET /echo HTTP/1.1\r\nHost: second\r\n\r\n");
}

// --- abrupt client resets -----------------------------------------------------------------------

// A reset in the middle of a request head.
TEST_CASE("a client reset mid-head leaves the server serving with no pool leaked") {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    Client c = server.connect();
    REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: te"));
    std::this_thread::sleep_for(10ms);
    c.reset();
  }
  check_still_serving(server);
  CHECK(settle_outstanding(server) == 1);
}

// A reset in the middle of a request body.
TEST_CASE("a client reset mid-body leaves the server serving with no pool leaked") {
  TestServer server;
  for (int i = 0; i < 5; ++i) {
    Client c = server.connect();
    REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'b')));
    std::this_thread::sleep_for(10ms);
    c.reset();
  }
  check_still_serving(server);
  CHECK(settle_outstanding(server) == 1);
}

// A reset while the server waits to send the rest of a big file.
TEST_CASE("a client reset mid-response leaves the server serving with no pool leaked") {
  TestServer server;
  for (int i = 0; i < 3; ++i) {
    Client c = server.connect(4096);
    REQUIRE(c.send(get("/huge.bin")));
    CHECK(c.read_some(2s) > 0);  // the response has started
    std::this_thread::sleep_for(20ms);
    c.reset();
  }
  check_still_serving(server);
  CHECK(settle_outstanding(server) == 1);
}

// The server runs inside other programs (these tests are one): a peer that resets while a file
// is being sent must not raise SIGPIPE in the process (sendfile(2) has no MSG_NOSIGNAL; the
// Server blocks the signal in its reactor threads). Counted by a handler rather than left to kill
// the test run.
TEST_CASE("a client reset during sendfile raises no SIGPIPE in the embedding process") {
  static std::atomic<int> sigpipes{0};
  struct sigaction counting {};
  counting.sa_handler = [](int) { sigpipes.fetch_add(1, std::memory_order_relaxed); };
  struct sigaction previous {};
  {
    TestServer server;  // (the fixture ignores SIGPIPE: count it instead, from here on)
    REQUIRE(::sigaction(SIGPIPE, &counting, &previous) == 0);
    for (int i = 0; i < 30; ++i) {
      Client c = server.connect();  // a large receive window: sendfile loops while the reset lands
      REQUIRE(c.send(get("/huge.bin")));
      c.read_some(2s);
      c.reset();
    }
    check_still_serving(server);
  }
  ::sigaction(SIGPIPE, &previous, nullptr);
  CHECK(sigpipes.load() == 0);
}

// A reset with pipelined requests read but not all answered.
TEST_CASE("a client reset with pipelined requests unanswered leaves the server serving") {
  TestServer server;
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += i % 2 ? get("/big.bin") : post("/echo", std::string(2000, 'p'));
  for (int i = 0; i < 3; ++i) {
    Client c = server.connect(4096);
    REQUIRE(c.send(batch));
    std::this_thread::sleep_for(20ms);
    c.reset();
  }
  check_still_serving(server);
  CHECK(settle_outstanding(server) == 1);
}

// A reset right after the connect, before any byte (the server may not even have accepted yet).
TEST_CASE("a client reset before sending anything leaves the server serving") {
  TestServer server;
  for (int i = 0; i < 20; ++i) server.connect().reset();
  check_still_serving(server);
  CHECK(settle_outstanding(server) == 1);
}

// --- stats --------------------------------------------------------------------------------------

// /stats is JSON a dashboard can parse, with every reactor and the pool figures.
TEST_CASE("stats answers JSON with every reactor and the pool manager figures") {
  auto config = test_config();
  config.reactors = 2;
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send(get("/stats")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "application/json");
  CHECK(r->header("Cache-Control") == "no-store");
  const std::string& json = r->body;
  INFO(json);
  CHECK(json.starts_with("{\"reactors\":["));
  CHECK(balanced_json(json));
  CHECK(json.find("\"reactor\":0,") != std::string::npos);
  CHECK(json.find("\"reactor\":1,") != std::string::npos);
  for (const char* key : {"\"server\":{", "\"requests\":", "\"pool_manager\":{", "\"outstanding\":",
                          "\"block_allocator\":{", "\"ring_buffer\":{", "\"connection_slots\":{", "\"process\":{",
                          "\"global_arena\":{"}) {
    CHECK(json.find(key) != std::string::npos);
  }
  CHECK(json_sum(json, "pool_manager", "outstanding") >= 1);  // the reactor answering counts its own
}

// /metrics is Prometheus text: a # TYPE line per family, samples labelled by reactor.
TEST_CASE("metrics answers Prometheus text with TYPE lines") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  REQUIRE(c.read_response());
  REQUIRE(c.send(get("/metrics")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type").value_or("").starts_with("text/plain"));
  const std::string& text = r->body;
  CHECK(text.find("# TYPE mempool_pool_manager_outstanding gauge\n") != std::string::npos);
  CHECK(text.find("# TYPE mempool_server_requests_total counter\n") != std::string::npos);
  CHECK(text.find("mempool_server_requests_total{reactor=\"0\"} ") != std::string::npos);
  CHECK(text.find("mempool_global_arena_pages ") != std::string::npos);
}

// The leak check: after a mix of everything (errors, pipelining, files, resets, timeouts) and
// every connection closed, only the /stats request's own pool is outstanding.
TEST_CASE("after every connection closes stats shows one outstanding pool: the request's own") {
  auto config = test_config();
  config.timeouts.header = 300ms;
  TestServer server(config);
  {
    Client keep = server.connect();
    for (int i = 0; i < 10; ++i) {
      REQUIRE(keep.send(i % 2 ? get("/hello.txt") : post("/echo", std::string(3000, 'k'))));
      REQUIRE(keep.read_response());
    }
    Client pipelined = server.connect();
    REQUIRE(pipelined.send(get("/hello") + get("/big.bin") + get("/missing") + head("/big.bin")));
    for (int i = 0; i < 4; ++i) REQUIRE(pipelined.read_response(i == 3));
    Client bad = server.connect();
    bad.send("GET /hello HTTP/1.1\r\n\r\n");
    CHECK(bad.wait_closed());
    Client big_head = server.connect();
    big_head.send(get("/hello", std::string("X-Big: ") + std::string(20000, 'h') + "\r\n"));
    CHECK(big_head.wait_closed());
    Client timed_out = server.connect();
    timed_out.send("GET /hello HTTP/1.1\r\n");
    CHECK(timed_out.wait_closed());
    Client reset = server.connect(4096);
    reset.send(get("/huge.bin"));
    reset.read_some(1s);
    reset.reset();
  }
  CHECK(settle_outstanding(server) == 1);
}

// After wait(), every reactor's final figures show no pool outstanding and no connection open.
TEST_CASE("after stop and wait every reactor snapshot shows 0 outstanding pools") {
  auto config = test_config();
  config.reactors = 2;
  TestServer server(config);
  {
    std::vector<Client> clients;
    for (int i = 0; i < 20; ++i) {
      clients.push_back(server.connect());
      REQUIRE(clients.back().send(get("/hello") + post("/echo", "x")));
    }
    for (Client& c : clients) {
      REQUIRE(c.read_response());
      REQUIRE(c.read_response());
    }
  }
  REQUIRE(server.stop());
  const auto snapshots = server.server().snapshots();
  REQUIRE(snapshots.size() == 2);
  std::uint64_t requests = 0;
  for (const auto& s : snapshots) {
    INFO("reactor " << s.reactor);
    CHECK(s.published);
    CHECK(s.pool_manager.outstanding == 0);
    CHECK(s.server.open == 0);
    CHECK(s.server.accepts == s.server.closed);
    requests += s.server.requests;
  }
  CHECK(requests == 40);
}

// --- graceful shutdown ----------------------------------------------------------------------------

// stop() closes idle keep-alive connections at once, not at their idle timeout.
TEST_CASE("stop closes idle keep-alive connections at once") {
  auto config = test_config();
  config.timeouts.idle = 30s;
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  REQUIRE(c.read_response());
  std::this_thread::sleep_for(20ms);  // the server has gone idle on it
  const auto start = Clock::now();
  server.server().stop();
  CHECK(c.wait_closed(1s));
  CHECK(c.buffered().empty());
  CHECK(Clock::now() - start < 1s);
  CHECK(server.stop());
}

// A connection that has not sent its first request yet is idle too: stop() should not wait for
// its header timeout or the grace period.
TEST_CASE("stop closes a connection that has sent nothing yet at once") {
  auto config = test_config();
  config.timeouts.header = config.timeouts.idle = 30s;
  config.timeouts.shutdown_grace = 3s;
  TestServer server(config);
  Client c = server.connect();
  check_still_serving(server);  // the server has accepted c by now (one reactor, in order)
  const auto start = Clock::now();
  server.server().stop();
  CHECK(c.wait_closed(1s));
  CHECK(c.buffered().empty());
  CHECK(Clock::now() - start < 1s);
}

// A request in progress when stop() is called is finished, its response says Connection: close,
// and then wait() returns. 100-continue tells the test that the server has read the head.
TEST_CASE("stop lets a request in progress finish with Connection close then wait returns") {
  auto config = test_config();
  config.timeouts.idle = 30s;
  config.timeouts.body = 5s;
  config.timeouts.shutdown_grace = 5s;
  TestServer server(config);
  Client idle = server.connect();
  REQUIRE(idle.send(get("/hello")));
  REQUIRE(idle.read_response());
  Client busy = server.connect();
  REQUIRE(busy.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  const auto interim = busy.read_response();
  REQUIRE(interim);
  REQUIRE(interim->status == 100);
  const auto start = Clock::now();
  server.server().stop();
  CHECK(idle.wait_closed(1s));  // stop has been seen: the idle one is gone
  REQUIRE(busy.send("hello"));
  const auto r = busy.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  CHECK(r->closes());
  CHECK(busy.wait_closed(1s));
  CHECK(server.stop());
  CHECK(Clock::now() - start < 2s);  // well within the 5 s grace period
  // And the listener is gone.
  CHECK_THROWS(Client(server.port()));
}

// A request still in progress when the grace period ends is cut off, and wait() returns.
TEST_CASE("stop closes a request still in progress when the grace period ends") {
  auto config = test_config();
  config.timeouts.body = config.timeouts.idle = 30s;
  config.timeouts.shutdown_grace = 500ms;
  TestServer server(config);
  Client busy = server.connect();
  REQUIRE(busy.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  REQUIRE(busy.read_response());
  const auto start = Clock::now();
  CHECK(server.stop());
  CHECK(Clock::now() - start < 3s);
  CHECK(busy.wait_closed(1s));
}
