/// \file
/// Alignment arithmetic shared by the allocators. Alignments are powers of two (asserted).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace mempool::detail {

constexpr bool is_power_of_two(std::size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

/// Smallest multiple of `align` that is >= n. `align` must be a power of two.
constexpr std::size_t align_up(std::size_t n, std::size_t align) noexcept {
  return (n + align - 1) & ~(align - 1);
}

/// Bytes to skip from `p` to reach the next multiple of `align`.
inline std::size_t padding_for(const void* p, std::size_t align) noexcept {
  return (align - (reinterpret_cast<std::uintptr_t>(p) & (align - 1))) & (align - 1);
}

inline char* align_pointer(char* p, std::size_t align) noexcept { return p + padding_for(p, align); }

inline bool is_aligned(const void* p, std::size_t align) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

}  // namespace mempool::detail
