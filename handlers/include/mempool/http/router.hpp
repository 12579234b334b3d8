/// \file
/// Router: maps a request path to its handler, exact routes first, then the longest prefix route
/// (DESIGN §4). Built once at start-up (route paths are copied into a GlobalArena); lookups are
/// read-only and may run on every reactor at once.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include <mempool/global_arena.hpp>
#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>

namespace mempool::http {

/// Fills in the response to a request. Runs on a reactor thread: must not block.
using Handler = std::function<void(const Request&, Response&)>;

class Router {
 public:
  explicit Router(GlobalArena& arena) : arena_(&arena) {}

  /// `path` itself only.
  void add_exact(std::string_view path, Handler handler);
  /// Every path that starts with `prefix` ("/" matches all).
  void add_prefix(std::string_view prefix, Handler handler);

  /// The handler for `path` (percent-encoded, as in Request::path), or nullptr.
  const Handler* find(std::string_view path) const noexcept;

 private:
  struct Route {
    std::string_view path;  ///< in the arena
    Handler handler;
  };
  GlobalArena* arena_;
  std::vector<Route> exact_;
  std::vector<Route> prefixes_;  ///< longest first
};

}  // namespace mempool::http
