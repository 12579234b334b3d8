/// \file
/// Server: mempool's HTTP/1.1 server as a library (DESIGN §4.1). N reactors, each a thread with
/// its own event loop, pools, ring buffer and router, listen on one address (SO_REUSEPORT among
/// themselves) and serve the routes an application gives it:
///
///   mempool::http::ServerConfig config;    // built-in defaults, or mempool::http::load_config(file)
///   config.listen = {"127.0.0.1", 0};      // port 0: any free port
///   mempool::http::Server server(config, [](mempool::http::Router& routes) {   // once per reactor
///     routes.add_exact("/hi", [](const mempool::http::Request& req, mempool::http::Response& res) {
///       res.text(200, req.pool().format("hi {}\n", req.query));
///     });
///   });
///   server.start();
///   server.wait_for_signal();              // SIGINT/SIGTERM: a graceful stop
///
/// Routes. The setup runs once per reactor, on that reactor's thread, before it accepts; so each
/// reactor has its own Router and handlers, and a handler may keep per-reactor state without a
/// lock. Its second form also receives the reactor's services (services.hpp: its PoolManager,
/// the GlobalArena, its counters, the built-ins that need them). Server(config) mounts the
/// built-ins where config.routes says, as mempool-server does.
///
/// Logging: the spdlog logger named "mempool" (stderr unless the application registered its own
/// under that name) at config.log_level; the access log where config.access_log says.
/// Signals: the reactor threads block SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 and SIGPIPE, so
/// the process's signals reach the application's threads, and a peer's reset during sendfile
/// raises nothing; block_signals() first in main() extends that to every thread, and
/// wait_for_signal() acts on them (stop, reload, reopen the logs). Thread safety: stop() may be called from any thread; the rest from the
/// thread that owns the Server. Failure: the constructor throws std::invalid_argument for
/// settings it cannot honour together (the message the config file would give: max_body_bytes
/// plus max_header_bytes past 4 GiB, limits.max_connections below the reactors), std::system_error when the address cannot be resolved or bound, or the
/// access log opened; start() throws what a route
/// setup threw (the server is then stopped).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mempool/http/config.hpp>
#include <mempool/http/reactor_stats.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/services.hpp>

namespace mempool::server {
struct WorkerSeat;  // master/worker mode (workers.hpp): a worker's place in its master's scoreboard
class Master;
}

namespace mempool::http {

/// An address a server listens on.
class Endpoint {
 public:
  Endpoint(std::string address, std::uint16_t port) : address_(std::move(address)), port_(port) {}
  /// "127.0.0.1", "::1"
  const std::string& address() const noexcept { return address_; }
  std::uint16_t port() const noexcept { return port_; }
  /// "127.0.0.1:8080", "[::1]:8080"
  std::string to_string() const;

 private:
  std::string address_;
  std::uint16_t port_;
};

/// Mounts the built-ins where config.routes says, on one reactor's Router: what Server(config)
/// does, for a setup that wants them beside its own routes. Throws std::invalid_argument for a
/// "static" route without config.root, std::system_error for a root that cannot be opened.
void mount_routes(Router& routes, ReactorServices& reactor, const ServerConfig& config);

class Server {
 public:
  /// Serves config.routes (mount_routes).
  explicit Server(ServerConfig config);
  /// Serves the routes `setup` mounts on each reactor's Router.
  Server(ServerConfig config, std::function<void(Router& routes)> setup);
  /// The same, with the reactor's services.
  Server(ServerConfig config, RouteSetup setup);
  /// Stops the server (as stop() then wait()) if it runs.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts the reactors; returns once every one has set up its routes and accepts.
  void start();
  /// The address actually bound (port 0 in the config picks one).
  Endpoint endpoint() const;
  /// The admin listener's address (config.admin.listen), or nullopt when it is off.
  std::optional<Endpoint> admin_endpoint() const;
  /// Graceful stop, from any thread, any number of times: stop accepting, close idle
  /// connections, let requests in progress finish within timeouts.shutdown_grace.
  void stop();
  /// Returns once every reactor has finished.
  void wait();
  /// Blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE in the calling thread. Call it first in
  /// main(), before any thread starts (a logger's flusher included): threads inherit the mask, so
  /// these signals reach wait_for_signal() only, and none kills the process by its default action.
  static void block_signals();
  /// Waits for signals (blocked in the calling thread meanwhile) and acts on them:
  ///   SIGHUP   reload(reload_config()): a config that fails to load is refused, its error logged,
  ///            the config in force stays. Without reload_config: load_config(config.source),
  ///            or nothing when the config came from no file.
  ///   SIGUSR1  reopen_logs()
  ///   SIGINT, SIGTERM  a graceful stop; the same signal again during the grace period closes every
  ///            connection at once. Then waits, logs what was served, and returns the first
  ///            stop signal's number.
  int wait_for_signal(std::function<ServerConfig()> reload_config = {});
  /// Applies `next` for new requests, from the thread that owns the Server: limits, timeouts,
  /// log level, error and access log (file and format), the Server header, root and routes (the
  /// route setup runs again on each reactor). Open connections stay open and keep working. listen,
  /// reactors, ring_buffer, max_connections and admin need a restart: a change is logged and left
  /// alone. Throws std::system_error if a log file cannot be opened (nothing is changed then).
  void reload(ServerConfig next);
  /// Opens the access and error log files again under their names (logrotate's postrotate).
  /// Throws std::system_error if one cannot be opened.
  void reopen_logs();

  unsigned reactors() const noexcept;
  /// The reactors' last published figures (after wait(): their final ones).
  std::vector<ReactorSnapshot> snapshots() const;

 private:
  friend class server::Master;
  /// A worker process's server (workers.hpp): it accepts on its master's sockets and publishes to
  /// its master's scoreboard; SIGHUP is its master's. An empty setup mounts config.routes.
  Server(ServerConfig config, RouteSetup setup, const server::WorkerSeat& worker);

  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mempool::http
