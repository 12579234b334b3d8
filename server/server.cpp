#include <mempool/http/server.hpp>

#include <pthread.h>
#include <signal.h>

#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <ctime>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <spdlog/logger.h>

#include <mempool/http/builtin.hpp>

#include "error_log.hpp"
#include "reactor.hpp"
#include "shared.hpp"
#include "startup.hpp"
#include "value_syntax.hpp"

namespace mempool::http {

namespace {

using server::Reactor;
using server::Shared;

/// Blocks `signals` in the calling thread while it lives (threads started meanwhile inherit it).
class SignalMask {
 public:
  explicit SignalMask(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (const int s : signals) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, &previous_);
  }
  ~SignalMask() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  SignalMask(const SignalMask&) = delete;
  SignalMask& operator=(const SignalMask&) = delete;

 private:
  sigset_t previous_;
};

StaticFilesOptions static_files_options(const OpenFileCacheConfig& cache) {
  StaticFilesOptions options;
  options.cache.max_entries = cache.max_entries;
  options.cache.validity = cache.valid;
  options.cache.inactive = cache.inactive;
  return options;
}

Handler builtin(Builtin which, ReactorServices& reactor, const ServerConfig& config) {
  switch (which) {
    case Builtin::hello: return hello();
    case Builtin::echo: return echo();
    case Builtin::stats: return stats(reactor);
    case Builtin::metrics: return metrics(reactor);
    case Builtin::dashboard: return dashboard();
    case Builtin::chart_js: return chart_js(config.admin.chart_js.string());
    case Builtin::static_files:
      if (config.root.empty())
        throw std::invalid_argument("a \"static\" route needs a root (ServerConfig::root, or root = in the file)");
      return static_files(reactor, config.root.string(), static_files_options(config.open_file_cache));
  }
  throw std::invalid_argument("unknown built-in handler");
}

}  // namespace

std::string Endpoint::to_string() const { return server::format_listen({address_, port_}); }

namespace {

void mount(Router& routes, ReactorServices& reactor, const ServerConfig& config, const std::vector<RouteConfig>& list) {
  Handler files;  // one static-file handler, so one open-file cache, for every "static" route
  for (const RouteConfig& route : list) {
    const bool is_files = route.handler == Builtin::static_files;
    if (is_files && !files) files = builtin(route.handler, reactor, config);
    Handler handler = is_files ? files : builtin(route.handler, reactor, config);
    if (route.prefix()) {
      routes.add_prefix(route.path, std::move(handler));
    } else {
      routes.add_exact(route.path, std::move(handler));
    }
  }
}

}  // namespace

void mount_routes(Router& routes, ReactorServices& reactor, const ServerConfig& config) {
  mount(routes, reactor, config, config.routes);
}

// --- Server -------------------------------------------------------------------------------------

namespace {

// A config built in code gets the cross-checks of load_config() that the server cannot run without.
ServerConfig agreed(ServerConfig config) {
  if (const auto d = server::find_disagreement(config, true)) throw std::invalid_argument(d->message);
  return config;
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerConfig config, RouteSetup routes, const std::optional<server::WorkerSeat>& worker)
      : setup(std::move(routes)),
        shared(agreed(std::move(config)), worker),
        live(std::make_shared<const ServerConfig>(shared.config)) {
    server::set_error_log_file(shared.config.error_log);
    server::set_error_log_level(shared.config.log_level);
    // Before the reactors, whose event loops take descriptors (a worker's master did it).
    if (!worker) server::raise_descriptor_limit(shared.config, shared.reactors(), *shared.error_log);
    for (unsigned i = 0; i < shared.reactors(); ++i)
      reactors.push_back(std::make_unique<Reactor>(i, shared, setup, admin_setup));
    if (worker) {
      adopt(*worker);
    } else {
      listen();
    }
  }

  const RouteSetup setup;  ///< before the reactors, which call it
  const RouteSetup admin_setup{[this](Router& routes, ReactorServices& reactor) {
    mount(routes, reactor, shared.config, shared.config.admin.routes);
  }};
  Shared shared;
  std::vector<std::unique_ptr<Reactor>> reactors;
  bool started = false;

  /// The config in force: the one started with, then each reload's (the route setup reads it).
  std::shared_ptr<const ServerConfig> live_config() const {
    const std::lock_guard lock(live_mutex);
    return live;
  }
  void set_live_config(std::shared_ptr<const ServerConfig> next) {
    const std::lock_guard lock(live_mutex);
    live = std::move(next);
  }
  /// Binds the listening sockets: this process is the server.
  void listen() {
    const auto address = server::resolve(shared.config.listen);
    // The first reactor picks the port (port 0 in tests); the others join it on SO_REUSEPORT,
    // which nobody else may share.
    server::Acceptor::check_unclaimed(address);
    reactors.front()->listen(address);
    const auto bound = reactors.front()->local_endpoint();
    for (std::size_t i = 1; i < reactors.size(); ++i) reactors[i]->listen(bound);
    if (shared.config.admin.listen) reactors.front()->listen_admin(server::resolve(*shared.config.admin.listen));
  }
  /// Accepts on the master's sockets: this process is one of its workers. Each reactor gets a
  /// descriptor of its own (Asio registers one descriptor with one io_context).
  void adopt(const server::WorkerSeat& worker) {
    for (auto& r : reactors) r->adopt(server::duplicate(worker.listener));
    if (worker.admin_listener >= 0) reactors.front()->adopt_admin(server::duplicate(worker.admin_listener));
  }
  bool all_finished() const noexcept {
    return std::all_of(reactors.begin(), reactors.end(), [](const auto& r) { return r->finished_running(); });
  }

 private:
  mutable std::mutex live_mutex;
  std::shared_ptr<const ServerConfig> live;
};

namespace {

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    default: return "signal";
  }
}

/// The signals wait_for_signal() handles, and Server::block_signals() blocks.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  return set;
}

/// What a reload leaves as it was, named for the log.
std::string needs_restart(const ServerConfig& now, const ServerConfig& next) {
  std::string names;
  const auto note = [&](bool changed, std::string_view name) {
    if (changed) names += (names.empty() ? "" : ", ") + std::string(name);
  };
  note(!(now.listen == next.listen), "listen");
  note(now.reactors != next.reactors, "reactors");
  note(now.ring_buffer_bytes != next.ring_buffer_bytes, "ring_buffer");
  note(now.limits.max_connections != next.limits.max_connections, "limits.max_connections");
  note(!(now.admin == next.admin), "admin");
  return names;
}

}  // namespace

Server::Server(ServerConfig config)
    : Server(std::move(config), RouteSetup([this](Router& routes, ReactorServices& reactor) {
               mount_routes(routes, reactor, *impl_->live_config());
             })) {}

Server::Server(ServerConfig config, std::function<void(Router&)> setup)
    : Server(std::move(config), RouteSetup([setup = std::move(setup)](Router& routes, ReactorServices&) {
               setup(routes);
             })) {}

Server::Server(ServerConfig config, RouteSetup setup)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(setup), std::nullopt)) {}

Server::Server(ServerConfig config, RouteSetup setup, const server::WorkerSeat& worker) {
  if (!setup) {  // Server(config)'s built-ins
    setup = [this](Router& routes, ReactorServices& reactor) { mount_routes(routes, reactor, *impl_->live_config()); };
  }
  impl_ = std::make_unique<Impl>(std::move(config), std::move(setup), worker);
}

Server::~Server() {
  if (!impl_) return;
  stop();
  wait();
}

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  server::start_error_log_flusher();
  std::vector<std::future<void>> ready;
  {
    const SignalMask reactors_ignore({SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE});
    for (auto& r : impl_->reactors) ready.push_back(r->start());
  }
  std::exception_ptr failure;
  for (auto& f : ready) {
    try {
      f.get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) {
    stop();
    wait();
    std::rethrow_exception(failure);
  }
  const auto ep = endpoint();
  impl_->shared.error_log->info("listening on http://{}/ with {} reactors", ep.to_string(), reactors());
  if (const auto admin = admin_endpoint())
    impl_->shared.error_log->info("admin listener on http://{}/ ({})", admin->to_string(), [&] {
      std::string paths;
      for (const RouteConfig& r : impl_->shared.config.admin.routes) paths += (paths.empty() ? "" : ", ") + r.path;
      return paths;
    }());
}

Endpoint Server::endpoint() const {
  const auto ep = impl_->reactors.front()->local_endpoint();
  return Endpoint(ep.address().to_string(), ep.port());
}

std::optional<Endpoint> Server::admin_endpoint() const {
  if (!impl_->shared.config.admin.listen) return std::nullopt;
  const auto ep = impl_->reactors.front()->admin_endpoint();
  return Endpoint(ep.address().to_string(), ep.port());
}

void Server::stop() {
  for (auto& r : impl_->reactors) r->stop();
}

void Server::wait() {
  for (auto& r : impl_->reactors) r->join();
}

void Server::block_signals() {
  const sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

void Server::reload(ServerConfig next) {
  Impl& impl = *impl_;
  const auto now = impl.live_config();
  // What can fail goes first, so that a failure leaves everything as it was.
  impl.shared.access_log.configure(next.access_log, next.access_log_format);
  server::set_error_log_file(next.error_log);
  server::set_error_log_level(next.log_level);
  const std::string kept = needs_restart(*now, next);
  if (!kept.empty())
    impl.shared.error_log->warn("reload: {} changed and need a restart; they stay as they were", kept);
  auto shared_next = std::make_shared<const ServerConfig>(std::move(next));
  impl.set_live_config(shared_next);
  for (auto& r : impl.reactors) r->reload(shared_next);
}

void Server::reopen_logs() {
  impl_->shared.access_log.reopen();
  server::reopen_error_log();
}

int Server::wait_for_signal(std::function<ServerConfig()> reload_config) {
  if (!reload_config) {
    const std::filesystem::path source = impl_->shared.config.source;
    if (!source.empty()) reload_config = [source] { return load_config(source); };
  }
  const SignalMask blocked({SIGINT, SIGTERM, SIGHUP, SIGUSR1});
  const sigset_t handled = handled_signals();
  spdlog::logger& log = *impl_->shared.error_log;
  const auto reopen = [&] {
    try {
      reopen_logs();
      log.info("SIGUSR1: log files reopened");
    } catch (const std::exception& e) {
      log.error("SIGUSR1: {}", e.what());
    }
  };
  int signal = 0;
  for (;;) {
    if (sigwait(&handled, &signal) != 0) continue;
    if (signal == SIGINT || signal == SIGTERM) break;
    if (signal == SIGHUP && impl_->shared.worker_process) continue;  // the master reloads, with new workers
    if (signal == SIGUSR1) {
      reopen();
      continue;
    }
    if (!reload_config) {  // SIGHUP
      log.warn("SIGHUP: no config file to reload (built-in defaults)");
      continue;
    }
    try {
      reload(reload_config());
      const auto source = impl_->live_config()->source;
      log.info("SIGHUP: config reloaded{}{}", source.empty() ? "" : " from ", source.string());
    } catch (const std::exception& e) {
      log.error("SIGHUP: config refused, the one in force stays: {}", e.what());
    }
  }
  log.info("{}: stopping (grace period {} ms; {} again stops at once)", signal_name(signal),
           impl_->live_config()->timeouts.shutdown_grace.count(), signal_name(signal));
  stop();
  // The drain, still listening: a second SIGINT or SIGTERM closes every connection now.
  bool hurried = false;
  while (!impl_->all_finished()) {
    timespec tick{0, 50'000'000};
    const int again = sigtimedwait(&handled, nullptr, &tick);
    if ((again == SIGINT || again == SIGTERM) && !hurried) {
      hurried = true;
      log.warn("{} again: closing every connection now", signal_name(again));
      for (auto& r : impl_->reactors) r->stop_now();
    } else if (again == SIGUSR1) {
      reopen();
    }
  }
  wait();
  std::uint64_t requests = 0, connections = 0, outstanding = 0;
  for (const ReactorSnapshot& s : snapshots()) {
    requests += s.server.requests;
    connections += s.server.accepts;
    outstanding += s.pool_manager.outstanding;
  }
  log.info("stopped: {} requests on {} connections, {} pools outstanding", requests, connections, outstanding);
  log.flush();
  return signal;
}

unsigned Server::reactors() const noexcept { return static_cast<unsigned>(impl_->reactors.size()); }

std::vector<ReactorSnapshot> Server::snapshots() const {
  std::vector<ReactorSnapshot> all;
  for (unsigned i = 0; i < reactors(); ++i) all.push_back(impl_->shared.scoreboard.read(impl_->shared.seat, i));
  return all;
}

}  // namespace mempool::http
