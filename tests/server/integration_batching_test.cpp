// Batching of pipelined requests (issue 13): every complete request already read is answered
// before one gather write carries their answers, byte for byte what they get one at a time; a
// pipelining connection gets a bounded share of a loop turn, so another connection is not starved.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

using namespace mempool::test;

namespace {

// One request and how to read its answer.
struct Exchange {
  std::string request;
  bool head = false;
};

// The answer's bytes with the Date header's value blanked: it changes each second.
std::string without_date(const HttpResponse& r) {
  std::string bytes = r.raw_head + r.body;
  const std::size_t at = bytes.find("\r\nDate: ");
  if (at != std::string::npos) {
    const std::size_t end = bytes.find("\r\n", at + 2);
    bytes.replace(at + 8, end - (at + 8), "*");
  }
  return bytes;
}

// reactor 0's "server" counter `key`, read live by a /stats request on its own connection (that
// request's own gather write comes after the figure is taken).
long long server_counter(const TestServer& server, std::string_view key) {
  Client c = server.connect();
  if (!c.send(get("/stats"))) return -1;
  const auto r = c.read_response();
  if (!r || r->status != 200) return -1;
  return json_number(r->body, "server", key);
}

// Every kind of answer: memory bodies (staged), a file body (sendfile: ends a batch), a 404, a
// HEAD, a body echoed from the read buffer, a handler's own text.
std::vector<Exchange> mixed_requests(int n) {
  std::vector<Exchange> out;
  for (int i = 0; i < n; ++i) {
    const std::string k = std::to_string(i);
    switch (i % 7) {
      case 0: out.push_back({get("/hello")}); break;
      case 1: out.push_back({post("/echo", "echo body " + k + std::string(static_cast<std::size_t>(i) * 3, '.'))}); break;
      case 2: out.push_back({get("/hello.txt")}); break;
      case 3: out.push_back({get("/missing-" + k)}); break;
      case 4: out.push_back({head("/hello.txt"), true}); break;
      case 5: out.push_back({head("/hello"), true}); break;
      default: out.push_back({"GET /echo?n=" + k + " HTTP/1.1\r\nHost: test\r\n\r\n"}); break;
    }
  }
  return out;
}

}  // namespace

// 30 mixed requests and a last one that asks to close, in one write: each answer is byte for
// byte (Date aside) what the same request gets alone, in order; then the server closes.
TEST_CASE("pipelined mixed requests are answered in order, byte for byte as one at a time") {
  TestServer server;
  std::vector<Exchange> requests = mixed_requests(30);
  requests.push_back({get("/hello", "Connection: close\r\n")});

  std::vector<std::string> expected;
  for (const Exchange& e : requests) {  // alone: a fresh connection each, nothing pipelined
    Client alone = server.connect();
    REQUIRE(alone.send(e.request));
    const auto r = alone.read_response(e.head);
    REQUIRE(r);
    expected.push_back(without_date(*r));
  }

  std::string batch;
  for (const Exchange& e : requests) batch += e.request;
  Client c = server.connect();
  REQUIRE(c.send(batch));
  for (std::size_t i = 0; i < requests.size(); ++i) {
    INFO("response " << i << " to " << requests[i].request.substr(0, requests[i].request.find('\r')));
    const auto r = c.read_response(requests[i].head);
    REQUIRE(r);
    CHECK(without_date(*r) == expected[i]);
  }
  CHECK(c.wait_closed());
  CHECK(c.buffered().empty());
}

// 16 GET /hello in one write (TechEmpower's plaintext shape) leave in one sendmsg, not 16; 100
// of them (several reads of the 1 KiB head buffer) in far fewer writes than answers.
TEST_CASE("pipelined answers leave in one gather write per batch") {
  TestServer server;
  const int depth = GENERATE(16, 100);
  std::string batch;
  for (int i = 0; i < depth; ++i) batch += get("/hello");
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));  // the connection is open and served before counting starts
  REQUIRE(c.read_response());

  const long long before = server_counter(server, "gather_writes");
  REQUIRE(before >= 0);
  REQUIRE(c.send(batch));
  for (int i = 0; i < depth; ++i) {
    INFO("response " << i);
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->body == "Hello, World!");
  }
  const long long after = server_counter(server, "gather_writes");
  const long long writes = after - before - 1;  // the first /stats answer's own write
  INFO("gather writes for " << depth << " pipelined answers: " << writes);
  if (depth == 16) {
    CHECK(writes == 1);  // 592 bytes: one read, one batch
  } else {
    CHECK(writes >= 1);
    CHECK(writes <= depth / 4);  // one per read of the head buffer (~27 requests), not per request
  }
}

// A connection with thousands of requests pipelined gets a bounded share of each loop turn: a
// request on another connection is answered while the first still has most of its answers to
// come. Unbounded, the single reactor would answer all of them first (the client keeps reading,
// so the socket never fills and the server never waits).
TEST_CASE("a pipelining connection does not starve another one") {
  constexpr int depth = 20000;
  auto config = test_config();
  config.limits.keepalive_requests = depth + 10;
  config.timeouts.header = config.timeouts.idle = config.timeouts.send = 20s;
  TestServer server(config);
  std::string batch;
  for (int i = 0; i < depth; ++i) batch += get("/hello");
  Client greedy = server.connect();
  Client other = server.connect();
  REQUIRE(other.send(get("/hello")));  // both open and served once: no accept in the race
  REQUIRE(other.read_response());
  REQUIRE(greedy.send(get("/hello")));
  REQUIRE(greedy.read_response());
  const long long yields_before = server_counter(server, "batch_yields");

  std::atomic<int> greedy_answers{0};
  std::thread reader([&] {
    for (int i = 0; i < depth; ++i) {
      if (!greedy.read_response(false, 20s)) return;
      greedy_answers.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::thread writer([&] { (void)greedy.send(batch); });
  while (greedy_answers.load(std::memory_order_relaxed) < 100) std::this_thread::yield();
  REQUIRE(other.send(get("/hello")));
  const auto r = other.read_response();
  const int greedy_then = greedy_answers.load(std::memory_order_relaxed);
  writer.join();
  reader.join();
  REQUIRE(r);
  CHECK(r->body == "Hello, World!");
  CHECK(greedy_answers.load() == depth);
  INFO("greedy answers read when the other connection's answer came: " << greedy_then);
  CHECK(greedy_then < depth / 2);
  CHECK(server_counter(server, "batch_yields") > yields_before);
}
