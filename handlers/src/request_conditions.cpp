#include "request_conditions.hpp"

#include <algorithm>
#include <limits>

#include <mempool/http/http_date.hpp>

namespace mempool::http::detail {

namespace {

std::string_view trim_ows(std::string_view s) noexcept {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Digits only, at least one; values past 2^64 - 1 saturate (they are past any file's end).
bool parse_position(std::string_view digits, std::uint64_t& value) noexcept {
  if (digits.empty()) return false;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (max - d) / 10 ? max : v * 10 + d;
  }
  value = v;
  return true;
}

}  // namespace

// --- conditional requests (RFC 9110 §13) ----------------------------------------------------

bool etag_list_matches(std::string_view list, std::string_view etag) noexcept {
  list = trim_ows(list);
  if (list == "*") return true;
  for (;;) {
    const std::size_t start = list.find_first_not_of(" \t,");
    if (start == std::string_view::npos) return false;
    list.remove_prefix(start);
    if (list.starts_with("W/")) list.remove_prefix(2);
    if (!list.starts_with('"')) return false;
    const std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(0, close + 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
}

bool not_modified(const Request& req, std::string_view etag, std::int64_t mtime) noexcept {
  bool has_if_none_match = false;
  for (const Header& h : req.headers) {
    if (!iequals(h.name, "If-None-Match")) continue;
    has_if_none_match = true;
    if (etag_list_matches(h.value, etag)) return true;
  }
  if (has_if_none_match) return false;
  const auto since = req.header("If-Modified-Since");
  if (!since) return false;
  const auto date = parse_http_date(trim_ows(*since));
  return date && mtime <= static_cast<std::int64_t>(*date);
}

bool if_range_allows(const Request& req, std::string_view etag, std::int64_t mtime) noexcept {
  const auto field = req.header("If-Range");
  if (!field) return true;
  const std::string_view value = trim_ows(*field);
  if (value.starts_with("W/")) return false;  // a weak tag never matches strongly
  if (value.starts_with('"')) return value == etag;
  const auto date = parse_http_date(value);
  return date && static_cast<std::int64_t>(*date) == mtime;
}

// --- Range (RFC 9110 §14) --------------------------------------------------------------------

ByteRange parse_range(std::string_view header, std::uint64_t size) noexcept {
  header = trim_ows(header);
  constexpr std::string_view unit = "bytes=";
  if (header.size() < unit.size() || !iequals(header.substr(0, unit.size()), unit)) return {};
  std::string_view set = header.substr(unit.size());
  std::string_view spec;
  int specs = 0;
  while (!set.empty()) {
    const std::size_t comma = set.find(',');
    const std::string_view element = trim_ows(set.substr(0, comma));
    if (!element.empty()) {
      spec = element;
      ++specs;
    }
    set = comma == std::string_view::npos ? std::string_view{} : set.substr(comma + 1);
  }
  if (specs != 1) return {};
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = spec.substr(0, dash);
  const std::string_view last_text = spec.substr(dash + 1);

  if (first_text.empty()) {  // bytes=-n: the last n bytes
    std::uint64_t n = 0;
    if (!parse_position(last_text, n)) return {};
    if (n == 0) return {ByteRange::Kind::unsatisfiable};
    const std::uint64_t length = std::min(n, size);
    return {ByteRange::Kind::partial, size - length, length};
  }
  std::uint64_t first = 0;
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!parse_position(first_text, first)) return {};
  if (!last_text.empty() && !parse_position(last_text, last)) return {};
  if (last < first) return {};  // invalid, not unsatisfiable
  if (first >= size) return {ByteRange::Kind::unsatisfiable};
  last = std::min(last, size - 1);
  return {ByteRange::Kind::partial, first, last - first + 1};
}

}  // namespace mempool::http::detail
