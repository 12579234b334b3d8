#include "greeting.hpp"

#include <memory_resource>
#include <string_view>
#include <unordered_map>

namespace mempool::example {

namespace {

using Params = std::pmr::unordered_map<std::string_view, std::string_view>;

// "a=1&b=2" into views of the query itself: the map's nodes live in the request pool.
Params parse_query(std::string_view query, Pool& pool) {
  Params params(pool.resource());
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    const auto eq = pair.find('=');
    params[pair.substr(0, eq)] = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
  }
  return params;
}

std::string_view greeting_for(std::string_view lang) {
  if (lang == "fr") return "Bonjour";
  if (lang == "de") return "Hallo";
  if (lang == "zh") return "Ni hao";
  return "Hello";
}

// Per-thread count of requests served; the cleanup bumps it once the request is over.
thread_local unsigned long requests_done = 0;

}  // namespace

http::Handler greeting_handler() {
  return [](const http::Request& req, http::Response& res) {
    Pool& pool = req.pool();
    const Params params = parse_query(req.query, pool);
    const auto name = params.find("name");
    const auto lang = params.find("lang");
    const std::string_view who = name != params.end() && !name->second.empty() ? name->second : "world";
    const std::string_view reply =
        pool.format("{}, {}! (request {} on this reactor)\n", greeting_for(lang != params.end() ? lang->second : ""),
                    who, requests_done + 1);
    if (reply.data() == nullptr || !pool.add_cleanup([](void*) { ++requests_done; }, nullptr)) {
      res.error(500);  // the request pool's capacity ran out
      return;
    }
    res.text(200, reply);
  };
}

}  // namespace mempool::example
