// ServerConfig: the default file, the TOML loader and its errors (file, line, column), the value
// syntaxes, [routes], and mempool-server's command line with its overrides (DESIGN §4, §5).
#include <mempool/http/config.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.hpp"
#include "support/temp_dir.hpp"
#include "value_syntax.hpp"

using namespace mempool::server;
using mempool::http::default_routes;
using mempool::http::RouteConfig;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A config folder per test: "mempool-config-test-XXXXXX".
struct TempDir : mempool::test::TempDir {
  TempDir() : mempool::test::TempDir("mempool-config-test") {}
};

/// What mempool-server does with a file: load it over its built-in defaults.
ServerConfig load_config_file(const fs::path& file) { return mempool::http::load_config(file, builtin_config()); }

/// The ConfigError that loading `file` throws; fails the test if it loads.
ConfigError load_error(const fs::path& file) {
  try {
    (void)load_config_file(file);
  } catch (const ConfigError& error) {
    return error;
  }
  FAIL("expected a ConfigError from " << file);
  throw std::logic_error("unreachable");
}

/// The ConfigError for a config whose whole text is `text`.
ConfigError text_error(const TempDir& dir, std::string_view text) {
  const fs::path file = dir.write("server.toml", text);
  INFO("config:\n" << text);
  return load_error(file);
}

ServerConfig load_text(const TempDir& dir, std::string_view text) {
  INFO("config:\n" << text);
  return load_config_file(dir.write("server.toml", text));
}

/// Checks the error's position and message, and that what() is "FILE:LINE:COLUMN: message".
void check_error(const ConfigError& error, const fs::path& file, std::uint32_t line, std::uint32_t column,
                 std::string_view message) {
  CHECK(error.file() == file);
  CHECK(error.line() == line);
  CHECK(error.column() == column);
  CHECK(error.message() == message);
  CHECK(std::string(error.what()) == file.string() + ":" + std::to_string(line) + ":" +
                                         std::to_string(column) + ": " + std::string(message));
}

CommandLine parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"mempool-server"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

/// The message of the UsageError that parsing `args` throws.
std::string usage_error(std::initializer_list<const char*> args) {
  try {
    (void)parse(args);
  } catch (const UsageError& error) {
    return error.what();
  }
  FAIL("expected a UsageError");
  return {};
}

const std::string top_keys =
    "listen, reactors, workers, root, access_log, access_log_format, error_log, log_level, server_name, ring_buffer, "
    "limits, timeouts, open_file_cache, routes, admin";
const std::string limits_keys =
    "header_buffer, max_header_bytes, max_uri_bytes, max_body_bytes, request_pool_capacity, connection_memory, "
    "max_connections, "
    "keepalive_requests, linger_bytes";

const fs::path shipped_config = MEMPOOL_SOURCE_CONFIG;  // config/server.toml in the source tree

}  // namespace

// --- The shipped config ---------------------------------------------------------------------

// The issue promises listen 127.0.0.1:8080 and the demo root with no flags at all.
TEST_CASE("the shipped config/server.toml loads with the documented defaults") {
  const ServerConfig config = load_config_file(shipped_config);
  CHECK(config.listen == ListenAddress{"127.0.0.1", 8080});
  CHECK(config.reactors == 0);
  CHECK(config.root == shipped_config.parent_path() / "www");
  CHECK_FALSE(config.access_log.has_value());
  CHECK(config.log_level == "info");
  CHECK(config.server_name == "mempool");
  CHECK(config.ring_buffer_bytes == 1024 * 1024);
  CHECK(config.limits.header_buffer == 1024);
  CHECK(config.limits.max_header_bytes == 16 * 1024);
  CHECK(config.limits.max_uri_bytes == 8 * 1024);
  CHECK(config.limits.max_body_bytes == 1024 * 1024);
  CHECK(config.limits.request_pool_capacity == 8 * 1024 * 1024);
  CHECK(config.limits.connection_memory == 16 * 1024 * 1024);
  CHECK(config.limits.max_connections == 10000);
  CHECK(config.limits.keepalive_requests == 1000);
  CHECK(config.limits.linger_bytes == 8 * 1024 * 1024);
  CHECK(config.timeouts.header == 10s);
  CHECK(config.timeouts.body == 30s);
  CHECK(config.timeouts.idle == 75s);
  CHECK(config.timeouts.send == 60s);
  CHECK(config.timeouts.linger == 5s);
  CHECK(config.timeouts.shutdown_grace == 10s);
  CHECK(config.open_file_cache.max_entries == 1000);
  CHECK(config.open_file_cache.valid == 60s);
  CHECK(config.open_file_cache.inactive == 60s);
  CHECK(config.routes == default_routes());
  CHECK(config.source == shipped_config);
}

// The file documents the defaults; if it drifted from the code, deleting a line would change
// behaviour, which its header promises it does not.
TEST_CASE("the shipped config equals the built-in defaults") {
  const ServerConfig file = load_config_file(shipped_config);
  const ServerConfig builtin = builtin_config(shipped_config);
  CHECK(file.listen == builtin.listen);
  CHECK(file.reactors == builtin.reactors);
  CHECK(file.root == builtin.root);
  CHECK(file.access_log == builtin.access_log);
  CHECK(file.log_level == builtin.log_level);
  CHECK(file.server_name == builtin.server_name);
  CHECK(file.ring_buffer_bytes == builtin.ring_buffer_bytes);
  CHECK(file.limits == builtin.limits);
  CHECK(file.timeouts == builtin.timeouts);
  CHECK(file.open_file_cache == builtin.open_file_cache);
  CHECK(file.routes == builtin.routes);
  CHECK(file.admin == builtin.admin);
  CHECK(file.access_log_format == builtin.access_log_format);
  CHECK(file.error_log == builtin.error_log);
  CHECK(builtin.source.empty());
}

// The index page links to the demo paths; the static-file tests rely on these files existing.
TEST_CASE("the demo root ships an index page, a stylesheet, a text file and an example folder") {
  const fs::path root = shipped_config.parent_path() / "www";
  CHECK(fs::is_regular_file(root / "index.html"));
  CHECK(fs::is_regular_file(root / "style.css"));
  CHECK(fs::is_regular_file(root / "hello.txt"));
  CHECK(fs::is_regular_file(root / "example" / "index.html"));
}

// Every key is optional: a file only has to say what differs.
TEST_CASE("an empty config file gives the built-in defaults and records its source") {
  TempDir dir;
  const ServerConfig config = load_text(dir, "# nothing to change\n");
  const ServerConfig builtin = builtin_config();
  CHECK(config.listen == builtin.listen);
  CHECK(config.root == builtin.root);
  CHECK(config.limits == builtin.limits);
  CHECK(config.timeouts == builtin.timeouts);
  CHECK(config.source == dir.path() / "server.toml");
}

// Each key must land in its own field, not a neighbour's.
TEST_CASE("a config file sets every key to its own field") {
  TempDir dir;
  dir.mkdir("site");
  const ServerConfig config = load_text(dir, R"(
listen = "0.0.0.0:9090"
reactors = 3
root = "site"
access_log = "access.log"
log_level = "debug"
server_name = "test-server/1.0"
ring_buffer = "2m"

[limits]
header_buffer = "2k"
max_header_bytes = "32k"
max_uri_bytes = "4k"
max_body_bytes = "10m"
request_pool_capacity = "16m"
max_connections = 500
keepalive_requests = 50

[timeouts]
header = "5s"
body = "20s"
idle = "1m"
send = 45
shutdown_grace = "1500ms"

[open_file_cache]
max_entries = 64
valid = "5s"
inactive = "20s"
)");
  CHECK(config.listen == ListenAddress{"0.0.0.0", 9090});
  CHECK(config.reactors == 3);
  CHECK(config.root == dir.path() / "site");
  CHECK(config.access_log == dir.path() / "access.log");
  CHECK(config.log_level == "debug");
  CHECK(config.server_name == "test-server/1.0");
  CHECK(config.ring_buffer_bytes == 2 * 1024 * 1024);
  CHECK(config.limits.header_buffer == 2 * 1024);
  CHECK(config.limits.max_header_bytes == 32 * 1024);
  CHECK(config.limits.max_uri_bytes == 4 * 1024);
  CHECK(config.limits.max_body_bytes == 10 * 1024 * 1024);
  CHECK(config.limits.request_pool_capacity == 16 * 1024 * 1024);
  CHECK(config.limits.max_connections == 500);
  CHECK(config.limits.keepalive_requests == 50);
  CHECK(config.timeouts.header == 5s);
  CHECK(config.timeouts.body == 20s);
  CHECK(config.timeouts.idle == 1min);
  CHECK(config.timeouts.send == 45s);
  CHECK(config.timeouts.shutdown_grace == 1500ms);
  CHECK(config.open_file_cache.max_entries == 64);
  CHECK(config.open_file_cache.valid == 5s);
  CHECK(config.open_file_cache.inactive == 20s);
}

// TOML allows `limits = { ... }` and dotted keys for the same table; both must work.
TEST_CASE("an inline table and dotted keys work like a [table] section") {
  TempDir dir;
  const ServerConfig config =
      load_text(dir, "limits = { max_body_bytes = \"2m\" }\ntimeouts.idle = \"5s\"\n");
  CHECK(config.limits.max_body_bytes == 2 * 1024 * 1024);
  CHECK(config.timeouts.idle == 5s);
}

// --- Errors: the file as a whole -------------------------------------------------------------

// A missing file has no line: the error says so with 0:0 and what() drops the position.
TEST_CASE("a missing config file is an error naming the file, with line and column 0") {
  TempDir dir;
  const fs::path file = dir.path() / "nope.toml";
  const ConfigError error = load_error(file);
  CHECK(error.file() == file);
  CHECK(error.line() == 0);
  CHECK(error.column() == 0);
  CHECK(std::string(error.what()) == file.string() + ": cannot read config file: No such file or directory");
}

// A folder opens on Linux but cannot be read; it must not pass as an empty config.
TEST_CASE("a folder given as the config file is an error naming it") {
  TempDir dir;
  const ConfigError error = load_error(dir.path());
  CHECK(error.line() == 0);
  CHECK(std::string(error.what()) == dir.path().string() + ": cannot read config file: it is a directory");
}

// An unreadable file must fail with the OS's reason, not as an empty config.
TEST_CASE("an unreadable config file is an error with the OS's reason") {
  if (geteuid() == 0) {  // root reads anything; nothing to observe
    WARN("skipped: running as root");
    return;
  }
  TempDir dir;
  const fs::path file = dir.write("server.toml", "reactors = 1\n");
  fs::permissions(file, fs::perms::none);
  const ConfigError error = load_error(file);
  CHECK(std::string(error.what()) == file.string() + ": cannot read config file: Permission denied");
}

// The position of a syntax error comes from toml++'s parse_error, 1-based like an editor's.
TEST_CASE("a TOML syntax error names the file, line and column") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "listen = \"127.0.0.1:8080\"\nreactors = \n"), file, 2, 12,
              "Error while parsing key-value pair: expected value, saw '\\n'");
  check_error(text_error(dir, "[limits]\n  max_body_bytes = \"1m\" 2\n"), file, 2, 25,
              "Error while parsing key-value pair: expected a comment or whitespace, saw '2'");
  check_error(text_error(dir, "reactors = 1\n\n  [  timeouts\n"), file, 3, 14,
              "Error while parsing table header: expected ']', saw '\\n'");
}

// TOML forbids defining a key twice; the error points at the second definition.
TEST_CASE("a key defined twice is a syntax error at the second definition") {
  TempDir dir;
  check_error(text_error(dir, "reactors = 1\nreactors = 2\n"), dir.path() / "server.toml", 2, 12,
              "Error while parsing key-value pair: cannot redefine existing integer 'reactors'");
}

// --- Errors: keys, types, values -------------------------------------------------------------

// Unknown keys are errors, not ignored: a typo must not silently keep a default.
TEST_CASE("an unknown top-level key is reported at the key") {
  TempDir dir;
  check_error(text_error(dir, "reactors = 2\n  colour = 3\n"), dir.path() / "server.toml", 2, 3,
              "unknown key 'colour' (known: " + top_keys + ")");
}

// Inside a table the message names the table, so "max_body" in [timeouts] is found at once.
TEST_CASE("an unknown key inside [limits] is reported at the key, naming the table") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nmax_body_bytes = \"2m\"\n    max_body = \"2m\"\n"),
              dir.path() / "server.toml", 3, 5,
              "unknown key 'max_body' in [limits] (known: " + limits_keys + ")");
}

// A dotted key at the top level belongs to its table and is reported as such, at the key.
TEST_CASE("an unknown dotted key is reported inside its table") {
  TempDir dir;
  check_error(text_error(dir, "limits.bogus = 1\n"), dir.path() / "server.toml", 1, 8,
              "unknown key 'bogus' in [limits] (known: " + limits_keys + ")");
}

// Unknown tables point at the name inside the header, where the typo is.
TEST_CASE("an unknown table is reported at its header") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "reactors = 1\n\n[limit]\nmax_body_bytes = 1\n"), file, 3, 2,
              "unknown table [limit] (known: " + top_keys + ")");
  check_error(text_error(dir, "[limits.extra]\nx = 1\n"), file, 1, 9,
              "unknown table [limits.extra] (known: " + limits_keys + ")");
}

// A wrong type points at the value and says what was expected and what was found.
TEST_CASE("a value of the wrong type is reported at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "reactors = \"4\"\n"), file, 1, 12,
              "'reactors' must be an integer, not a string");
  check_error(text_error(dir, "log_level = 3\n"), file, 1, 13,
              "'log_level' must be a string, not an integer");
  check_error(
      text_error(dir, "[timeouts]\nidle = 1.5\n"), file, 2, 8,
      "'timeouts.idle' must be a duration (an integer of seconds, or a string like \"10s\"), not a float");
  check_error(text_error(dir, "limits = 5\n"), file, 1, 10, "'limits' must be a table, not an integer");
  check_error(text_error(dir, "[listen]\nhost = \"x\"\n"), file, 1, 1,
              "'listen' must be a string (HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to "
              "65535), not a table");
}

// A value of the right type but out of range points at the value and gives the range.
TEST_CASE("an out-of-range value is reported at the value with the allowed range") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "reactors = 5000\n"), file, 1, 12,
              "'reactors' must be between 0 and 1024, got 5000");
  check_error(text_error(dir, "reactors = -1\n"), file, 1, 12,
              "'reactors' must be between 0 and 1024, got -1");
  check_error(text_error(dir, "[limits]\nkeepalive_requests = 0\n"), file, 2, 22,
              "'limits.keepalive_requests' must be between 1 and 4294967295, got 0");
  check_error(text_error(dir, "[limits]\nmax_connections = 10000001\n"), file, 2, 19,
              "'limits.max_connections' must be between 1 and 10000000, got 10000001");
}

// "listen" is the one compound string; every malformed shape must point at it.
TEST_CASE("a listen value that is not HOST:PORT is reported at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  for (const char* bad :
       {"localhost", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", ":8080", "::1:8080", "[::1]8080",
        "[::1]:", "[]:80", "[host]:80", "a b:80", "host:80x", "host:-80", "host:+80"}) {
    INFO(bad);
    check_error(
        text_error(dir, std::string("\nlisten = \"") + bad + "\"\n"), file, 2, 10,
        "'listen' must be HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to 65535, got \"" +
            std::string(bad) + "\"");
  }
}

// IPv4, host names and bracketed IPv6 are the forms a user of nginx would write.
TEST_CASE("listen accepts IPv4, host names and bracketed IPv6, ports 1 to 65535") {
  CHECK(parse_listen("127.0.0.1:8080") == ListenAddress{"127.0.0.1", 8080});
  CHECK(parse_listen("0.0.0.0:1") == ListenAddress{"0.0.0.0", 1});
  CHECK(parse_listen("localhost:65535") == ListenAddress{"localhost", 65535});
  CHECK(parse_listen("my-host.example_1.org:80") == ListenAddress{"my-host.example_1.org", 80});
  CHECK(parse_listen("[::1]:8080") == ListenAddress{"::1", 8080});
  CHECK(parse_listen("[::]:443") == ListenAddress{"::", 443});
  CHECK(parse_listen("[::ffff:127.0.0.1]:80") == ListenAddress{"::ffff:127.0.0.1", 80});
  TempDir dir;
  CHECK(load_text(dir, "listen = \"[::1]:9000\"\n").listen == ListenAddress{"::1", 9000});
}

// The first error in the file is reported, whatever order the keys sort in.
TEST_CASE("the first error in file order is the one reported") {
  TempDir dir;
  const ConfigError error = text_error(dir, "server_name = \"\"\nlisten = \"nope\"\n");
  CHECK(error.line() == 1);
  CHECK(error.column() == 15);
}

// --- Sizes ------------------------------------------------------------------------------------

// Sizes read like nginx's: bytes, or k/m/g (powers of 1024), either case.
TEST_CASE("parse_size accepts bytes and k, m, g suffixes in either case") {
  CHECK(parse_size("0") == std::size_t{0});
  CHECK(parse_size("1024") == std::size_t{1024});
  CHECK(parse_size("16k") == std::size_t{16 * 1024});
  CHECK(parse_size("16K") == std::size_t{16 * 1024});
  CHECK(parse_size("1m") == std::size_t{1024 * 1024});
  CHECK(parse_size("3M") == std::size_t{3 * 1024 * 1024});
  CHECK(parse_size("2g") == std::size_t{2} * 1024 * 1024 * 1024);
  CHECK(parse_size("1G") == std::size_t{1024} * 1024 * 1024);
  CHECK(parse_size("007k") == std::size_t{7 * 1024});
}

// Anything else is not a size: no fractions, signs, spaces, other units, or overflow.
TEST_CASE("parse_size rejects fractions, signs, spaces, other units and overflow") {
  for (const char* bad : {"", "k", "-1", "+1", "1.5k", "16kb", "16 k", " 16k", "16k ", "1t", "1e3", "0x10",
                          "one", "18446744073709551616", "17179869184g"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

// In the file a size is an integer of bytes or a suffixed string; both reach the same field.
TEST_CASE("a size in the file may be an integer or a suffixed string") {
  TempDir dir;
  CHECK(load_text(dir, "[limits]\nmax_body_bytes = 2048\n").limits.max_body_bytes == 2048);
  CHECK(load_text(dir, "[limits]\nmax_body_bytes = \"2048\"\n").limits.max_body_bytes == 2048);
  CHECK(load_text(dir, "[limits]\nmax_body_bytes = \"2k\"\n").limits.max_body_bytes == 2048);
  CHECK(load_text(dir, "ring_buffer = 65536\n").ring_buffer_bytes == 65536);
}

// A malformed or mistyped size points at the value and shows the accepted forms.
TEST_CASE("a malformed or mistyped size in the file is reported at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "[limits]\nmax_body_bytes = \"2x\"\n"), file, 2, 18,
              "'limits.max_body_bytes' must be a size like 1024, \"16k\", \"1m\" or \"1g\", got \"2x\"");
  check_error(
      text_error(dir, "[limits]\nmax_body_bytes = 1.5\n"), file, 2, 18,
      "'limits.max_body_bytes' must be a size (an integer of bytes, or a string like \"16k\"), not a float");
  check_error(text_error(dir, "[limits]\nmax_body_bytes = true\n"), file, 2, 18,
              "'limits.max_body_bytes' must be a size (an integer of bytes, or a string like \"16k\"), not a "
              "boolean");
}

// Zero, negative and absurd sizes fail at start with the range, never under load.
TEST_CASE("each size has a range and zero or negative sizes are rejected") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "[limits]\nmax_body_bytes = 0\n"), file, 2, 18,
              "'limits.max_body_bytes' must be between 1 and 1024g, got 0");
  check_error(text_error(dir, "[limits]\nmax_body_bytes = -5\n"), file, 2, 18,
              "'limits.max_body_bytes' must be between 1 and 1024g, got -5");
  check_error(text_error(dir, "[limits]\nheader_buffer = 32\n"), file, 2, 17,
              "'limits.header_buffer' must be between 64 and 1m, got 32");
  check_error(text_error(dir, "[limits]\nmax_header_bytes = \"17m\"\n"), file, 2, 20,
              "'limits.max_header_bytes' must be between 64 and 16m, got 17m");
  check_error(text_error(dir, "[limits]\nmax_uri_bytes = 8\n"), file, 2, 17,
              "'limits.max_uri_bytes' must be between 16 and 16m, got 8");
  check_error(text_error(dir, "[limits]\nrequest_pool_capacity = \"1000\"\n"), file, 2, 25,
              "'limits.request_pool_capacity' must be between 4k and 1024g, got 1000");
  check_error(text_error(dir, "ring_buffer = \"2g\"\n"), file, 1, 15,
              "'ring_buffer' must be between 4k and 1g, got 2g");
}

// header_buffer grows up to max_header_bytes, so it cannot start larger; the error sits on the
// key the file set.
TEST_CASE("header_buffer larger than max_header_bytes is an error at the key the file set") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "[limits]\nheader_buffer = \"32k\"\n"), file, 2, 17,
              "'limits.header_buffer' (32k) must not be larger than 'limits.max_header_bytes' (16k)");
  check_error(text_error(dir, "[limits]\nheader_buffer = \"1k\"\nmax_header_bytes = 512\n"), file, 2, 17,
              "'limits.header_buffer' (1k) must not be larger than 'limits.max_header_bytes' (512)");
}

// A request pool is charged to its connection's budget: a budget below it is a contradiction.
TEST_CASE("connection_memory smaller than request_pool_capacity is an error at the key the file set") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nconnection_memory = \"1m\"\n"), dir.path() / "server.toml", 2, 21,
              "'limits.connection_memory' (1m) must not be smaller than 'limits.request_pool_capacity' (8m): a "
              "request's pool is part of its connection's memory");
  check_error(text_error(dir, "[limits]\nrequest_pool_capacity = \"32m\"\n"), dir.path() / "server.toml", 2, 25,
              "'limits.connection_memory' (16m) must not be smaller than 'limits.request_pool_capacity' (32m): a "
              "request's pool is part of its connection's memory");
}

// A URI limit above the header limit could never answer 414; the default 8k URI limit clashes
// with a smaller max_header_bytes, so the error then sits on max_header_bytes.
TEST_CASE("max_uri_bytes larger than max_header_bytes is an error at the key the file set") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nmax_header_bytes = \"4k\"\n"), dir.path() / "server.toml", 2, 20,
              "'limits.max_uri_bytes' (8k) must not be larger than 'limits.max_header_bytes' (4k)");
}

// The parser's spans are 32-bit offsets into the read buffer, which holds head and body: a body
// limit past them would wrap offsets instead of answering 413.
TEST_CASE("max_body_bytes past the parser's 32-bit offsets is an error at the key") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nrequest_pool_capacity = \"8g\"\nconnection_memory = \"8g\"\n"
                              "max_body_bytes = \"4g\"\n"),
              dir.path() / "server.toml", 4, 18,
              "'limits.max_body_bytes' (4g) plus 'limits.max_header_bytes' (16k) must fit the parser's 32-bit "
              "offsets (at most 4294967295 bytes)");
}

// The body lies in the read buffer, which grows in the request pool: a body limit above the pool
// could only ever answer 500, never 413.
TEST_CASE("max_body_bytes larger than request_pool_capacity is an error at the key the file set") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nmax_body_bytes = \"9m\"\n"), dir.path() / "server.toml", 2, 18,
              "'limits.max_body_bytes' (9m) must not be larger than 'limits.request_pool_capacity' (8m): a "
              "request's body is held in its pool");
  check_error(text_error(dir, "[limits]\nrequest_pool_capacity = \"512k\"\n"), dir.path() / "server.toml", 2, 25,
              "'limits.max_body_bytes' (1m) must not be larger than 'limits.request_pool_capacity' (512k): a "
              "request's body is held in its pool");
}

// Each reactor holds at least one connection, so max_connections below the reactor count would
// silently allow more connections than it says.
TEST_CASE("max_connections below the reactor count is an error at the key the file set") {
  TempDir dir;
  check_error(text_error(dir, "reactors = 4\n[limits]\nmax_connections = 3\n"), dir.path() / "server.toml", 3, 19,
              "'limits.max_connections' (3) must not be smaller than the number of reactors (4): each reactor "
              "holds at least one connection");
  CHECK_NOTHROW(load_text(dir, "reactors = 4\n[limits]\nmax_connections = 4\n"));
}

// With worker processes every worker's reactors get their share.
TEST_CASE("max_connections below the reactors of all workers is an error") {
  TempDir dir;
  check_error(text_error(dir, "reactors = 2\nworkers = 3\n[limits]\nmax_connections = 5\n"), dir.path() / "server.toml",
              4, 19,
              "'limits.max_connections' (5) must not be smaller than the number of reactors (6, of all workers): each "
              "reactor holds at least one connection");
  CHECK(load_text(dir, "reactors = 2\nworkers = 3\n[limits]\nmax_connections = 6\n").workers == 3u);
}

TEST_CASE("workers is a whole number from 0 to 64") {
  TempDir dir;
  CHECK(load_text(dir, "workers = 0\n").workers == 0u);
  CHECK(load_text(dir, "workers = 64\n").workers == 64u);
  check_error(text_error(dir, "reactors = 1\nworkers = 65\n"), dir.path() / "server.toml", 2, 11,
              "'workers' must be between 0 and 64, got 65");
  check_error(text_error(dir, "workers = \"2\"\n"), dir.path() / "server.toml", 1, 11,
              "'workers' must be an integer, not a string");
}

// --- Durations ----------------------------------------------------------------------------------

// Durations read like nginx's: bare digits are seconds; ms, s, m, h, d suffixes.
TEST_CASE("parse_duration accepts seconds and ms, s, m, h, d suffixes") {
  CHECK(parse_duration("10") == 10s);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("1m") == 1min);
  CHECK(parse_duration("2h") == 2h);
  CHECK(parse_duration("1d") == 24h);
  CHECK(parse_duration("0s") == 0ms);
}

// Anything else is not a duration: no fractions, signs, spaces, compound or unknown units.
TEST_CASE("parse_duration rejects fractions, signs, spaces, compound and unknown units") {
  for (const char* bad : {"", "s", "ms", "-1s", "+1s", "1.5s", "10 s", "10S", "1m30s", "10sec", "1w", "1us",
                          "99999999999999999999s", "9223372036854775807d"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

// In the file a duration is an integer of seconds or a suffixed string.
TEST_CASE("a duration in the file may be integer seconds or a suffixed string") {
  TempDir dir;
  CHECK(load_text(dir, "[timeouts]\nsend = 45\n").timeouts.send == 45s);
  CHECK(load_text(dir, "[timeouts]\nsend = \"250ms\"\n").timeouts.send == 250ms);
  CHECK(load_text(dir, "[timeouts]\nsend = \"2m\"\n").timeouts.send == 2min);
  CHECK(load_text(dir, "[timeouts]\nsend = \"1d\"\n").timeouts.send == 24h);
}

// Timeouts must be positive and sane; a zero timeout would close every connection at once.
TEST_CASE("a zero, negative, malformed or too long duration is reported at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "[timeouts]\nheader = 0\n"), file, 2, 10,
              "'timeouts.header' must be between 1ms and 1d, got 0s");
  check_error(text_error(dir, "[timeouts]\nheader = \"0ms\"\n"), file, 2, 10,
              "'timeouts.header' must be between 1ms and 1d, got 0s");
  check_error(text_error(dir, "[timeouts]\nbody = -3\n"), file, 2, 8,
              "'timeouts.body' must be between 1ms and 1d, got -3 seconds");
  check_error(text_error(dir, "[timeouts]\nbody = 9223372036854775807\n"), file, 2, 8,
              "'timeouts.body' must be between 1ms and 1d, got 9223372036854775807 seconds");
  check_error(text_error(dir, "[timeouts]\nidle = \"25h\"\n"), file, 2, 8,
              "'timeouts.idle' must be between 1ms and 1d, got 25h");
  check_error(text_error(dir, "[timeouts]\nshutdown_grace = \"10 sec\"\n"), file, 2, 18,
              "'timeouts.shutdown_grace' must be a duration like 10 (seconds), \"10s\", \"500ms\" or \"1m\", "
              "got \"10 sec\"");
  check_error(text_error(dir, "[open_file_cache]\ninactive = \"0s\"\n"), file, 2, 12,
              "'open_file_cache.inactive' must be between 1ms and 1d, got 0s");
  check_error(text_error(dir, "[open_file_cache]\nvalid = \"a while\"\n"), file, 2, 9,
              "'open_file_cache.valid' must be a duration like 10 (seconds), \"10s\", \"500ms\" or \"1m\", "
              "got \"a while\"");
  check_error(text_error(dir, "[open_file_cache]\nmax_entries = 2000000\n"), file, 2, 15,
              "'open_file_cache.max_entries' must be between 0 and 1000000, got 2000000");
}

// --- Counts, names, levels -----------------------------------------------------------------------

// Counts are plain integers: "10k connections" would read as 10240, which is not what it says.
TEST_CASE("counts accept integers only") {
  TempDir dir;
  check_error(text_error(dir, "[limits]\nmax_connections = \"10k\"\n"), dir.path() / "server.toml", 2, 19,
              "'limits.max_connections' must be an integer, not a string");
  CHECK(load_text(dir, "[limits]\nkeepalive_requests = 4294967295\n").limits.keepalive_requests ==
        4294967295u);
}

// The level names are spdlog's short ones; anything else would fail later inside spdlog.
TEST_CASE("log_level accepts each level name and nothing else") {
  TempDir dir;
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    INFO(level);
    CHECK(load_text(dir, std::string("log_level = \"") + level + "\"\n").log_level == level);
  }
  check_error(text_error(dir, "log_level = \"verbose\"\n"), dir.path() / "server.toml", 1, 13,
              "'log_level' must be one of trace, debug, info, warn, error, critical, off; got \"verbose\"");
  CHECK(text_error(dir, "log_level = \"INFO\"\n").line() == 1);
  CHECK(text_error(dir, "log_level = \"warning\"\n").line() == 1);
}

// server_name goes out as a header value: a control character would split the response.
TEST_CASE("server_name rejects empty, control characters, non-ASCII and surrounding spaces") {
  TempDir dir;
  CHECK(load_text(dir, "server_name = \"my server/2\"\n").server_name == "my server/2");
  check_error(
      text_error(dir, "server_name = \"a\\r\\nX-Evil: 1\"\n"), dir.path() / "server.toml", 1, 15,
      "'server_name' must be 1 to 256 printable ASCII characters, no leading or trailing space (it is the "
      "Server header), got \"a\\x0d\\x0aX-Evil: 1\"");
  for (const char* bad : {"\"\"", "\" mempool\"", "\"caf\u00e9\"", "\"a\\tb\""}) {
    INFO(bad);
    CHECK(text_error(dir, std::string("server_name = ") + bad + "\n").column() == 15);
  }
  CHECK(text_error(dir, "server_name = \"" + std::string(257, 'x') + "\"\n").line() == 1);
}

// --- Paths ----------------------------------------------------------------------------------------

// A config must mean the same wherever the server is started from.
TEST_CASE("relative root and access_log resolve against the config file's folder") {
  TempDir dir;
  dir.mkdir("etc/site");
  const fs::path file =
      dir.write("etc/server.toml", "root = \"site\"\naccess_log = \"../logs/access.log\"\n");
  const ServerConfig config = load_config_file(file);
  CHECK(config.root == dir.path() / "etc" / "site");
  CHECK(config.access_log == dir.path() / "logs" / "access.log");
  CHECK(config.root.is_absolute());
}

// An absolute path is taken as it is.
TEST_CASE("absolute root and access_log are kept as given") {
  TempDir dir;
  const fs::path site = dir.mkdir("site");
  const fs::path log = dir.path() / "elsewhere" / "access.log";
  const ServerConfig config =
      load_text(dir, "root = \"" + site.string() + "\"\naccess_log = \"" + log.string() + "\"\n");
  CHECK(config.root == site);
  CHECK(config.access_log == log);
}

// "off" is the one word access_log takes besides a path.
TEST_CASE("access_log off means no access log") {
  TempDir dir;
  CHECK_FALSE(load_text(dir, "access_log = \"off\"\n").access_log.has_value());
  CHECK(load_text(dir, "access_log = \"./off\"\n").access_log == dir.path() / "off");
}

// A typo in root must fail at start, not as a server that answers 404 to everything.
TEST_CASE("a root that does not exist or is not a folder is reported at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(
      text_error(dir, "root = \"nope\"\n"), file, 1, 8,
      "'root' must be an existing directory: \"" + (dir.path() / "nope").string() + "\" does not exist");
  check_error(text_error(dir, "root = \"server.toml\"\n"), file, 1, 8,
              "'root' must be a directory: \"" + file.string() + "\" is not one");
  check_error(text_error(dir, "root = \"\"\n"), file, 1, 8, "'root' must be a directory path, got \"\"");
}

// A log path that is a folder would fail only when the server opens it; say so at start.
TEST_CASE("an access_log that is a folder or empty is reported at the value") {
  TempDir dir;
  dir.mkdir("logs");
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "access_log = \"logs\"\n"), file, 1, 14,
              "'access_log' must be a file path or \"off\": \"" + (dir.path() / "logs").string() +
                  "\" is a directory");
  check_error(text_error(dir, "access_log = \"\"\n"), file, 1, 14,
              "'access_log' must be a file path or \"off\", got \"\"");
}

// --- [routes] ------------------------------------------------------------------------------------------

// Which built-in is mounted where is config; a path ending in '/' is a prefix.
TEST_CASE("a [routes] table replaces the default routes, in the file's order") {
  TempDir dir;
  const ServerConfig config = load_text(dir, R"([routes]
"/status" = "stats"
"/files/" = "static"
"/ping" = "hello"
)");
  REQUIRE(config.routes.size() == 3);
  CHECK(config.routes[0] == RouteConfig{"/status", Builtin::stats});
  CHECK(config.routes[1] == RouteConfig{"/files/", Builtin::static_files});
  CHECK(config.routes[1].prefix());
  CHECK(config.routes[2] == RouteConfig{"/ping", Builtin::hello});
  CHECK_FALSE(config.routes[2].prefix());
}

// Every built-in has a name, and each name reads back to its built-in.
TEST_CASE("every built-in's name reads back to it and unknown names do not") {
  for (const Builtin b : {Builtin::hello, Builtin::echo, Builtin::static_files, Builtin::stats, Builtin::metrics,
                          Builtin::dashboard, Builtin::chart_js}) {
    INFO(mempool::http::builtin_name(b));
    CHECK(mempool::http::builtin_from_name(mempool::http::builtin_name(b)) == b);
  }
  CHECK_FALSE(mempool::http::builtin_from_name("greet"));
  CHECK_FALSE(mempool::http::builtin_from_name("Hello"));
}

// An empty table is a server with no routes (every path 404), not the defaults.
TEST_CASE("an empty [routes] table mounts nothing") {
  TempDir dir;
  CHECK(load_text(dir, "[routes]\n").routes.empty());
  CHECK(load_text(dir, "# no routes table\n").routes == default_routes());
}

// A path that is not one is reported at the key, an unknown handler at the value.
TEST_CASE("a bad route path is reported at the key and an unknown handler at the value") {
  TempDir dir;
  const fs::path file = dir.path() / "server.toml";
  check_error(text_error(dir, "[routes]\n\"hello\" = \"hello\"\n"), file, 2, 1,
              "a route in [routes] must be a path that starts with '/' (no spaces, '?' or '#'), got \"hello\"");
  check_error(text_error(dir, "[routes]\n\"/a b\" = \"hello\"\n"), file, 2, 1,
              "a route in [routes] must be a path that starts with '/' (no spaces, '?' or '#'), got \"/a b\"");
  check_error(text_error(dir, "[routes]\n\"/x\" = \"greet\"\n"), file, 2, 8,
              "route \"/x\" must name a built-in handler: hello, echo, static, stats, metrics, dashboard or chart.js; got \"greet\"");
  check_error(text_error(dir, "[routes]\n\"/x\" = 1\n"), file, 2, 8,
              "route \"/x\" must be a string (the name of a built-in handler), not an integer");
  check_error(text_error(dir, "routes = \"hello\"\n"), file, 1, 10, "'routes' must be a table, not a string");
}

// --- ConfigError and the exit code -----------------------------------------------------------------

// main() prints what() as it is; its shape is the one compilers use, so editors can jump to it.
TEST_CASE("ConfigError what() is FILE:LINE:COLUMN: message, or FILE: message without a position") {
  CHECK(std::string(ConfigError("a/b.toml", 3, 7, "bad").what()) == "a/b.toml:3:7: bad");
  CHECK(std::string(ConfigError("a/b.toml", 0, 0, "gone").what()) == "a/b.toml: gone");
}

// The contract with main(): configuration and usage mistakes exit 2, anything else 1.
TEST_CASE("exit_code_for gives 2 for config and usage errors and 1 for anything else") {
  CHECK(exit_code_for(ConfigError("f", 1, 1, "x")) == 2);
  CHECK(exit_code_for(UsageError("x")) == 2);
  CHECK(exit_code_for(std::runtime_error("x")) == 1);
  CHECK(exit_usage == 2);
  CHECK(exit_success == 0);
}

// --- The command line --------------------------------------------------------------------------------

namespace {

/// The config a command line gives over `file` (an empty file: the built-in defaults).
ServerConfig resolved(const TempDir& dir, std::initializer_list<const char*> args) {
  const std::string config_flag = dir.write("server.toml", "").string();
  std::vector<const char*> all{"--config", config_flag.c_str()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<const char*> argv{"mempool-server"};
  argv.insert(argv.end(), all.begin(), all.end());
  return resolve_config(parse_command_line(static_cast<int>(argv.size()), argv.data()));
}

}  // namespace

// With no flags the server runs on its config and nothing is overridden.
TEST_CASE("no arguments means run with no overrides") {
  const CommandLine command_line = parse({});
  CHECK(command_line.action == CommandLine::Action::run);
  CHECK_FALSE(command_line.config);
  CHECK(command_line.settings.empty());
}

// "--flag value" is the first form the issue lists; each value lands in its own field.
TEST_CASE("every flag takes its value as the next argument") {
  TempDir dir;
  const std::string site = dir.mkdir("site").string();
  const std::string log = (dir.path() / "a.log").string();
  const ServerConfig c = resolved(dir, {"--listen", "0.0.0.0:80", "--reactors", "4", "--root", site.c_str(),
                                        "--access-log", log.c_str(), "--log-level", "debug"});
  CHECK(c.listen == ListenAddress{"0.0.0.0", 80});
  CHECK(c.reactors == 4u);
  CHECK(c.root == fs::path(site));
  CHECK(c.access_log == fs::path(log));
  CHECK(c.log_level == "debug");
  CHECK(parse({"--config", "my.toml"}).config == fs::path("my.toml"));
}

// "--flag=value" is the second form.
TEST_CASE("every flag takes its value after an equals sign") {
  TempDir dir;
  const std::string root_flag = "--root=" + dir.mkdir("site").string();
  const ServerConfig c = resolved(dir, {"--listen=[::1]:81", "--reactors=0", root_flag.c_str(),
                                        "--access-log=off", "--log-level=off"});
  CHECK(c.listen == ListenAddress{"::1", 81});
  CHECK(c.reactors == 0u);
  CHECK(c.root == dir.path() / "site");
  CHECK_FALSE(c.access_log);
  CHECK(c.log_level == "off");
  CHECK(parse({"--config=my.toml"}).config == fs::path("my.toml"));
}

// A script may set a flag twice (a default, then an override); the later one wins.
TEST_CASE("a repeated flag's last value wins") {
  TempDir dir;
  CHECK(resolved(dir, {"--reactors", "1", "--reactors=2"}).reactors == 2u);
}

// The table is the one place a flag is written: every setting in it is parsed, applied and
// documented from its row.
TEST_CASE("every setting flag of the table is accepted, applied and shown in the help") {
  const std::string help = help_text();
  int settings = 0;
  for (const Flag& flag : flags()) {
    INFO(flag.name);
    CHECK(help.find(std::string(flag.name)) != std::string::npos);
    if (flag.kind != Flag::Kind::setting) continue;
    ++settings;
    CHECK(flag.apply != nullptr);
    CHECK(flag.shown_default != nullptr);
    CHECK_FALSE(flag.value.empty());
    CHECK(help.find(std::string(flag.name) + " " + std::string(flag.value)) != std::string::npos);
  }
  CHECK(settings == 7);
}

// The admin listener: loopback 9090 for mempool-server, off for a library user, "off" in the file
// or on the command line turns it off, and a bad address is reported at the value.
TEST_CASE("admin listen defaults to 127.0.0.1:9090 for the server, off for the library, and reads off") {
  CHECK(builtin_config().admin.listen == ListenAddress{"127.0.0.1", 9090});
  CHECK_FALSE(ServerConfig{}.admin.listen);
  CHECK(ServerConfig{}.admin.routes == mempool::http::default_admin_routes());
  TempDir dir;
  CHECK_FALSE(load_text(dir, "[admin]\nlisten = \"off\"\n").admin.listen);
  CHECK(load_text(dir, "[admin]\nlisten = \"[::1]:9191\"\n").admin.listen == ListenAddress{"::1", 9191});
  check_error(text_error(dir, "[admin]\nlisten = \"nowhere\"\n"), dir.path() / "server.toml", 2, 10,
              "'admin.listen' must be \"off\" or HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to "
              "65535, got \"nowhere\"");
  check_error(text_error(dir, "[admin]\nport = 1\n"), dir.path() / "server.toml", 2, 1,
              "unknown key 'port' in [admin] (known: listen, chart_js)");
  CHECK_FALSE(resolved(dir, {"--admin-listen", "off"}).admin.listen);
  CHECK(resolved(dir, {"--admin-listen=127.0.0.1:9999"}).admin.listen == ListenAddress{"127.0.0.1", 9999});
  CHECK(usage_error({"--admin-listen", "x"}).starts_with("--admin-listen must be \"off\" or HOST:PORT"));
}

// The access log's format and the error log's file, as the file says them.
TEST_CASE("access_log_format reads combined or json and error_log reads stderr or a path") {
  TempDir dir;
  CHECK(ServerConfig{}.access_log_format == mempool::http::AccessLogFormat::combined);
  CHECK(load_text(dir, "access_log_format = \"json\"\n").access_log_format == mempool::http::AccessLogFormat::json);
  check_error(text_error(dir, "access_log_format = \"main\"\n"), dir.path() / "server.toml", 1, 21,
              "'access_log_format' must be \"combined\" or \"json\", got \"main\"");
  CHECK_FALSE(ServerConfig{}.error_log);
  CHECK_FALSE(load_text(dir, "error_log = \"stderr\"\n").error_log);
  CHECK(load_text(dir, "error_log = \"logs/error.log\"\n").error_log == dir.path() / "logs" / "error.log");
  check_error(text_error(dir, "error_log = \".\"\n"), dir.path() / "server.toml", 1, 13,
              "'error_log' must be a file path or \"stderr\": " + in_quotes((dir.path() / "").string()) + " is a directory");
}

// The public default layout leaves the figures to the admin listener.
TEST_CASE("the default public routes carry no stats and the admin routes carry stats and metrics") {
  for (const RouteConfig& r : default_routes()) {
    CHECK(r.handler != Builtin::stats);
    CHECK(r.handler != Builtin::metrics);
  }
  CHECK(mempool::http::default_admin_routes() ==
        std::vector<RouteConfig>{{"/stats", Builtin::stats},
                                 {"/metrics", Builtin::metrics},
                                 {"/dashboard", Builtin::dashboard},
                                 {"/dashboard/chart.js", Builtin::chart_js}});
}

// --check-config is an action that still reads the other flags (nginx -t with -c).
TEST_CASE("the --check-config flag is an action and keeps the other flags") {
  const CommandLine c = parse({"--check-config", "--config", "x.toml", "--reactors", "2"});
  CHECK(c.action == CommandLine::Action::check_config);
  CHECK(c.config == fs::path("x.toml"));
  CHECK(c.settings.size() == 1);
  CHECK(usage_error({"--check-config=yes"}) == "--check-config takes no value");
}

// --help and --version are actions, not overrides.
TEST_CASE("flags -h and --help ask for help, --version for the version") {
  CHECK(parse({"--help"}).action == CommandLine::Action::help);
  CHECK(parse({"-h"}).action == CommandLine::Action::help);
  CHECK(parse({"--version"}).action == CommandLine::Action::version);
  CHECK(parse({"--reactors", "2", "--version"}).action == CommandLine::Action::version);
}

// Someone asking for help on a broken command line should get the help, not another error.
TEST_CASE("the --help flag ends parsing so later arguments are not checked") {
  CHECK(parse({"--help", "--bogus", "--reactors", "x"}).action == CommandLine::Action::help);
}

// A value given to a flag that takes none is a mistake worth reporting.
TEST_CASE("the --help or --version flag with a value is a usage error") {
  CHECK(usage_error({"--help=yes"}) == "--help takes no value");
  CHECK(usage_error({"--version=1"}) == "--version takes no value");
}

// Unknown flags are errors, like unknown keys.
TEST_CASE("an unknown flag is a usage error naming it") {
  CHECK(usage_error({"--port", "80"}) == "unknown option \"--port\" (see --help)");
  CHECK(usage_error({"--reactors=2", "--verbose=1"}) == "unknown option \"--verbose\" (see --help)");
}

// The server takes no positional arguments; a forgotten "--config" must not be ignored.
TEST_CASE("a positional argument or a single-dash option is a usage error") {
  CHECK(usage_error({"server.toml"}) ==
        "unexpected argument \"server.toml\": options start with -- (see --help)");
  CHECK(usage_error({"-v"}) == "unexpected argument \"-v\": options start with -- (see --help)");
  CHECK(usage_error({"--"}) == "unexpected argument \"--\": options start with -- (see --help)");
}

// A flag at the end, before another flag, or with "=" and nothing is missing its value.
TEST_CASE("a flag without its value is a usage error naming the flag") {
  CHECK(usage_error({"--root"}) == "--root needs a value: --root DIR or --root=DIR");
  CHECK(usage_error({"--root", "--reactors", "2"}) == "--root needs a value: --root DIR or --root=DIR");
  CHECK(usage_error({"--config="}) == "--config needs a value: --config FILE or --config=FILE");
  CHECK(usage_error({"--listen"}) == "--listen needs a value: --listen HOST:PORT or --listen=HOST:PORT");
  CHECK(usage_error({"--reactors"}) == "--reactors needs a value: --reactors N or --reactors=N");
  CHECK(usage_error({"--access-log"}) ==
        "--access-log needs a value: --access-log PATH|off or --access-log=PATH|off");
  CHECK(usage_error({"--log-level="}) == "--log-level needs a value: --log-level LEVEL or --log-level=LEVEL");
}

// --reactors takes a whole number in range; "4x" or "-1" must not become 4 or a huge unsigned.
TEST_CASE("the --reactors flag rejects non-numbers, signs and values past 1024") {
  for (const char* bad : {"abc", "4x", "-1", "+4", "1.5", " 4"}) {
    INFO(bad);
    CHECK(usage_error({"--reactors", bad}) ==
          "--reactors must be a whole number between 0 and 1024, got \"" + std::string(bad) + "\"");
  }
  CHECK(usage_error({"--reactors=1025"}) == "--reactors must be between 0 and 1024, got 1025");
  CHECK(usage_error({"--reactors=99999999999999999999"}) ==
        "--reactors must be a whole number between 0 and 1024, got \"99999999999999999999\"");
  TempDir dir;
  CHECK(resolved(dir, {"--reactors", "1024"}).reactors == 1024u);
}

TEST_CASE("the --workers flag takes a whole number from 0 to 64") {
  CHECK(usage_error({"--workers", "x"}) == "--workers must be a whole number between 0 and 64, got \"x\"");
  CHECK(usage_error({"--workers=65"}) == "--workers must be between 0 and 64, got 65");
  TempDir dir;
  CHECK(resolved(dir, {"--workers", "2"}).workers == 2u);
}

// Flag values get the same checks as the file's, with the flag named instead of the key.
TEST_CASE("the --listen and --log-level values are checked like the file's") {
  CHECK(
      usage_error({"--listen", "8080"}) ==
      "--listen must be HOST:PORT like \"127.0.0.1:8080\" or \"[::1]:8080\", port 1 to 65535, got \"8080\"");
  CHECK(usage_error({"--listen=::1:80"}).starts_with("--listen must be HOST:PORT"));
  CHECK(usage_error({"--log-level", "loud"}) ==
        "--log-level must be one of trace, debug, info, warn, error, critical, off; got \"loud\"");
}

// --- Resolving: file, default file, built-ins, flags -------------------------------------------------

// Flags override the file key by key; what no flag mentions still comes from the file.
TEST_CASE("flags override the config file and leave the rest of it alone") {
  TempDir dir;
  dir.mkdir("site");
  const fs::path other_root = dir.mkdir("other");
  const fs::path file = dir.write("server.toml", R"(
listen = "127.0.0.1:1111"
reactors = 2
root = "site"
access_log = "file.log"
log_level = "warn"
[limits]
max_body_bytes = "3m"
)");
  const std::string config_flag = file.string();
  const std::string root_flag = other_root.string();
  const std::string log_flag = (dir.path() / "flag.log").string();
  const CommandLine c =
      parse({"--config", config_flag.c_str(), "--listen", "127.0.0.2:2222", "--reactors", "5", "--root",
             root_flag.c_str(), "--access-log", log_flag.c_str(), "--log-level", "error"});
  const ServerConfig config = resolve_config(c);
  CHECK(config.listen == ListenAddress{"127.0.0.2", 2222});
  CHECK(config.reactors == 5);
  CHECK(config.root == other_root);
  CHECK(config.access_log == fs::path(log_flag));
  CHECK(config.log_level == "error");
  CHECK(config.limits.max_body_bytes == 3 * 1024 * 1024);
  CHECK(config.source == file);
}

// The file's cross-checks hold after the flags too: a --reactors past the file's max_connections
// would otherwise run more connections than the file allows, silently.
TEST_CASE("a flag that breaks a cross-check of the file is a usage error naming both") {
  TempDir dir;
  const fs::path file = dir.write("server.toml", "[limits]\nmax_connections = 2\n");
  const std::string config_flag = file.string();
  CHECK(resolve_config(parse({"--config", config_flag.c_str(), "--reactors", "2"})).reactors == 2);
  try {
    resolve_config(parse({"--config", config_flag.c_str(), "--reactors", "4"}));
    FAIL("--reactors 4 with max_connections 2 was accepted");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()) ==
          "'limits.max_connections' (2) must not be smaller than the number of reactors (4): each reactor holds "
          "at least one connection (with --reactors 4)");
  }
}

// --access-log off must silence a log the file turned on.
TEST_CASE("the --access-log off flag turns off a log the file sets") {
  TempDir dir;
  const fs::path file = dir.write("server.toml", "access_log = \"file.log\"\n");
  const std::string config_flag = file.string();
  CHECK(resolve_config(parse({"--config", config_flag.c_str()})).access_log == dir.path() / "file.log");
  CHECK_FALSE(resolve_config(parse({"--config", config_flag.c_str(), "--access-log", "off"})).access_log);
}

// On the command line a relative path means what the shell means: from the current folder.
TEST_CASE("relative --root and --access-log resolve against the current folder") {
  TempDir dir;
  const fs::path file = dir.write("server.toml", "");
  const std::string config_flag = file.string();
  const ServerConfig config =
      resolve_config(parse({"--config", config_flag.c_str(), "--root", ".", "--access-log", "x.log"}));
  CHECK(config.root == (fs::current_path() / ".").lexically_normal());
  CHECK(config.access_log == fs::current_path() / "x.log");
}

// Without --config the default file is used when it exists.
TEST_CASE("without --config the default config file is loaded when it exists") {
  TempDir dir;
  const fs::path default_file = dir.write("server.toml", "reactors = 7\n");
  const ServerConfig config = resolve_config(parse({}), default_file);
  CHECK(config.reactors == 7);
  CHECK(config.source == default_file);
}

// An installed binary whose share/ folder is gone still starts, on built-ins.
TEST_CASE("without --config and without the default file the built-in defaults are used") {
  TempDir dir;
  const fs::path missing = dir.path() / "conf" / "server.toml";
  const ServerConfig config = resolve_config(parse({"--reactors", "3"}), missing);
  CHECK(config.source.empty());
  CHECK(config.root == dir.path() / "conf" / "www");
  CHECK(config.listen == ListenAddress{"127.0.0.1", 8080});
  CHECK(config.reactors == 3);
  CHECK(config.routes == default_routes());
}

// A file the user named is never silently replaced by defaults.
TEST_CASE("a --config file that is missing is a ConfigError, not a fallback") {
  TempDir dir;
  const std::string missing = (dir.path() / "missing.toml").string();
  CHECK_THROWS_AS(resolve_config(parse({"--config", missing.c_str()})), ConfigError);
}

// The default config is found beside the executable, as in an installed tree, never at a path
// of the source tree compiled in: here the test binary's build tree, whose share/mempool is a
// link to config/.
TEST_CASE("the default config path is share/mempool/server.toml beside the running executable's bin folder") {
  const fs::path exe = fs::read_symlink("/proc/self/exe");
  CHECK(default_config_path() == (exe.parent_path() / ".." / "share" / "mempool" / "server.toml").lexically_normal());
  CHECK(fs::equivalent(default_config_path(), shipped_config));
}

// The default resolution is what main() will do with no flags: the shipped file, found there.
TEST_CASE("resolve_config with no flags loads the shipped config") {
  const ServerConfig config = resolve_config(parse({}));
  CHECK(config.source == default_config_path());
  CHECK(config.listen == ListenAddress{"127.0.0.1", 8080});
  CHECK(fs::equivalent(config.root, shipped_config.parent_path() / "www"));
}

// A --root typo fails at start like a root typo in the file, naming the flag.
TEST_CASE("a --root that is not a directory is a usage error naming --root") {
  TempDir dir;
  const std::string missing = (dir.path() / "nope").string();
  CHECK(usage_error({"--root", missing.c_str()}) ==
        "--root must be an existing directory: \"" + missing + "\" does not exist");
  const std::string file = dir.write("file.txt", "").string();
  CHECK(usage_error({"--root", file.c_str()}).starts_with("--root must be a directory"));
}

// A CommandLine built in code (a test harness, an embedding) gets the same checks as argv.
TEST_CASE("a hand-built CommandLine is checked like a parsed one") {
  TempDir dir;
  const fs::path file = dir.write("server.toml", "");
  CommandLine c;
  c.config = file;
  c.settings = {{"--listen", "127.0.0.1:0"}};
  CHECK_THROWS_WITH(resolve_config(c), Catch::StartsWith("--listen must be HOST:PORT"));
  c.settings = {{"--reactors", "5000"}};
  CHECK_THROWS_WITH(resolve_config(c), "--reactors must be between 0 and 1024, got 5000");
  c.settings = {{"--log-level", "loud"}};
  CHECK_THROWS_WITH(resolve_config(c), Catch::StartsWith("--log-level must be one of"));
  c.settings = {{"--access-log", ""}};
  CHECK_THROWS_WITH(resolve_config(c), "--access-log must be a file path or \"off\", got \"\"");
  c.settings = {{"--config", "x.toml"}};
  CHECK_THROWS_AS(resolve_config(c), UsageError);
}

// --- Help and version ------------------------------------------------------------------------------------

// --help is the documentation at hand: every flag, its default, and where the config lives.
TEST_CASE("help text lists every flag with its default and the default config path") {
  const std::string help = help_text();
  CHECK(help.starts_with("Usage: mempool-server [OPTIONS]"));
  for (const char* flag : {"--config FILE", "--listen HOST:PORT", "--reactors N", "--root DIR",
                           "--access-log PATH|off", "--log-level LEVEL", "--help", "--version"}) {
    INFO(flag);
    CHECK(help.find(flag) != std::string::npos);
  }
  CHECK(help.find(default_config_path().string()) != std::string::npos);
  CHECK(help.find("(default: 127.0.0.1:8080)") != std::string::npos);
  CHECK(help.find("(default: 0)") != std::string::npos);
  CHECK(help.find("(default: " + (default_config_path().parent_path() / "www").string() + ")") != std::string::npos);
  CHECK(help.find("(default: off)") != std::string::npos);
  CHECK(help.find("(default: info)") != std::string::npos);
}

// --version prints the project version CMake passed in.
TEST_CASE("version text names the program and its version") {
  CHECK(version_text() == std::string("mempool-server ") + MEMPOOL_VERSION);
}
