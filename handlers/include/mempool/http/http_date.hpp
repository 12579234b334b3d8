/// \file
/// HTTP dates (RFC 9110 §5.6.7): Last-Modified, If-Modified-Since, If-Range and the server's
/// cached Date header. Always GMT, English names, never the C locale or the TZ variable.
///
/// Thread safety: both functions are pure (gmtime_r, no static buffer) and may run on every
/// reactor at once. Nothing is allocated.
#pragma once

#include <cstddef>
#include <ctime>
#include <optional>
#include <string_view>

namespace mempool::http {

/// Characters of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t http_date_length = 29;

/// Writes `t` as an IMF-fixdate into `out` (no NUL) and returns a view of it. Years outside
/// 0000..9999 cannot be written in that format: the view is then empty.
std::string_view format_http_date(std::time_t t, char (&out)[http_date_length]) noexcept;

/// Reads an HTTP-date: an IMF-fixdate, or one of the two obsolete forms every recipient must
/// accept, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years ahead
/// of now is taken as the previous century) and asctime ("Sun Nov  6 08:49:37 1994").
/// Case-sensitive as the grammar says; the day name is checked to be a day name, not checked
/// against the date. nullopt for anything else, an impossible date (Feb 30) or trailing bytes.
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;

}  // namespace mempool::http
