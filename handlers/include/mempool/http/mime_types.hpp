/// \file
/// MimeTypes: file extension → Content-Type, like nginx's mime.types (DESIGN §4, §3.6).
///
/// Built once at start-up into a GlobalArena (the table and every string), then read-only:
/// lookups never allocate, never lock, and may run on every reactor at once. A "text/*" type is
/// stored with "; charset=utf-8" already appended, so a lookup hands out the header value as is.
/// Lifetime: the views it returns live as long as the arena.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <mempool/global_arena.hpp>

namespace mempool::http {

/// One row of the table: an extension (without the dot) and its media type.
struct MimeMapping {
  std::string_view extension;
  std::string_view type;
};

class MimeTypes {
 public:
  /// The type of a file whose extension is not in the table, or that has none.
  static constexpr std::string_view default_type = "application/octet-stream";

  /// The built-in table plus `extra` (which wins where both name an extension; a leading dot is
  /// ignored), copied into `arena`. Throws std::invalid_argument for an empty extension or type,
  /// std::bad_alloc when the arena cannot hold the table.
  explicit MimeTypes(GlobalArena& arena, std::span<const MimeMapping> extra = {});

  /// The Content-Type for an extension (no dot), ASCII case-insensitive; default_type if unknown.
  std::string_view lookup(std::string_view extension) const noexcept;
  /// The Content-Type for a path, by the extension of its last segment ("a/b.tar.gz" → gz;
  /// "a/.profile" and "a/README" have none).
  std::string_view for_path(std::string_view path) const noexcept;
  /// Extensions in the table.
  std::size_t size() const noexcept { return count_; }

  /// The built-in rows, types without the charset (the subset of nginx's mime.types a web
  /// server meets today, with RFC 9239's text/javascript).
  static std::span<const MimeMapping> builtin() noexcept;

 private:
  const MimeMapping* rows_ = nullptr;  ///< in the arena, sorted by extension, extensions lowercase
  std::size_t count_ = 0;
};

}  // namespace mempool::http
