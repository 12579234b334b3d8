/// \file
/// ReadinessWait: a connection's one wait for its socket, allocation-free, and for readable
/// without Asio's epoll_ctl when the connection can prove it safe.
///
/// Asio's async_wait re-arms the descriptor with epoll_ctl(EPOLL_CTL_MOD) on every call, because
/// it cannot know whether readiness was already reported and consumed. On a keep-alive
/// connection that is one extra syscall per request (~5% of the CPU time of GET /hello).
/// The connection often knows better: Asio registers sockets edge-triggered, so once a read in
/// the current handler has drained the socket (a short read or EAGAIN), any byte that arrives
/// later raises a fresh event that the reactor has not harvested yet; the wait can be queued on
/// the descriptor as it is. nginx does the same: one edge-triggered registration, never re-armed.
///
/// Invariants:
///  - wait_readable_drained() only when the socket was drained in this same handler (no return to the
///    event loop since): otherwise an event harvested meanwhile would be lost. wait() is always safe.
///  - One wait at a time; the operation lives in this object, so a wait allocates nothing, and
///    this object outlives the wait (its completion, or the reactor's cancel on close, comes first).
///  - Single-threaded: the reactor's io_context runs on one thread (concurrency hint 1).
///
/// It uses Asio's epoll reactor internals (asio::detail), version-checked at compile time.
///
/// Portable fallback (issue 13): the build defines MEMPOOL_REACTOR_WAIT=1 only when a CMake check
/// compiled this header's reactor variant against the Asio at hand (server/CMakeLists.txt) and
/// MEMPOOL_PORTABLE_WAIT is OFF. Otherwise (another Asio, the io_uring backend, or asked for) the
/// same two classes wrap the public async_wait: every wait re-arms with epoll_ctl, and its
/// operation is allocated by Asio's per-thread recycling allocator (no malloc in steady state).
#pragma once

#ifndef MEMPOOL_REACTOR_WAIT
#error "MEMPOOL_REACTOR_WAIT must be 0 or 1 (set by server/CMakeLists.txt)"
#endif

#if MEMPOOL_REACTOR_WAIT

#include <asio/io_context.hpp>  // first: asio/detail/reactor.hpp alone does not compile
#include <asio/ip/tcp.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#include <asio/version.hpp>

#include <cstddef>
#include <system_error>
#include <type_traits>
#include <utility>

static_assert(ASIO_VERSION >= 102200 && ASIO_VERSION < 103200,
              "ReadinessWait relies on asio::detail::epoll_reactor; check it against this Asio");
static_assert(std::is_same_v<asio::detail::reactor, asio::detail::epoll_reactor>,
              "ReadinessWait expects Asio's epoll reactor");

namespace mempool::server {

class ReactorSocket;

/// The reusable wait operation; on completion calls `callback(target, ec)`.
class ReadinessWait : private asio::detail::reactor_op {
 public:
  using Callback = void (*)(void* target, std::error_code ec);

  ReadinessWait(void* target, Callback callback) noexcept
      : reactor_op(std::error_code(), &perform, &complete), target_(target), callback_(callback) {}
  ReadinessWait(const ReadinessWait&) = delete;
  ReadinessWait& operator=(const ReadinessWait&) = delete;

 private:
  friend class ReactorSocket;

  void prepare() noexcept {
    ec_ = std::error_code();
    bytes_transferred_ = 0;
    cancellation_key_ = nullptr;
  }

  // Called by the reactor: once from start_op (the speculative attempt: not ready, so queue it
  // without a syscall), then when epoll reports the socket readable, hung up or failed.
  static status perform(reactor_op* base) noexcept {
    auto* self = static_cast<ReadinessWait*>(base);
    return self->queuing_ ? not_done : done;
  }

  // owner is null when the io_context is destroyed with the wait pending: nothing to call then.
  static void complete(void* owner, asio::detail::scheduler_operation* base, const std::error_code&, std::size_t) noexcept {
    auto* self = static_cast<ReadinessWait*>(base);
    if (owner != nullptr) self->callback_(self->target_, self->ec_);
  }

  void* target_;
  Callback callback_;
  bool queuing_ = false;
};

/// A TCP socket that queues a ReadinessWait directly on its reactor registration.
class ReactorSocket : public asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type> {
 public:
  using Base = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  explicit ReactorSocket(Base&& socket) noexcept : Base(std::move(socket)) {}

  /// Queues `op` until the socket is readable (wait_read) or writable (wait_write), re-arming
  /// the descriptor with epoll_ctl: always correct.
  void wait(ReadinessWait& op, wait_type type) noexcept {
    start(op, type == wait_write ? asio::detail::reactor::write_op : asio::detail::reactor::read_op, false);
  }

  /// Queues `op` until the socket is readable, without a syscall. The socket must be non-blocking
  /// and drained in the current handler (see the invariants above).
  void wait_readable_drained(ReadinessWait& op) noexcept {
    op.queuing_ = true;  // the reactor's speculative perform() says "not yet": queued as it is
    start(op, asio::detail::reactor::read_op, true);
    op.queuing_ = false;
  }

 private:
  void start(ReadinessWait& op, int op_type, bool speculative) noexcept {
    auto& impl = impl_.get_implementation();
    auto& reactor = asio::use_service<asio::detail::reactor>(asio::query(get_executor(), asio::execution::context));
    op.prepare();
    reactor.start_op(op_type, impl.socket_, impl.reactor_data_, &op, /*is_continuation=*/true, speculative);
  }
};

}  // namespace mempool::server

#else  // the portable wait: Asio's public async_wait

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <system_error>
#include <utility>

namespace mempool::server {

class ReactorSocket;

/// The wait's target and callback; on completion calls `callback(target, ec)`.
class ReadinessWait {
 public:
  using Callback = void (*)(void* target, std::error_code ec);

  ReadinessWait(void* target, Callback callback) noexcept : target_(target), callback_(callback) {}
  ReadinessWait(const ReadinessWait&) = delete;
  ReadinessWait& operator=(const ReadinessWait&) = delete;

 private:
  friend class ReactorSocket;
  void* target_;
  Callback callback_;
};

/// A TCP socket whose waits are async_wait calls.
class ReactorSocket : public asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type> {
 public:
  using Base = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  explicit ReactorSocket(Base&& socket) noexcept : Base(std::move(socket)) {}

  /// Queues `op` until the socket is readable (wait_read) or writable (wait_write).
  void wait(ReadinessWait& op, wait_type type) noexcept {
    async_wait(type, [&op](std::error_code ec) { op.callback_(op.target_, ec); });
  }
  /// The same as wait(op, wait_read): async_wait always re-arms.
  void wait_readable_drained(ReadinessWait& op) noexcept { wait(op, wait_read); }
};

}  // namespace mempool::server

#endif  // MEMPOOL_REACTOR_WAIT
