/// \file
/// Contract checks that stay on in MEMPOOL_DEBUG builds even when NDEBUG is set (assert would not).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "mempool/build_config.hpp"

#if !defined(NDEBUG) || MEMPOOL_DEBUG_ALLOCATIONS
#define MEMPOOL_CHECKS 1
#else
#define MEMPOOL_CHECKS 0
#endif

namespace mempool::detail {

[[noreturn]] inline void contract_failed(const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "mempool: contract violated: %s (%s:%d)\n", what, file, line);
  std::abort();
}

}  // namespace mempool::detail

/// Aborts with a message when `cond` is false, in checked builds only.
#if MEMPOOL_CHECKS
#define MEMPOOL_EXPECT(cond, what) \
  ((cond) ? void(0) : ::mempool::detail::contract_failed(what, __FILE__, __LINE__))
#else
#define MEMPOOL_EXPECT(cond, what) void(0)
#endif
