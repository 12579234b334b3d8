// mempool-server: the reference HTTP server of the mempool framework.
//   mempool-server [--config FILE] [--listen HOST:PORT] [--reactors N] [--root DIR]
//                  [--access-log PATH|off] [--log-level LEVEL] [--help] [--version]
// A bad command line or config file: a message naming the problem, exit code 2.
// SIGINT/SIGTERM: graceful stop, then the final figures, exit code 0.
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "server.hpp"

namespace {

using namespace mempool::server;

void set_up_logging(const ServerConfig& config) {
  auto logger = spdlog::stderr_color_mt("mempool");
  logger->set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));  // the access log too
}

// The final word at exit: what was served, and whether any pool leaked.
void report(const Server& server) {
  std::uint64_t requests = 0, connections = 0, outstanding = 0;
  for (const ReactorSnapshot& s : server.snapshots()) {
    requests += s.server.requests;
    connections += s.server.accepts;
    outstanding += s.pool_manager.outstanding;
  }
  spdlog::info("stopped: {} requests on {} connections, {} pools outstanding", requests, connections, outstanding);
}

int serve(const ServerConfig& config) {
  // Only this thread takes SIGINT/SIGTERM: the reactors inherit the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Server server(config);
  server.start();
  const auto ep = server.endpoint();
  spdlog::info("listening on http://{}:{}/ with {} reactors, root {}", ep.address().to_string(), ep.port(),
               server.reactors(), config.root.string());
  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("{}: stopping (grace period {} ms)", signal == SIGINT ? "SIGINT" : "SIGTERM",
               config.timeouts.shutdown_grace.count());
  server.stop();
  server.wait();
  report(server);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine command_line;
  ServerConfig config;
  try {
    command_line = parse_command_line(argc, argv);
    if (command_line.action == CommandLine::Action::help) {
      std::cout << help_text();
      return 0;
    }
    if (command_line.action == CommandLine::Action::version) {
      std::cout << version_text();
      return 0;
    }
    config = resolve_config(command_line);
  } catch (const UsageError& e) {
    std::cerr << "mempool-server: " << e.what() << "\nTry 'mempool-server --help'.\n";
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "mempool-server: " << e.what() << "\n";
    return 2;
  }
  try {
    set_up_logging(config);
    return serve(config);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
