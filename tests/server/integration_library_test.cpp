// The server as a library (DESIGN §4.1), over loopback: routes given in code in both forms of
// the route setup, the setup's thread and reactor, a setup that fails, the failure rule at the
// handler boundary, the built-ins mounted where code or config.routes say, the access log, and
// /stats publishing every allocator a reactor owns.
#include <catch2/catch.hpp>

#include <cerrno>
#include <fstream>
#include <map>
#include <memory_resource>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mempool/http/builtin.hpp>
#include <mempool/http/server.hpp>

#include "support/http_client.hpp"

using namespace mempool::test;
namespace http = mempool::http;

// The program of the issue and README, as a test: it must keep compiling and answering.
TEST_CASE("a route set up in code answers GET /hi?x with hi x") {
  TestServer server(test_config(), [](http::Router& routes, http::ReactorServices&) {
    routes.add_exact("/hi", [](const http::Request& req, http::Response& res) {
      res.text(200, req.pool().format("hi {}\n", req.query));
    });
  });
  const auto r = fetch(server, get("/hi?x"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hi x\n");
  CHECK(fetch(server, get("/hello"))->status == 404);  // only what the setup mounted
}

// The one-argument form of the setup is the same server without the services.
TEST_CASE("the route setup may take the Router alone") {
  auto config = test_config();
  http::Server server(config, [](http::Router& routes) {
    routes.add_exact("/one", [](const http::Request&, http::Response& res) { res.text(200, "one"); });
  });
  server.start();
  Client c(server.endpoint().port());
  REQUIRE(c.send(get("/one")));
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->body == "one");
  CHECK(server.endpoint().address() == "127.0.0.1");
  CHECK(server.endpoint().to_string() == "127.0.0.1:" + std::to_string(server.endpoint().port()));
  server.stop();
  server.wait();
}

// Each reactor sets up its own routes on its own thread, so a handler may keep per-reactor state
// without a lock; its requests are served on that same thread.
TEST_CASE("the route setup runs once per reactor on that reactor's thread, where its handlers run") {
  struct Seen {
    std::mutex lock;
    std::map<unsigned, std::thread::id> setup;    // reactor -> the thread its setup ran on
    std::map<unsigned, std::set<std::thread::id>> served;  // reactor -> threads its handler ran on
  } seen;
  auto config = test_config();
  config.reactors = 3;
  TestServer server(config, [&seen](http::Router& routes, http::ReactorServices& reactor) {
    const unsigned id = reactor.reactor();
    {
      const std::lock_guard guard(seen.lock);
      seen.setup.emplace(id, std::this_thread::get_id());
    }
    routes.add_exact("/who", [&seen, id](const http::Request& req, http::Response& res) {
      {
        const std::lock_guard guard(seen.lock);
        seen.served[id].insert(std::this_thread::get_id());
      }
      res.text(200, req.pool().format("{}", id));
    });
  });
  std::vector<Client> clients;  // held open: SO_REUSEPORT spreads new connections by their ports
  for (int i = 0; i < 60; ++i) {
    clients.push_back(server.connect());
    REQUIRE(clients.back().send(get("/who")));
    REQUIRE(clients.back().read_response());
  }
  REQUIRE(server.stop());
  REQUIRE(seen.setup.size() == 3);
  std::set<std::thread::id> threads;
  for (const auto& [id, thread] : seen.setup) {
    INFO("reactor " << id);
    CHECK(id < 3);
    CHECK(thread != std::this_thread::get_id());
    threads.insert(thread);
    for (const std::thread::id& served_on : seen.served[id]) CHECK(served_on == thread);
  }
  CHECK(threads.size() == 3);
  CHECK_FALSE(seen.served.empty());
}

// A setup that fails is an error of start(), and the server that cannot serve is stopped.
TEST_CASE("a route setup that throws makes start() throw what it threw") {
  auto config = test_config();
  config.reactors = 2;
  http::Server server(config, [](http::Router&, http::ReactorServices& reactor) {
    if (reactor.reactor() == 1) throw std::runtime_error("no routes for reactor 1");
  });
  CHECK_THROWS_WITH(server.start(), "no routes for reactor 1");
  server.wait();  // returns: every reactor has ended
}

// config.routes names a "static" route; without a root there is nothing to serve.
TEST_CASE("a static route without a root makes start() throw") {
  auto config = test_config();
  config.root.clear();
  http::Server server(config);
  CHECK_THROWS_AS(server.start(), std::invalid_argument);
}

// A config built in code gets the cross-checks a file gets: one connection slot per reactor at
// least, so 1 connection over 2 reactors is refused, with the file's message.
TEST_CASE("a config built in code whose settings disagree makes the constructor throw invalid_argument") {
  auto config = test_config();
  config.reactors = 2;
  config.limits.max_connections = 1;
  try {
    http::Server server(config);
    FAIL("a server was made with max_connections 1 over 2 reactors");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).starts_with("'limits.max_connections' (1) must not be smaller than the number of "
                                            "reactors (2)"));
  }
  config.limits.max_connections = 2;
  CHECK_NOTHROW(http::Server(config));
}

// router.hpp's failure rule: whatever a handler throws is a 500 and a close; the server goes on.
TEST_CASE("a handler that throws is answered 500, its connection closed, and the server serves on") {
  auto config = test_config();
  config.limits.request_pool_capacity = 64 * 1024;
  TestServer server(config, [](http::Router& routes, http::ReactorServices& reactor) {
    routes.add_exact("/pool", [](const http::Request& req, http::Response& res) {
      (void)req.pool().alloc(1024 * 1024);  // past the request pool's capacity: std::bad_alloc
      res.text(200, "unreachable");
    });
    routes.add_exact("/pmr", [](const http::Request& req, http::Response& res) {
      std::pmr::vector<char> big(req.pool().resource());
      big.resize(1024 * 1024);  // the same rule through std::pmr
      res.text(200, "unreachable");
    });
    routes.add_exact("/format", [](const http::Request& req, http::Response& res) {
      res.text(200, req.pool().format("{:>{}}", "x", 1024 * 1024));
    });
    routes.add_exact("/error", [](const http::Request&, http::Response&) { throw std::runtime_error("broken"); });
    routes.add_exact("/int", [](const http::Request&, http::Response&) { throw 42; });
    routes.add_exact("/stats", http::stats(reactor));
    routes.add_exact("/hello", http::hello());
  });
  for (const char* path : {"/pool", "/pmr", "/format", "/error", "/int"}) {
    INFO(path);
    Client c = server.connect();
    REQUIRE(c.send(get(path)));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->body == "500 Internal Server Error\n");
    CHECK(r->closes());
    CHECK(c.wait_closed());
    const auto hello = fetch(server, get("/hello"));
    REQUIRE(hello);
    CHECK(hello->status == 200);
  }
  const auto stats = fetch(server, get("/stats"));
  REQUIRE(stats);
  CHECK(json_number(stats->body, "server", "handler_failures") == 5);
  CHECK(json_number(stats->body, "server", "responses_5xx") == 5);
}

// The second form mounts the built-ins that need a reactor's services, where the code says.
TEST_CASE("the built-ins mount at any path with the reactor's services") {
  const auto root = TestRoot::shared().root().string();
  TestServer server(test_config(), [&root](http::Router& routes, http::ReactorServices& reactor) {
    routes.add_exact("/status", http::stats(reactor));
    routes.add_exact("/prometheus", http::metrics(reactor));
    routes.add_prefix("/sub/", http::static_files(reactor, root));
    routes.add_exact("/ping", http::hello());
    routes.add_exact("/back", http::echo());
    routes.add_exact("/pools", [&reactor](const http::Request& req, http::Response& res) {
      res.text(200, req.pool().format("{}", reactor.pools().stats().outstanding));
    });
  });
  const auto status = fetch(server, get("/status"));
  REQUIRE(status);
  CHECK(status->status == 200);
  CHECK(json_number(status->body, "open_files", "misses") == 0);
  const auto sub = fetch(server, get("/sub/"));
  REQUIRE(sub);
  CHECK(sub->body == TestRoot::sub_index);
  CHECK(fetch(server, get("/hello.txt"))->status == 404);  // outside every route
  CHECK(fetch(server, get("/ping"))->body == "Hello, World!");
  CHECK(fetch(server, post("/back", "abc"))->body == "abc");
  CHECK(fetch(server, get("/pools"))->body == "1");  // the connection asking holds one
  const auto after = fetch(server, get("/status"));
  CHECK(json_number(after->body, "open_files", "misses") >= 1);  // its cache counts in /stats
  CHECK(fetch(server, get("/prometheus"))->body.find("mempool_open_files_misses_total{reactor=\"0\"}") !=
        std::string::npos);
}

// Server(config) mounts config.routes: the [routes] table decides what is served where.
TEST_CASE("a server without a setup serves the built-ins where config.routes says") {
  auto config = test_config();
  config.routes = {{"/ping", http::Builtin::hello}, {"/status", http::Builtin::stats}, {"/files/", http::Builtin::static_files}};
  TestServer server(config);
  CHECK(fetch(server, get("/ping"))->body == "Hello, World!");
  CHECK(fetch(server, get("/hello"))->status == 404);
  CHECK(fetch(server, get("/echo"))->status == 404);
  CHECK(fetch(server, get("/hello.txt"))->status == 404);
  CHECK(fetch(server, get("/status"))->status == 200);
  CHECK(fetch(server, get("/files/nothing"))->status == 404);  // root/files/nothing
}

// The README's allocator table: /stats shows every instance a reactor creates, the large
// handler-memory slices included, and the process-wide arenas.
TEST_CASE("stats publishes every allocator instance the server creates") {
  TestServer server;
  const auto r = fetch(server, get("/stats"));
  REQUIRE(r);
  for (const char* group : {"block_allocator", "pool_manager", "ring_buffer", "connection_slots", "handler_memory",
                            "handler_memory_large", "small_objects", "open_files", "global_arena", "shared_arena"}) {
    INFO(group);
    CHECK(r->body.find("\"" + std::string(group) + "\":{") != std::string::npos);
  }
  CHECK(json_number(r->body, "handler_memory_large", "slice_size_bytes") == 512);
  CHECK(json_number(r->body, "handler_memory_large", "in_use") == 1);  // the pending accept
  CHECK(json_number(r->body, "handler_memory", "slice_size_bytes") == 128);
}

// The access log: one combined-format line per response, written out by the time the server stops.
TEST_CASE("the access log has a combined-format line for each response") {
  TempDir dir("mempool-access-log");
  auto config = test_config();
  config.access_log = dir.path() / "access.log";
  TestServer server(config);
  Client c = server.connect();
  REQUIRE(c.send(get("/hello", "User-Agent: tester/1\r\nReferer: http://here/\r\n")));
  REQUIRE(c.read_response());
  REQUIRE(c.send(get("/nothing-here")));
  REQUIRE(c.read_response());
  REQUIRE(server.stop());
  std::ifstream in(dir.path() / "access.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 2);
  // address - - [date] "request line" status bytes (the whole response, head included) "referer" "agent"
  const std::regex combined(
      R"re(127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] "([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)")re");
  std::smatch m;
  INFO(lines[0]);
  REQUIRE(std::regex_match(lines[0], m, combined));
  CHECK(m[1] == "GET /hello HTTP/1.1");
  CHECK(m[2] == "200");
  CHECK(std::stoul(m[3]) > 13);
  CHECK(m[4] == "http://here/");
  CHECK(m[5] == "tester/1");
  INFO(lines[1]);
  REQUIRE(std::regex_match(lines[1], m, combined));
  CHECK(m[1] == "GET /nothing-here HTTP/1.1");
  CHECK(m[2] == "404");
  CHECK(m[4] == "-");
  CHECK(m[5] == "-");
}

// SO_REUSEPORT lets the server's reactors share one port; it must not let a second server (a
// second process of the same user, typically) join a port another one listens on and take half
// of its connections. The second one fails, naming the address.
TEST_CASE("a second server on an address another already listens on fails naming the address") {
  TestServer first;
  auto config = test_config();
  config.listen = {"127.0.0.1", first.port()};
  config.reactors = 2;
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    mempool::http::Server second(config);
    FAIL("the second server listens on " << address << " too");
  } catch (const std::system_error& e) {
    INFO(e.what());
    CHECK(std::string_view(e.what()).find("cannot listen on " + address) != std::string_view::npos);
    CHECK(e.code().value() == EADDRINUSE);
  }
  // The first one still gets every connection.
  for (int i = 0; i < 20; ++i) {
    Client c = first.connect();
    REQUIRE(c.send(get("/hello")));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}
