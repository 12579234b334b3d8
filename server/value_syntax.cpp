// The value syntaxes and checks shared by the config file and the command line.
#include "value_syntax.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace mempool::server {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr std::array<std::string_view, 7> log_levels{
    "trace", "debug", "info", "warn", "error", "critical", "off"};

bool is_host_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

bool is_ipv6_char(char c) noexcept {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

bool valid_host(std::string_view host) noexcept {
  if (host.empty()) return false;
  if (host.find(':') != std::string_view::npos)  // IPv6, given without its brackets
    return std::all_of(host.begin(), host.end(), is_ipv6_char);
  return std::all_of(host.begin(), host.end(), is_host_name_char);
}

}  // namespace

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + '"';
}

std::string format_size(std::size_t bytes) {
  if (bytes != 0 && bytes % GiB == 0) return std::to_string(bytes / GiB) + "g";
  if (bytes != 0 && bytes % MiB == 0) return std::to_string(bytes / MiB) + "m";
  if (bytes != 0 && bytes % KiB == 0) return std::to_string(bytes / KiB) + "k";
  return std::to_string(bytes);
}

std::string format_duration(milliseconds d) {
  const std::int64_t ms = d.count();
  constexpr std::pair<std::int64_t, const char*> units[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}};
  if (ms == 0) return "0s";
  for (const auto& [scale, suffix] : units)
    if (ms % scale == 0) return std::to_string(ms / scale) + suffix;
  return std::to_string(ms) + "ms";
}

std::optional<std::uint64_t> parse_digits(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// --- The checks ------------------------------------------------------------------------------

const std::string listen_form = "HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to 65535";

std::string size_range_text(Range<std::size_t> range, const std::string& got) {
  return "must be between " + format_size(range.min) + " and " + format_size(range.max) + ", got " + got;
}

ListenAddress check_listen(std::string_view text) {
  auto address = parse_listen(text);
  if (!address) throw Invalid{"must be " + listen_form + ", got " + in_quotes(text)};
  return *std::move(address);
}

const std::string admin_listen_form = "\"off\" or " + listen_form;

std::optional<ListenAddress> check_admin_listen(std::string_view text) {
  if (text == "off") return std::nullopt;
  auto address = parse_listen(text);
  if (!address) throw Invalid{"must be " + admin_listen_form + ", got " + in_quotes(text)};
  return *std::move(address);
}

ListenAddress check_listen(const ListenAddress& address) {
  if (!valid_host(address.host) || address.port == 0)
    throw Invalid{"must be " + listen_form + ", got host " + in_quotes(address.host) + " port " +
                  std::to_string(address.port)};
  return address;
}

namespace {

unsigned check_count(const Range<std::int64_t>& range, std::int64_t n) {
  if (n < range.min || n > range.max) throw Invalid{range_text(range.min, range.max, std::to_string(n))};
  return static_cast<unsigned>(n);
}

unsigned check_count_text(const Range<std::int64_t>& range, std::string_view text) {
  const auto n = parse_digits(text);
  if (!n)
    throw Invalid{"must be a whole number between " + std::to_string(range.min) + " and " +
                  std::to_string(range.max) + ", got " + in_quotes(text)};
  return check_count(range, static_cast<std::int64_t>(std::min<std::uint64_t>(*n, std::numeric_limits<std::int64_t>::max())));
}

}  // namespace

unsigned check_reactors(std::int64_t n) { return check_count(reactors_range, n); }
unsigned check_workers(std::int64_t n) { return check_count(workers_range, n); }

std::string check_log_level(std::string_view level) {
  if (std::find(log_levels.begin(), log_levels.end(), level) == log_levels.end())
    throw Invalid{"must be one of trace, debug, info, warn, error, critical, off; got " + in_quotes(level)};
  return std::string(level);
}

std::string check_server_name(std::string_view name) {
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (name.empty() || name.size() > server_name_max || !printable || name.front() == ' ' ||
      name.back() == ' ')
    throw Invalid{
        "must be 1 to " + std::to_string(server_name_max) +
        " printable ASCII characters, no leading or trailing space (it is the Server header), got " +
        in_quotes(name)};
  return std::string(name);
}

fs::path check_root(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status))
    throw Invalid{"must be an existing directory: " + in_quotes(dir.string()) + " does not exist"};
  if (!fs::is_directory(status))
    throw Invalid{"must be a directory: " + in_quotes(dir.string()) + " is not one"};
  return dir;
}

std::optional<fs::path> check_access_log(std::string_view value, const fs::path& base) {
  if (value == "off") return std::nullopt;
  if (value.empty()) throw Invalid{"must be a file path or \"off\", got \"\""};
  const fs::path file = (base / fs::path(value)).lexically_normal();
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw Invalid{"must be a file path or \"off\": " + in_quotes(file.string()) + " is a directory"};
  return file;
}

http::AccessLogFormat check_access_log_format(std::string_view value) {
  if (value == "combined") return http::AccessLogFormat::combined;
  if (value == "json") return http::AccessLogFormat::json;
  throw Invalid{"must be \"combined\" or \"json\", got " + in_quotes(value)};
}

std::optional<fs::path> check_error_log(std::string_view value, const fs::path& base) {
  if (value == "stderr") return std::nullopt;
  if (value.empty()) throw Invalid{"must be a file path or \"stderr\", got \"\""};
  const fs::path file = (base / fs::path(value)).lexically_normal();
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw Invalid{"must be a file path or \"stderr\": " + in_quotes(file.string()) + " is a directory"};
  return file;
}

std::size_t check_size(std::size_t bytes, Range<std::size_t> range) {
  if (bytes < range.min || bytes > range.max) throw Invalid{size_range_text(range, format_size(bytes))};
  return bytes;
}

milliseconds check_timeout(milliseconds d) {
  if (d < timeout_range.min || d > timeout_range.max)
    throw Invalid{"must be between " + format_duration(timeout_range.min) + " and " +
                  format_duration(timeout_range.max) + ", got " + format_duration(d)};
  return d;
}

std::optional<std::size_t> parse_size(std::string_view text) noexcept {
  std::size_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K': scale = KiB; break;
      case 'm':
      case 'M': scale = MiB; break;
      case 'g':
      case 'G': scale = GiB; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  const auto n = parse_digits(text);
  if (!n || *n > std::numeric_limits<std::size_t>::max() / scale) return std::nullopt;
  return static_cast<std::size_t>(*n) * scale;
}

std::optional<milliseconds> parse_duration(std::string_view text) noexcept {
  // "ms" before "s" and "m", which it ends with.
  constexpr std::pair<std::string_view, std::int64_t> units[] = {
      {"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  std::int64_t scale = 1'000;  // bare digits are seconds
  for (const auto& [suffix, ms] : units) {
    if (text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      scale = ms;
      break;
    }
  }
  const auto n = parse_digits(text);
  if (!n || *n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / scale))
    return std::nullopt;
  return milliseconds{static_cast<std::int64_t>(*n) * scale};
}

std::optional<ListenAddress> parse_listen(std::string_view text) noexcept {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {  // [IPV6]:PORT
    const auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  const auto number = parse_digits(port);
  if (!valid_host(host) || !number || *number < 1 || *number > 65535 || port.size() > 5) return std::nullopt;
  try {
    return ListenAddress{std::string(host), static_cast<std::uint16_t>(*number)};
  } catch (...) {  // std::bad_alloc from the string
    return std::nullopt;
  }
}

std::string format_listen(const ListenAddress& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

unsigned check_reactors_text(std::string_view text) { return check_count_text(reactors_range, text); }
unsigned check_workers_text(std::string_view text) { return check_count_text(workers_range, text); }

std::string check_route_path(std::string_view path) {
  const bool clean = std::all_of(path.begin(), path.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '?' && c != '#';
  });
  if (!path.starts_with('/') || !clean)
    throw Invalid{"must be a path that starts with '/' (no spaces, '?' or '#'), got " + in_quotes(path)};
  return std::string(path);
}

Builtin check_builtin(std::string_view name) {
  if (const auto builtin = http::builtin_from_name(name)) return *builtin;
  throw Invalid{"must name a built-in handler: hello, echo, static, stats, metrics, dashboard or chart.js; got " + in_quotes(name)};
}

std::optional<Disagreement> find_disagreement(const ServerConfig& config, bool required_only) {
  const Limits& l = config.limits;
  // The parser records where a request's pieces lie in its read buffer as 32-bit offsets, and
  // the body lies in that buffer right after the head.
  constexpr std::size_t offset_limit = std::numeric_limits<std::uint32_t>::max();
  if (l.max_body_bytes > offset_limit - l.max_header_bytes)
    return Disagreement{"limits.max_body_bytes", "limits.max_header_bytes",
                        "'limits.max_body_bytes' (" + format_size(l.max_body_bytes) +
                            ") plus 'limits.max_header_bytes' (" + format_size(l.max_header_bytes) +
                            ") must fit the parser's 32-bit offsets (at most " + std::to_string(offset_limit) +
                            " bytes)",
                        true};
  // Each reactor (of each worker) gets max_connections / reactors slots, at least one: fewer
  // connections than reactors would silently allow more than max_connections.
  const unsigned reactors = reactor_count(config) * std::max(1u, config.workers);
  if (l.max_connections < reactors)
    return Disagreement{"limits.max_connections", "reactors",
                        "'limits.max_connections' (" + std::to_string(l.max_connections) +
                            ") must not be smaller than the number of reactors (" + std::to_string(reactors) +
                            (config.reactors == 0 ? ", one per core" : "") +
                            (config.workers > 1 ? ", of all workers" : "") +
                            "): each reactor holds at least one connection",
                        true};
  if (required_only) return std::nullopt;
  if (l.header_buffer > l.max_header_bytes)
    return Disagreement{"limits.header_buffer", "limits.max_header_bytes",
                        "'limits.header_buffer' (" + format_size(l.header_buffer) +
                            ") must not be larger than 'limits.max_header_bytes' (" + format_size(l.max_header_bytes) +
                            ")"};
  if (l.max_uri_bytes > l.max_header_bytes)
    return Disagreement{"limits.max_uri_bytes", "limits.max_header_bytes",
                        "'limits.max_uri_bytes' (" + format_size(l.max_uri_bytes) +
                            ") must not be larger than 'limits.max_header_bytes' (" + format_size(l.max_header_bytes) +
                            ")"};
  if (l.request_pool_capacity > l.connection_memory)
    return Disagreement{"limits.connection_memory", "limits.request_pool_capacity",
                        "'limits.connection_memory' (" + format_size(l.connection_memory) +
                            ") must not be smaller than 'limits.request_pool_capacity' (" +
                            format_size(l.request_pool_capacity) + "): a request's pool is part of its connection's memory"};
  // The read buffer that holds the body grows in the request's pool.
  if (l.max_body_bytes > l.request_pool_capacity)
    return Disagreement{"limits.max_body_bytes", "limits.request_pool_capacity",
                        "'limits.max_body_bytes' (" + format_size(l.max_body_bytes) +
                            ") must not be larger than 'limits.request_pool_capacity' (" +
                            format_size(l.request_pool_capacity) + "): a request's body is held in its pool"};
  return std::nullopt;
}

}  // namespace mempool::server
