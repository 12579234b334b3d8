// kv-server [CONFIG.toml]: the kv service (kv_service.hpp) on mempool::http, on 127.0.0.1:8081
// unless a config file says otherwise (mempool-server's format; its [routes] are not used).
//   curl -X PUT --data '{"name": "Ada", "lang": "fr"}' http://127.0.0.1:8081/kv
//   curl 'http://127.0.0.1:8081/kv?name,lang'
#include <cstdio>
#include <exception>
#include <list>
#include <mutex>

#include <mempool/http/server.hpp>

#include "kv_service.hpp"

int main(int argc, char** argv) {
  mempool::http::ServerConfig config;
  config.listen = {"127.0.0.1", 8081};
  try {
    if (argc > 1) config = mempool::http::load_config(argv[1], config);
  } catch (const mempool::http::ConfigError& e) {
    std::fprintf(stderr, "kv-server: %s\n", e.what());
    return 2;
  }
  kv::Store store;              // shared by every reactor
  std::list<kv::Tally> tallies;  // one per reactor, made by its route setup
  std::mutex tallies_lock;       // the setups run at once, each on its reactor's thread
  try {
    mempool::http::Server server(config, [&](mempool::http::Router& routes, mempool::http::ReactorServices& reactor) {
      kv::Tally* tally;
      {
        const std::lock_guard guard(tallies_lock);
        tally = &tallies.emplace_back();
      }
      kv::mount(routes, reactor, store, *tally);
    });
    server.start();
    std::printf("kv-server on http://%s/kv\n", server.endpoint().to_string().c_str());
    std::fflush(stdout);
    server.wait_for_signal();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv-server: %s\n", e.what());
    return 1;
  }
}
