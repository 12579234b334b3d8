// The kv example's own tests: the parser and the JSON writer on a request pool, and the service
// end to end over loopback on mempool::http.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <list>
#include <mutex>
#include <string>

#include <mempool/http/server.hpp>
#include <mempool/pool.hpp>

#include "kv_service.hpp"

namespace http = mempool::http;

namespace {

kv::Pairs parse(std::string_view body, mempool::Pool& pool, std::optional<kv::ParseError>& error) {
  return kv::parse_object(body, http::RequestPool(pool), error);
}

// One request on its own connection ("Connection: close"), the whole answer back.
std::string exchange(std::uint16_t port, const std::string& method, const std::string& target,
                     const std::string& body = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  const std::string request = method + " " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string answer;
  char chunk[4096];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) answer.append(chunk, static_cast<std::size_t>(n));
  ::close(fd);
  return answer;
}

std::string body_of(const std::string& answer) { return answer.substr(answer.find("\r\n\r\n") + 4); }

}  // namespace

TEST_CASE("a flat object parses into the request pool, escapes undone, scalars kept as written") {
  mempool::Pool pool;
  std::optional<kv::ParseError> error;
  const kv::Pairs pairs = parse(R"( {"name": "Ada", "q": "say \"hi\"\n", "n": 42, "ok": true, "gone": null,
                                     "e": "\u00e9"} )",
                                pool, error);
  REQUIRE_FALSE(error);
  REQUIRE(pairs.size() == 6);
  CHECK(pairs[0] == std::pair<std::string_view, std::optional<std::string_view>>{"name", "Ada"});
  CHECK(pairs[1].second == "say \"hi\"\n");
  CHECK(pairs[2].second == "42");
  CHECK(pairs[3].second == "true");
  CHECK_FALSE(pairs[4].second);
  CHECK(pairs[5].second == "\xc3\xa9");
  CHECK(pool.bytes_used() > 0);  // the vector and the unescaped strings
}

TEST_CASE("what is not a flat object is refused with the reason and where") {
  mempool::Pool pool;
  for (const auto& [body, reason] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"", "expected '{'"},
           {"[1]", "expected '{'"},
           {R"({"a" 1})", "expected ':'"},
           {R"({"a": "x" "b": 1})", "expected '}' or ','"},
           {R"({"a": {"nested": 1}})", "expected a string, a number, true, false or null"},
           {R"({"a": "unterminated)", "unterminated string"},
           {R"({"a": "\x"})", "unknown escape"},
           {R"({} extra)", "trailing bytes after the object"}}) {
    INFO(body);
    std::optional<kv::ParseError> error;
    CHECK(parse(body, pool, error).empty());
    REQUIRE(error);
    CHECK(error->reason == reason);
    CHECK(error->offset <= body.size());
  }
}

TEST_CASE("strings are written back as JSON with quotes and control characters escaped") {
  mempool::Pool pool;
  std::pmr::string out(pool.resource());
  kv::append_json_string(out, "a\"b\\c\n\x01");
  CHECK(out == R"("a\"b\\c\n\u0001")");
}

TEST_CASE("the service stores, reads, deletes and tallies over loopback") {
  kv::Store store;
  std::list<kv::Tally> tallies;
  std::mutex lock;
  http::ServerConfig config;
  config.listen = {"127.0.0.1", 0};
  config.reactors = 2;
  config.log_level = "warn";
  http::Server server(config, [&](http::Router& routes, http::ReactorServices& reactor) {
    const std::lock_guard guard(lock);
    kv::mount(routes, reactor, store, tallies.emplace_back());
  });
  server.start();
  const std::uint16_t port = server.endpoint().port();

  CHECK(body_of(exchange(port, "PUT", "/kv", R"({"name": "Ada", "lang": "fr", "year": 1815})")) ==
        "{\"stored\":3}\n");
  CHECK(body_of(exchange(port, "GET", "/kv?name,lang,nope")) == R"({"name":"Ada","lang":"fr","nope":null})" "\n");
  CHECK(body_of(exchange(port, "GET", "/kv")) == R"({"lang":"fr","name":"Ada","year":"1815"})" "\n");
  CHECK(body_of(exchange(port, "DELETE", "/kv?lang,nope")) == "{\"deleted\":1}\n");
  CHECK(body_of(exchange(port, "PUT", "/kv", R"({"name": null})")) == "{\"stored\":1}\n");
  CHECK(body_of(exchange(port, "GET", "/kv")) == R"({"year":"1815"})" "\n");
  const std::string bad = exchange(port, "PUT", "/kv", R"({"a": [1]})");
  CHECK(bad.starts_with("HTTP/1.1 400 "));
  CHECK(body_of(bad) == R"({"error":"expected a string, a number, true, false or null","at":6})" "\n");
  CHECK(exchange(port, "POST", "/kv").starts_with("HTTP/1.1 405 "));
  server.stop();
  server.wait();
  std::uint64_t requests = 0;
  for (const kv::Tally& t : tallies) requests += t.requests;
  CHECK(requests == 8);  // every /kv request's cleanup ran, after its response was sent
  CHECK(tallies.size() == 2);
}
