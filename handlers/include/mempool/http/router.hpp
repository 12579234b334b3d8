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
///
/// The failure rule at this boundary, one for every handler: a handler that cannot answer
/// throws. Every handler-facing allocation throws std::bad_alloc when it fails: req.pool()
/// (a RequestPool), std::pmr containers over req.pool().resource(), Response::add_header.
/// The server catches whatever a handler throws, discards the response it was filling in, and
/// answers 500 on a fresh request pool, then closes the connection; any other exception than
/// std::bad_alloc is also logged. A handler that wants another answer for a failure (a 503, a
/// smaller reply) catches it itself, or uses req.pool().pool(), the Pool's nullptr form.
/// Answers a handler chooses (404, 405, ...) are not failures: it sets them on the Response.
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
