/// \file
/// RequestPool: the request pool as a handler sees it, with the handler boundary's one failure
/// rule (router.hpp): every allocation succeeds or throws std::bad_alloc, and the server answers
/// 500. So a handler never checks for nullptr, and the pool's helpers fail the way the std::pmr
/// containers over resource() and Response::add_header already do.
///
/// A handle: it points at the Pool (Request::pool() makes one), copying it copies the pointer;
/// const, like a pointer to non-const, since allocating changes the pool, not the handle.
/// Everything allocated lives until the pool is reset, after the response has been sent.
/// Code that wants to handle failure itself (a fallback instead of a 500) uses pool(), the Pool
/// with its own rule: nullptr, or a string_view whose data() is nullptr.
///
/// Thread safety: none, like the Pool (the reactor's thread). Cost: the Pool's fast path plus
/// one test of the result.
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include <mempool/pool.hpp>

namespace mempool::http {

class RequestPool {
 public:
  explicit RequestPool(Pool& pool) noexcept : pool_(&pool) {}

  /// n bytes aligned to `align`.
  void* alloc(std::size_t n, std::size_t align = Pool::default_alignment, Site site = Site::current()) const {
    return checked(pool_->alloc(n, align, site));
  }
  /// n bytes with no alignment (strings, byte buffers).
  char* alloc_unaligned(std::size_t n, Site site = Site::current()) const {
    return static_cast<char*>(checked(pool_->alloc_unaligned(n, site)));
  }
  /// A T constructed in the pool; its destructor runs at the reset unless T is trivially
  /// destructible.
  template <class T, class... Args>
  T& make(Args&&... args) const {
    return *checked(pool_->make<T>(std::forward<Args>(args)...));
  }
  /// A NUL-terminated copy of s (the view excludes the NUL).
  std::string_view strdup(std::string_view s, Site site = Site::current()) const {
    return checked(pool_->strdup(s, site));
  }
  /// fmt formatting written straight into the pool, NUL-terminated.
  template <class... Args>
  std::string_view format(std::type_identity_t<Pool::FormatAt<Args...>> f, Args&&... args) const {
    return checked(pool_->vformat(f.text, fmt::make_format_args(args...), f.site));
  }
  /// Registers fn(data) to run when the request is over (the pool's reset, after the response
  /// was sent), last registered first.
  void add_cleanup(Pool::CleanupFn fn, void* data) const {
    if (!pool_->add_cleanup(fn, data)) throw std::bad_alloc();
  }

  /// For std::pmr containers in request scope; they throw std::bad_alloc too.
  std::pmr::memory_resource* resource() const noexcept { return pool_->resource(); }
  /// The Pool itself, with its nullptr failure rule.
  Pool& pool() const noexcept { return *pool_; }

 private:
  template <class P>
  static P* checked(P* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  static std::string_view checked(std::string_view s) {
    if (s.data() == nullptr) throw std::bad_alloc();
    return s;
  }

  Pool* pool_;
};

}  // namespace mempool::http
