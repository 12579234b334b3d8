#include <mempool/http/router.hpp>

#include <algorithm>

namespace mempool::http {

void Router::add_exact(std::string_view path, Handler handler) {
  exact_.push_back({arena_->strdup(path), std::move(handler)});
}

void Router::add_prefix(std::string_view prefix, Handler handler) {
  prefixes_.push_back({arena_->strdup(prefix), std::move(handler)});
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const Route& a, const Route& b) { return a.path.size() > b.path.size(); });
}

const Handler* Router::find(std::string_view path) const noexcept {
  for (const Route& r : exact_) {
    if (r.path == path) return &r.handler;
  }
  for (const Route& r : prefixes_) {
    if (path.starts_with(r.path)) return &r.handler;
  }
  return nullptr;
}

}  // namespace mempool::http
