/// \file
/// ResponseWriter: a connection's outgoing bytes (DESIGN §4, the writer of the data flow).
/// prepare: add() serialises a response's head into the request pool and queues it with the
/// body as borrowed pieces. gather write: flush() sends the memory pieces with one sendmsg, then
/// a file body with sendfile once every byte before it is out. wait to send: a flush that fills
/// the socket stops where it is and says `blocked`; the connection waits until the socket is
/// writable (its send timeout running) and flushes again.
///
/// Batching (issue 13): pipelined requests are answered before anything is written. stage()
/// copies the response queued last (head and memory body) into a staging buffer the connection
/// lends (set_staging), so its request pool can be reset for the next request while the bytes
/// wait; the next flush() carries every staged response and the last, borrowed one in one
/// gather write: [staged bytes][head][memory body], then the file. A response that has a file
/// body or does not fit the staging room is not staged: it ends the batch (flushed borrowed).
///
/// Borrowing: the staging buffer and the borrowed pieces must stay valid until flush() is done;
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

  /// Lends `capacity` bytes at `buffer` for stage(); until then nothing can be staged. Ignored
  /// while something is staged. A queued borrowed response stays queued.
  void set_staging(char* buffer, std::size_t capacity) noexcept;
  bool has_staging() const noexcept { return staging_ != nullptr; }

  /// Queues `res`: its head serialised into `pool` with `head`'s options, then its body unless
  /// `head_only` (HEAD) or its status has none. False when the pool cannot hold the head or a
  /// response is already queued borrowed; nothing is queued then.
  bool add(const http::Response& res, const HeadOptions& head, bool head_only, Pool& pool) noexcept;
  /// Copies the response queued by the last add() behind the staged ones: nothing queued borrows
  /// from its request pool any more. False, and nothing changes, when it has a file body or does
  /// not fit the staging room. Only before a flush() has started writing.
  bool stage() noexcept;
  /// Forgets the response queued borrowed, if any; staged responses stay.
  void drop_borrowed() noexcept;

  /// Writes everything queued to the socket `fd` (non-blocking); counts its sendmsg calls into
  /// `gather_writes`.
  Flush flush(int fd, std::uint64_t& gather_writes) noexcept;
  /// Forgets everything queued and the bytes counted (keeps the staging buffer).
  void clear() noexcept;

  /// Nothing left to write.
  bool empty() const noexcept {
    for (std::size_t i = next_; i < count_; ++i) {
      if (pieces_[i].iov_len > 0) return false;
    }
    return file_.length == 0;
  }
  /// Bytes of the last response for the access log: its size when staged, else what of it was
  /// written since the last clear().
  std::uint64_t response_bytes() const noexcept;

 private:
  /// pieces_[0] is the staging buffer's unwritten bytes; then one response's head and body.
  static constexpr std::size_t max_pieces = 3;

  bool write_pieces(int fd, std::uint64_t& gather_writes) noexcept;
  bool send_file(int fd) noexcept;

  std::array<iovec, max_pieces> pieces_{};
  std::size_t next_ = 0;   ///< the first piece not fully written
  std::size_t count_ = 1;  ///< pieces queued, the staging piece included
  http::FileBody file_;    ///< what is left of a file body, sent after the pieces
  char* staging_ = nullptr;
  std::size_t staging_capacity_ = 0;
  std::size_t staged_ = 0;             ///< bytes staged since the last clear()
  std::uint64_t last_staged_ = 0;      ///< size of the response staged last (0: it was not staged)
  std::uint64_t bytes_sent_ = 0;
  int error_ = 0;          ///< errno of the write that stopped a flush
};

}  // namespace mempool::server
