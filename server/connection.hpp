/// \file
/// Connection: the state machine of one client, the keep-alive loop of DESIGN §4 in one place:
///
///   wait readable -> read into a ring item -> parse in place -> route -> handler
///     -> ResponseWriter: head in the request pool
///     -> more bytes already read? stage the response (copy it), reset the request pool, next
///        request : one gather write of every staged response and this one (sendfile for
///        files), free the ring item, release the connection pool, wait
///     -> an error answer to a request still arriving: lingering close (stop writing, read and
///        discard for a bounded time and size, then close), holding no pool or buffer meanwhile
///
/// Batching (issue 13): every complete request already read is answered before one gather
/// write carries all their answers. A response is staged (copied into a staging buffer in the
/// connection pool, taken when a connection first pipelines) so that its request pool can be
/// reset for the next request: one request pool, 0 heap allocations per request. A response with
/// a file body, one that does not fit the staging room, one that closes the connection, or the
/// last request read so far ends the batch: it is written borrowed behind the staged bytes. A
/// staged response counts as served (counters, access log) when it is staged. One turn of the
/// event loop answers at most max_requests_per_turn requests of a connection; then it waits for
/// writable (an immediate event) so every other ready connection gets its turn first.
///
/// Memory. An idle connection holds only this object (a FixedPool slice) and its socket: no read
/// buffer, no pool. When bytes arrive it takes a connection pool from the reactor's PoolManager
/// and makes an Exchange in it: the request pool (a child), the parser, the read buffer and the
/// response writer. Between pipelined requests the request pool is reset; when the connection
/// goes idle again the connection pool goes back to the manager, which hands it, reset, to the
/// next connection that needs one.
///
/// It knows its reactor only through a ConnectionContext (connection_context.hpp).
/// Single-threaded: everything happens on the reactor's thread. At most one asynchronous wait
/// is pending (a ReadinessWait inside this object: waiting allocates nothing); no pool is reset
/// while it is (checked). A read that found the socket empty (EAGAIN) lets the next wait for
/// readable skip the epoll_ctl that re-arming would cost (readiness_wait.hpp); a short read does
/// not, since the peer's FIN may have come with the bytes it returned (a half-closed client must
/// get its answer and then EOF at once, not after the idle timeout).
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/socket_base.hpp>

#include <chrono>
#include <cstdint>
#include <system_error>

#include <mempool/pool_manager.hpp>

#include "deadlines.hpp"
#include "readiness_wait.hpp"

namespace mempool::server {

struct ConnectionContext;
struct Exchange;

class Connection {
 public:
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  Connection(ConnectionContext& context, Socket socket, const asio::ip::tcp::endpoint& peer) noexcept;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts serving: waits for the first request.
  void start() noexcept;
  /// Its deadline passed (called by the reactor's tick).
  void on_deadline() noexcept;
  /// The server is stopping: close now if idle, else after the response in progress. `replaced`:
  /// a worker process drains while its successor takes over the listening socket; a connection
  /// not read from yet then gets its first answer, an idle one whose next request has arrived too.
  void shutdown(bool replaced = false) noexcept;
  /// Closes at once, whatever it is doing (the grace period is over).
  void abort() noexcept;

  DeadlineLink deadline_link;  ///< the reactor's deadline list this connection is on

 private:
  enum class Phase : std::uint8_t { idle, head, body, sending, lingering, closing };
  /// A pipelining connection's share of one event-loop turn.
  static constexpr std::uint32_t max_requests_per_turn = 32;
  /// Room for staged responses: 25 GET /hello answers.
  static constexpr std::size_t staging_bytes = 4096;

  void wait(asio::socket_base::wait_type type) noexcept;
  void on_ready(std::error_code ec) noexcept;
  void serve() noexcept;
  bool begin_exchange() noexcept;
  enum class ReadResult { data, would_block, closed };
  ReadResult read_more() noexcept;
  ReadResult read_once(std::size_t room) noexcept;
  ReadResult peek() noexcept;
  /// shutdown(true): whether a request of this idle connection's client may be on its way.
  bool keep_for_successor() noexcept;
  enum class Room { ready, over_limit, no_memory };
  Room make_room() noexcept;
  bool send_continue() noexcept;
  void respond() noexcept;
  void respond_error(int status) noexcept;
  void log_handler_failure(const char* what) noexcept;
  bool stage_response() noexcept;
  bool send() noexcept;
  bool flush_staged() noexcept;
  void on_sent() noexcept;
  void yield() noexcept;
  void wait_to_send() noexcept;
  void refresh_deadline(Wait wait) noexcept;
  void destroy_if_closed() noexcept;
  void finish_response() noexcept;
  bool carry_over_pipelined() noexcept;
  void end_exchange() noexcept;
  void go_idle() noexcept;
  void start_lingering() noexcept;
  void discard() noexcept;
  void close() noexcept;
  void set_phase(Phase phase) noexcept;

  ConnectionContext& ctx_;
  ReactorSocket socket_;
  ReadinessWait readiness_{this, [](void* self, std::error_code ec) { static_cast<Connection*>(self)->on_ready(ec); }};
  asio::ip::tcp::endpoint peer_;
  PoolManager::Handle pool_;      ///< the connection pool: held while a request is in progress
  Exchange* exchange_ = nullptr;  ///< in pool_; nullptr while idle
  std::uint32_t requests_served_ = 0;
  std::uint32_t turn_requests_ = 0;  ///< requests answered since the event loop last called in
  std::uint32_t linger_left_ = 0;    ///< bytes a lingering close may still discard
  Phase phase_ = Phase::idle;
  bool waiting_ = false;          ///< an async wait is pending: its completion owns the next step
  bool stopping_ = false;         ///< close after the response in progress
  bool drained_ = false;          ///< a read in the current handler found the socket empty (EAGAIN)
  bool linger_ = false;           ///< the answer being sent refuses a request that may still be arriving
};

}  // namespace mempool::server
