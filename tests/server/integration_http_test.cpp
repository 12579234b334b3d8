// mempool-server over loopback, the way a client sees it: the built-in handlers, keep-alive and
// pipelining, 100-continue, chunked bodies, static files (sendfile, HEAD, ranges, validators,
// directories) and traversal attempts. Each test starts its own server on an ephemeral port.
#include <catch2/catch.hpp>

#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

using namespace mempool::test;

namespace {

// The Date header's value as seconds since the epoch, or -1 if it is not an IMF-fixdate.
long long parse_date(const std::string& value) {
  std::tm tm{};
  const char* end = ::strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return -1;
  return static_cast<long long>(::timegm(&tm));
}

// A config whose reactor ticks every 100 ms (the tick refreshes the cached Date).
mempool::http::ServerConfig fast_tick_config() {
  auto config = test_config();
  config.timeouts.header = 400ms;
  return config;
}

}  // namespace

// The benchmark path must satisfy TechEmpower's plaintext rules exactly.
TEST_CASE("hello meets the TechEmpower plaintext rules") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status_line == "HTTP/1.1 200 OK");
  CHECK(r->header("Server") == "mempool");
  CHECK(r->header("Content-Type") == "text/plain");
  CHECK(r->header("Content-Length") == "13");
  CHECK(r->body == "Hello, World!");
  REQUIRE(r->header("Date"));
  const long long date = parse_date(*r->header("Date"));
  CHECK(date > 0);
  CHECK(std::abs(date - static_cast<long long>(std::time(nullptr))) <= 2);
  CHECK_FALSE(r->header("Connection"));  // HTTP/1.1 keep-alive is the default: nothing to say
}

// The cached Date must move on with the clock (TechEmpower checks it changes each second).
TEST_CASE("the Date header changes after a second") {
  TestServer server(fast_tick_config());
  Client c = server.connect();
  REQUIRE(c.send(get("/hello")));
  const auto first = c.read_response();
  REQUIRE(first);
  std::this_thread::sleep_for(1300ms);
  Client d = server.connect();
  REQUIRE(d.send(get("/hello")));
  const auto second = d.read_response();
  REQUIRE(second);
  const long long before = parse_date(first->header("Date").value_or(""));
  const long long after = parse_date(second->header("Date").value_or(""));
  CHECK(before > 0);
  CHECK(after > before);
}

// Keep-alive: one socket serves request after request (nginx's own suite does this first).
TEST_CASE("many requests on one socket are all answered in turn") {
  TestServer server;
  Client c = server.connect();
  for (int i = 0; i < 200; ++i) {
    INFO("request " << i);
    const bool echo = i % 2 == 1;
    const std::string body = "body number " + std::to_string(i);
    REQUIRE(c.send(echo ? post("/echo", body) : get("/hello")));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == (echo ? body : "Hello, World!"));
    CHECK_FALSE(r->closes());
  }
}

// HEAD gets the GET headers (Content-Length included) and no body; the socket stays usable.
TEST_CASE("HEAD of hello has the GET headers and no body") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(head("/hello")));
  const auto r = c.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Length") == "13");
  CHECK(r->header("Content-Type") == "text/plain");
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();  // a stray body would be read as this response's head
  REQUIRE(next);
  CHECK(next->status_line == "HTTP/1.1 200 OK");
  CHECK(next->body == "Hello, World!");
}

// GET /echo is a debugging aid: it shows the request line and the headers as received.
TEST_CASE("GET echo shows the request line and headers") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET /echo?x=1 HTTP/1.1\r\nHost: test\r\nX-Custom: Some Value\r\nuser-agent: it\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "text/plain");
  CHECK(r->body == "GET /echo?x=1 HTTP/1.1\r\nHost: test\r\nX-Custom: Some Value\r\nuser-agent: it\r\n\r\n");
}

// A binary body must survive untouched (every byte value, larger than the first read buffer).
TEST_CASE("POST echo of a 64 KiB binary body comes back byte-identical with its Content-Type") {
  TestServer server;
  std::string body(64 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 31 + i / 256) & 0xff);
  Client c = server.connect();
  REQUIRE(c.send(post("/echo", body, "application/x-mempool-test")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "application/x-mempool-test");
  CHECK(r->header("Content-Length") == std::to_string(body.size()));
  CHECK(r->body.size() == body.size());
  CHECK(r->body == body);
}

// A chunked request body (several chunks, extensions, a trailer) is de-chunked for the handler.
TEST_CASE("a chunked POST echo comes back de-chunked") {
  TestServer server;
  Client c = server.connect();
  const std::string big(3000, 'z');
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/x-chunks\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n"
                 "1;name=value\r\n,\r\n"
                 "6;a;b=\"quoted\"\r\n world\r\n"
                 "BB8\r\n" + big + "\r\n"
                 "0\r\nX-Trailer: yes\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "text/x-chunks");
  CHECK(r->body == "hello, world" + big);
  // And the connection goes on.
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->body == "Hello, World!");
}

// A chunked body arriving in separate writes, chunk by chunk, is still one body.
TEST_CASE("a chunked POST sent one chunk per write comes back whole") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string expected;
  for (int i = 0; i < 10; ++i) {
    const std::string piece = "piece-" + std::to_string(i) + ";";
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    REQUIRE(c.send(std::string(size) + piece + "\r\n"));
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(c.send("0\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type") == "application/octet-stream");
  CHECK(r->body == expected);
}

// Expect: 100-continue: the interim response comes before the client commits the body, for
// each request of a keep-alive connection.
TEST_CASE("Expect 100-continue gets 100 Continue before the body and then the echo") {
  TestServer server;
  Client c = server.connect();
  for (int i = 0; i < 2; ++i) {
    INFO("request " << i);
    REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
                   "Expect: 100-continue\r\n\r\n"));
    const auto interim = c.read_response(false, 2s);
    REQUIRE(interim);
    CHECK(interim->status_line == "HTTP/1.1 100 Continue");
    CHECK(interim->headers.empty());
    REQUIRE(c.send("hello world"));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello world");
  }
}

// A body on a request whose handler ignores it (GET /hello) is still read past, and an empty
// POST body echoes as empty: the next request on the socket starts where it should.
TEST_CASE("bodies the handler ignores or that are empty keep the message framing") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: test\r\nContent-Length: 27\r\n\r\nGET /not-a-request HTTP/1.1" +
                 post("/echo", "") + get("/hello.txt")));
  const auto hello = c.read_response();
  REQUIRE(hello);
  CHECK(hello->body == "Hello, World!");
  const auto empty = c.read_response();
  REQUIRE(empty);
  CHECK(empty->status == 200);
  CHECK(empty->header("Content-Length") == "0");
  CHECK(empty->body.empty());
  const auto file = c.read_response();
  REQUIRE(file);
  CHECK(file->body == TestRoot::hello);
}

// A missing file is a plain 404 that keeps the connection.
TEST_CASE("a missing file answers 404 and the connection stays open") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/no-such-file.txt")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK_FALSE(r->closes());
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->status == 200);
}

// --- static files ------------------------------------------------------------------------------

// [open_file_cache] reaches the reactors' caches, and the running server closes an entry unused
// for `inactive` on its own (nginx's inactive=): no request has to come to trigger it.
TEST_CASE("the server closes a cached file's descriptor after open_file_cache.inactive unused") {
  auto config = test_config();
  config.open_file_cache.inactive = 300ms;
  TestServer server(config);
  const auto file = fetch(server, get("/hello.txt"));
  REQUIRE(file);
  CHECK(file->status == 200);
  const auto held = fetch(server, get("/stats"));
  REQUIRE(held);
  CHECK(json_number(held->body, "open_files", "open_fds") == 1);
  CHECK(json_number(held->body, "open_files", "expirations") == 0);
  std::string stats;
  for (int i = 0; i < 40; ++i) {  // the reactor checks once a second
    std::this_thread::sleep_for(100ms);
    stats = fetch(server, get("/stats"))->body;
    if (json_number(stats, "open_files", "open_fds") == 0) break;
  }
  INFO(stats);
  CHECK(json_number(stats, "open_files", "open_fds") == 0);
  CHECK(json_number(stats, "open_files", "entries") == 0);
  CHECK(json_number(stats, "open_files", "expirations") == 1);
  CHECK(fetch(server, get("/hello.txt"))->status == 200);  // and it opens again when asked
}

// sendfile must deliver a body larger than the socket buffers, byte for byte.
TEST_CASE("a 1 MiB static file arrives byte-identical") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/big.bin")));
  const auto r = c.read_response(false, 10s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Length") == std::to_string(TestRoot::big_size));
  CHECK(r->header("Content-Type") == "application/octet-stream");
  CHECK(r->header("Accept-Ranges") == "bytes");
  CHECK(r->header("ETag"));
  CHECK(r->header("Last-Modified"));
  CHECK(r->body.size() == TestRoot::big_size);
  CHECK(r->body == TestRoot::big_content());
  REQUIRE(c.send(get("/hello.txt")));  // the file body ended exactly where it should
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->body == TestRoot::hello);
}

// HEAD of a file answers as GET would, Content-Length included, and sends no body.
TEST_CASE("HEAD of a static file sends the headers and no body") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(head("/big.bin")));
  const auto r = c.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Length") == std::to_string(TestRoot::big_size));
  REQUIRE(c.send(get("/hello.txt")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->status_line == "HTTP/1.1 200 OK");
  CHECK(next->body == TestRoot::hello);
}

// Single ranges, all three forms: a-b, a- and -n.
TEST_CASE("a single range in each of its three forms answers 206 with that slice") {
  TestServer server;
  const std::string content = TestRoot::big_content();
  const std::string size = std::to_string(content.size());
  struct Case {
    const char* range;
    std::size_t first;
    std::size_t length;
  };
  const Case cases[] = {
      {"bytes=100-199", 100, 100},
      {"bytes=1048000-", 1048000, content.size() - 1048000},
      {"bytes=-300", content.size() - 300, 300},
      {"bytes=0-0", 0, 1},
  };
  Client c = server.connect();
  for (const Case& k : cases) {
    INFO(k.range);
    REQUIRE(c.send(get("/big.bin", std::string("Range: ") + k.range + "\r\n")));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 206);
    CHECK(r->header("Content-Range") ==
          "bytes " + std::to_string(k.first) + "-" + std::to_string(k.first + k.length - 1) + "/" + size);
    CHECK(r->header("Content-Length") == std::to_string(k.length));
    CHECK(r->body == content.substr(k.first, k.length));
  }
}

// A range past the end is unsatisfiable: 416 with the size, and the connection stays.
TEST_CASE("an unsatisfiable range answers 416 with Content-Range bytes star slash size") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello.txt", "Range: bytes=1000-2000\r\n")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 416);
  CHECK(r->header("Content-Range") == "bytes */" + std::to_string(TestRoot::hello.size()));
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->status == 200);
}

// A cached copy validated by ETag: 304, validators, no body (the next response parses cleanly).
TEST_CASE("If-None-Match with the ETag answers 304 with no body") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello.txt")));
  const auto first = c.read_response();
  REQUIRE(first);
  REQUIRE(first->header("ETag"));
  REQUIRE(c.send(get("/hello.txt", "If-None-Match: " + *first->header("ETag") + "\r\n")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 304);
  CHECK(r->header("ETag") == first->header("ETag"));
  CHECK_FALSE(r->header("Content-Length"));
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->status_line == "HTTP/1.1 200 OK");
  CHECK(next->body == "Hello, World!");
}

// A cached copy validated by date: If-Modified-Since equal to Last-Modified is a 304.
TEST_CASE("If-Modified-Since at the Last-Modified date answers 304 with no body") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello.txt")));
  const auto first = c.read_response();
  REQUIRE(first);
  REQUIRE(first->header("Last-Modified"));
  REQUIRE(c.send(get("/hello.txt", "If-Modified-Since: " + *first->header("Last-Modified") + "\r\n")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 304);
  REQUIRE(c.send(get("/hello")));
  const auto next = c.read_response();
  REQUIRE(next);
  CHECK(next->status_line == "HTTP/1.1 200 OK");
}

// Whatever the encoding trick, nothing outside the root is ever served.
TEST_CASE("traversal attempts over the wire never answer 200 with outside content") {
  TestServer server;
  const char* targets[] = {
      "/../secret.txt",
      "/sub/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/.%2e/secret.txt",
      "/sub/..%2f..%2fsecret.txt",
      "/..%2fsecret.txt",
      "/%2fsecret.txt",
      "/..\\secret.txt",
      "/sub\\..\\..\\secret.txt",
      "/%5c..%5csecret.txt",
      "/hello.txt%00",
      "/%00/../secret.txt",
      "/link-out",
      "/%252e%252e/secret.txt",
      "//../secret.txt",
  };
  for (const char* target : targets) {
    INFO(target);
    Client c = server.connect();
    REQUIRE(c.send(get(target)));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK((r->status == 400 || r->status == 403 || r->status == 404));
    CHECK(r->body.find("outside the root") == std::string::npos);
  }
  Client c = server.connect();  // and the server still serves
  REQUIRE(c.send(get("/hello.txt")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == TestRoot::hello);
}

// A directory named with its slash serves its index.html.
TEST_CASE("a directory path with a trailing slash serves its index.html") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/sub/")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("Content-Type").value_or("").starts_with("text/html"));
  CHECK(r->body == TestRoot::sub_index);
}

// A directory named without its slash is redirected to the slash form (query kept).
TEST_CASE("a directory path without a trailing slash answers 301 to the slash form") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/sub?a=1")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 301);
  CHECK(r->header("Location") == "/sub/?a=1");
  CHECK_FALSE(r->closes());
}

// --- pipelining -------------------------------------------------------------------------------

// 50 mixed requests in one write: answered one at a time, in order, none lost or merged. A 1 MiB
// file in the middle makes the server wait for the socket with the rest already read.
TEST_CASE("50 pipelined mixed requests in one write are answered in order") {
  TestServer server;
  struct Expected {
    int status;
    std::string body;
    bool head = false;
  };
  std::string batch;
  std::vector<Expected> expected;
  for (int i = 0; i < 50; ++i) {
    const std::string n = std::to_string(i);
    if (i == 25) {
      batch += get("/big.bin");
      expected.push_back({200, TestRoot::big_content()});
      continue;
    }
    switch (i % 6) {
      case 0:
        batch += get("/hello");
        expected.push_back({200, "Hello, World!"});
        break;
      case 1:
        batch += post("/echo", "echo body " + n + std::string(static_cast<std::size_t>(i) * 40, '.'));
        expected.push_back({200, "echo body " + n + std::string(static_cast<std::size_t>(i) * 40, '.')});
        break;
      case 2:
        batch += get("/hello.txt");
        expected.push_back({200, std::string(TestRoot::hello)});
        break;
      case 3:
        batch += get("/missing-" + n);
        expected.push_back({404, "404 Not Found\n"});
        break;
      case 4:
        batch += "GET /echo?n=" + n + " HTTP/1.1\r\nHost: test\r\n\r\n";
        expected.push_back({200, "GET /echo?n=" + n + " HTTP/1.1\r\nHost: test\r\n\r\n"});
        break;
      default:
        batch += head("/hello.txt");
        expected.push_back({200, "", true});
        break;
    }
  }
  Client c = server.connect();
  REQUIRE(c.send(batch));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("response " << i);
    const auto r = c.read_response(expected[i].head, 10s);
    REQUIRE(r);
    CHECK(r->status == expected[i].status);
    CHECK(r->body.size() == expected[i].body.size());
    CHECK(r->body == expected[i].body);
    CHECK_FALSE(r->closes());
  }
  CHECK(c.buffered().empty());
}

// Requests that arrive split anywhere (here: mid-line of the second request) are joined up.
TEST_CASE("a pipelined request split across writes is answered after the first") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello") + "POST /echo HTTP/1.1\r\nHost: te"));
  const auto first = c.read_response();
  REQUIRE(first);
  CHECK(first->body == "Hello, World!");
  std::this_thread::sleep_for(20ms);
  REQUIRE(c.send("st\r\nContent-Length: 4\r\n\r\nab"));
  std::this_thread::sleep_for(20ms);
  REQUIRE(c.send("cd"));
  const auto second = c.read_response();
  REQUIRE(second);
  CHECK(second->status == 200);
  CHECK(second->body == "abcd");
}

// --- connection management ----------------------------------------------------------------------

// HTTP/1.0 asking for keep-alive is told so and kept.
TEST_CASE("HTTP/1.0 with Connection keep-alive is answered with Connection keep-alive") {
  TestServer server;
  Client c = server.connect();
  for (int i = 0; i < 3; ++i) {
    INFO("request " << i);
    REQUIRE(c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->status_line.starts_with("HTTP/1.1 "));
    CHECK(r->header("Connection") == "keep-alive");
    CHECK(r->body == "Hello, World!");
  }
}

// HTTP/1.0 closes by default: Connection: close, then the server closes.
TEST_CASE("HTTP/1.0 without keep-alive is answered with Connection close and closed") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->closes());
  CHECK(c.wait_closed(2s));
  CHECK(c.buffered().empty());
}

// HTTP/1.1 Connection: close is honoured after the response.
TEST_CASE("HTTP/1.1 Connection close is answered with Connection close and closed") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" + get("/hello")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->closes());
  CHECK(c.wait_closed(2s));
  CHECK(c.buffered().empty());  // the pipelined request after it is not answered
}

// keepalive_requests (nginx): the last allowed response says close, then the socket closes.
TEST_CASE("the keepalive_requests-th response says Connection close and the socket closes") {
  auto config = test_config();
  config.limits.keepalive_requests = 5;
  TestServer server(config);
  Client c = server.connect();
  for (int i = 1; i <= 5; ++i) {
    INFO("request " << i);
    REQUIRE(c.send(get("/hello")));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->closes() == (i == 5));
  }
  CHECK(c.wait_closed(2s));
  CHECK(c.buffered().empty());
}

// A client may half-close once its request is sent (nc, some proxies): the answer still comes.
TEST_CASE("a client that half-closes after its request still gets the response") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send(get("/hello") + get("/hello.txt")));
  REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
  const auto first = c.read_response();
  REQUIRE(first);
  CHECK(first->body == "Hello, World!");
  const auto second = c.read_response();
  REQUIRE(second);
  CHECK(second->body == TestRoot::hello);
  CHECK(c.wait_closed(2s));
}

// RFC 9112 §3.2.2: a server MUST accept the absolute form of the request target.
TEST_CASE("an absolute-form request target is served as its path") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("GET http://test/hello HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "Hello, World!");
}

// RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored (an
// HTTP/1.0 client cannot read an interim response).
TEST_CASE("Expect 100-continue in an HTTP/1.0 request gets no interim response") {
  TestServer server;
  Client c = server.connect();
  REQUIRE(c.send("POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  c.read_some(300ms);
  CHECK(c.buffered().empty());
  REQUIRE(c.send("hello"));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
}
