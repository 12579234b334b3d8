// The program of issue 11 and the README, verbatim: built against an installed tree with
// find_package(mempool REQUIRED COMPONENTS http), it must answer GET /hi?x with "hi x".
#include <mempool/http/server.hpp>
#include <cstdio>

int main() {
  mempool::http::ServerConfig config;   // built-in defaults
  config.listen = {"127.0.0.1", 0};     // port 0: any free port
  config.reactors = 1;
  mempool::http::Server server(config, [](mempool::http::Router& routes) {
    routes.add_exact("/hi", [](const mempool::http::Request& req, mempool::http::Response& res) {
      res.text(200, req.pool().format("hi {}\n", req.query));
    });
  });
  server.start();
  std::printf("%u\n", static_cast<unsigned>(server.endpoint().port()));
  std::fflush(stdout);
  server.wait_for_signal();   // until SIGINT/SIGTERM, then a graceful stop; returns
}
