// mempool-server's limits and refusals over loopback (DESIGN §4): every answer in the limits
// table, the smuggling-shaped requests, the connection limit and every timeout.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

using namespace mempool::test;

namespace {

// `request` on a fresh connection is refused with `status` and Connection: close, and then the
// server closes the connection.
void check_refused(const TestServer& server, const std::string& request, int status) {
  INFO("request: " << printable(request.substr(0, 120)));
  Client c = server.connect();
  c.send(request);  // the server may close before it has read everything: that is allowed
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(r->closes());
  CHECK(c.wait_closed(2s));
}

// The server still answers a plain request on a new connection.
void check_still_serving(const TestServer& server) {
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "Hello, World!");
}

mempool::http::ServerConfig short_timeouts() {
  auto config = test_config();
  config.timeouts.header = config.timeouts.body = config.timeouts.idle = config.timeouts.send = 300ms;
  return config;
}

std::string filler_headers(int count, std::size_t value_size) {
  std::string headers;
  for (int i = 0; i < count; ++i) {
    headers += "X-Filler-" + std::to_string(i) + ": " + std::string(value_size, 'f') + "\r\n";
  }
  return headers;
}

}  // namespace

// --- size limits ---------------------------------------------------------------------------------

// Headers past max_header_bytes (16 KiB by default) are refused with 431.
TEST_CASE("a head over max_header_bytes answers 431 and closes") {
  TestServer server;
  check_refused(server, get("/hello", filler_headers(40, 500)), 431);
  check_still_serving(server);
}

// A head that grows past the limit over several writes is refused the same way.
TEST_CASE("a head growing past max_header_bytes across writes answers 431") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: test\r\n"));
  for (int i = 0; i < 40 && c.send(filler_headers(1, 500)); ++i) std::this_thread::sleep_for(1ms);
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK(c.wait_closed(2s));
}

// A request target past max_uri_bytes (8 KiB) is refused with 414.
TEST_CASE("a request target over max_uri_bytes answers 414 and closes") {
  TestServer server;
  check_refused(server, get("/" + std::string(9000, 'u')), 414);
  check_still_serving(server);
}

// A declared body over max_body_bytes is refused from the head alone: the client never has to
// send it (nginx client_max_body_size).
TEST_CASE("a declared Content-Length over the body limit answers 413 before the body is sent") {
  TestServer server;  // max_body_bytes: 1 MiB
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2097152\r\n\r\n"));
  const auto r = c.read_response(false, 2s);
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(r->closes());
  CHECK(c.wait_closed(2s));
}

// A chunked body has no declared size: it is refused once it goes past the limit.
TEST_CASE("a chunked body over the body limit answers 413") {
  auto config = test_config();
  config.limits.max_body_bytes = 4096;
  TestServer server(config);
  std::string request = "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "7d0\r\n" + std::string(2000, 'c') + "\r\n";
  request += "0\r\n\r\n";
  check_refused(server, request, 413);
  check_still_serving(server);
}

// With Expect: 100-continue the 413 comes instead of the 100: the client never sends the body.
TEST_CASE("Expect 100-continue with a declared body over the limit gets 413 and no 100") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 2097152\r\nExpect: 100-continue\r\n\r\n"));
  const auto r = c.read_response(false, 2s);
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(c.wait_closed(2s));
  CHECK(c.buffered().empty());
}

// An expectation the server cannot meet is refused with 417 (RFC 9110 §10.1.1).
TEST_CASE("an expectation other than 100-continue answers 417") {
  TestServer server;
  check_refused(server, "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417);
}

// A body within the limit is still accepted right at it.
TEST_CASE("a body exactly at the body limit is accepted") {
  auto config = test_config();
  config.limits.max_body_bytes = 4096;
  TestServer server(config);
  Client c = server.connect();
  const std::string body(4096, 'b');
  REQUIRE(c.send(post("/echo", body)));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == body);
}

// A handler that needs more than the request pool's capacity gets a 500, not a crash or an OOM,
// and the server goes on serving (here /echo formats ~6 KiB of headers into a 4 KiB pool).
TEST_CASE("a request that outgrows the request pool capacity answers 500 and the server keeps serving") {
  auto config = test_config();
  config.limits.request_pool_capacity = 4096;
  TestServer server(config);
  check_refused(server, get("/echo", filler_headers(30, 150)), 500);
  check_still_serving(server);
  Client c = server.connect();  // and a small /echo still fits
  REQUIRE(c.send(get("/echo", "X-Small: yes\r\n")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("X-Small: yes") != std::string::npos);
}

// A request pool that runs out at any step of a request (the parser's header table, the
// handler's header view, the handler's own work, the response head) ends in a 500 or 431, never
// in a 200 that lost the headers or the body, nor in a close without an answer. GET /echo with
// more and more headers walks the point where the pool runs out through each of those steps.
TEST_CASE("a request pool that runs out at any step answers 500 or 431 and never a wrong 200") {
  auto config = test_config();
  config.limits.request_pool_capacity = 4096;
  TestServer server(config);
  for (int count = 20; count <= 240; count += 2) {
    INFO(count << " headers");
    std::string headers;
    for (int i = 0; i < count; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
    Client c = server.connect();
    REQUIRE(c.send(get("/echo", headers)));
    const auto r = c.read_response();
    if (!r) {
      FAIL_CHECK("the connection closed without a response");
      continue;
    }
    INFO("status " << r->status << ", body: " << printable(r->body.substr(0, 60)));
    if (r->status == 200) {
      CHECK(r->body == "GET /echo HTTP/1.1\r\nHost: test\r\n" + headers + "\r\n");
    } else {
      CHECK((r->status == 500 || r->status == 431));
    }
  }
  check_still_serving(server);
}

// --- malformed and smuggling-shaped requests: 400, then close -------------------------------

// Content-Length and Transfer-Encoding together: the classic request smuggling shape.
TEST_CASE("Content-Length with Transfer-Encoding answers 400 and closes") {
  TestServer server;
  check_refused(server,
                "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                "0\r\n\r\n",
                400);
  check_refused(server,
                "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                "0\r\n\r\n",
                400);
}

// Two Content-Length headers (even equal ones, or a list) frame nothing we can trust.
TEST_CASE("a duplicate Content-Length answers 400 and closes") {
  TestServer server;
  check_refused(server, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                400);
  check_refused(server, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                400);
  check_refused(server, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 5\r\n\r\nhello", 400);
}

// A Transfer-Encoding whose last coding is not chunked (or chunked twice) has no framing.
TEST_CASE("a Transfer-Encoding not ending in chunked answers 400 and closes") {
  TestServer server;
  for (const char* te : {"chunked, identity", "gzip", "chunked, chunked"}) {
    INFO(te);
    check_refused(server,
                  std::string("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: ") + te +
                      "\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                  400);
  }
  // chunked on two lines is the same list: "chunked, chunked"
  check_refused(server,
                "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                "0\r\n\r\n",
                400);
}

// A chunk size that is not hex, negative, prefixed or overflowing.
TEST_CASE("a bad chunk size answers 400 and closes") {
  TestServer server;
  for (const char* size : {"zz", "-1", "0x5", "ffffffffffffffffff", " 5", ""}) {
    INFO("chunk size '" << size << "'");
    check_refused(server,
                  std::string("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n") + size +
                      "\r\nhello\r\n0\r\n\r\n",
                  400);
  }
}

// A chunk whose data runs past its declared size.
TEST_CASE("a chunk longer than its size answers 400 and closes") {
  TestServer server;
  check_refused(server,
                "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400);
}

// A NUL byte in a header name or value.
TEST_CASE("a NUL in a header answers 400 and closes") {
  TestServer server;
  using namespace std::string_literals;
  check_refused(server, "GET /hello HTTP/1.1\r\nHost: test\r\nX-Nul: a\0b\r\n\r\n"s, 400);
  check_refused(server, "GET /hello HTTP/1.1\r\nHost: test\r\nX-N\0ul: ab\r\n\r\n"s, 400);
}

// obs-fold (a header value continued on the next line) is refused (RFC 9112 §5.2).
TEST_CASE("an obs-fold header line answers 400 and closes") {
  TestServer server;
  check_refused(server, "GET /hello HTTP/1.1\r\nHost: test\r\nX-Folded: first\r\n second\r\n\r\n", 400);
  check_refused(server, "GET /hello HTTP/1.1\r\nHost: test\r\nX-Folded: first\r\n\tsecond\r\n\r\n", 400);
}

// Whitespace between a header name and its colon (RFC 9112 §5.1: must be rejected).
TEST_CASE("whitespace before a header colon answers 400 and closes") {
  TestServer server;
  check_refused(server, "GET /hello HTTP/1.1\r\nHost : test\r\n\r\n", 400);
}

// A coding we do not decode before chunked: 501, not a guess.
TEST_CASE("Transfer-Encoding gzip then chunked answers 501") {
  TestServer server;
  check_refused(server,
                "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                501);
}

// HTTP/1.1 requires Host (RFC 9112 §3.2); HTTP/1.0 does not.
TEST_CASE("HTTP/1.1 without Host answers 400 and HTTP/1.0 without Host is served") {
  TestServer server;
  check_refused(server, "GET /hello HTTP/1.1\r\n\r\n", 400);
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

// Two Host headers: which one routes the request is ambiguous.
TEST_CASE("two Host headers answer 400") {
  TestServer server;
  check_refused(server, "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

// Only HTTP/1.0 and HTTP/1.1 are spoken here.
TEST_CASE("HTTP/2.0 and HTTP/1.2 and HTTP/3.0 answer 505") {
  TestServer server;
  for (const char* version : {"HTTP/2.0", "HTTP/1.2", "HTTP/3.0"}) {
    INFO(version);
    check_refused(server, std::string("GET /hello ") + version + "\r\nHost: test\r\n\r\n", 505);
  }
}

// A well-formed method token the server does not know is "not implemented", not "bad".
TEST_CASE("an unknown well-formed method answers 501") {
  TestServer server;
  for (const char* method : {"FOO", "PURGEX", "get", "BREW"}) {
    INFO(method);
    check_refused(server, std::string(method) + " /hello HTTP/1.1\r\nHost: test\r\n\r\n", 501);
  }
}

// A method with a byte no token may hold is a malformed request line: 400, not 501.
TEST_CASE("a method with a non-token byte answers 400") {
  TestServer server;
  for (const char* method : {"G(T", "GET(", "GE@T", "@GET"}) {
    INFO(method);
    check_refused(server, std::string(method) + " /hello HTTP/1.1\r\nHost: test\r\n\r\n", 400);
  }
}

// Garbage instead of a request line: a TLS handshake on the plain port, a bad protocol name,
// words after the version.
TEST_CASE("a request line that is not HTTP answers 400 and closes") {
  TestServer server;
  using namespace std::string_literals;
  check_refused(server, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s + std::string(64, 'r') + "\r\n\r\n", 400);
  check_refused(server, "GET /hello HTTQ/1.1\r\nHost: test\r\n\r\n", 400);
  check_refused(server, "GET /hello HTTP/1.1 extra\r\nHost: test\r\n\r\n", 400);
}

// A refused request ends the connection: requests pipelined after it are not answered.
TEST_CASE("a request pipelined after a refused one is not answered") {
  TestServer server;
  Client c = server.connect();
  c.send("GET /hello HTTP/1.1\r\n\r\n" + get("/hello"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(c.wait_closed(2s));
  CHECK(c.buffered().empty());
}

// --- the connection limit ------------------------------------------------------------------------

// Past max_connections a new connection gets a 503 and is closed; once one closes, a new
// connection is served again.
TEST_CASE("past max_connections a new connection gets 503 and is closed") {
  auto config = test_config();
  config.limits.max_connections = 2;
  TestServer server(config);
  std::vector<Client> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(server.connect());
    REQUIRE(held.back().send(get("/hello")));
    const auto r = held.back().read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  {
    Client refused = server.connect();
    const auto r = refused.read_response(false, 2s);
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->closes());
    CHECK(refused.wait_closed(2s));
  }
  held.erase(held.begin());  // one slot frees up once the server sees the close
  bool served = false;
  for (int attempt = 0; attempt < 40 && !served; ++attempt) {
    Client c = server.connect();
    c.send(get("/hello"));
    const auto r = c.read_response(false, 2s);
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  CHECK(served);
  Client still = std::move(held.front());  // the other held connection still works
  REQUIRE(still.send(get("/hello")));
  const auto r = still.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
}

// --- timeouts ---------------------------------------------------------------------------------------

// A head that does not complete within the header timeout gets a 408, then the close.
TEST_CASE("a partial head answers 408 after the header timeout then closes") {
  TestServer server(short_timeouts());
  Client c = server.connect();
  const auto start = Clock::now();
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: test\r\n"));
  const auto r = c.read_response(false, 3s);
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(r->closes());
  CHECK(c.wait_closed(2s));
  CHECK(Clock::now() - start >= 250ms);
}

// A keep-alive connection left idle is closed quietly: no 408 for a request never begun.
TEST_CASE("an idle keep-alive connection is closed after the idle timeout without a response") {
  TestServer server(short_timeouts());
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  REQUIRE(c.read_response());
  const auto start = Clock::now();
  CHECK(c.wait_closed(3s));
  CHECK(c.buffered().empty());
  CHECK(Clock::now() - start >= 250ms);
}

// A connection that never sends a byte is closed quietly too.
TEST_CASE("a connection that sends nothing is closed after the header timeout without a response") {
  TestServer server(short_timeouts());
  Client c = server.connect();
  CHECK(c.wait_closed(3s));
  CHECK(c.buffered().empty());
}

// A body that stops arriving gets a 408 after the body timeout.
TEST_CASE("a partial body answers 408 after the body timeout then closes") {
  TestServer server(short_timeouts());
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly part of it"));
  const auto r = c.read_response(false, 3s);
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(c.wait_closed(2s));
}

// The body timeout runs between two reads (nginx): a slow but steady body is not cut off.
TEST_CASE("a slow body that keeps arriving within the body timeout is served") {
  TestServer server(short_timeouts());
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 8\r\n\r\n"));
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(100ms);  // 800 ms in all, more than the 300 ms timeout
    REQUIRE(c.send("x"));
  }
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "xxxxxxxx");
}

// A client that stops reading a big response is dropped after the send timeout, before the
// whole body was sent.
TEST_CASE("a client that never reads a big response is closed after the send timeout") {
  TestServer server(short_timeouts());
  Client c = server.connect(4096);  // a small receive window
  REQUIRE(c.send(get("/huge.bin")));
  std::this_thread::sleep_for(1500ms);  // several send timeouts without reading a byte
  // Now drain: the server must have given up (EOF or reset) well short of the 64 MiB.
  const auto start = Clock::now();
  CHECK(c.wait_closed(10s));
  CHECK(c.buffered().size() < TestRoot::huge_size);
  CHECK(Clock::now() - start < 10s);
  check_still_serving(server);
}
