/// \file
/// ResponseWriter: a connection's outgoing bytes (DESIGN §4, the writer of the data flow).
/// prepare: add() serialises a response's head into the request pool and queues it with the
/// body as pieces. gather write: flush() sends the memory pieces (head, a body the handler
/// lent) with one sendmsg, then a file body with sendfile once every byte before it is out.
/// wait to send: a flush that fills the socket stops where it is and says `blocked`; the
/// connection waits until the socket is writable (its send timeout running) and flushes again.
///
/// Room for batching (issue 13): add() appends and flush() writes everything queued, so the
/// responses of several pipelined requests can leave in one gather write once max_pieces is
/// raised towards IOV_MAX and a file body ends a batch; today a connection queues one response
/// at a time.
///
/// Borrowing (as Response): nothing is owned. The pieces must stay valid until flush() is done;
/// the connection resets the request pool only then. Single-threaded, allocation-free.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include <mempool/http/response.hpp>
#include <mempool/pool.hpp>

#include "response_head.hpp"

namespace mempool::server {

class ResponseWriter {
 public:
  enum class Flush {
    done,     ///< everything queued is written
    blocked,  ///< the socket is full: wait until it is writable, then flush again
    failed,   ///< the connection is broken (reset, or a file that shrank under us)
  };

  /// Queues `res`: its head serialised into `pool` with `head`'s options, then its body unless
  /// `head_only` (HEAD) or its status has none. False when the pool cannot hold the head; nothing
  /// is queued then (nor when the queue is full).
  bool add(const http::Response& res, const HeadOptions& head, bool head_only, Pool& pool) noexcept;
  /// Writes what is queued to the socket `fd` (non-blocking).
  Flush flush(int fd) noexcept;
  /// Forgets what is queued and the bytes counted: the next request's response starts afresh.
  void clear() noexcept { *this = ResponseWriter(); }

  bool empty() const noexcept { return next_ == count_ && file_.length == 0; }
  /// Bytes written since the last clear() (the access log's size).
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  static constexpr std::size_t max_pieces = 2;  ///< one response: its head and a memory body

  bool write_pieces(int fd) noexcept;
  bool send_file(int fd) noexcept;

  std::array<iovec, max_pieces> pieces_{};
  std::size_t next_ = 0;   ///< the first piece not fully written
  std::size_t count_ = 0;  ///< pieces queued
  http::FileBody file_;    ///< what is left of a file body, sent after the pieces
  std::uint64_t bytes_sent_ = 0;
  int error_ = 0;          ///< errno of the write that stopped a flush
};

}  // namespace mempool::server
