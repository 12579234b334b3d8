#include "reactor.hpp"

#include <arpa/inet.h>
#include <asio/bind_allocator.hpp>
#include <asio/post.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mempool/http/builtin.hpp>
#include <mempool/http/stats.hpp>

#include "greeting.hpp"
#include "shared.hpp"

namespace mempool::server {

namespace {

constexpr std::string_view service_unavailable =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
    "Connection: close\r\n\r\n503 Service Unavailable\n";

// Often enough to expire the shortest timeout on time (a quarter of it), at most once a second
// (the Date header changes each second), at least every 10 ms.
std::chrono::milliseconds tick_interval_for(const Timeouts& t) {
  const auto shortest = std::min({t.header, t.body, t.idle, t.send});
  return std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

constexpr auto publish_interval = std::chrono::seconds(1);

}  // namespace

Reactor::Reactor(unsigned id, Shared& shared)
    : id_(id),
      shared_(shared),
      acceptor_(io_.get_executor()),
      tick_(io_.get_executor()),
      pools_(PoolManagerOptions{.allocator = &blocks_, .pool = {.tag = "connection"}}),
      ring_(shared.config.ring_buffer_bytes),
      connections_(sizeof(Connection), shared.max_connections_per_reactor() + 1),
      handler_memory_(16),
      static_files_(shared.config.root.string(), shared.mime, small_objects_),
      router_(shared.arena),
      max_connections_(shared.max_connections_per_reactor()),
      tick_interval_(tick_interval_for(shared.config.timeouts)) {
  build_routes();
}

Reactor::~Reactor() { join(); }

const ServerConfig& Reactor::config() const noexcept { return shared_.config; }

void Reactor::build_routes() {
  router_.add_exact("/hello", http::hello_handler());
  router_.add_exact("/echo", http::echo_handler());
  router_.add_exact("/greet", example::greeting_handler());
  auto collect = [this](http::StatsTable& table) { shared_.collect(table, *this); };
  router_.add_exact("/stats", http::stats_json_handler(collect));
  router_.add_exact("/metrics", http::metrics_handler(collect));
  router_.add_prefix("/", [this](const http::Request& req, http::Response& res) { static_files_.handle(req, res); });
}

// --- thread -------------------------------------------------------------------------------------

void Reactor::listen(const asio::ip::tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(Acceptor::reuse_address(true));
  const int on = 1;  // every reactor binds the same port; the kernel spreads the connections
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

asio::ip::tcp::endpoint Reactor::local_endpoint() const { return acceptor_.local_endpoint(); }

void Reactor::start() {
  thread_ = std::thread([this] { run(); });
}

void Reactor::join() {
  if (thread_.joinable()) thread_.join();
}

void Reactor::run() noexcept {
  // sendfile(2) has no MSG_NOSIGNAL: a peer's reset must not raise SIGPIPE in whatever process
  // embeds the server. Blocked here, the thread-directed signal stays pending and harmless.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  // Everything single-owner belongs to this thread from here on.
  blocks_.adopt_current_thread();
  pools_.adopt_current_thread();
  date_.update(std::time(nullptr));
  accept();
  schedule_tick();
  io_.run();
  shared_.scoreboard.publish(snapshot());  // the final figures, for the stats at exit
}

void Reactor::stop() {
  asio::post(io_, [this] { begin_stop(); });
}

void Reactor::begin_stop() noexcept {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = coarse_now() + shared_.config.timeouts.shutdown_grace;
  std::error_code ec;
  acceptor_.close(ec);
  close_all(true);
  if (finished()) tick_.cancel();  // nothing left to wait for: run() returns now, not at the next tick
}

// Idle connections close at once; the others are told to close after their response (or, once
// the grace period is over, at once).
void Reactor::close_all(bool idle_only) noexcept {
  for (Wait wait : {Wait::idle, Wait::header, Wait::body, Wait::send}) {
    for (Connection* c = deadlines_.first(wait); c != nullptr;) {
      Connection* next = c->deadline_link.next;  // c may leave the list
      if (!idle_only) {
        c->abort();
      } else {
        c->shutdown();
      }
      c = next;
    }
  }
}

bool Reactor::finished() const noexcept { return stopping_ && counters_.open == 0; }

// --- accepting ----------------------------------------------------------------------------------

template <class F>
auto Reactor::with_handler_memory(F&& f) noexcept {
  return asio::bind_allocator(HandlerAllocator<void>(handler_memory_), std::forward<F>(f));
}

void Reactor::accept() noexcept {
  acceptor_.async_accept(peer_, with_handler_memory([this](std::error_code ec, Connection::Socket socket) {
                           on_accept(ec, std::move(socket));
                         }));
}

void Reactor::on_accept(std::error_code ec, Connection::Socket socket) noexcept {
  if (ec == asio::error::operation_aborted || stopping_) return;
  if (ec) {
    // Out of descriptors, most likely: try again at the next tick rather than spin.
    spdlog::warn("reactor {}: accept failed: {}", id_, ec.message());
    accept_paused_ = true;
    return;
  }
  ++counters_.accepts;
  if (counters_.open >= max_connections_) {
    refuse(socket);
  } else if (Connection* c = connections_.make<Connection>(*this, std::move(socket), peer_)) {
    ++counters_.open;
    c->start();
  } else {
    refuse(socket);
  }
  accept();
}

void Reactor::refuse(Connection::Socket& socket) noexcept {
  ++counters_.refused;
  (void)::send(socket.native_handle(), service_unavailable.data(), service_unavailable.size(),
               MSG_NOSIGNAL | MSG_DONTWAIT);
  std::error_code ec;
  socket.close(ec);
}

void Reactor::destroy(Connection& connection) noexcept {
  connections_.destroy(&connection);
  --counters_.open;
  ++counters_.closed;
  if (finished()) tick_.cancel();  // the last connection of a stop: run() can return now
}

// --- the tick: dates, deadlines, housekeeping ---------------------------------------------------

void Reactor::schedule_tick() noexcept {
  tick_.expires_after(tick_interval_);
  tick_.async_wait(with_handler_memory([this](std::error_code ec) {
    if (!ec) on_tick();
  }));
}

void Reactor::on_tick() noexcept {
  const Clock::time_point now = coarse_now();  // the clock the deadlines were set with
  date_.update(std::time(nullptr));
  while (Connection* c = deadlines_.pop_expired(now)) c->on_deadline();
  if (stopping_ && now >= stop_deadline_) close_all(false);
  if (now >= next_publish_) {
    next_publish_ = now + publish_interval;
    pools_.trim();  // h2o's rule: half of what stayed idle all period goes
    shared_.scoreboard.publish(snapshot());
  }
  if (accept_paused_ && !stopping_) {
    accept_paused_ = false;
    accept();
  }
  if (!finished()) schedule_tick();
}

std::chrono::milliseconds Reactor::timeout(Wait wait) const noexcept {
  const Timeouts& t = shared_.config.timeouts;
  switch (wait) {
    case Wait::header: return t.header;
    case Wait::body: return t.body;
    case Wait::send: return t.send;
    default: return t.idle;
  }
}

// --- per request helpers ------------------------------------------------------------------------

std::string_view Reactor::peer_text(const asio::ip::tcp::endpoint& peer, Pool& pool) const noexcept {
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

void Reactor::log_access(const http::Request& req, int status, std::uint64_t bytes) noexcept {
  if (!shared_.access_log) return;
  const auto header = [&](std::string_view name) { return req.header(name).value_or("-"); };
  try {
    shared_.access_log->info("{} - - [{}] \"{} {} HTTP/{}.{}\" {} {} \"{}\" \"{}\"",
                             req.remote_address.empty() ? "-" : req.remote_address, date_.log_date(),
                             req.method_name.empty() ? "-" : req.method_name, req.target, req.version_major,
                             req.version_minor, status, bytes, header("Referer"), header("User-Agent"));
  } catch (...) {
    // a log line is not worth a connection
  }
}

void Reactor::log_handler_error(const http::Request& req, const char* what) noexcept {
  try {
    spdlog::error("reactor {}: handler for {} failed: {}", id_, req.path, what);
  } catch (...) {
  }
}

ReactorSnapshot Reactor::snapshot() const noexcept {
  ReactorSnapshot s;
  s.reactor = id_;
  s.published = true;
  s.server = counters_;
  s.block_allocator = blocks_.stats();
  s.pool_manager = pools_.stats();
  s.ring_buffer = ring_.stats();
  s.connection_slots = connections_.stats();
  s.handler_memory = handler_memory_.stats();
  s.handler_memory_heap = handler_memory_.heap_allocations();
  s.small_objects = small_objects_.stats();
  s.open_files = static_files_.cache().stats();
  return s;
}

}  // namespace mempool::server
