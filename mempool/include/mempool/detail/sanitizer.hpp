/// \file
/// AddressSanitizer poisoning in one place, so allocators can mark memory they hold but have not
/// handed out. Every call compiles to nothing unless the build uses -fsanitize=address.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define MEMPOOL_HAS_ASAN 1
#include <sanitizer/asan_interface.h>
#else
#define MEMPOOL_HAS_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define MEMPOOL_HAS_TSAN 1
#else
#define MEMPOOL_HAS_TSAN 0
#endif

/// Marks a function whose reads may legitimately touch poisoned bytes (a header probe).
#if MEMPOOL_HAS_ASAN
#define MEMPOOL_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define MEMPOOL_NO_SANITIZE_ADDRESS
#endif

namespace mempool::detail {

/// Memory the allocator keeps but nobody may touch (rewound, free, not yet handed out).
inline void poison(const void* p, std::size_t n) noexcept {
#if MEMPOOL_HAS_ASAN
  __asan_poison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

/// Memory that was just handed out.
inline void unpoison(const void* p, std::size_t n) noexcept {
#if MEMPOOL_HAS_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

}  // namespace mempool::detail
