/// \file
/// The value syntaxes and checks that the config file and the command line share: sizes,
/// durations, listen addresses, and the range or form each setting must have. One check serves
/// both sources: it throws Invalid with a predicate ("must be between 0 and 1024, got 5000"),
/// and the file loader puts the key and its position in front of it (ConfigError), the command
/// line the flag (UsageError).
///
/// Ranges: below a minimum nothing useful works; above a maximum the value is surely a typo (a
/// digit too many) rather than a wish, so it fails at start, not under load.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"

namespace mempool::server {

inline constexpr std::size_t KiB = 1024;
inline constexpr std::size_t MiB = 1024 * KiB;
inline constexpr std::size_t GiB = 1024 * MiB;
inline constexpr std::size_t TiB = 1024 * GiB;

template <class T>
struct Range {
  T min;
  T max;
};

inline constexpr Range<std::int64_t> reactors_range{0, 1024};
/// Worker processes (0: none, the reactors run in the one process).
inline constexpr Range<std::int64_t> workers_range{0, 64};
inline constexpr Range<std::size_t> ring_buffer_range{4 * KiB, GiB};
inline constexpr Range<std::size_t> header_buffer_range{64, MiB};
inline constexpr Range<std::size_t> max_header_bytes_range{64, 16 * MiB};
inline constexpr Range<std::size_t> max_uri_bytes_range{16, 16 * MiB};
inline constexpr Range<std::size_t> max_body_bytes_range{1, TiB};
inline constexpr Range<std::size_t> request_pool_capacity_range{4 * KiB, TiB};  // at least one pool block
inline constexpr Range<std::size_t> connection_memory_range{64 * KiB, TiB};
inline constexpr Range<std::int64_t> max_connections_range{1, 10'000'000};
inline constexpr Range<std::int64_t> keepalive_requests_range{1, std::numeric_limits<std::uint32_t>::max()};
inline constexpr Range<std::size_t> linger_bytes_range{0, GiB};  // 0: close at once after an error
inline constexpr Range<std::int64_t> open_file_cache_entries_range{0, 1'000'000};  // 0: no caching
inline constexpr Range<std::chrono::milliseconds> timeout_range{std::chrono::milliseconds{1}, std::chrono::hours{24}};
inline constexpr std::size_t server_name_max = 256;

/// A value that fails a check; `text` is a predicate for a subject the caller supplies.
struct Invalid {
  std::string text;
};

// --- Reading and writing values (nullopt: not of that form) ---------------------------------

/// Bytes: "1024", "16k", "1m", "1g" (suffix case-insensitive, 1k = 1024), like nginx.
std::optional<std::size_t> parse_size(std::string_view text) noexcept;
/// "500ms", "10s", "1m", "2h", "1d"; bare digits are seconds, like nginx.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;
/// "HOST:PORT" or "[IPV6]:PORT", port 1..65535.
std::optional<ListenAddress> parse_listen(std::string_view text) noexcept;
/// A run of decimal digits, all of `text`; nullopt if empty, not digits, or too large.
std::optional<std::uint64_t> parse_digits(std::string_view text) noexcept;

/// Bytes in the notation parse_size reads back: "16k", "1m", "2g", or plain bytes.
std::string format_size(std::size_t bytes);
/// A duration in the notation parse_duration reads back, in its largest exact unit.
std::string format_duration(std::chrono::milliseconds d);
/// "HOST:PORT", or "[IPV6]:PORT".
std::string format_listen(const ListenAddress& address);
/// `s` in double quotes, with '"', '\\' and control characters escaped.
std::string in_quotes(std::string_view s);

// --- The checks (each throws Invalid, or returns the value to store) ------------------------

extern const std::string listen_form;  ///< what a listen address looks like, for messages
extern const std::string admin_listen_form;  ///< the same, or "off"

template <class T>
std::string range_text(T min, T max, const std::string& got) {
  return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + got;
}
std::string size_range_text(Range<std::size_t> range, const std::string& got);

ListenAddress check_listen(std::string_view text);
ListenAddress check_listen(const ListenAddress& address);
/// [admin] listen: "off" (nullopt) or a listen address.
std::optional<ListenAddress> check_admin_listen(std::string_view text);
unsigned check_reactors(std::int64_t n);
/// --reactors: a whole number in range (its own message for "4x" or "-1").
unsigned check_reactors_text(std::string_view text);
unsigned check_workers(std::int64_t n);
/// --workers: a whole number in range.
unsigned check_workers_text(std::string_view text);
std::string check_log_level(std::string_view level);
std::string check_server_name(std::string_view name);
/// An explicit root must exist and be a directory: a typo fails at start, not as 404s.
std::filesystem::path check_root(const std::filesystem::path& dir);
/// "off", or a file path resolved against `base`.
std::optional<std::filesystem::path> check_access_log(std::string_view value, const std::filesystem::path& base);
/// "combined" or "json".
http::AccessLogFormat check_access_log_format(std::string_view value);
/// "stderr" (nullopt), or a file path resolved against `base`.
std::optional<std::filesystem::path> check_error_log(std::string_view value, const std::filesystem::path& base);
std::size_t check_size(std::size_t bytes, Range<std::size_t> range);
std::chrono::milliseconds check_timeout(std::chrono::milliseconds d);
/// Two settings that disagree: the message names both; `key` is the one to report a file
/// position at (else `other`). `required`: the server cannot honour them as they are (the
/// parser's 32-bit offsets, a connection slot per reactor); the others are an operator's likely
/// mistake (a body limit the request pool cannot hold), which the server would answer at run time
/// with 500 or 503.
struct Disagreement {
  std::string_view key, other;
  std::string message;
  bool required = false;
};
/// The first pair of settings of `config` that only make sense together and do not agree
/// (header_buffer > max_header_bytes, max_connections < reactors, ...); only the required ones if
/// `required_only`. The file loader and the command line report every one; the Server refuses a
/// config built in code for the required ones (tests and embedders may mean the others).
std::optional<Disagreement> find_disagreement(const ServerConfig& config, bool required_only = false);
/// A route path: starts with '/', no whitespace, control characters, '?' or '#'.
std::string check_route_path(std::string_view path);
/// The name of a built-in handler.
Builtin check_builtin(std::string_view name);

}  // namespace mempool::server
