/// \file
/// The request fields the static-file handler reads before it answers (private to handlers/):
/// If-None-Match and If-Modified-Since (RFC 9110 §13.1.2-3, §13.2.2), If-Range (§13.1.5) and
/// Range (§14.2). Pure functions of the field values, the file's ETag, mtime and size; nothing
/// is allocated. Apart from static_files.cpp so the tests and the fuzz target reach them.
///
/// Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <string_view>

#include <mempool/http/request.hpp>

namespace mempool::http::detail {

/// Whether one If-None-Match field value names `etag`, by weak comparison: "W/" is ignored on
/// both sides (ours is strong). "*" matches; a malformed list matches nothing from the fault on.
bool etag_list_matches(std::string_view list, std::string_view etag) noexcept;

/// True: answer 304. If-None-Match decides when present (every field of that name counts);
/// If-Modified-Since is looked at only without it, and only if it is a valid HTTP-date.
bool not_modified(const Request& req, std::string_view etag, std::int64_t mtime) noexcept;

/// Whether a Range may be honoured: no If-Range, or one that matches strongly (the ETag exactly,
/// never a weak tag; or the Last-Modified date to the second).
bool if_range_allows(const Request& req, std::string_view etag, std::int64_t mtime) noexcept;

/// One range of a representation, or why there is none.
struct ByteRange {
  enum class Kind { ignore, partial, unsatisfiable };
  Kind kind = Kind::ignore;
  std::uint64_t first = 0;   ///< partial: the first byte
  std::uint64_t length = 0;  ///< partial: at least 1; first + length <= size
};

/// The Range field of a file of `size` (> 0) bytes. One range-spec (bytes=a-b, bytes=a-,
/// bytes=-n; the unit case-insensitive, whitespace around elements, empty list elements
/// skipped): partial, clipped to the file; unsatisfiable when it starts past the end or is
/// "-0". Anything else, several ranges included, is ignored (a 200 with the whole file, which
/// RFC 9110 §14.2 allows). Positions past 2^64 - 1 saturate.
ByteRange parse_range(std::string_view header, std::uint64_t size) noexcept;

}  // namespace mempool::http::detail
