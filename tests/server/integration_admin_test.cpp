// The admin listener (issue 12, DESIGN §4): /stats and /metrics on their own loopback socket,
// apart from the public routes, which carry them only when the config asks.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <mempool/http/server.hpp>

#include "support/http_client.hpp"

using namespace mempool::test;
namespace http = mempool::http;

namespace {

http::ServerConfig admin_config() {
  http::ServerConfig config = test_config();
  config.routes = http::default_routes();  // the public layout mempool-server ships
  config.admin.listen = http::ListenAddress{"127.0.0.1", 0};
  return config;
}

}  // namespace

// The figures are on the admin port; the public port answers 404 for them by default.
TEST_CASE("admin listener serves stats and metrics and the public listener does not by default") {
  TestServer server(admin_config());
  const auto admin = server.server().admin_endpoint();
  REQUIRE(admin);
  CHECK(admin->address() == "127.0.0.1");
  CHECK(admin->port() != server.port());

  const auto stats = fetch(admin->port(), get("/stats"));
  REQUIRE(stats);
  CHECK(stats->status == 200);
  CHECK(stats->header("Content-Type") == "application/json");
  CHECK(stats->body.find("\"pool_manager\":{") != std::string::npos);
  const auto metrics = fetch(admin->port(), get("/metrics"));
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("# TYPE mempool_server_requests_total counter\n") != std::string::npos);

  CHECK(fetch(server.port(), get("/stats"))->status == 404);
  CHECK(fetch(server.port(), get("/metrics"))->status == 404);
  CHECK(fetch(server.port(), get("/hello"))->status == 200);
  CHECK(fetch(admin->port(), get("/hello"))->status == 404);  // the admin port has its own routes
}

// Requests on the public port show up in the admin port's figures: one server, two doors.
TEST_CASE("admin stats count the public listener's requests") {
  TestServer server(admin_config());
  const auto admin = server.server().admin_endpoint();
  REQUIRE(admin);
  Client c = server.connect();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(c.send(get("/hello")));
    REQUIRE(c.read_response());
  }
  const auto stats = fetch(admin->port(), get("/stats"));
  REQUIRE(stats);
  CHECK(json_number(stats->body, "server", "requests") >= 6);  // five, and this one
}

// A full public listener does not lock the operator out: the admin port has its own slots.
TEST_CASE("admin listener answers while the public listener is at max_connections") {
  http::ServerConfig config = admin_config();
  config.limits.max_connections = 1;
  TestServer server(config);
  const auto admin = server.server().admin_endpoint();
  REQUIRE(admin);
  Client hold = server.connect();
  REQUIRE(hold.send(get("/hello")));
  REQUIRE(hold.read_response());
  const auto refused = fetch(server.port(), get("/hello"));
  CHECK((!refused || refused->status == 503));
  const auto stats = fetch(admin->port(), get("/stats"));
  REQUIRE(stats);
  CHECK(stats->status == 200);
}

// The public listener serves the figures when its routes ask for them, and "off" means off.
TEST_CASE("routes may mount stats on the public listener and the admin listener may be off") {
  http::ServerConfig config = admin_config();
  config.admin.listen.reset();
  config.routes.insert(config.routes.begin(), {"/status", http::Builtin::stats});
  TestServer server(config);
  CHECK_FALSE(server.server().admin_endpoint());
  const auto r = fetch(server.port(), get("/status"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.find("\"reactors\":[") != std::string::npos);
}

// The dashboard page and its chart library come from the server itself; a missing library is a
// 404 for the script only, the page (which then shows figures without charts) is still served.
TEST_CASE("admin listener serves the dashboard page and chart.js from the configured file") {
  TempDir dir("mempool-admin-chart");
  const auto script = dir.path() / "chart.min.js";
  std::ofstream(script) << "window.Chart = function () {};\n";
  http::ServerConfig config = admin_config();
  config.admin.chart_js = script;
  TestServer server(config);
  const auto admin = server.server().admin_endpoint();
  REQUIRE(admin);
  const auto page = fetch(admin->port(), get("/dashboard"));
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page->body.find("data-metric=") != std::string::npos);
  CHECK(page->body.find("<script src=\"/dashboard/chart.js\">") != std::string::npos);
  CHECK(page->body.find("http://") == std::string::npos);  // no external URL: nothing fetched from elsewhere
  CHECK(page->body.find("https://") == std::string::npos);
  const auto js = fetch(admin->port(), get("/dashboard/chart.js"));
  REQUIRE(js);
  CHECK(js->status == 200);
  CHECK(js->body == "window.Chart = function () {};\n");
  CHECK(fetch(server.port(), get("/dashboard"))->status != 200);  // not on the public port

  config.admin.chart_js = dir.path() / "missing.js";
  TestServer without(config);
  const auto missing = fetch(without.server().admin_endpoint()->port(), get("/dashboard/chart.js"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(fetch(without.server().admin_endpoint()->port(), get("/dashboard"))->status == 200);
}
