// load_config: a TOML file read into a ServerConfig over given defaults (DESIGN §4, §5). Every
// value goes through the checks of value_syntax.hpp; an error names the file, line and column.
#include <mempool/http/config.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "value_syntax.hpp"

namespace mempool::http {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using namespace mempool::server;

constexpr std::array<std::pair<Builtin, std::string_view>, 7> builtin_names{{
    {Builtin::hello, "hello"},
    {Builtin::echo, "echo"},
    {Builtin::static_files, "static"},
    {Builtin::stats, "stats"},
    {Builtin::metrics, "metrics"},
    {Builtin::dashboard, "dashboard"},
    {Builtin::chart_js, "chart.js"},
}};

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
        {"connection_memory",
         [&](const toml::node& n) { c.limits.connection_memory = size(n, connection_memory_range); }},
        {"max_connections",
         [&](const toml::node& n) {
           c.limits.max_connections = static_cast<std::size_t>(count(n, max_connections_range));
         }},
        {"keepalive_requests",
         [&](const toml::node& n) {
           c.limits.keepalive_requests = static_cast<std::uint32_t>(count(n, keepalive_requests_range));
         }},
        {"linger_bytes", [&](const toml::node& n) { c.limits.linger_bytes = size(n, linger_bytes_range); }},
    };
    const Entry timeouts[] = {
        {"header", [&](const toml::node& n) { c.timeouts.header = duration(n); }},
        {"body", [&](const toml::node& n) { c.timeouts.body = duration(n); }},
        {"idle", [&](const toml::node& n) { c.timeouts.idle = duration(n); }},
        {"send", [&](const toml::node& n) { c.timeouts.send = duration(n); }},
        {"linger", [&](const toml::node& n) { c.timeouts.linger = duration(n); }},
        {"shutdown_grace", [&](const toml::node& n) { c.timeouts.shutdown_grace = duration(n); }},
    };
    const Entry open_file_cache[] = {
        {"max_entries",
         [&](const toml::node& n) {
           c.open_file_cache.max_entries = static_cast<std::size_t>(count(n, open_file_cache_entries_range));
         }},
        {"valid", [&](const toml::node& n) { c.open_file_cache.valid = duration(n); }},
        {"inactive", [&](const toml::node& n) { c.open_file_cache.inactive = duration(n); }},
    };
    const Entry admin[] = {
        {"listen",
         [&](const toml::node& n) { c.admin.listen = check_admin_listen(string(n, admin_listen_form)); }},
        {"chart_js", [&](const toml::node& n) { c.admin.chart_js = path(n, "a file path"); }},
    };
    const Entry top[] = {
        {"listen", [&](const toml::node& n) { c.listen = check_listen(string(n, listen_form)); }},
        {"reactors", [&](const toml::node& n) { c.reactors = check_reactors(integer(n, "an integer")); }},
        {"workers", [&](const toml::node& n) { c.workers = check_workers(integer(n, "an integer")); }},
        {"root", [&](const toml::node& n) { c.root = check_root(path(n, "a directory path")); }},
        {"access_log",
         [&](const toml::node& n) {
           c.access_log = check_access_log(string(n, "a file path or \"off\""), base_);
         }},
        {"access_log_format",
         [&](const toml::node& n) { c.access_log_format = check_access_log_format(string(n)); }},
        {"error_log",
         [&](const toml::node& n) {
           c.error_log = check_error_log(string(n, "a file path or \"stderr\""), base_);
         }},
        {"log_level", [&](const toml::node& n) { c.log_level = check_log_level(string(n)); }},
        {"server_name", [&](const toml::node& n) { c.server_name = check_server_name(string(n)); }},
        {"ring_buffer", [&](const toml::node& n) { c.ring_buffer_bytes = size(n, ring_buffer_range); }},
        {"limits", [&](const toml::node& n) { visit(table(n), "limits", limits); }},
        {"timeouts", [&](const toml::node& n) { visit(table(n), "timeouts", timeouts); }},
        {"open_file_cache", [&](const toml::node& n) { visit(table(n), "open_file_cache", open_file_cache); }},
        {"routes", [&](const toml::node& n) { c.routes = routes(table(n)); }},
        {"admin", [&](const toml::node& n) { visit(table(n), "admin", admin); }},
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

  using Item = std::pair<const toml::key*, const toml::node*>;

  /// The keys of `table` in the order the file has them (toml++ keeps them sorted by name).
  static std::vector<Item> in_file_order(const toml::table& table) {
    std::vector<Item> items;
    for (auto&& [key, node] : table) items.emplace_back(&key, &node);
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
    });
    return items;
  }

  /// Reads every key of `table` with its entry; a key without one is an error at the key.
  void visit(const toml::table& table, std::string_view table_name, std::span<const Entry> entries) {
    for (const auto& [key, node] : in_file_order(table)) {
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

  /// [routes]: "PATH" = "BUILTIN", in the file's order. A bad path is reported at the key, a
  /// bad name at the value.
  std::vector<RouteConfig> routes(const toml::table& table) const {
    std::vector<RouteConfig> out;
    for (const auto& [key, node] : in_file_order(table)) {
      RouteConfig route{};
      try {
        route.path = check_route_path(key->str());
      } catch (const Invalid& invalid) {
        fail(key->source().begin, "a route in [routes] " + invalid.text);
      }
      try {
        route.handler = check_builtin(string(*node, "the name of a built-in handler"));
      } catch (const Invalid& invalid) {
        fail(node->source().begin, "route " + in_quotes(route.path) + " " + invalid.text);
      }
      out.push_back(std::move(route));
    }
    return out;
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

  /// Settings that only make sense together; reported at whichever of the two the file set.
  void check_limits_agree() const {
    if (const auto d = find_disagreement(config_)) fail(position_of(d->key, d->other), d->message);
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

}  // namespace

namespace {

// "FILE:LINE:COLUMN: message", or "FILE: message" (appended piece by piece: GCC 12 warns falsely
// about a chain of std::string operator+ here).
std::string located(const fs::path& file, std::uint32_t line, std::uint32_t column, const std::string& message) {
  std::string text = file.string();
  if (line != 0) {
    text += ':';
    text += std::to_string(line);
    text += ':';
    text += std::to_string(column);
  }
  text += ": ";
  text += message;
  return text;
}

}  // namespace

ConfigError::ConfigError(fs::path file, std::uint32_t line, std::uint32_t column, std::string message)
    : std::runtime_error(located(file, line, column, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

std::string_view builtin_name(Builtin builtin) noexcept {
  for (const auto& [b, name] : builtin_names)
    if (b == builtin) return name;
  return "?";
}

std::optional<Builtin> builtin_from_name(std::string_view name) noexcept {
  for (const auto& [b, n] : builtin_names)
    if (n == name) return b;
  return std::nullopt;
}

unsigned reactor_count(const ServerConfig& config) noexcept {
  if (config.reactors != 0) return config.reactors;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::vector<RouteConfig> default_routes() {
  return {{"/hello", Builtin::hello},
          {"/echo", Builtin::echo},
          {"/", Builtin::static_files}};
}

std::vector<RouteConfig> default_admin_routes() {
  return {{"/stats", Builtin::stats},
          {"/metrics", Builtin::metrics},
          {"/dashboard", Builtin::dashboard},
          {"/dashboard/chart.js", Builtin::chart_js}};
}

ServerConfig load_config(const fs::path& file) {
  const ServerConfig defaults;
  return load_config(file, defaults);
}

ServerConfig load_config(const fs::path& file, const ServerConfig& defaults) {
  const std::string text = read_whole_file(file);
  toml::table document;
  try {
    document = toml::parse(std::string_view{text}, std::string_view{file.native()});
  } catch (const toml::parse_error& error) {
    throw ConfigError(file, error.source().begin.line, error.source().begin.column,
                      std::string(error.description()));
  }
  ServerConfig config = defaults;
  FileLoader(file, config).load(document);
  config.source = fs::absolute(file).lexically_normal();
  return config;
}

}  // namespace mempool::http
