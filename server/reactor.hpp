/// \file
/// Reactor: one thread and everything its share of the connections needs, so that nothing is
/// shared on the hot path (DESIGN §4): its own io_context (concurrency hint 1), an Acceptor, a
/// BlockAllocator and PoolManager for connection and request pools, a RingBuffer for reads, a
/// FixedPool of Connection objects, recycled memory for Asio's operations, a
/// SmallObjectAllocator for the open-file caches, its own Router, the cached Date line,
/// counters and the deadline lists. It offers the route setup its services
/// (http::ReactorServices) and its connections a narrow ConnectionContext.
///
/// Lifecycle: built on the caller's thread, listen() there; start() starts the thread, which
/// runs the route setup, then accepts until stop(). Threads: stop() may be called from any
/// thread; everything else runs on the reactor's own thread. snapshot() is for that thread only;
/// other threads read the copy it publishes to the Scoreboard.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <cstddef>
#include <future>
#include <memory>
#include <list>
#include <string>
#include <string_view>
#include <thread>

#include <mempool/block_allocator.hpp>
#include <mempool/fixed_pool.hpp>
#include <mempool/http/reactor_stats.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/services.hpp>
#include <mempool/http/static_files.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/small_object_allocator.hpp>

#include "acceptor.hpp"
#include "connection.hpp"
#include "connection_context.hpp"
#include "date_cache.hpp"
#include "deadlines.hpp"
#include "handler_memory.hpp"
#include "shared.hpp"

namespace mempool::server {

class Reactor final : private http::ReactorServices {
 public:
  /// `setup` (the Server's) mounts this reactor's routes on its thread; `admin_setup` the admin
  /// listener's, if listen_admin() was called.
  Reactor(unsigned id, Shared& shared, const http::RouteSetup& setup, const http::RouteSetup& admin_setup);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  /// Opens the acceptor on `endpoint` (port 0 picks one); before start().
  void listen(const asio::ip::tcp::endpoint& endpoint) { acceptor_.listen(endpoint); }
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  /// Accepts on `listener`, a listening socket it owns from now on (a worker's duplicate of its
  /// master's); before start().
  void adopt(int listener) { acceptor_.adopt(listener); }
  /// Opens the admin listener on `endpoint` (reactor 0 only); before start().
  void listen_admin(const asio::ip::tcp::endpoint& endpoint) { adopt_admin(Acceptor::open_listener(endpoint)); }
  /// The same on a listening socket it owns from now on.
  void adopt_admin(int listener);
  asio::ip::tcp::endpoint admin_endpoint() const { return admin_acceptor_.local_endpoint(); }
  /// Starts the reactor's thread. The future is ready once the routes are set up and the reactor
  /// accepts; it holds the exception if the route setup threw (the thread has then ended).
  std::future<void> start();
  /// Graceful stop, from any thread: stop accepting, close idle connections, let the requests in
  /// progress finish within the grace period, then close the rest; the thread then ends.
  void stop();
  /// A stop that does not wait for requests in progress: closes every connection now (a second
  /// SIGINT/SIGTERM). From any thread.
  void stop_now();
  void join();
  /// True once the thread has finished (from any thread).
  bool finished_running() const noexcept { return done_.load(std::memory_order_acquire); }
  /// Applies `next` for new requests, from any thread (posted to the reactor's thread): limits but
  /// max_connections, timeouts, the Server header, and the routes (the setup runs again, on a
  /// fresh Router; a static-file handler over an unchanged root keeps its cache). Open connections
  /// stay. What a reload cannot change (listen, reactors, ring_buffer, admin) is left alone.
  void reload(std::shared_ptr<const ServerConfig> next);

  /// This reactor's figures now (its own thread only).
  http::ReactorSnapshot snapshot() const noexcept;

 private:
  using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, asio::io_context::executor_type>;

  // http::ReactorServices, for the route setup and its handlers.
  unsigned reactor() const noexcept override { return id_; }
  PoolManager& pools() noexcept override { return pools_; }
  GlobalArena& arena() noexcept override { return shared_.arena; }
  SmallObjectAllocator& small_objects() noexcept override { return small_objects_; }
  const http::MimeTypes& mime_types() const noexcept override { return shared_.mime; }
  const http::ReactorCounters& counters() const noexcept override { return counters_; }
  void collect_stats(http::StatsTable& table) const override { shared_.collect(table, snapshot()); }
  http::StaticFiles& add_static_files(std::string_view root, const http::StaticFilesOptions& options) override;

  void run() noexcept;
  static bool admit(void* self, Acceptor::Socket& socket, const asio::ip::tcp::endpoint& peer) noexcept;
  static bool admit_admin(void* self, Acceptor::Socket& socket, const asio::ip::tcp::endpoint& peer) noexcept;
  static void release(void* self, Connection& connection) noexcept;
  static void release_admin(void* self, Connection& connection) noexcept;
  void schedule_tick() noexcept;
  void on_tick() noexcept;
  void begin_stop() noexcept;
  void close_all(bool idle_only) noexcept;
  void apply(const ServerConfig& next) noexcept;
  bool finished() const noexcept { return stopping_ && counters_.open == 0; }

  const unsigned id_;
  Shared& shared_;
  const http::RouteSetup& setup_;
  const http::RouteSetup& admin_setup_;
  ServerConfig config_;  ///< what this reactor's connections read: limits, timeouts, Server header
  asio::io_context io_{1};  // concurrency hint 1: one thread, no locking in the scheduler
  Timer tick_;
  // Before the pools: a request pool's cleanup may release a file into a static-file handler's
  // cache, which lives in the small-object allocator.
  SmallObjectAllocator small_objects_;
  /// A static-file handler and the root it was made for (a reload looks it up by root).
  struct StaticRoot {
    StaticRoot(std::string_view path, const http::MimeTypes& mime, SmallObjectAllocator& small,
               const http::StaticFilesOptions& options)
        : root(path), files(path, mime, small, options) {}
    std::string root;
    http::StaticFiles files;
  };
  std::list<StaticRoot> static_files_;  ///< made by the route setup
  BlockAllocator blocks_;
  PoolManager pools_;
  RingBuffer ring_;
  FixedPool connections_;
  HandlerMemory handler_memory_;
  http::Router router_;
  http::Router admin_router_;
  DateCache date_;
  DeadlineLists<Connection> deadlines_;
  http::ReactorCounters counters_;
  ConnectionContext context_;  ///< what each Connection sees of this reactor
  ConnectionContext admin_context_;  ///< the same, with the admin routes
  Acceptor acceptor_;
  Acceptor admin_acceptor_;
  bool admin_ = false;          ///< the admin listener is open
  std::size_t admin_open_ = 0;  ///< admin connections open (counted in counters_.open too)
  std::size_t max_connections_;
  std::chrono::milliseconds tick_interval_;
  Clock::time_point next_publish_{};
  Clock::time_point stop_deadline_{};
  bool stopping_ = false;
  bool reloading_ = false;  ///< the route setup runs again: add_static_files reuses a handler per root
  std::atomic<bool> done_{false};
  std::promise<void> ready_;
  std::thread thread_;
};

}  // namespace mempool::server
