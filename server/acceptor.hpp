/// \file
/// Acceptor: a reactor's listening socket, the first stage of DESIGN §4's data flow. It listens
/// with SO_REUSEPORT, so every reactor of the server binds the same address and the kernel
/// spreads the connections; accepts with its Asio operation in the reactor's handler memory; and
/// hands each new socket to its owner, which admits it or has it refused (a canned 503, then
/// close). Once the listening socket is ready it takes what the kernel has queued, up to
/// max_accepts_per_wakeup or EAGAIN, before waiting again (nginx's multi_accept, bounded so a
/// burst of connections cannot starve the reactor's others). An accept that fails (out of descriptors, most likely) pauses accepting until
/// resume() instead of spinning.
///
/// Single-threaded: the reactor's thread, after listen() (which the server calls before the
/// reactors start).
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <system_error>

#include <mempool/http/reactor_stats.hpp>

#include "handler_memory.hpp"

namespace mempool::server {

class Acceptor {
 public:
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
  /// Takes an accepted socket (moving it out of `socket`) and returns true, or returns false to
  /// have it refused.
  struct Admit {
    bool (*admit)(void* owner, Socket& socket, const asio::ip::tcp::endpoint& peer) noexcept;
    void* owner;
  };

  /// `counters` gets accepts and refused; `reactor` names it in log lines.
  Acceptor(asio::io_context& io, HandlerMemory& memory, http::ReactorCounters& counters, Admit admit,
           unsigned reactor) noexcept;

  /// Binds and listens on `endpoint` (port 0 picks one), with SO_REUSEPORT so the server's other
  /// reactors can join. Throws std::system_error naming the address.
  void listen(const asio::ip::tcp::endpoint& endpoint) { adopt(open_listener(endpoint)); }
  /// A listening socket on `endpoint` as listen() makes it, not yet any acceptor's: what a master
  /// process makes before it forks (master.hpp). Throws std::system_error naming the address.
  static int open_listener(const asio::ip::tcp::endpoint& endpoint);
  /// Accepts on `listener`, a listening socket (open_listener()'s, or a duplicate of one a parent
  /// process made), which it owns from now on.
  void adopt(int listener);

  /// Throws std::system_error (EADDRINUSE) naming `endpoint` when some socket already listens
  /// there, this process's or another's: SO_REUSEPORT would let a second server (of the same
  /// user) share the port and take half of the first one's connections. A probe bind without
  /// SO_REUSEPORT (with SO_REUSEADDR: a port in TIME_WAIT is free) finds out. Port 0: nothing to check.
  static void check_unclaimed(const asio::ip::tcp::endpoint& endpoint);
  asio::ip::tcp::endpoint local_endpoint() const;

  /// Starts accepting.
  void start() noexcept;
  /// Starts again after a failed accept paused it; nothing if it was not paused.
  void resume() noexcept;
  /// Stops accepting for good: closes the listening socket (the pending accept ends). Its epoll
  /// registration goes first: another process (a master, a sibling worker) may keep the socket
  /// open, and epoll forgets a socket only when every descriptor of it is closed.
  void close() noexcept;

 private:
  using ListeningSocket = asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>;

  /// Connections taken per readiness of the listening socket, at most.
  static constexpr unsigned max_accepts_per_wakeup = 16;

  void accept() noexcept;
  void on_accept(std::error_code ec, Socket socket) noexcept;
  /// After one accept: takes up to max_accepts_per_wakeup - 1 more queued connections without
  /// waiting. False when accepting stopped (closed, or paused by a failed accept).
  bool accept_queued() noexcept;
  /// Counts an accepted socket and hands it to the owner, or refuses it.
  void take(Socket& socket) noexcept;
  /// Logs a failed accept and pauses until resume().
  void pause(std::error_code ec) noexcept;
  void refuse(Socket& socket) noexcept;

  ListeningSocket acceptor_;
  HandlerMemory& memory_;
  http::ReactorCounters& counters_;
  Admit admit_;
  unsigned reactor_;
  asio::ip::tcp::endpoint peer_;  ///< filled by the pending accept
  bool closed_ = false;
  bool paused_ = false;           ///< an accept failed: resume() starts again
};

}  // namespace mempool::server
