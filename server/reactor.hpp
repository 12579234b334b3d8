/// \file
/// Reactor: one thread and everything its share of the connections needs, so that nothing is
/// shared on the hot path (DESIGN §4): its own io_context (concurrency hint 1), an SO_REUSEPORT
/// acceptor, a BlockAllocator and PoolManager for connection and request pools, a RingBuffer for
/// reads, a FixedPool of Connection objects, recycled memory for Asio's operations, a
/// SmallObjectAllocator for the open-file cache, its own router and static-file handler, the
/// cached Date line, counters and the deadline lists.
///
/// Threads: built on the main thread, then everything runs on the reactor's own thread;
/// stop() may be called from any thread. snapshot() is for that thread only; other threads read
/// the copy it publishes to the Scoreboard.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include <mempool/block_allocator.hpp>
#include <mempool/fixed_pool.hpp>
#include <mempool/http/request.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/static_files.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/ring_buffer.hpp>
#include <mempool/small_object_allocator.hpp>

#include "config.hpp"
#include "connection.hpp"
#include "date_cache.hpp"
#include "deadlines.hpp"
#include "handler_memory.hpp"
#include "scoreboard.hpp"

namespace mempool::server {

class Shared;

class Reactor {
 public:
  Reactor(unsigned id, Shared& shared);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  /// Opens the SO_REUSEPORT acceptor on `endpoint` (port 0 picks one); before start().
  void listen(const asio::ip::tcp::endpoint& endpoint);
  asio::ip::tcp::endpoint local_endpoint() const;
  /// Starts the reactor's thread.
  void start();
  /// Graceful stop, from any thread: stop accepting, close idle connections, let the requests in
  /// progress finish within the grace period, then close the rest; the thread then ends.
  void stop();
  void join();

  // --- for connections (reactor thread only) ---------------------------------------------------
  const ServerConfig& config() const noexcept;
  PoolManager& pools() noexcept { return pools_; }
  RingBuffer& ring() noexcept { return ring_; }
  const DateCache& date() const noexcept { return date_; }
  ReactorCounters& counters() noexcept { return counters_; }
  DeadlineLists<Connection>& deadlines() noexcept { return deadlines_; }
  const http::Router& router() const noexcept { return router_; }
  std::chrono::milliseconds timeout(Wait wait) const noexcept;
  /// "address:port" in `pool`.
  std::string_view peer_text(const asio::ip::tcp::endpoint& peer, Pool& pool) const noexcept;
  void count_response(int status) noexcept { ++counters_.responses[static_cast<std::size_t>(status / 100) % 6]; }
  void log_access(const http::Request& req, int status, std::uint64_t bytes) noexcept;
  void log_handler_error(const http::Request& req, const char* what) noexcept;
  /// A closed connection gives its slot back.
  void destroy(Connection& connection) noexcept;

  /// This reactor's counters now (its own thread only).
  ReactorSnapshot snapshot() const noexcept;
  unsigned id() const noexcept { return id_; }

 private:
  using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>;
  using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, asio::io_context::executor_type>;

  void run() noexcept;
  void accept() noexcept;
  void on_accept(std::error_code ec, Connection::Socket socket) noexcept;
  void refuse(Connection::Socket& socket) noexcept;
  void schedule_tick() noexcept;
  void on_tick() noexcept;
  void begin_stop() noexcept;
  void close_all(bool idle_only) noexcept;
  bool finished() const noexcept;
  void build_routes();
  template <class F>
  auto with_handler_memory(F&& f) noexcept;

  const unsigned id_;
  Shared& shared_;
  asio::io_context io_{1};  // concurrency hint 1: one thread, no locking in the scheduler
  Acceptor acceptor_;
  Timer tick_;
  asio::ip::tcp::endpoint peer_;  ///< filled by the pending accept
  BlockAllocator blocks_;
  PoolManager pools_;
  RingBuffer ring_;
  FixedPool connections_;
  HandlerMemory handler_memory_;
  SmallObjectAllocator small_objects_;
  http::StaticFiles static_files_;
  http::Router router_;
  DateCache date_;
  DeadlineLists<Connection> deadlines_;
  ReactorCounters counters_;
  std::size_t max_connections_;
  std::chrono::milliseconds tick_interval_;
  Clock::time_point next_publish_{};
  Clock::time_point stop_deadline_{};
  bool stopping_ = false;
  bool accept_paused_ = false;  ///< accept failed (out of descriptors?): retried at the next tick
  std::thread thread_;
};

}  // namespace mempool::server
