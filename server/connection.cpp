#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>

#include "reactor.hpp"
#include "read_buffer.hpp"
#include "request_parser.hpp"
#include "response_head.hpp"

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
  // The response being written.
  std::array<iovec, 2> iov{};
  std::size_t iov_next = 0;   ///< first iovec not fully written
  std::size_t iov_count = 0;
  http::FileBody file;        ///< what is left of a file body
  int status = 0;
  std::uint64_t bytes_sent = 0;
  bool keep_alive = true;
  bool continue_sent = false;
  http::Request request;      ///< for the access log
};

namespace {

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

Connection::Connection(Reactor& reactor, Socket socket, const asio::ip::tcp::endpoint& peer) noexcept
    : reactor_(reactor), socket_(std::move(socket)), peer_(peer) {}

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
  reactor_.destroy(*this);
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
    if (flush()) finish_response();
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
        ++reactor_.counters().parse_errors;
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
  pool_ = reactor_.pools().acquire("connection");
  if (!pool_) return false;
  exchange_ = pool_->make<Exchange>(*pool_, reactor_.config());
  if (exchange_ == nullptr) return false;
  exchange_->parser.start(exchange_->request_pool);
  if (!exchange_->buffer.acquire(reactor_.ring(), *pool_, reactor_.config().limits.header_buffer)) return false;
  if (exchange_->buffer.fell_back()) ++reactor_.counters().ring_fallbacks;
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
  if (n < 0 && would_block(errno)) {
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
  const Limits& limits = reactor_.config().limits;
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
  ++reactor_.counters().continues;
  const ssize_t n = ::send(socket_.native_handle(), continue_response.data(), continue_response.size(), MSG_NOSIGNAL);
  return n == static_cast<ssize_t>(continue_response.size());  // 25 bytes into an idle socket
}

// --- responses ----------------------------------------------------------------------------------

void Connection::respond() noexcept {
  Exchange& ex = *exchange_;
  if (!ex.parser.request(ex.buffer.data, ex.request)) return respond_error(500);  // the pool is full
  http::Request& req = ex.request;
  req.remote_address = reactor_.peer_text(peer_, ex.request_pool);
  ++reactor_.counters().requests;

  bool ready = false;
  try {  // the Response allocates from the request pool too: inside the try
    http::Response res(ex.request_pool);
    if (const http::Handler* handler = reactor_.router().find(req.path)) {
      (*handler)(req, res);
    } else {
      res.error(404);
    }
    const bool keep_alive = req.keep_alive && res.keep_alive && !stopping_ &&
                            requests_served_ + 1 < reactor_.config().limits.keepalive_requests;
    ready = prepare(res, keep_alive, req.version_minor == 0, req.method == http::Method::head);
  } catch (const std::bad_alloc&) {
    // the request pool's capacity ran out
  } catch (const std::exception& e) {
    reactor_.log_handler_error(req, e.what());
  }
  // The Response (its header list is in the request pool) is gone before writing can end the
  // exchange and release that pool.
  if (!ready) return respond_error(500);  // which resets the pool first: a short page fits
  if (flush()) finish_response();
}

// A request we will not serve (400, 408, 413, 414, 431, 500, 505, ...): a short page, then
// close. The request pool is reset first: the answer must not fail for the memory that the
// request used up.
void Connection::respond_error(int status) noexcept {
  Exchange& ex = *exchange_;
  ex.request = {};
  ex.request.request_pool = &ex.request_pool;
  ex.request_pool.reset();
  bool ready = false;
  try {
    http::Response res(ex.request_pool);
    res.error(status);
    ready = prepare(res, false, false, false);
  } catch (const std::bad_alloc&) {
  }
  if (!ready) return close();  // not even a short page fits: the peer sees the connection close
  if (flush()) finish_response();
}

// Serialises the head into the request pool and sets up what flush() writes. False if the pool
// is full.
bool Connection::prepare(const http::Response& res, bool keep_alive, bool http10, bool head_only) noexcept {
  Exchange& ex = *exchange_;
  ex.keep_alive = keep_alive;
  ex.status = res.status;
  const HeadOptions options{keep_alive, keep_alive && http10, reactor_.date().date_header(),
                            reactor_.config().server_name};
  const std::string_view head = serialize_head(res, options, ex.request_pool);
  if (head.data() == nullptr) return false;
  ex.iov[0] = {const_cast<char*>(head.data()), head.size()};
  ex.iov_count = 1;
  ex.iov_next = 0;
  ex.file = {};
  if (!head_only && has_body(res.status)) {
    if (res.has_file()) {
      ex.file = res.file();
    } else if (!res.body().empty()) {
      ex.iov[1] = {const_cast<char*>(res.body().data()), res.body().size()};
      ex.iov_count = 2;
    }
  }
  set_phase(Phase::sending);
  return true;
}

// Writes what is left of the response: the head and a memory body with one gather write, a file
// body with sendfile. True when all is written; false when it waits (or the connection closed).
bool Connection::flush() noexcept {
  Exchange& ex = *exchange_;
  const int fd = socket_.native_handle();
  while (ex.iov_next < ex.iov_count) {
    msghdr msg{};
    msg.msg_iov = &ex.iov[ex.iov_next];
    msg.msg_iovlen = ex.iov_count - ex.iov_next;
    const int more = ex.file.length > 0 ? MSG_MORE : 0;  // head and file in one segment
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | more);
    if (n < 0) return wait_to_send(errno);
    ex.bytes_sent += static_cast<std::size_t>(n);
    for (auto left = static_cast<std::size_t>(n); left > 0;) {
      iovec& v = ex.iov[ex.iov_next];
      const std::size_t done = std::min(left, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + done;
      v.iov_len -= done;
      left -= done;
      if (v.iov_len == 0) ++ex.iov_next;
    }
  }
  while (ex.file.length > 0) {
    auto offset = static_cast<off_t>(ex.file.offset);
    const ssize_t n = ::sendfile(fd, ex.file.fd, &offset, ex.file.length);
    if (n <= 0) return wait_to_send(n < 0 ? errno : EIO);  // EIO: the file shrank under us
    ex.file.offset += static_cast<std::uint64_t>(n);
    ex.file.length -= static_cast<std::uint64_t>(n);
    ex.bytes_sent += static_cast<std::uint64_t>(n);
  }
  return true;
}

// The socket is full: wait until it drains (the send timeout counts from now, as nginx's
// send_timeout does between two writes). Any other error closes. Always false: not done yet.
bool Connection::wait_to_send(int err) noexcept {
  if (!would_block(err)) {
    close();
    return false;
  }
  refresh_deadline(Wait::send);
  wait(asio::socket_base::wait_write);
  return false;
}

void Connection::refresh_deadline(Wait wait) noexcept {
  reactor_.deadlines().set(*this, wait, coarse_now() + reactor_.timeout(wait));
}

// The response is out: keep the connection for the next request, or close it.
void Connection::finish_response() noexcept {
  Exchange& ex = *exchange_;
  ++requests_served_;
  reactor_.count_response(ex.status);
  reactor_.log_access(ex.request, ex.status, ex.bytes_sent);
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
  const std::size_t size = std::max(leftover, reactor_.config().limits.header_buffer);
  if (!next.acquire(reactor_.ring(), *pool_, size)) return false;
  if (next.fell_back()) ++reactor_.counters().ring_fallbacks;
  std::memcpy(next.data, ex.buffer.data + ex.parser.message_end(), leftover);
  next.filled = leftover;
  ex.buffer.release();
  ex.buffer = next;
  ex.request = {};
  ex.request_pool.reset();
  ex.parser.start(ex.request_pool);
  ex.continue_sent = false;
  ex.bytes_sent = 0;
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
    case Phase::closing: return reactor_.deadlines().clear(*this);
  }
  if (deadline_link.wait == wait) return;  // the same wait goes on: its deadline stands
  refresh_deadline(wait);
}

void Connection::on_deadline() noexcept {
  ++reactor_.counters().timeouts;
  // A request half received gets its 408 (best effort: the socket may be full); an idle or stuck
  // connection is just closed.
  const bool mid_request = exchange_ != nullptr && (phase_ == Phase::head || phase_ == Phase::body) &&
                           exchange_->buffer.filled > 0;
  if (mid_request) {
    const std::string_view page = timeout_response(reactor_.date().date_header(), reactor_.config().server_name,
                                                   exchange_->request_pool);
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
