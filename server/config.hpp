/// \file
/// ServerConfig: everything mempool-server can be told, where it comes from and how it fails
/// (DESIGN §4, §5). Built-in defaults, overridden by a TOML file (config/server.toml unless
/// --config names another), overridden in turn by command-line flags.
///
/// Failure policy: every loader throws. A bad file throws ConfigError (file, line, column);
/// a bad command line or flag value throws UsageError (naming the flag). main() prints what()
/// on stderr and exits with exit_code_for(e) == exit_usage (2).
///
/// Knows nothing of Asio or spdlog: the values are checked here, used elsewhere.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mempool::server {

/// Where the server listens. `host` is an IPv4 address, a host name, or an IPv6 address
/// written without its brackets ("::1"); resolving it is the acceptor's job.
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
  std::size_t max_connections = 10000;                  // connections, whole server: refuse/503
  std::uint32_t keepalive_requests = 1000;              // requests per connection (nginx keepalive_requests)

  friend bool operator==(const Limits&, const Limits&) = default;
};

/// Timeouts; when one fires the server answers 408 or closes the connection (DESIGN §4, §5).
struct Timeouts {
  using seconds = std::chrono::seconds;
  std::chrono::milliseconds header{seconds{10}};          // to receive a whole request head
  std::chrono::milliseconds body{seconds{30}};            // between two reads of a request body
  std::chrono::milliseconds idle{seconds{75}};            // keep-alive wait for the next request
  std::chrono::milliseconds send{seconds{60}};            // between two successful writes
  std::chrono::milliseconds shutdown_grace{seconds{10}};  // SIGINT/SIGTERM: in-flight requests may finish

  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct ServerConfig {
  ListenAddress listen;
  unsigned reactors = 0;                            // 0: one per core (std::thread::hardware_concurrency)
  std::filesystem::path root;                       // static files; default: the demo root config/www
  std::optional<std::filesystem::path> access_log;  // nullopt: off
  std::string log_level = "info";                   // trace|debug|info|warn|error|critical|off
  std::string server_name = "mempool";              // the Server header
  std::size_t ring_buffer_bytes = 1 << 20;          // per-reactor read ring
  Limits limits;
  Timeouts timeouts;
  std::filesystem::path source;                     // the file it was loaded from (empty: built-in defaults)
};

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

/// A command line that cannot be used: unknown flag, missing value, bad value. what() names
/// the flag ("--reactors must be between 0 and 1024, got 5000").
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --- Defaults and the config file ---------------------------------------------------------

/// MEMPOOL_DEFAULT_CONFIG: config/server.toml in the source tree.
std::filesystem::path default_config_path();

/// The built-in defaults, with `root` = the demo root beside `default_config` (`<dir>/www`).
ServerConfig builtin_config(const std::filesystem::path& default_config = default_config_path());

/// Loads a TOML config over the built-in defaults. Relative `root` and `access_log` resolve
/// against the file's folder; an explicit `root` must be an existing directory. Throws
/// ConfigError for an unreadable file, a TOML syntax error, an unknown table or key, a wrong
/// type or an out-of-range value, positioned at the offending key or value.
ServerConfig load_config_file(const std::filesystem::path& file,
                              const std::filesystem::path& default_config = default_config_path());

// --- Value syntaxes shared by the file and the flags (nullopt: not of that form) ------------

/// Bytes: "1024", "16k", "1m", "1g" (suffix case-insensitive, 1k = 1024), like nginx.
std::optional<std::size_t> parse_size(std::string_view text) noexcept;
/// "500ms", "10s", "1m", "2h", "1d"; bare digits are seconds, like nginx.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;
/// "HOST:PORT" or "[IPV6]:PORT", port 1..65535.
std::optional<ListenAddress> parse_listen(std::string_view text) noexcept;

// --- The command line ---------------------------------------------------------------------

struct CommandLine {
  enum class Action { run, help, version };
  Action action = Action::run;
  std::optional<std::filesystem::path> config;  // --config FILE
  std::optional<ListenAddress> listen;          // --listen HOST:PORT
  std::optional<unsigned> reactors;             // --reactors N
  std::optional<std::filesystem::path> root;    // --root DIR
  std::optional<std::string> access_log;        // --access-log PATH|off ("off" kept as is)
  std::optional<std::string> log_level;         // --log-level LEVEL
};

/// Accepts "--flag value" and "--flag=value"; a repeated flag's last value wins. --help (-h)
/// and --version end parsing where they stand. Checks each value's form and range (a --root
/// that is not a directory is found by resolve_config). Throws UsageError.
CommandLine parse_command_line(int argc, const char* const* argv);

/// Usage, every flag with its default, and where the default config lives.
std::string help_text();
/// "mempool-server VERSION".
std::string version_text();

/// The config the server runs with: `--config FILE` if given, else `default_config` if it
/// exists, else builtin_config(default_config); then the flags on top. Throws ConfigError for
/// the file, UsageError for a flag (e.g. --root that is not a directory).
ServerConfig resolve_config(const CommandLine& command_line,
                            const std::filesystem::path& default_config = default_config_path());

// --- The exit-code contract for main() ----------------------------------------------------

inline constexpr int exit_success = 0;  // ran and stopped cleanly; --help, --version
inline constexpr int exit_failure = 1;  // failed while running
inline constexpr int exit_usage = 2;    // ConfigError or UsageError: fix the file or the flags

/// exit_usage for ConfigError and UsageError, exit_failure for anything else.
inline int exit_code_for(const std::exception& error) noexcept {
  const bool usage = dynamic_cast<const ConfigError*>(&error) != nullptr ||
                     dynamic_cast<const UsageError*>(&error) != nullptr;
  return usage ? exit_usage : exit_failure;
}

}  // namespace mempool::server
