// ServerConfig: built-in defaults, the TOML file, the command line (DESIGN §4, §5).
//
// One set of value checks serves both sources. A check throws Invalid with a predicate
// ("must be between 0 and 1024, got 5000"); the file loader puts the key and its position in
// front of it (ConfigError), the command line the flag (UsageError).
#include "config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#ifndef MEMPOOL_DEFAULT_CONFIG
#error "MEMPOOL_DEFAULT_CONFIG must name config/server.toml (set by server/CMakeLists.txt)"
#endif
#ifndef MEMPOOL_VERSION
#error "MEMPOOL_VERSION must be defined (set by server/CMakeLists.txt)"
#endif

namespace mempool::server {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t GiB = 1024 * MiB;
constexpr std::size_t TiB = 1024 * GiB;

template <class T>
struct Range {
  T min;
  T max;
};

// What each value may be. Below a minimum nothing useful works; above a maximum the value is
// surely a typo (a digit too many) rather than a wish, so it fails at start, not under load.
constexpr Range<std::int64_t> reactors_range{0, 1024};
constexpr Range<std::size_t> ring_buffer_range{4 * KiB, GiB};
constexpr Range<std::size_t> header_buffer_range{64, MiB};
constexpr Range<std::size_t> max_header_bytes_range{64, 16 * MiB};
constexpr Range<std::size_t> max_uri_bytes_range{16, 16 * MiB};
constexpr Range<std::size_t> max_body_bytes_range{1, TiB};
constexpr Range<std::size_t> request_pool_capacity_range{4 * KiB, TiB};  // at least one pool block
constexpr Range<std::int64_t> max_connections_range{1, 10'000'000};
constexpr Range<std::int64_t> keepalive_requests_range{1, std::numeric_limits<std::uint32_t>::max()};
constexpr Range<milliseconds> timeout_range{milliseconds{1}, std::chrono::hours{24}};
constexpr std::size_t server_name_max = 256;

constexpr std::array<std::string_view, 7> log_levels{
    "trace", "debug", "info", "warn", "error", "critical", "off"};

/// A value that fails a check; `text` is a predicate for a subject the caller supplies.
struct Invalid {
  std::string text;
};

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

/// Bytes in the notation parse_size reads back: "16k", "1m", "2g", or plain bytes.
std::string format_size(std::size_t bytes) {
  if (bytes != 0 && bytes % GiB == 0) return std::to_string(bytes / GiB) + "g";
  if (bytes != 0 && bytes % MiB == 0) return std::to_string(bytes / MiB) + "m";
  if (bytes != 0 && bytes % KiB == 0) return std::to_string(bytes / KiB) + "k";
  return std::to_string(bytes);
}

/// A duration in the notation parse_duration reads back, in its largest exact unit.
std::string format_duration(milliseconds d) {
  const std::int64_t ms = d.count();
  constexpr std::pair<std::int64_t, const char*> units[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}};
  if (ms == 0) return "0s";
  for (const auto& [scale, suffix] : units)
    if (ms % scale == 0) return std::to_string(ms / scale) + suffix;
  return std::to_string(ms) + "ms";
}

/// Reads a run of decimal digits, all of `text`; nullopt if empty, not digits, or too large.
std::optional<std::uint64_t> parse_digits(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

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

// --- The checks, shared by the file and the flags -------------------------------------------

const std::string listen_form = "HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to 65535";

template <class T>
std::string range_text(T min, T max, const std::string& got) {
  return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + got;
}

std::string size_range_text(Range<std::size_t> range, const std::string& got) {
  return "must be between " + format_size(range.min) + " and " + format_size(range.max) + ", got " + got;
}

ListenAddress check_listen(std::string_view text) {
  auto address = parse_listen(text);
  if (!address) throw Invalid{"must be " + listen_form + ", got " + in_quotes(text)};
  return *std::move(address);
}

ListenAddress check_listen(const ListenAddress& address) {
  if (!valid_host(address.host) || address.port == 0)
    throw Invalid{"must be " + listen_form + ", got host " + in_quotes(address.host) + " port " +
                  std::to_string(address.port)};
  return address;
}

unsigned check_reactors(std::int64_t n) {
  if (n < reactors_range.min || n > reactors_range.max)
    throw Invalid{range_text(reactors_range.min, reactors_range.max, std::to_string(n))};
  return static_cast<unsigned>(n);
}

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

/// An explicit root must exist and be a directory: a typo fails at start, not as 404s.
fs::path check_root(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status))
    throw Invalid{"must be an existing directory: " + in_quotes(dir.string()) + " does not exist"};
  if (!fs::is_directory(status))
    throw Invalid{"must be a directory: " + in_quotes(dir.string()) + " is not one"};
  return dir;
}

/// "off", or a file path resolved against `base`.
std::optional<fs::path> check_access_log(std::string_view value, const fs::path& base) {
  if (value == "off") return std::nullopt;
  if (value.empty()) throw Invalid{"must be a file path or \"off\", got \"\""};
  const fs::path file = (base / fs::path(value)).lexically_normal();
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw Invalid{"must be a file path or \"off\": " + in_quotes(file.string()) + " is a directory"};
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

// --- The file -------------------------------------------------------------------------------

std::string read_whole_file(const fs::path& file) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) throw ConfigError(file, 0, 0, "cannot read config file: it is a directory");
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!f) throw ConfigError(file, 0, 0, "cannot read config file: " + std::generic_category().message(errno));
  std::string text;
  char buffer[8192];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0;) text.append(buffer, got);
  if (std::ferror(f.get()))
    throw ConfigError(file, 0, 0, "cannot read config file: " + std::generic_category().message(errno));
  return text;
}

std::string_view a_type(const toml::node& node) noexcept {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

/// Reads a parsed TOML document into a ServerConfig, key by key in the file's order, so the
/// error reported is the first one in the file.
class FileLoader {
 public:
  FileLoader(const fs::path& file, ServerConfig& config)
      : file_(file), base_(fs::absolute(file).parent_path()), config_(config) {}

  void load(const toml::table& document) {
    ServerConfig& c = config_;
    const Entry limits[] = {
        {"header_buffer",
         [&](const toml::node& n) { c.limits.header_buffer = size(n, header_buffer_range); }},
        {"max_header_bytes",
         [&](const toml::node& n) { c.limits.max_header_bytes = size(n, max_header_bytes_range); }},
        {"max_uri_bytes",
         [&](const toml::node& n) { c.limits.max_uri_bytes = size(n, max_uri_bytes_range); }},
        {"max_body_bytes",
         [&](const toml::node& n) { c.limits.max_body_bytes = size(n, max_body_bytes_range); }},
        {"request_pool_capacity",
         [&](const toml::node& n) { c.limits.request_pool_capacity = size(n, request_pool_capacity_range); }},
        {"max_connections",
         [&](const toml::node& n) {
           c.limits.max_connections = static_cast<std::size_t>(count(n, max_connections_range));
         }},
        {"keepalive_requests",
         [&](const toml::node& n) {
           c.limits.keepalive_requests = static_cast<std::uint32_t>(count(n, keepalive_requests_range));
         }},
    };
    const Entry timeouts[] = {
        {"header", [&](const toml::node& n) { c.timeouts.header = duration(n); }},
        {"body", [&](const toml::node& n) { c.timeouts.body = duration(n); }},
        {"idle", [&](const toml::node& n) { c.timeouts.idle = duration(n); }},
        {"send", [&](const toml::node& n) { c.timeouts.send = duration(n); }},
        {"shutdown_grace", [&](const toml::node& n) { c.timeouts.shutdown_grace = duration(n); }},
    };
    const Entry top[] = {
        {"listen", [&](const toml::node& n) { c.listen = check_listen(string(n, listen_form)); }},
        {"reactors", [&](const toml::node& n) { c.reactors = check_reactors(integer(n, "an integer")); }},
        {"root", [&](const toml::node& n) { c.root = check_root(path(n, "a directory path")); }},
        {"access_log",
         [&](const toml::node& n) {
           c.access_log = check_access_log(string(n, "a file path or \"off\""), base_);
         }},
        {"log_level", [&](const toml::node& n) { c.log_level = check_log_level(string(n)); }},
        {"server_name", [&](const toml::node& n) { c.server_name = check_server_name(string(n)); }},
        {"ring_buffer", [&](const toml::node& n) { c.ring_buffer_bytes = size(n, ring_buffer_range); }},
        {"limits", [&](const toml::node& n) { visit(table(n), "limits", limits); }},
        {"timeouts", [&](const toml::node& n) { visit(table(n), "timeouts", timeouts); }},
    };
    visit(document, "", top);
    check_limits_agree();
  }

 private:
  struct Entry {
    std::string_view key;
    std::function<void(const toml::node&)> read;
  };

  [[noreturn]] void fail(const toml::source_position& at, std::string message) const {
    throw ConfigError(file_, at.line, at.column, std::move(message));
  }

  /// Reads every key of `table` with its entry; a key without one is an error at the key.
  void visit(const toml::table& table, std::string_view table_name, std::span<const Entry> entries) {
    std::vector<std::pair<const toml::key*, const toml::node*>> items;
    for (auto&& [key, node] : table) items.emplace_back(&key, &node);
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
    });
    for (const auto& [key, node] : items) {
      const auto entry =
          std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.key == key->str(); });
      if (entry == entries.end()) unknown(*key, *node, table_name, entries);
      current_ = table_name.empty() ? std::string(key->str())
                                    : std::string(table_name) + "." + std::string(key->str());
      try {
        entry->read(*node);
      } catch (const Invalid& invalid) {
        fail(node->source().begin, "'" + current_ + "' " + invalid.text);
      }
      positions_.emplace_back(current_, node->source().begin);
    }
  }

  /// "unknown table [a.b]" for a table, "unknown key 'k' in [limits]" for anything else.
  [[noreturn]] void unknown(const toml::key& key, const toml::node& node, std::string_view table_name,
                            std::span<const Entry> entries) const {
    std::string known;
    for (const Entry& e : entries) known += (known.empty() ? "" : ", ") + std::string(e.key);
    const std::string name(key.str());
    if (node.is_table())
      fail(key.source().begin, "unknown table [" +
                                   (table_name.empty() ? name : std::string(table_name) + "." + name) +
                                   "] (known: " + known + ")");
    const std::string where = table_name.empty() ? "" : " in [" + std::string(table_name) + "]";
    fail(key.source().begin, "unknown key '" + name + "'" + where + " (known: " + known + ")");
  }

  const toml::table& table(const toml::node& node) const {
    if (const auto* t = node.as_table()) return *t;
    throw Invalid{"must be a table, not " + std::string(a_type(node))};
  }

  /// A string; `hint` (may be empty) says what it should hold.
  std::string_view string(const toml::node& node, std::string_view hint = {}) const {
    if (const auto* s = node.as_string()) return s->get();
    const std::string what = hint.empty() ? "" : " (" + std::string(hint) + ")";
    throw Invalid{"must be a string" + what + ", not " + std::string(a_type(node))};
  }

  /// A non-empty string naming a file or folder, resolved against the file's folder.
  fs::path path(const toml::node& node, std::string_view form) const {
    const std::string_view text = string(node, form);
    if (text.empty()) throw Invalid{"must be " + std::string(form) + ", got \"\""};
    return (base_ / fs::path(text)).lexically_normal();
  }

  std::int64_t integer(const toml::node& node, std::string_view form) const {
    if (const auto* i = node.as_integer()) return i->get();
    throw Invalid{"must be " + std::string(form) + ", not " + std::string(a_type(node))};
  }

  std::int64_t count(const toml::node& node, Range<std::int64_t> range) const {
    const std::int64_t n = integer(node, "an integer");
    if (n < range.min || n > range.max) throw Invalid{range_text(range.min, range.max, std::to_string(n))};
    return n;
  }

  /// An integer of bytes, or a string "16k" / "1m" / "1g".
  std::size_t size(const toml::node& node, Range<std::size_t> range) const {
    if (const auto* i = node.as_integer()) {
      if (i->get() < 0) throw Invalid{size_range_text(range, std::to_string(i->get()))};
      return check_size(static_cast<std::size_t>(i->get()), range);
    }
    if (const auto* s = node.as_string()) {
      const auto bytes = parse_size(s->get());
      if (!bytes)
        throw Invalid{"must be a size like 1024, \"16k\", \"1m\" or \"1g\", got " + in_quotes(s->get())};
      return check_size(*bytes, range);
    }
    throw Invalid{"must be a size (an integer of bytes, or a string like \"16k\"), not " +
                  std::string(a_type(node))};
  }

  /// An integer of seconds, or a string "500ms" / "10s" / "1m" / "1h" / "1d".
  milliseconds duration(const toml::node& node) const {
    if (const auto* i = node.as_integer()) {
      const std::int64_t seconds = i->get();
      const std::int64_t max_seconds = timeout_range.max.count() / 1000;
      if (seconds < 0 || seconds > max_seconds)  // before multiplying, which could overflow
        throw Invalid{"must be between " + format_duration(timeout_range.min) + " and " +
                      format_duration(timeout_range.max) + ", got " + std::to_string(seconds) + " seconds"};
      return check_timeout(std::chrono::seconds{seconds});
    }
    if (const auto* s = node.as_string()) {
      const auto d = parse_duration(s->get());
      if (!d)
        throw Invalid{"must be a duration like 10 (seconds), \"10s\", \"500ms\" or \"1m\", got " +
                      in_quotes(s->get())};
      return check_timeout(*d);
    }
    throw Invalid{"must be a duration (an integer of seconds, or a string like \"10s\"), not " +
                  std::string(a_type(node))};
  }

  /// Limits that only make sense together; reported at whichever of the two the file set.
  void check_limits_agree() const {
    const Limits& l = config_.limits;
    if (l.header_buffer > l.max_header_bytes)
      fail(position_of("limits.header_buffer", "limits.max_header_bytes"),
           "'limits.header_buffer' (" + format_size(l.header_buffer) +
               ") must not be larger than 'limits.max_header_bytes' (" + format_size(l.max_header_bytes) +
               ")");
    if (l.max_uri_bytes > l.max_header_bytes)
      fail(position_of("limits.max_uri_bytes", "limits.max_header_bytes"),
           "'limits.max_uri_bytes' (" + format_size(l.max_uri_bytes) +
               ") must not be larger than 'limits.max_header_bytes' (" + format_size(l.max_header_bytes) +
               ")");
  }

  toml::source_position position_of(std::string_view preferred, std::string_view other) const {
    for (const std::string_view name : {preferred, other})
      for (const auto& [key, at] : positions_)
        if (key == name) return at;
    return {};
  }

  const fs::path& file_;
  const fs::path base_;  // relative paths in the file resolve against its folder
  ServerConfig& config_;
  std::string current_;                                                   // dotted name of the key being read
  std::vector<std::pair<std::string, toml::source_position>> positions_;  // of every value read
};

// --- The command line -----------------------------------------------------------------------

constexpr std::string_view usage_hint = " (see --help)";

std::string flag_value(std::string_view flag, std::optional<std::string_view> inline_value, int& i, int argc,
                       const char* const* argv, std::string_view metavar) {
  std::string_view value;
  if (inline_value) {
    value = *inline_value;
  } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
    value = argv[++i];
  }
  if (value.empty())
    throw UsageError(std::string(flag) + " needs a value: " + std::string(flag) + " " + std::string(metavar) +
                     " or " + std::string(flag) + "=" + std::string(metavar));
  return std::string(value);
}

/// Runs a check on a flag's value; its Invalid becomes a UsageError naming the flag.
template <class Check>
auto checked(std::string_view flag, Check&& check) {
  try {
    return check();
  } catch (const Invalid& invalid) {
    throw UsageError(std::string(flag) + " " + invalid.text);
  }
}

unsigned parse_reactors_flag(std::string_view value) {
  const auto n = parse_digits(value);
  if (!n)
    throw UsageError("--reactors must be a whole number between " + std::to_string(reactors_range.min) +
                     " and " + std::to_string(reactors_range.max) + ", got " + in_quotes(value));
  return checked("--reactors", [&] {
    return check_reactors(
        static_cast<std::int64_t>(std::min<std::uint64_t>(*n, std::numeric_limits<std::int64_t>::max())));
  });
}

}  // namespace

// --- Public API -----------------------------------------------------------------------------

ConfigError::ConfigError(fs::path file, std::uint32_t line, std::uint32_t column, std::string message)
    : std::runtime_error(file.string() +
                         (line == 0 ? "" : ":" + std::to_string(line) + ":" + std::to_string(column)) + ": " +
                         message),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

fs::path default_config_path() {
  return fs::path(MEMPOOL_DEFAULT_CONFIG);
}

ServerConfig builtin_config(const fs::path& default_config) {
  ServerConfig config;
  config.root = (default_config.parent_path() / "www").lexically_normal();
  return config;
}

ServerConfig load_config_file(const fs::path& file, const fs::path& default_config) {
  const std::string text = read_whole_file(file);
  toml::table document;
  try {
    document = toml::parse(std::string_view{text}, std::string_view{file.native()});
  } catch (const toml::parse_error& error) {
    throw ConfigError(file, error.source().begin.line, error.source().begin.column,
                      std::string(error.description()));
  }
  ServerConfig config = builtin_config(default_config);
  FileLoader(file, config).load(document);
  config.source = fs::absolute(file).lexically_normal();
  return config;
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

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine command_line;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (!arg.starts_with("--") || arg == "--")
      throw UsageError("unexpected argument " + in_quotes(arg) + ": options start with --" +
                       std::string(usage_hint));
    const auto equals = arg.find('=');
    const std::string_view flag = arg.substr(0, equals);
    std::optional<std::string_view> inline_value;
    if (equals != std::string_view::npos) inline_value = arg.substr(equals + 1);

    if (flag == "--help" || flag == "--version") {
      if (inline_value) throw UsageError(std::string(flag) + " takes no value");
      command_line.action = flag == "--help" ? CommandLine::Action::help : CommandLine::Action::version;
      return command_line;
    }
    if (flag == "--config") {
      command_line.config = flag_value(flag, inline_value, i, argc, argv, "FILE");
    } else if (flag == "--listen") {
      const std::string value = flag_value(flag, inline_value, i, argc, argv, "HOST:PORT");
      command_line.listen = checked(flag, [&] { return check_listen(value); });
    } else if (flag == "--reactors") {
      command_line.reactors = parse_reactors_flag(flag_value(flag, inline_value, i, argc, argv, "N"));
    } else if (flag == "--root") {
      command_line.root = flag_value(flag, inline_value, i, argc, argv, "DIR");
    } else if (flag == "--access-log") {
      command_line.access_log = flag_value(flag, inline_value, i, argc, argv, "PATH|off");
    } else if (flag == "--log-level") {
      const std::string value = flag_value(flag, inline_value, i, argc, argv, "LEVEL");
      command_line.log_level = checked(flag, [&] { return check_log_level(value); });
    } else {
      throw UsageError("unknown option " + in_quotes(flag) + std::string(usage_hint));
    }
  }
  return command_line;
}

std::string help_text() {
  const ServerConfig d = builtin_config();
  const std::string listen = d.listen.host + ":" + std::to_string(d.listen.port);
  std::string text = "Usage: mempool-server [OPTIONS]\n\n";
  text += "The reference HTTP server of mempool: request-scoped memory pools for network servers.\n\n";
  text += "Options (each overrides the same setting of the config file):\n";
  text += "  --config FILE           config file to load\n";
  text += "                          (default: " + default_config_path().string() +
          " if it exists, else built-in defaults)\n";
  text += "  --listen HOST:PORT      address to listen on; [IPV6]:PORT for IPv6 (default: " + listen + ")\n";
  text += "  --reactors N            reactor threads, 0 for one per core (default: " +
          std::to_string(d.reactors) + ")\n";
  text += "  --root DIR              folder of static files (default: " + d.root.string() + ")\n";
  text += "  --access-log PATH|off   access log file (combined format), or off (default: off)\n";
  text += "  --log-level LEVEL       trace, debug, info, warn, error, critical or off (default: " +
          d.log_level + ")\n";
  text += "  -h, --help              print this help and exit\n";
  text += "  --version               print the version and exit\n\n";
  text += "Every option also takes the form --option=VALUE. Relative paths in the config file\n";
  text += "resolve against the file's folder; on the command line, against the current folder.\n";
  text += "Limits and timeouts are set in the config file; its comments list each with its default.\n\n";
  text += "Exit status: 0 after a clean stop, 2 for a bad config file or command line, 1 otherwise.\n";
  return text;
}

std::string version_text() {
  return "mempool-server " MEMPOOL_VERSION;
}

ServerConfig resolve_config(const CommandLine& command_line, const fs::path& default_config) {
  std::error_code ec;
  ServerConfig config = command_line.config ? load_config_file(*command_line.config, default_config)
                        : fs::exists(default_config, ec) ? load_config_file(default_config, default_config)
                                                         : builtin_config(default_config);
  if (command_line.listen)
    config.listen = checked("--listen", [&] { return check_listen(*command_line.listen); });
  if (command_line.reactors)
    config.reactors = checked(
        "--reactors", [&] { return check_reactors(static_cast<std::int64_t>(*command_line.reactors)); });
  if (command_line.root)
    config.root =
        checked("--root", [&] { return check_root(fs::absolute(*command_line.root).lexically_normal()); });
  if (command_line.access_log)
    config.access_log = checked(
        "--access-log", [&] { return check_access_log(*command_line.access_log, fs::current_path()); });
  if (command_line.log_level)
    config.log_level = checked("--log-level", [&] { return check_log_level(*command_line.log_level); });
  return config;
}

}  // namespace mempool::server
