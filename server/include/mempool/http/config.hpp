/// \file
/// ServerConfig: everything a Server can be told (DESIGN §4, §5), with nginx-like built-in
/// defaults, and load_config(), which reads the same from a TOML file such as
/// config/server.toml (every key is documented there).
///
/// Failure policy: load_config throws ConfigError, whose what() is "FILE:LINE:COLUMN: message"
/// (the shape compilers use, so editors jump to it), for an unreadable file, a TOML syntax error,
/// an unknown table or key, a wrong type or an out-of-range value, positioned at the offending
/// key or value. A ServerConfig filled in by code is checked when the Server uses it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mempool::http {

/// Where the server listens. `host` is an IPv4 address, a host name, or an IPv6 address
/// written without its brackets ("::1"). Port 0 picks a free port (Server::endpoint() says which).
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;

  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

/// Per-request and per-server limits, in bytes unless said otherwise. Each comment names the
/// answer the server gives when a client goes past the limit.
struct Limits {
  std::size_t header_buffer = 1024;                     // first buffer for a request head (DESIGN §5)
  std::size_t max_header_bytes = 16 * 1024;             // request line + headers: 431 (414 if the URI is)
  std::size_t max_uri_bytes = 8 * 1024;                 // request target: 414
  std::size_t max_body_bytes = 1024 * 1024;             // 413 (nginx client_max_body_size)
  std::size_t request_pool_capacity = 8 * 1024 * 1024;  // per-request pool budget: 500
  std::size_t connection_memory = 16 * 1024 * 1024;     // per-connection budget, its requests' included: 503
  std::size_t max_connections = 10000;                  // connections, whole server: refuse/503
  std::uint32_t keepalive_requests = 1000;              // requests per connection (nginx keepalive_requests)
  std::size_t linger_bytes = 8 * 1024 * 1024;           // discarded at most in a lingering close

  friend bool operator==(const Limits&, const Limits&) = default;
};

/// Timeouts; when one fires the server answers 408 or closes the connection (DESIGN §4, §5).
struct Timeouts {
  using seconds = std::chrono::seconds;
  std::chrono::milliseconds header{seconds{10}};          // to receive a whole request head
  std::chrono::milliseconds body{seconds{30}};            // between two reads of a request body
  std::chrono::milliseconds idle{seconds{75}};            // keep-alive wait for the next request
  std::chrono::milliseconds send{seconds{60}};            // between two successful writes
  std::chrono::milliseconds linger{seconds{5}};           // lingering close: reading and discarding, in all
  std::chrono::milliseconds shutdown_grace{seconds{10}};  // graceful stop: in-flight requests may finish

  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

/// [open_file_cache]: nginx's open_file_cache, one cache per reactor and static root. A reload
/// keeps the cache of a root it keeps (warm, with its settings); a new root gets these.
struct OpenFileCacheConfig {
  using seconds = std::chrono::seconds;
  std::size_t max_entries = 1000;                   // descriptors kept open at most (nginx max=)
  std::chrono::milliseconds valid{seconds{60}};     // trusted without a stat (open_file_cache_valid)
  std::chrono::milliseconds inactive{seconds{60}};  // closed after going unused this long (inactive=)

  friend bool operator==(const OpenFileCacheConfig&, const OpenFileCacheConfig&) = default;
};

/// The access log's line format (access_log.hpp in the server shows both).
enum class AccessLogFormat : std::uint8_t {
  combined,  // "combined": nginx's combined format
  json,      // "json": one JSON object per line
};

/// The built-in handlers a config can mount (builtin.hpp), by the names [routes] uses.
enum class Builtin : std::uint8_t {
  hello,         // "hello"
  echo,          // "echo"
  static_files,  // "static": the files beneath ServerConfig::root
  stats,         // "stats"
  metrics,       // "metrics"
  dashboard,     // "dashboard"
  chart_js,      // "chart.js": the file AdminConfig::chart_js names
};

/// Its name in [routes]; builtin_from_name() reads it back (nullopt for an unknown name).
std::string_view builtin_name(Builtin builtin) noexcept;
std::optional<Builtin> builtin_from_name(std::string_view name) noexcept;

/// One route: a path and the built-in that serves it. A path ending in '/' is a prefix route
/// (that path and everything beneath it; the longest prefix wins), any other an exact one.
struct RouteConfig {
  std::string path;
  Builtin handler;

  bool prefix() const noexcept { return path.ends_with('/'); }
  friend bool operator==(const RouteConfig&, const RouteConfig&) = default;
};

/// mempool-server's public layout: /hello, /echo, and the static files under /. (/stats and
/// /metrics are on the admin listener; a [routes] table may mount them here too.)
std::vector<RouteConfig> default_routes();

/// The admin listener's layout: /stats, /metrics, /dashboard and /dashboard/chart.js.
std::vector<RouteConfig> default_admin_routes();

/// The admin listener (DESIGN §4): the figures, apart from the public address, loopback by
/// default. Served by reactor 0, on its own socket, with its own routes; its connections count
/// against no public limit but get one connection slot each from a small reserve.
struct AdminConfig {
  /// nullopt: off. The library's default is off (an embedded server binds only what it is told);
  /// mempool-server's built-in default is 127.0.0.1:9090 (command_line.hpp).
  std::optional<ListenAddress> listen;
  std::vector<RouteConfig> routes = default_admin_routes();
  /// The Chart.js file the dashboard loads (Debian's libjs-chart.js).
  std::filesystem::path chart_js = "/usr/share/javascript/chart.js/chart.min.js";

  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

struct ServerConfig {
  ListenAddress listen;
  unsigned reactors = 0;                            // 0: one per core (std::thread::hardware_concurrency)
  unsigned workers = 0;                             // worker processes (run_workers, workers.hpp); 0: none
  std::filesystem::path root;                       // static files ("static" routes); empty: none
  std::optional<std::filesystem::path> access_log;  // nullopt: off
  AccessLogFormat access_log_format = AccessLogFormat::combined;
  std::optional<std::filesystem::path> error_log;   // nullopt: stderr
  std::string log_level = "info";                   // trace|debug|info|warn|error|critical|off
  std::string server_name = "mempool";              // the Server header
  std::size_t ring_buffer_bytes = 1 << 20;          // per-reactor read ring
  Limits limits;
  Timeouts timeouts;
  OpenFileCacheConfig open_file_cache;
  std::vector<RouteConfig> routes = default_routes();  // what Server(config) mounts
  AdminConfig admin;                                // [admin]: the stats listener
  std::filesystem::path source;                     // the file it was loaded from (empty: built-in defaults)
};

/// The reactor threads a Server runs for `config`: config.reactors, or one per core for 0.
unsigned reactor_count(const ServerConfig& config) noexcept;

/// A config file that cannot be read or is wrong. what() is "FILE:LINE:COLUMN: message", or
/// "FILE: message" when the error has no position in the file (it could not be read: line and
/// column are then 0). Lines and columns count from 1, as toml++ and editors do.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::filesystem::path file, std::uint32_t line, std::uint32_t column, std::string message);

  const std::filesystem::path& file() const noexcept { return file_; }
  std::uint32_t line() const noexcept { return line_; }      // 0: the file as a whole
  std::uint32_t column() const noexcept { return column_; }  // 0: the file as a whole
  const std::string& message() const noexcept { return message_; }

 private:
  std::filesystem::path file_;
  std::uint32_t line_;
  std::uint32_t column_;
  std::string message_;
};

/// Reads a TOML config over `defaults`: what the file says replaces the default, the rest stays.
/// Relative `root` and `access_log` resolve against the file's folder; a `root` the file names
/// must be an existing directory. A [routes] table replaces the default routes as a whole.
/// Throws ConfigError (see the file comment).
ServerConfig load_config(const std::filesystem::path& file, const ServerConfig& defaults);
/// The same over the built-in defaults, ServerConfig{}.
ServerConfig load_config(const std::filesystem::path& file);

}  // namespace mempool::http
