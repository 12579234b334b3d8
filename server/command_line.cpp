// mempool-server's command line (command_line.hpp): the flag table, parsing, the default config
// file, and the config the server runs with.
#include "command_line.hpp"

#include <algorithm>
#include <system_error>

#include "value_syntax.hpp"

#ifndef MEMPOOL_VERSION
#error "MEMPOOL_VERSION must be defined (set by server/CMakeLists.txt)"
#endif
#ifndef MEMPOOL_DATADIR_FROM_BINDIR
#error "MEMPOOL_DATADIR_FROM_BINDIR must be the data folder relative to the bin folder (server/CMakeLists.txt)"
#endif

namespace mempool::server {

namespace fs = std::filesystem;

namespace {

using Kind = Flag::Kind;

// clang-format off
constexpr Flag flag_table[] = {
    {Kind::config_file, "--config", "FILE", "config file to load", nullptr, nullptr},
    {Kind::setting, "--listen", "HOST:PORT", "address to listen on; [IPV6]:PORT for IPv6",
     [](ServerConfig& c, std::string_view v) { c.listen = check_listen(v); },
     [](const ServerConfig& d) { return format_listen(d.listen); }},
    {Kind::setting, "--admin-listen", "HOST:PORT|off", "admin listener (/stats, /metrics, /dashboard), or off",
     [](ServerConfig& c, std::string_view v) { c.admin.listen = check_admin_listen(v); },
     [](const ServerConfig& d) { return d.admin.listen ? format_listen(*d.admin.listen) : std::string("off"); }},
    {Kind::setting, "--reactors", "N", "reactor threads, 0 for one per core",
     [](ServerConfig& c, std::string_view v) { c.reactors = check_reactors_text(v); },
     [](const ServerConfig& d) { return std::to_string(d.reactors); }},
    {Kind::setting, "--workers", "N", "worker processes, each running the reactors; 0 for none (one process)",
     [](ServerConfig& c, std::string_view v) { c.workers = check_workers_text(v); },
     [](const ServerConfig& d) { return std::to_string(d.workers); }},
    {Kind::setting, "--root", "DIR", "folder of static files",
     [](ServerConfig& c, std::string_view v) { c.root = check_root(fs::absolute(fs::path(v)).lexically_normal()); },
     [](const ServerConfig& d) { return d.root.string(); }},
    {Kind::setting, "--access-log", "PATH|off", "access log file, or off",
     [](ServerConfig& c, std::string_view v) { c.access_log = check_access_log(v, fs::current_path()); },
     [](const ServerConfig& d) { return d.access_log ? d.access_log->string() : std::string("off"); }},
    {Kind::setting, "--log-level", "LEVEL", "trace, debug, info, warn, error, critical or off",
     [](ServerConfig& c, std::string_view v) { c.log_level = check_log_level(v); },
     [](const ServerConfig& d) { return d.log_level; }},
    {Kind::check_config, "--check-config", "", "check the config (and flags), print \"config OK\", exit", nullptr, nullptr},
    {Kind::help, "--help", "", "print this help and exit (also -h)", nullptr, nullptr},
    {Kind::version, "--version", "", "print the version and exit", nullptr, nullptr},
};
// clang-format on

constexpr std::string_view usage_hint = " (see --help)";

const Flag* find_flag(std::string_view name) noexcept {
  for (const Flag& f : flag_table)
    if (f.name == name) return &f;
  return nullptr;
}

/// Applies a setting; a failed check becomes a UsageError naming the flag.
void apply(const Flag& flag, ServerConfig& config, std::string_view value) {
  try {
    flag.apply(config, value);
  } catch (const Invalid& invalid) {
    throw UsageError(std::string(flag.name) + " " + invalid.text);
  }
}

std::string flag_value(const Flag& flag, std::optional<std::string_view> inline_value, int& i, int argc,
                       const char* const* argv) {
  std::string_view value;
  if (inline_value) {
    value = *inline_value;
  } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
    value = argv[++i];
  }
  if (value.empty()) {
    const std::string name(flag.name), syntax(flag.value);
    throw UsageError(name + " needs a value: " + name + " " + syntax + " or " + name + "=" + syntax);
  }
  return std::string(value);
}

}  // namespace

std::span<const Flag> flags() noexcept { return flag_table; }

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine command_line;
  ServerConfig scratch;  // each setting is checked once here, as it is read
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (!arg.starts_with("--") || arg == "--")
      throw UsageError("unexpected argument " + in_quotes(arg) + ": options start with --" +
                       std::string(usage_hint));
    const auto equals = arg.find('=');
    const std::string_view name = arg.substr(0, equals);
    std::optional<std::string_view> inline_value;
    if (equals != std::string_view::npos) inline_value = arg.substr(equals + 1);
    const Flag* flag = find_flag(name);
    if (flag == nullptr) throw UsageError("unknown option " + in_quotes(name) + std::string(usage_hint));

    switch (flag->kind) {
      case Kind::help:
      case Kind::version:
        if (inline_value) throw UsageError(std::string(name) + " takes no value");
        command_line.action = flag->kind == Kind::help ? CommandLine::Action::help : CommandLine::Action::version;
        return command_line;
      case Kind::check_config:
        if (inline_value) throw UsageError(std::string(name) + " takes no value");
        command_line.action = CommandLine::Action::check_config;  // the other flags still count
        break;
      case Kind::config_file:
        command_line.config = flag_value(*flag, inline_value, i, argc, argv);
        break;
      case Kind::setting: {
        std::string value = flag_value(*flag, inline_value, i, argc, argv);
        apply(*flag, scratch, value);
        command_line.settings.push_back({std::string(name), std::move(value)});
        break;
      }
    }
  }
  return command_line;
}

fs::path default_config_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  const fs::path bindir = ec ? fs::current_path() : exe.parent_path();
  return (bindir / MEMPOOL_DATADIR_FROM_BINDIR / "mempool" / "server.toml").lexically_normal();
}

ServerConfig builtin_config(const fs::path& default_config) {
  ServerConfig config;
  config.root = (default_config.parent_path() / "www").lexically_normal();
  config.admin.listen = ListenAddress{"127.0.0.1", 9090};
  return config;
}

ServerConfig resolve_config(const CommandLine& command_line, const fs::path& default_config) {
  const ServerConfig defaults = builtin_config(default_config);
  std::error_code ec;
  ServerConfig config = command_line.config ? http::load_config(*command_line.config, defaults)
                        : fs::exists(default_config, ec) ? http::load_config(default_config, defaults)
                                                         : defaults;
  for (const CommandLine::Setting& setting : command_line.settings) {
    const Flag* flag = find_flag(setting.flag);
    if (flag == nullptr || flag->kind != Kind::setting) throw UsageError("unknown option " + in_quotes(setting.flag));
    apply(*flag, config, setting.value);
  }
  // The file agreed with itself; a flag may have broken that (--reactors 8 with max_connections 4).
  if (const auto d = find_disagreement(config)) {
    std::string flags;
    for (const CommandLine::Setting& setting : command_line.settings) flags += " " + setting.flag + " " + setting.value;
    throw UsageError(d->message + " (with" + flags + ")");
  }
  return config;
}

std::string help_text() {
  const ServerConfig defaults = builtin_config();
  std::string text = "Usage: mempool-server [OPTIONS]\n\n";
  text += "The reference HTTP server of mempool: request-scoped memory pools for network servers.\n\n";
  text += "Options (each overrides the same setting of the config file):\n";
  constexpr std::size_t column = 32;  // where the help starts: past the longest flag and value
  // (Appended piece by piece: GCC 12 warns falsely about chains of std::string operator+.)
  for (const Flag& flag : flag_table) {
    const std::size_t start = text.size();
    text += "  ";
    text += flag.name;
    if (!flag.value.empty()) {
      text += ' ';
      text += flag.value;
    }
    text.resize(std::max(text.size() + 1, start + column), ' ');
    text += flag.help;
    if (flag.kind == Kind::setting) {
      text += " (default: ";
      text += flag.shown_default(defaults);
      text += ')';
    }
    text += '\n';
    if (flag.kind == Kind::config_file) {
      text.append(column, ' ');
      text += "(default: ";
      text += default_config_path().string();
      text += " if it exists, else built-in defaults)\n";
    }
  }
  text += "\nEvery option also takes the form --option=VALUE. Relative paths in the config file\n";
  text += "resolve against the file's folder; on the command line, against the current folder.\n";
  text += "Limits, timeouts and routes are set in the config file; its comments list each with its default.\n\n";
  text += "Signals: SIGINT or SIGTERM stops gracefully (the same again: at once), SIGHUP reloads the config\n";
  text += "file (and these flags), SIGUSR1 reopens the log files.\n\n";
  text += "Exit status: 0 after a clean stop, 2 for a bad config file or command line, 1 otherwise.\n";
  return text;
}

std::string version_text() { return "mempool-server " MEMPOOL_VERSION; }

}  // namespace mempool::server
