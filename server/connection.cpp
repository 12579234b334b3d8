#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <charconv>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include <spdlog/logger.h>

#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>

#include "connection_context.hpp"
#include "read_buffer.hpp"
#include "request_parser.hpp"
#include "response_head.hpp"
#include "response_writer.hpp"

namespace mempool::server {

/// Everything one request in progress needs, made in the connection pool when bytes arrive and
/// gone when the connection goes idle again.
struct Exchange {
  Exchange(Pool& connection_pool, const ServerConfig& config)
      : request_pool(connection_pool,
                     PoolOptions{.capacity = config.limits.request_pool_capacity, .cascade = true, .tag = "request"}),
        parser(config.limits) {}

  Pool request_pool;      ///< a child of the connection pool, charged to its budget; reset after each response
  RequestParser parser;   ///< lives across pipelined requests; restarted for each
  ReadBuffer buffer;      ///< the bytes read: this request, and maybe the start of the next
  ReadBuffer spare;       ///< a fallback buffer the current one grew out of: for the next request
  ResponseWriter writer;  ///< the response being written
  int status = 0;         ///< of that response, for the counters and the access log
  std::chrono::steady_clock::time_point started{};  ///< when it was parsed: the latency histogram
  bool keep_alive = true; ///< after that response
  bool continue_sent = false;
  bool unfinished = false;  ///< a response is queued borrowed: finish it once it is written
  http::Request request;  ///< for the access log
};

namespace {

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

/// "address:port" in `pool`; empty if the pool is full.
std::string_view peer_text(const asio::ip::tcp::endpoint& peer, Pool& pool) noexcept {
  // IPv4 by hand: glibc's inet_ntop formats with sprintf, a cost on every request.
  const auto* sa = peer.data();
  if (sa->sa_family == AF_INET) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
    auto* text = static_cast<char*>(pool.alloc_unaligned(sizeof "255.255.255.255:65535"));
    if (text == nullptr) return {};
    char* p = text;
    for (int i = 0; i < 4; ++i) {
      p = std::to_chars(p, p + 3, bytes[i]).ptr;
      *p++ = i < 3 ? '.' : ':';
    }
    p = std::to_chars(p, p + 5, peer.port()).ptr;
    return {text, static_cast<std::size_t>(p - text)};
  }
  char address[INET6_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, address, sizeof address);
  return pool.format("[{}]:{}", address, peer.port());
}

}  // namespace

Connection::Connection(ConnectionContext& context, Socket socket, const asio::ip::tcp::endpoint& peer) noexcept
    : ctx_(context), socket_(std::move(socket)), peer_(peer) {}

Connection::~Connection() {
  MEMPOOL_EXPECT(!waiting_, "connection destroyed with a wait pending");
}

// --- the loop -----------------------------------------------------------------------------------

// Entry points (start, on_ready, on_deadline, shutdown, abort) are the outermost frames that
// touch a connection: close() only marks it, and each entry point ends with
// destroy_if_closed(), so nothing runs on a connection after it is gone.

void Connection::start() noexcept {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) {
    close();
  } else {
    set_phase(Phase::head);  // the first request's head is due within the header timeout
    wait(asio::socket_base::wait_read);
  }
  destroy_if_closed();
}

void Connection::destroy_if_closed() noexcept {
  if (phase_ != Phase::closing || waiting_) return;  // a pending wait's completion comes back here
  end_exchange();
  ctx_.release(*this);
}

void Connection::wait(asio::socket_base::wait_type type) noexcept {
  waiting_ = true;
  const bool drained = std::exchange(drained_, false);  // a proof for this wait only
  if (type == asio::socket_base::wait_read && drained) {
    socket_.wait_readable_drained(readiness_);
  } else {
    socket_.wait(readiness_, type);
  }
}

void Connection::on_ready(std::error_code ec) noexcept {
  waiting_ = false;
  drained_ = false;  // back from the event loop: what an earlier read proved no longer holds
  if (phase_ == Phase::closing || ec) {
    close();
  } else if (phase_ == Phase::lingering) {
    discard();
  } else if (phase_ == Phase::sending) {
    if (send()) on_sent();
    if (phase_ == Phase::head || phase_ == Phase::body) serve();  // a request waits in the buffer
  } else {
    serve();
  }
  destroy_if_closed();
}

// Reads and answers requests until the socket has nothing more for now, the connection closes,
// or a response waits for the socket to drain.
void Connection::serve() noexcept {
  if (exchange_ == nullptr && !begin_exchange()) return close();
  turn_requests_ = 0;
  for (;;) {
    Exchange& ex = *exchange_;
    switch (ex.parser.parse(ex.buffer.data, ex.buffer.filled)) {
      case RequestParser::State::complete:
        respond();
        if (phase_ != Phase::head) return;  // waiting to send, idle, or closing
        if (++turn_requests_ >= max_requests_per_turn) return yield();
        continue;  // a pipelined request is already in the buffer
      case RequestParser::State::failed:
        ++ctx_.counters.parse_errors;
        return respond_error(ex.parser.error_status());
      case RequestParser::State::need_more:
        break;
    }
    if (!flush_staged()) return;  // staged answers leave before reading more (or a 100 Continue)
    if (ex.parser.headers_complete() && phase_ != Phase::body) set_phase(Phase::body);
    if (ex.parser.wants_continue() && !ex.continue_sent && !send_continue()) return close();
    switch (make_room()) {
      case Room::ready: break;
      case Room::over_limit: return respond_error(ex.parser.headers_complete() ? 413 : 431);
      case Room::no_memory: return respond_error(503);  // the connection's budget is spent
    }
    switch (read_more()) {
      case ReadResult::data:
        if (phase_ == Phase::body) refresh_deadline(Wait::body);  // nginx: between two reads
        continue;
      case ReadResult::closed:
        return close();
      case ReadResult::would_block:
        if (ex.buffer.filled == 0) return go_idle();  // woke up for nothing: hold nothing
        return wait(asio::socket_base::wait_read);
    }
  }
}

bool Connection::begin_exchange() noexcept {
  pool_ = ctx_.pools.acquire("connection");
  if (!pool_) return false;
  pool_->set_capacity(ctx_.config.limits.connection_memory);  // everything below is charged to it
  exchange_ = pool_->make<Exchange>(*pool_, ctx_.config);
  if (exchange_ == nullptr) return false;
  exchange_->parser.start(exchange_->request_pool);
  if (!exchange_->buffer.acquire(ctx_.ring, *pool_, ctx_.config.limits.header_buffer)) return false;
  if (exchange_->buffer.fell_back()) ++ctx_.counters.ring_fallbacks;
  set_phase(Phase::head);
  return true;
}

// Two reads in one system call (recvmmsg): the bytes there are, and then one more byte. The
// second read says what follows the first: nothing yet (EAGAIN: the socket is drained, and going
// idle needs no peek to catch a FIN that came with the request), more bytes (kept), or the
// peer's EOF (left for go_idle's peek to find). One system call per read, as with recv, where a
// recv and a peek made two per keep-alive request.
Connection::ReadResult Connection::read_more() noexcept {
  ReadBuffer& b = exchange_->buffer;
  const std::size_t room = b.capacity - b.filled;
  if (room < 2) return read_once(room);
  char next = 0;
  iovec pieces[2] = {{b.data + b.filled, room - 1}, {&next, 1}};
  mmsghdr reads[2] = {};
  reads[0].msg_hdr.msg_iov = &pieces[0];
  reads[0].msg_hdr.msg_iovlen = 1;
  reads[1].msg_hdr.msg_iov = &pieces[1];
  reads[1].msg_hdr.msg_iovlen = 1;
  const int done = ::recvmmsg(socket_.native_handle(), reads, 2, MSG_DONTWAIT, nullptr);
  if (done < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadResult::closed;
    drained_ = true;
    return ReadResult::would_block;
  }
  const std::size_t first = reads[0].msg_len;
  if (first == 0) return ReadResult::closed;  // the peer closed (both reads saw its EOF)
  b.filled += first;
  if (done == 1) {
    drained_ = true;  // the second read failed: EAGAIN (an error stays on the socket for the next call)
  } else if (reads[1].msg_len == 1) {
    b.data[b.filled++] = next;  // more bytes: room - 1 left room for this one
  }  // else the peer's EOF waits behind these bytes: drained_ stays false, so go_idle peeks
  return ReadResult::data;
}

// One recv, for a buffer with a single byte of room.
Connection::ReadResult Connection::read_once(std::size_t room) noexcept {
  ReadBuffer& b = exchange_->buffer;
  const ssize_t n = ::recv(socket_.native_handle(), b.data + b.filled, room, 0);
  if (n > 0) {
    b.filled += static_cast<std::size_t>(n);
    return ReadResult::data;  // (a FIN may wait behind these bytes, see go_idle)
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    drained_ = true;
    return ReadResult::would_block;
  }
  return ReadResult::closed;  // the peer closed (n == 0) or the socket failed
}

// Whether the peer has sent more, or closed, without taking a byte: for a connection that holds
// no buffer.
Connection::ReadResult Connection::peek() noexcept {
  char byte;
  const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK);
  if (n > 0) return ReadResult::data;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    drained_ = true;
    return ReadResult::would_block;
  }
  return ReadResult::closed;
}

// Room for the next read: the head grows to its limit, a body to its declared length.
Connection::Room Connection::make_room() noexcept {
  Exchange& ex = *exchange_;
  ReadBuffer& b = ex.buffer;
  if (b.filled < b.capacity) return Room::ready;
  ex.parser.reclaim(b.data, b.filled);  // chunk framing already parsed
  if (b.filled < b.capacity) return Room::ready;
  const Limits& limits = ctx_.config.limits;
  std::size_t want = b.capacity * 2;
  if (!ex.parser.headers_complete()) {
    want = std::min(want, limits.max_header_bytes + limits.header_buffer);
  } else if (!ex.parser.chunked()) {
    want = ex.parser.parsed() + ex.parser.content_length() + limits.header_buffer;
  } else {
    // The head and the de-chunked body, and a read's room: parsed framing is reclaimed. Only
    // framing read just before the trailers stays, which the second step makes room for.
    const std::size_t tight = limits.max_header_bytes + limits.max_body_bytes + limits.header_buffer;
    // (Straight to `tight` from past its half: one size, which the block allocator keeps, not a
    // last small step that costs a fresh block every time.)
    want = want * 2 > tight ? std::max(want, tight) : want;
    want = std::min(want, b.capacity < tight ? tight : limits.max_header_bytes + 2 * limits.max_body_bytes);
  }
  if (want <= b.capacity) return Room::over_limit;
  if (b.fell_back() && b.capacity > ex.spare.capacity) ex.spare = b;  // for the next pipelined request
  return b.grow(ex.request_pool, want) ? Room::ready : Room::no_memory;
}

bool Connection::send_continue() noexcept {
  exchange_->continue_sent = true;
  ++ctx_.counters.continues;
  const ssize_t n = ::send(socket_.native_handle(), continue_response.data(), continue_response.size(), MSG_NOSIGNAL);
  return n == static_cast<ssize_t>(continue_response.size());  // 25 bytes into an idle socket
}

// --- responses ----------------------------------------------------------------------------------

void Connection::respond() noexcept {
  Exchange& ex = *exchange_;
  if (!ex.parser.request(ex.buffer.data, ex.request)) return respond_error(500);  // the pool is full
  ex.started = std::chrono::steady_clock::now();
  http::Request& req = ex.request;
  req.remote_address = peer_text(peer_, ex.request_pool);
  ++ctx_.counters.requests;

  // The handler boundary (router.hpp): whatever a handler throws is answered 500.
  bool queued = false;
  try {
    http::Response res(ex.request_pool);
    if (const http::Handler* handler = ctx_.router.find(req.path)) {
      (*handler)(req, res);
    } else {
      res.error(404);
    }
    ex.status = res.status;
    ex.keep_alive = req.keep_alive && res.keep_alive && !stopping_ &&
                    requests_served_ + 1 < ctx_.config.limits.keepalive_requests;
    const HeadOptions head{ex.keep_alive, ex.keep_alive && req.version_minor == 0, ctx_.date.date_header(),
                           ctx_.config.server_name};
    queued = ex.writer.add(res, head, req.method == http::Method::head, ex.request_pool);
  } catch (const std::bad_alloc&) {
    // the request pool's capacity ran out
  } catch (const std::exception& e) {
    log_handler_failure(e.what());
  } catch (...) {
    log_handler_failure("an exception that is not a std::exception");
  }
  // The Response (its header list is in the request pool) is gone before writing can end the
  // exchange and release that pool.
  if (!queued) {
    ++ctx_.counters.handler_failures;
    return respond_error(500);  // which resets the pool first: a short page fits
  }
  if (stage_response()) return finish_response();  // the next request is already read
  ex.unfinished = true;
  if (send()) finish_response();
}

// Stages the response just queued when the batch goes on: the connection stays open, bytes of a
// next request are already read, and this turn has room for it. The staging buffer is taken
// from the connection pool when a connection first pipelines.
bool Connection::stage_response() noexcept {
  Exchange& ex = *exchange_;
  if (!ex.keep_alive || ex.buffer.filled <= ex.parser.message_end() ||
      turn_requests_ + 1 >= max_requests_per_turn) {
    return false;
  }
  if (!ex.writer.has_staging()) {
    auto* staging = static_cast<char*>(pool_->alloc_unaligned(staging_bytes));
    if (staging == nullptr) return false;
    ex.writer.set_staging(staging, staging_bytes);
  }
  return ex.writer.stage();
}

// A request we will not serve (400, 408, 413, 414, 431, 500, 505, ...): a short page, then
// close. The request pool is reset first: the answer must not fail for the memory that the
// request used up.
void Connection::respond_error(int status) noexcept {
  Exchange& ex = *exchange_;
  ex.started = std::chrono::steady_clock::now();
  linger_ = !ex.parser.message_complete();  // the rest of this request may still be on its way
  const bool head_only = ex.parser.head_request();
  ex.request = {};
  ex.request.request_pool = &ex.request_pool;
  ex.request_pool.reset();
  ex.writer.drop_borrowed();  // staged answers to earlier requests still leave first
  ex.status = status;
  ex.keep_alive = false;
  bool queued = false;
  try {
    http::Response res(ex.request_pool);
    res.error(status);
    queued = ex.writer.add(res, {false, false, ctx_.date.date_header(), ctx_.config.server_name}, head_only,
                           ex.request_pool);
  } catch (const std::bad_alloc&) {
  }
  if (!queued) return close();  // not even a short page fits: the peer sees the connection close
  ex.unfinished = true;
  if (send()) finish_response();
}

void Connection::log_handler_failure(const char* what) noexcept {
  try {
    ctx_.error_log.error("reactor {}: handler for {} failed: {}", ctx_.reactor, exchange_->request.path, what);
  } catch (...) {
  }
}

// Writes what is left of the response. True when all is written; false when it waits for the
// socket to drain, or the connection closed.
bool Connection::send() noexcept {
  switch (exchange_->writer.flush(socket_.native_handle(), ctx_.counters.gather_writes)) {
    case ResponseWriter::Flush::done:
      return true;
    case ResponseWriter::Flush::blocked:
      set_phase(Phase::sending);
      wait_to_send();
      return false;
    case ResponseWriter::Flush::failed:
      close();
      return false;
  }
  return false;
}

// Writes the staged responses, if any. True when the connection may read on; false when it
// waits for the socket to drain, or closed.
bool Connection::flush_staged() noexcept {
  if (exchange_->writer.empty()) return true;
  if (!send()) return false;
  on_sent();
  return true;
}

// Everything queued is written: finish the response that was, or go on reading after a batch of
// staged ones.
void Connection::on_sent() noexcept {
  Exchange& ex = *exchange_;
  if (ex.unfinished) return finish_response();
  ex.writer.clear();
  set_phase(ex.parser.headers_complete() ? Phase::body : Phase::head);
}

// This turn's share is used up with requests still read: let the event loop serve every other
// ready connection first. The socket is writable, so this wait completes on the next turn.
void Connection::yield() noexcept {
  ++ctx_.counters.batch_yields;
  wait(asio::socket_base::wait_write);
}

// The socket is full: wait until it drains (the send timeout counts from now, as nginx's
// send_timeout does between two writes).
void Connection::wait_to_send() noexcept {
  refresh_deadline(Wait::send);
  wait(asio::socket_base::wait_write);
}

void Connection::refresh_deadline(Wait wait) noexcept {
  ctx_.deadlines.set(*this, wait, coarse_now() + ctx_.timeout(wait));
}

// The response is out: keep the connection for the next request, or close it.
void Connection::finish_response() noexcept {
  Exchange& ex = *exchange_;
  ex.unfinished = false;
  ++requests_served_;
  ctx_.counters.request_duration.observe(std::chrono::steady_clock::now() - ex.started);
  ++ctx_.counters.responses[static_cast<std::size_t>(ex.status / 100) % ctx_.counters.responses.size()];
  ctx_.access_log.write(ex.request, ex.status, ex.writer.response_bytes(), ctx_.date.log_date());
  if (ex.writer.empty()) ex.writer.clear();  // written: a staged one waits for the batch's write
  if (!ex.keep_alive) {
    // Bytes the client sent may still be arriving (the rest of a refused request, pipelined
    // requests after the last one served): closing with them unread would reset the connection,
    // and the client could lose the answer.
    const bool more_coming = linger_ || ex.buffer.filled > ex.parser.message_end();
    return more_coming ? start_lingering() : close();
  }
  if (ex.buffer.filled > ex.parser.message_end()) {
    if (!carry_over_pipelined()) return respond_error(503);  // the connection's budget is spent
    phase_ = Phase::head;
    refresh_deadline(Wait::header);  // each pipelined head gets its own header timeout
    return;  // serve() goes on with the next request
  }
  go_idle();
}

// Bytes after this request belong to the next one: move them to a fresh buffer, then reset.
// A fallback buffer of this connection serves again first (the current one, or the one it grew
// out of): a connection that pipelines never goes idle, so what it took from its pool stays
// taken until then, and must not grow with every request. A new fallback at least doubles the
// spare it replaces, so what a connection takes this way stays within twice its largest.
bool Connection::carry_over_pipelined() noexcept {
  Exchange& ex = *exchange_;
  const char* rest = ex.buffer.data + ex.parser.message_end();
  const std::size_t leftover = ex.buffer.filled - ex.parser.message_end();
  ReadBuffer next;
  if (ex.buffer.reuse(rest, leftover)) {
    next = std::exchange(ex.buffer, {});
  } else if (ex.spare.reuse(rest, leftover)) {
    next = std::exchange(ex.spare, {});
  } else {
    const std::size_t size = std::max(leftover, ctx_.config.limits.header_buffer);
    if (!next.acquire(ctx_.ring, *pool_, size, std::max(size, 2 * ex.spare.capacity))) return false;
    if (next.fell_back()) {
      ++ctx_.counters.ring_fallbacks;
      ex.spare = {};  // left behind: the new one is larger
    }
    std::memcpy(next.data, rest, leftover);
    next.filled = leftover;
  }
  ex.buffer.release();
  ex.buffer = next;
  ex.request = {};
  ex.request_pool.reset();
  ex.parser.start(ex.request_pool);
  ex.continue_sent = false;
  return true;
}

void Connection::end_exchange() noexcept {
  MEMPOOL_EXPECT(!waiting_, "pools released while a wait that uses them is pending");
  if (exchange_ != nullptr) {
    exchange_->buffer.release();
    exchange_ = nullptr;  // destroyed by the connection pool's reset: its cleanup
  }
  pool_.release();
}

// Keep-alive: nothing held but this object, until the next request or the idle timeout.
void Connection::go_idle() noexcept {
  end_exchange();
  if (stopping_) return close();
  set_phase(Phase::idle);
  // Unless a read found the socket empty, the peer may have closed already: its FIN can come
  // with the request's last bytes, reported by the same edge as they were, so no event would
  // come for it. One peek tells (nginx reads until EAGAIN where epoll cannot say EPOLLRDHUP).
  if (!drained_) {
    switch (peek()) {
      case ReadResult::closed: return close();  // a half-closed client: its EOF now
      case ReadResult::data: break;             // the next request: re-arming reports it at once
      case ReadResult::would_block: break;      // drained_: the wait needs no re-arming
    }
  }
  wait(asio::socket_base::wait_read);
}

// Lingering close (nginx's): the answer is out; stop writing, so the client sees its end, and
// read and discard what it still sends, until it closes, timeouts.linger passes (the deadline
// is not moved by reads) or limits.linger_bytes are read. Holds nothing but this object.
void Connection::start_lingering() noexcept {
  end_exchange();
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec || ctx_.config.limits.linger_bytes == 0) return close();
  linger_left_ = static_cast<std::uint32_t>(ctx_.config.limits.linger_bytes);
  set_phase(Phase::lingering);
  discard();
}

void Connection::discard() noexcept {
  constexpr std::size_t sink_size = 16 * 1024;  // on the stack: a lingering connection holds no buffer
  char sink[sink_size];
  for (;;) {
    const ssize_t n = ::recv(socket_.native_handle(), sink, std::min<std::size_t>(sink_size, linger_left_), 0);
    if (n > 0) {
      linger_left_ -= static_cast<std::uint32_t>(n);
      if (linger_left_ == 0) return close();  // enough: what still comes meets a reset
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      drained_ = true;
      return wait(asio::socket_base::wait_read);
    }
    return close();  // the client's end (or a failed socket)
  }
}

// --- deadlines and closing ----------------------------------------------------------------------

void Connection::set_phase(Phase phase) noexcept {
  phase_ = phase;
  Wait wait = Wait::idle;
  switch (phase) {
    case Phase::head: wait = Wait::header; break;
    case Phase::body: wait = Wait::body; break;
    case Phase::idle: wait = Wait::idle; break;
    case Phase::sending: wait = Wait::send; break;
    case Phase::lingering: wait = Wait::linger; break;
    case Phase::closing: return ctx_.deadlines.clear(*this);
  }
  if (deadline_link.wait == wait) return;  // the same wait goes on: its deadline stands
  refresh_deadline(wait);
}

void Connection::on_deadline() noexcept {
  ++ctx_.counters.timeouts;
  // A request half received gets its 408 (best effort: the socket may be full); an idle or stuck
  // connection is just closed.
  const bool mid_request = exchange_ != nullptr && (phase_ == Phase::head || phase_ == Phase::body) &&
                           exchange_->buffer.filled > 0;
  if (mid_request) {
    const std::string_view page =
        timeout_response(ctx_.date.date_header(), ctx_.config.server_name, exchange_->parser.head_request(),
                         exchange_->request_pool);
    if (page.data() != nullptr) {
      (void)::send(socket_.native_handle(), page.data(), page.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  close();
  destroy_if_closed();
}

void Connection::shutdown(bool replaced) noexcept {
  stopping_ = true;
  const bool mid_request = exchange_ != nullptr && phase_ != Phase::idle;
  if (!mid_request && (!replaced || !keep_for_successor())) close();  // idle, or not a byte of a request yet
  destroy_if_closed();
}

// A connection accepted but not read from yet: its client has sent, or is sending, its first
// request, and cannot tell a close from a lost request; it gets that one answer (header timeout
// and grace period still hold). An idle kept-alive one closes, unless its next request is already
// here: a close between two requests is what a client retries.
bool Connection::keep_for_successor() noexcept {
  const bool first_due = phase_ == Phase::head && exchange_ == nullptr;
  return first_due || (phase_ == Phase::idle && peek() == ReadResult::data);
}

void Connection::abort() noexcept {
  close();
  destroy_if_closed();
}

// Marks the connection closing and closes its socket; it is destroyed by destroy_if_closed().
void Connection::close() noexcept {
  if (phase_ == Phase::closing) return;
  set_phase(Phase::closing);
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);  // a pending wait completes with operation_aborted
}

}  // namespace mempool::server
