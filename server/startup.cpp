#include "startup.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include <asio/io_context.hpp>
#include <spdlog/logger.h>

#include <mempool/http/open_file_cache.hpp>

namespace mempool::server {

using http::Builtin;
using http::RouteConfig;

namespace {

bool serves_files(const std::vector<RouteConfig>& routes) {
  return std::any_of(routes.begin(), routes.end(), [](const RouteConfig& r) { return r.handler == Builtin::static_files; });
}

}  // namespace

asio::ip::tcp::endpoint resolve(const ListenAddress& listen) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  const auto results =
      resolver.resolve(listen.host, std::to_string(listen.port), asio::ip::tcp::resolver::numeric_service);
  return *results.begin();
}

void raise_descriptor_limit(const ServerConfig& config, unsigned reactors, spdlog::logger& log) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const rlim_t soft = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = soft;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return;
  const std::size_t have = limit.rlim_cur;
  const std::string limit_text = std::to_string(have) +
                                 (have != soft ? " (raised from " + std::to_string(soft) + "; hard limit "
                                               : " (hard limit ") +
                                 (limit.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(limit.rlim_max)) + ")";
  const std::size_t listeners = reactors + (config.admin.listen ? 1 : 0);
  constexpr std::size_t stdio = 3;
  if (have < listeners + stdio)
    throw std::runtime_error("open-file limit is " + limit_text + ", too low for even the " +
                             std::to_string(listeners) + " listeners");
  const std::size_t caches =
      serves_files(config.routes) ? reactors : (config.admin.listen && serves_files(config.admin.routes) ? 1 : 0);
  const std::size_t entries = config.open_file_cache.max_entries;
  const std::size_t need = config.limits.max_connections + caches * entries + listeners;
  if (need > have)
    log.warn("open-file limit is {}, below the {} descriptors the config may hold open: max_connections {} + "
             "open-file caches {} x {} + {} listeners; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
             "limits.max_connections",
             limit_text, need, config.limits.max_connections, caches, entries, listeners);
}

int duplicate(int descriptor) {
  const int copy = ::dup(descriptor);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "dup of a listening socket");
  return copy;
}

}  // namespace mempool::server
