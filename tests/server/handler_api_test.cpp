// The handler API as a handler author uses it, without a server: Request, Response, Router,
// reason_phrase, iequals, method_from, and the built-in /hello and /echo handlers.
#include <mempool/http/builtin.hpp>
#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/stats.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <memory_resource>
#include <new>
#include <vector>
#include <string>
#include <string_view>

#include <mempool/global_arena.hpp>
#include <mempool/pool.hpp>

using mempool::GlobalArena;
using mempool::Pool;
using mempool::PoolOptions;
using namespace mempool::http;

namespace {

// A handler that records which route answered.
Handler tagging(std::string_view tag) {
  return [tag](const Request&, Response& res) { res.text(200, tag); };
}

std::string_view route(const Router& router, std::string_view path, Pool& pool) {
  const Handler* handler = router.find(path);
  if (handler == nullptr) return "none";
  Request req;
  req.request_pool = &pool;
  Response res(pool);
  (*handler)(req, res);
  return res.body();
}

}  // namespace

// --- iequals, method_from, reason_phrase --------------------------------------------------------

// Header names and tokens compare ASCII case-insensitively; lengths must match.
TEST_CASE("iequals compares ASCII case-insensitively and needs equal lengths") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(iequals("HOST", "host"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("Host", "Hos"));
  CHECK_FALSE(iequals("Host", "Hosts"));
  CHECK_FALSE(iequals("a-b", "a_b"));
  CHECK_FALSE(iequals("\xc3\xa9", "\xc3\x89"));  // no Unicode folding: é is not É here
  CHECK_FALSE(iequals("[", "{"));                // '[' + 32 == '{' but neither is a letter
}

// Methods are case-sensitive tokens (RFC 9110 §9.1): "get" is not GET.
TEST_CASE("method_from maps the nine standard methods and is case-sensitive") {
  CHECK(method_from("GET") == Method::get);
  CHECK(method_from("HEAD") == Method::head);
  CHECK(method_from("POST") == Method::post);
  CHECK(method_from("PUT") == Method::put);
  CHECK(method_from("DELETE") == Method::delete_);
  CHECK(method_from("OPTIONS") == Method::options);
  CHECK(method_from("PATCH") == Method::patch);
  CHECK(method_from("CONNECT") == Method::connect);
  CHECK(method_from("TRACE") == Method::trace);
  CHECK(method_from("get") == Method::other);
  CHECK(method_from("PURGE") == Method::other);
  CHECK(method_from("") == Method::other);
  CHECK(method_from("GETX") == Method::other);
}

// Every status the server itself sends has its RFC 9110 phrase.
TEST_CASE("reason_phrase names every status the server sends and Unknown otherwise") {
  CHECK(reason_phrase(100) == "Continue");
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(206) == "Partial Content");
  CHECK(reason_phrase(301) == "Moved Permanently");
  CHECK(reason_phrase(304) == "Not Modified");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(403) == "Forbidden");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(405) == "Method Not Allowed");
  CHECK(reason_phrase(408) == "Request Timeout");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(414) == "URI Too Long");
  CHECK(reason_phrase(416) == "Range Not Satisfiable");
  CHECK(reason_phrase(417) == "Expectation Failed");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(500) == "Internal Server Error");
  CHECK(reason_phrase(501) == "Not Implemented");
  CHECK(reason_phrase(503) == "Service Unavailable");
  CHECK(reason_phrase(505) == "HTTP Version Not Supported");
  CHECK(reason_phrase(299) == "Unknown");
  CHECK(reason_phrase(0) == "Unknown");
}

// --- Request --------------------------------------------------------------------------------------

// Request::header finds a header whatever its case, the first of several, and nothing else.
TEST_CASE("Request header lookup is case-insensitive and returns the first match") {
  const std::array<Header, 4> headers{{
      {"Host", "example.test"},
      {"X-Twice", "first"},
      {"content-type", "text/plain"},
      {"x-twice", "second"},
  }};
  Request req;
  req.headers = headers;
  CHECK(req.header("host") == "example.test");
  CHECK(req.header("HOST") == "example.test");
  CHECK(req.header("Content-Type") == "text/plain");
  CHECK(req.header("X-TWICE") == "first");
  CHECK_FALSE(req.header("Accept"));
  CHECK_FALSE(req.header("Hos"));
}

// An empty header value is present, not missing.
TEST_CASE("Request header with an empty value is found as empty") {
  const std::array<Header, 1> headers{{{"X-Empty", ""}}};
  Request req;
  req.headers = headers;
  REQUIRE(req.header("x-empty"));
  CHECK(req.header("x-empty")->empty());
}

// --- RequestPool: the handler boundary's failure rule ---------------------------------------------

// router.hpp: inside a handler every allocation succeeds or throws; none returns nullptr.
TEST_CASE("RequestPool allocates from the request pool and throws bad_alloc where the Pool gives nullptr") {
  Pool pool(PoolOptions{.capacity = 8192});
  Request req;
  req.request_pool = &pool;
  const RequestPool p = req.pool();
  CHECK(&p.pool() == &pool);
  CHECK(p.format("{}-{}", "a", 1) == "a-1");
  CHECK(p.strdup("copy") == "copy");
  CHECK(p.make<int>(7) == 7);
  CHECK(p.alloc(16) != nullptr);
  CHECK(p.alloc_unaligned(3) != nullptr);
  const std::size_t used = pool.bytes_used();
  CHECK_THROWS_AS(p.alloc(1 << 20), std::bad_alloc);
  CHECK_THROWS_AS(p.alloc_unaligned(1 << 20), std::bad_alloc);
  CHECK_THROWS_AS(p.strdup(std::string(1 << 20, 's')), std::bad_alloc);
  CHECK_THROWS_AS(p.format("{:>{}}", "x", 1 << 20), std::bad_alloc);
  CHECK_THROWS_AS((p.make<std::array<char, 1 << 20>>()), std::bad_alloc);
  std::pmr::vector<char> pmr(p.resource());
  CHECK_THROWS_AS(pmr.resize(1 << 20), std::bad_alloc);
  CHECK(pool.bytes_used() == used);  // nothing half-made stayed behind
  while (pool.alloc(64) != nullptr) {
  }
  while (pool.alloc_unaligned(1) != nullptr) {  // to the last byte (MEMPOOL_DEBUG counts bytes)
  }
  CHECK_THROWS_AS(p.add_cleanup([](void*) {}, nullptr), std::bad_alloc);
}

// The stats handlers render into the request pool under the same rule.
TEST_CASE("StatsTable renders JSON and Prometheus text and throws when the pool is full") {
  Pool pool;
  StatsTable table{RequestPool(pool)};
  table.counter(0, "server", "requests", "Requests.", 3);
  table.gauge(StatsTable::process, "global_arena", "pages", "Pages.", 1);
  CHECK(table.json(RequestPool(pool)) == "{\"reactors\":[{\"reactor\":0,\"server\":{\"requests\":3}}],"
                                          "\"process\":{\"global_arena\":{\"pages\":1}}}\n");
  CHECK(table.prometheus(RequestPool(pool)).find("mempool_server_requests_total{reactor=\"0\"} 3\n") !=
        std::string_view::npos);
  Pool full(PoolOptions{.capacity = 4096});
  while (full.alloc(64) != nullptr) {
  }
  CHECK_THROWS_AS(table.json(RequestPool(full)), std::bad_alloc);
}

// --- Response -------------------------------------------------------------------------------------

// text() is the one-call response: status, Content-Type (text/plain unless told) and body.
TEST_CASE("Response text sets status Content-Type and body") {
  Pool pool;
  Response res(pool);
  CHECK(res.status == 200);
  CHECK(res.keep_alive);
  res.text(201, "created");
  CHECK(res.status == 201);
  CHECK(res.header("content-type") == "text/plain");
  CHECK(res.body() == "created");
  CHECK(res.content_length() == 7);
  CHECK_FALSE(res.has_file());

  Response json(pool);
  json.text(200, "{}", "application/json");
  CHECK(json.header("Content-Type") == "application/json");
}

// error() writes "<code> <phrase>\n" as text/plain, and leaves keep_alive alone.
TEST_CASE("Response error writes a short page with the reason phrase and keeps keep_alive") {
  Pool pool;
  Response res(pool);
  res.error(404);
  CHECK(res.status == 404);
  CHECK(res.body() == "404 Not Found\n");
  CHECK(res.header("Content-Type") == "text/plain");
  CHECK(res.keep_alive);
  Response closing(pool);
  closing.keep_alive = false;
  closing.error(503);
  CHECK(closing.body() == "503 Service Unavailable\n");
  CHECK_FALSE(closing.keep_alive);
}

// Headers keep their order and duplicates; header() finds the first, case-insensitively.
TEST_CASE("Response headers keep order and duplicates and lookup is case-insensitive") {
  Pool pool;
  Response res(pool);
  res.add_header("Set-Cookie", "a=1");
  res.add_header("X-Other", "o");
  res.add_header("set-cookie", "b=2");
  REQUIRE(res.headers().size() == 3);
  CHECK(res.headers()[0].value == "a=1");
  CHECK(res.headers()[2].name == "set-cookie");
  CHECK(res.header("SET-COOKIE") == "a=1");
  CHECK_FALSE(res.header("Missing"));
}

// A file body replaces a memory body (and back); Content-Length follows whichever is set.
TEST_CASE("Response set_file and set_body replace each other and content_length follows") {
  Pool pool;
  Response res(pool);
  res.set_body("memory");
  res.set_file({7, 100, 42});
  CHECK(res.has_file());
  CHECK(res.body().empty());
  CHECK(res.content_length() == 42);
  CHECK(res.file().offset == 100);
  res.set_body("back to memory");
  CHECK_FALSE(res.has_file());
  CHECK(res.content_length() == 14);
}

// A response allocates from the request pool only: over its capacity, adding a header throws
// bad_alloc (the server turns that into a 500).
TEST_CASE("Response headers past the pool capacity throw bad_alloc") {
  Pool pool(PoolOptions{.capacity = 4096});
  Response res(pool);
  CHECK_THROWS_AS(
      [&] {
        for (int i = 0; i < 10000; ++i) res.add_header("X-Many", "value");
      }(),
      std::bad_alloc);
}

// --- Router ---------------------------------------------------------------------------------------

// An exact route wins over any prefix that also matches.
TEST_CASE("Router prefers an exact route over a matching prefix") {
  GlobalArena arena;
  Router router(arena);
  router.add_prefix("/", tagging("root prefix"));
  router.add_prefix("/api", tagging("api prefix"));
  router.add_exact("/api", tagging("api exact"));
  Pool pool;
  CHECK(route(router, "/api", pool) == "api exact");
  CHECK(route(router, "/api/", pool) == "api prefix");
  CHECK(route(router, "/apiary", pool) == "api prefix");  // a prefix is a string prefix
}

// Among prefixes the longest match wins, whatever order they were added in.
TEST_CASE("Router picks the longest matching prefix in any order of adding") {
  GlobalArena arena;
  Router router(arena);
  router.add_prefix("/static/img/", tagging("img"));
  router.add_prefix("/", tagging("root"));
  router.add_prefix("/static/", tagging("static"));
  Pool pool;
  CHECK(route(router, "/static/img/a.png", pool) == "img");
  CHECK(route(router, "/static/css/a.css", pool) == "static");
  CHECK(route(router, "/static", pool) == "root");
  CHECK(route(router, "/other", pool) == "root");
}

// Exact routes match only the whole path (no query, no trailing slash); no route is nullptr.
TEST_CASE("Router exact routes match the whole path only and no match is nullptr") {
  GlobalArena arena;
  Router router(arena);
  router.add_exact("/hello", tagging("hello"));
  Pool pool;
  CHECK(route(router, "/hello", pool) == "hello");
  CHECK(route(router, "/hello/", pool) == "none");
  CHECK(route(router, "/hell", pool) == "none");
  CHECK(route(router, "/HELLO", pool) == "none");  // paths are case-sensitive
  CHECK(router.find("") == nullptr);
}

// The router copies route paths into its arena: the caller's string may go.
TEST_CASE("Router keeps its own copy of each route path") {
  GlobalArena arena;
  Router router(arena);
  {
    std::string path = "/temporary";
    router.add_exact(path, tagging("kept"));
    path.assign(path.size(), 'x');
  }
  Pool pool;
  CHECK(route(router, "/temporary", pool) == "kept");
}

// --- the built-in handlers -----------------------------------------------------------------------

// /hello: GET and HEAD only; anything else is 405 with Allow.
TEST_CASE("hello() answers GET with Hello World and POST with 405 and Allow") {
  Pool pool;
  const Handler hello = mempool::http::hello();
  Request req;
  req.request_pool = &pool;
  req.method = Method::get;
  Response ok(pool);
  hello(req, ok);
  CHECK(ok.status == 200);
  CHECK(ok.body() == "Hello, World!");
  CHECK(ok.header("Content-Type") == "text/plain");
  req.method = Method::post;
  Response refused(pool);
  hello(req, refused);
  CHECK(refused.status == 405);
  CHECK(refused.header("Allow") == "GET, HEAD");
}

// /echo POST: the body back with its Content-Type, application/octet-stream without one.
TEST_CASE("echo() returns a POST body with its Content-Type or octet-stream") {
  Pool pool;
  const Handler echo = mempool::http::echo();
  const std::array<Header, 2> typed{{{"Host", "h"}, {"content-type", "image/png"}}};
  Request req;
  req.request_pool = &pool;
  req.method = Method::post;
  req.body = "\x89PNG";
  req.headers = typed;
  Response res(pool);
  echo(req, res);
  CHECK(res.status == 200);
  CHECK(res.body() == "\x89PNG");
  CHECK(res.header("Content-Type") == "image/png");
  req.headers = {};
  Response plain(pool);
  echo(req, plain);
  CHECK(plain.header("Content-Type") == "application/octet-stream");
}

// /echo GET: the request line (HTTP/1.0 stays 1.0) and the headers, as text.
TEST_CASE("echo() describes a GET request line and headers") {
  Pool pool;
  const Handler echo = mempool::http::echo();
  const std::array<Header, 2> headers{{{"Host", "h"}, {"X-A", "1"}}};
  Request req;
  req.request_pool = &pool;
  req.method = Method::get;
  req.method_name = "GET";
  req.target = "/echo?q";
  req.version_minor = 0;
  req.headers = headers;
  Response res(pool);
  echo(req, res);
  CHECK(res.body() == "GET /echo?q HTTP/1.0\r\nHost: h\r\nX-A: 1\r\n\r\n");
  req.method = Method::delete_;
  Response refused(pool);
  echo(req, refused);
  CHECK(refused.status == 405);
  CHECK(refused.header("Allow") == "GET, HEAD, POST, PUT");
}
