// mempool-server: the reference HTTP server of the mempool framework, a thin main over
// mempool::http::Server (the library): the command line and config (command_line.hpp), then
// the built-ins where the config's [routes] say, until SIGINT or SIGTERM; SIGHUP reloads the config
// (the file and the same flags again), SIGUSR1 reopens the logs. With workers >= 1 the process is
// a master (workers.hpp) that forks that many worker processes. `mempool-server --help`.
#include <exception>
#include <iostream>

#include <spdlog/logger.h>

#include <mempool/http/server.hpp>
#include <mempool/http/workers.hpp>

#include "command_line.hpp"
#include "error_log.hpp"

int main(int argc, char** argv) {
  using namespace mempool::server;
  // Before any thread starts (spdlog's flusher is one): every thread inherits the mask, so the
  // signals wait for wait_for_signal() and none ends the process by its default action.
  mempool::http::Server::block_signals();
  mempool::http::ServerConfig config;
  CommandLine command_line;
  try {
    command_line = parse_command_line(argc, argv);
    if (command_line.action == CommandLine::Action::help) {
      std::cout << help_text();
      return exit_success;
    }
    if (command_line.action == CommandLine::Action::version) {
      std::cout << version_text() << "\n";
      return exit_success;
    }
    config = resolve_config(command_line);
    if (command_line.action == CommandLine::Action::check_config) {  // nginx -t
      std::cout << "mempool-server: config OK ("
                << (config.source.empty() ? std::string("built-in defaults") : config.source.string()) << ")\n";
      return exit_success;
    }
  } catch (const UsageError& e) {
    std::cerr << "mempool-server: " << e.what() << "\nTry 'mempool-server --help'.\n";
    return exit_usage;
  } catch (const ConfigError& e) {
    std::cerr << "mempool-server: " << e.what() << "\n";
    return exit_usage;
  }
  try {
    set_error_log_level(config.log_level);
    if (config.source.empty()) {
      error_log()->info("config: built-in defaults ({} not found; --config FILE names one)",
                        default_config_path().string());
    } else {
      error_log()->info("config: {}", config.source.string());
    }
    const auto reload = [&command_line] { return resolve_config(command_line); };
    if (config.workers > 0) {  // master/worker mode: this process supervises, its workers serve
      mempool::http::run_workers(config, {}, reload);
      return exit_success;
    }
    mempool::http::Server server(config);
    server.start();
    server.wait_for_signal(reload);
    return exit_success;
  } catch (const std::exception& e) {
    error_log()->critical("{}", e.what());
    return exit_code_for(e);
  }
}
