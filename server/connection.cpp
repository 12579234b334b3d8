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
      : request_pool(connection_pool, PoolOptions{.capacity = config.limits.request_pool_capacity, .tag = "request"}),
        parser(config.limits) {}

  Pool request_pool;      ///< a child of the connection pool, reset after each response
  RequestParser parser;   ///< lives across pipelined requests; restarted for each
  ReadBuffer buffer;      ///< the bytes read: this request, and maybe the start of the next
  ResponseWriter writer;  ///< the response being written
  int status = 0;         ///< of that response, for the counters and the access log
  std::chrono::steady_clock::time_point started{};  ///< when it was parsed: the latency histogram
  bool keep_alive = true; ///< after that response
  bool continue_sent = false;
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
  } else if (phase_ == Phase::sending) {
    if (send()) finish_response();
    if (phase_ == Phase::head) serve();  // a pipelined request waits in the buffer
  } else {
    serve();
  }
  destroy_if_closed();
}

// Reads and answers requests until the socket has nothing more for now, the connection closes,
// or a response waits for the socket to drain.
void Connection::serve() noexcept {
  if (exchange_ == nullptr && !begin_exchange()) return close();
  for (;;) {
    Exchange& ex = *exchange_;
    switch (ex.parser.parse(ex.buffer.data, ex.buffer.filled)) {
      case RequestParser::State::complete:
        respond();
        if (phase_ != Phase::head) return;  // waiting to send, idle, or closing
        continue;                            // a pipelined request is already in the buffer
      case RequestParser::State::failed:
        ++ctx_.counters.parse_errors;
        return respond_error(ex.parser.error_status());
      case RequestParser::State::need_more:
        break;
    }
    if (ex.parser.headers_complete() && phase_ != Phase::body) set_phase(Phase::body);
    if (ex.parser.wants_continue() && !ex.continue_sent && !send_continue()) return close();
    if (!make_room()) return respond_error(ex.parser.headers_complete() ? 413 : 431);
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
  exchange_ = pool_->make<Exchange>(*pool_, ctx_.config);
  if (exchange_ == nullptr) return false;
  exchange_->parser.start(exchange_->request_pool);
  if (!exchange_->buffer.acquire(ctx_.ring, *pool_, ctx_.config.limits.header_buffer)) return false;
  if (exchange_->buffer.fell_back()) ++ctx_.counters.ring_fallbacks;
  set_phase(Phase::head);
  return true;
}

Connection::ReadResult Connection::read_more() noexcept {
  ReadBuffer& b = exchange_->buffer;
  const std::size_t room = b.capacity - b.filled;
  const ssize_t n = ::recv(socket_.native_handle(), b.data + b.filled, room, 0);
  if (n > 0) {
    b.filled += static_cast<std::size_t>(n);
    drained_ = static_cast<std::size_t>(n) < room;  // a stream socket returns less only when empty
    return ReadResult::data;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    drained_ = true;
    return ReadResult::would_block;
  }
  return ReadResult::closed;  // the peer closed (n == 0) or the socket failed
}

// Room for the next read: the head grows to its limit, a body to its declared length.
bool Connection::make_room() noexcept {
  Exchange& ex = *exchange_;
  ReadBuffer& b = ex.buffer;
  if (b.filled < b.capacity) return true;
  const Limits& limits = ctx_.config.limits;
  std::size_t want = b.capacity * 2;
  if (!ex.parser.headers_complete()) {
    want = std::min(want, limits.max_header_bytes + limits.header_buffer);
  } else if (!ex.parser.chunked()) {
    want = ex.parser.parsed() + ex.parser.content_length() + limits.header_buffer;
  } else {
    want = std::min(want, limits.max_header_bytes + 2 * limits.max_body_bytes);  // chunk framing too
  }
  if (want <= b.capacity) return false;
  return b.grow(ex.request_pool, want);
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
  set_phase(Phase::sending);
  if (send()) finish_response();
}

// A request we will not serve (400, 408, 413, 414, 431, 500, 505, ...): a short page, then
// close. The request pool is reset first: the answer must not fail for the memory that the
// request used up.
void Connection::respond_error(int status) noexcept {
  Exchange& ex = *exchange_;
  ex.started = std::chrono::steady_clock::now();
  ex.request = {};
  ex.request.request_pool = &ex.request_pool;
  ex.request_pool.reset();
  ex.writer.clear();
  ex.status = status;
  ex.keep_alive = false;
  bool queued = false;
  try {
    http::Response res(ex.request_pool);
    res.error(status);
    queued = ex.writer.add(res, {false, false, ctx_.date.date_header(), ctx_.config.server_name}, false,
                           ex.request_pool);
  } catch (const std::bad_alloc&) {
  }
  if (!queued) return close();  // not even a short page fits: the peer sees the connection close
  set_phase(Phase::sending);
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
  switch (exchange_->writer.flush(socket_.native_handle())) {
    case ResponseWriter::Flush::done:
      return true;
    case ResponseWriter::Flush::blocked:
      wait_to_send();
      return false;
    case ResponseWriter::Flush::failed:
      close();
      return false;
  }
  return false;
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
  ++requests_served_;
  ctx_.counters.request_duration.observe(std::chrono::steady_clock::now() - ex.started);
  ++ctx_.counters.responses[static_cast<std::size_t>(ex.status / 100) % ctx_.counters.responses.size()];
  ctx_.access_log.write(ex.request, ex.status, ex.writer.bytes_sent(), ctx_.date.log_date());
  if (!ex.keep_alive) return close();
  if (ex.buffer.filled > ex.parser.message_end()) {
    if (!carry_over_pipelined()) return close();
    set_phase(Phase::head);
    return;  // serve() goes on with the next request
  }
  go_idle();
}

// Bytes after this request belong to the next one: move them to a fresh buffer, then reset.
bool Connection::carry_over_pipelined() noexcept {
  Exchange& ex = *exchange_;
  ReadBuffer next;
  const std::size_t leftover = ex.buffer.filled - ex.parser.message_end();
  const std::size_t size = std::max(leftover, ctx_.config.limits.header_buffer);
  if (!next.acquire(ctx_.ring, *pool_, size)) return false;
  if (next.fell_back()) ++ctx_.counters.ring_fallbacks;
  std::memcpy(next.data, ex.buffer.data + ex.parser.message_end(), leftover);
  next.filled = leftover;
  ex.buffer.release();
  ex.buffer = next;
  ex.request = {};
  ex.request_pool.reset();
  ex.parser.start(ex.request_pool);
  ex.continue_sent = false;
  ex.writer.clear();
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
  wait(asio::socket_base::wait_read);
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
        timeout_response(ctx_.date.date_header(), ctx_.config.server_name, exchange_->request_pool);
    if (page.data() != nullptr) {
      (void)::send(socket_.native_handle(), page.data(), page.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  close();
  destroy_if_closed();
}

void Connection::shutdown() noexcept {
  stopping_ = true;
  const bool mid_request = exchange_ != nullptr && phase_ != Phase::idle;
  if (!mid_request) close();  // idle, or not a byte of a request yet
  destroy_if_closed();
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
