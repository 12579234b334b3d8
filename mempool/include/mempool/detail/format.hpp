/// \file
/// The string helpers behind every allocator's strdup() and format() (FreeSWITCH's
/// switch_core_strdup / switch_core_sprintf), written once. Each takes the allocator's byte
/// allocation as a callable `alloc(bytes) -> void*` that returns nullptr on failure, and gives a
/// NUL-terminated std::string_view (the NUL not counted) whose data() is nullptr on failure.
/// User formatters run only while the allocator is in no intermediate state (no lock held, no
/// room reserved): the text's room is taken before fmt writes into it, or after fmt wrote into a
/// stack buffer. So a formatter may itself allocate from the same allocator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace mempool::detail {

/// A NUL-terminated copy of s in alloc(s.size() + 1).
template <class Alloc>
std::string_view strdup_with(Alloc&& alloc, std::string_view s) noexcept(noexcept(alloc(std::size_t{1}))) {
  auto* p = static_cast<char*>(alloc(s.size() + 1));
  if (p == nullptr) return {};
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return {p, s.size()};
}

/// Characters the text formats to, the NUL not included. Formats once, storing nothing.
inline std::size_t formatted_size(fmt::string_view text, fmt::format_args args) {
  return fmt::vformat_to_n(static_cast<char*>(nullptr), 0, text, args).size;
}

/// Writes the text, whose formatted_size() the caller already knows, into alloc(size + 1).
/// Bounded by `size`: a formatter that prints differently the second time cannot overrun.
template <class Alloc>
std::string_view format_sized_with(Alloc&& alloc, std::size_t size, fmt::string_view text,
                                   fmt::format_args args) {
  auto* p = static_cast<char*>(alloc(size + 1));
  if (p == nullptr) return {};
  const std::size_t written = std::min(fmt::vformat_to_n(p, size, text, args).size, size);
  p[written] = '\0';
  return {p, written};
}

/// Measures the text, then writes it into alloc(size + 1): fmt runs twice.
template <class Alloc>
std::string_view format_with(Alloc&& alloc, fmt::string_view text, fmt::format_args args) {
  return format_sized_with(alloc, formatted_size(text, args), text, args);
}

/// Bytes format_buffered_with() formats on the stack first: most texts (a header line, a log
/// field) fit.
inline constexpr std::size_t format_stack_bytes = 256;

/// Formats on the stack and copies into alloc(size + 1): fmt runs once. A text longer than
/// format_stack_bytes goes the format_with() way.
template <class Alloc>
std::string_view format_buffered_with(Alloc&& alloc, fmt::string_view text, fmt::format_args args) {
  char buffer[format_stack_bytes];
  const std::size_t size = fmt::vformat_to_n(buffer, sizeof buffer, text, args).size;
  if (size <= sizeof buffer) return strdup_with(alloc, std::string_view(buffer, size));
  return format_sized_with(alloc, size, text, args);
}

}  // namespace mempool::detail
