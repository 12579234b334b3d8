/// \file
/// mempool-server's command line: its flags, written once each in one table (name, value
/// syntax, help, where the value goes), where the default config file is, and the config the
/// server runs with: built-in defaults, overridden by a TOML file (the default one unless
/// --config names another), overridden in turn by the flags.
///
/// The default config file is found relative to the running executable, never at a path of the
/// source tree: <bindir>/../share/mempool/server.toml, which `cmake --install` puts there and
/// the build tree mirrors (build/<x>/share/mempool is a link to config/).
///
/// Failure policy: parse_command_line and resolve_config throw UsageError (naming the flag) or
/// ConfigError (file, line, column); main() prints what() on stderr and exits with
/// exit_code_for(e) == exit_usage (2).
#pragma once

#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace mempool::server {

/// A command line that cannot be used: unknown flag, missing value, bad value. what() names
/// the flag ("--reactors must be between 0 and 1024, got 5000").
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One flag: the table in command_line.cpp has every one, and --help is made from it.
struct Flag {
  enum class Kind { setting, config_file, check_config, help, version };
  Kind kind;
  std::string_view name;   ///< "--listen"
  std::string_view value;  ///< the value's syntax, "HOST:PORT"; empty: the flag takes none
  std::string_view help;   ///< one line for --help
  /// A setting's value, checked and stored where it goes (throws Invalid). Relative paths
  /// resolve against the current folder, as a shell user means them.
  void (*apply)(ServerConfig& config, std::string_view value);
  /// The default --help shows for a setting.
  std::string (*shown_default)(const ServerConfig& defaults);
};

/// Every flag mempool-server takes.
std::span<const Flag> flags() noexcept;

struct CommandLine {
  enum class Action { run, check_config, help, version };
  /// A setting a flag gives, as written: applied in command-line order, so a later one wins.
  struct Setting {
    std::string flag;  ///< "--listen"
    std::string value;
  };

  Action action = Action::run;
  std::optional<std::filesystem::path> config;  ///< --config FILE
  std::vector<Setting> settings;
};

/// Accepts "--flag value" and "--flag=value"; -h is --help. --help and --version end parsing
/// where they stand. Checks each value's form and range as it reads it. Throws UsageError.
CommandLine parse_command_line(int argc, const char* const* argv);

/// <directory of the running executable>/../share/mempool/server.toml, made absolute and normal.
std::filesystem::path default_config_path();

/// The built-in defaults, with `root` = the demo root beside `default_config` (`<dir>/www`).
ServerConfig builtin_config(const std::filesystem::path& default_config = default_config_path());

/// The config the server runs with: `--config FILE` if given, else `default_config` if it
/// exists, else builtin_config(default_config); then every setting on top. Throws ConfigError
/// for the file, UsageError for a setting (e.g. a --root that is not a directory).
ServerConfig resolve_config(const CommandLine& command_line,
                            const std::filesystem::path& default_config = default_config_path());

/// Usage, every flag with its default, and where the default config is looked for.
std::string help_text();
/// "mempool-server VERSION".
std::string version_text();

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
