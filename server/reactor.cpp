#include "reactor.hpp"

#include <asio/bind_allocator.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <ctime>
#include <exception>
#include <utility>

#include <spdlog/logger.h>

namespace mempool::server {

namespace {

// Often enough to expire the shortest timeout on time (a quarter of it), at most once a second
// (the Date header changes each second), at least every 10 ms.
std::chrono::milliseconds tick_interval_for(const Timeouts& t) {
  const auto shortest = std::min({t.header, t.body, t.idle, t.send});
  return std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

constexpr auto publish_interval = std::chrono::seconds(1);

// Admin connections at once: a scraper, a dashboard or two, a health checker. They have their own
// connection slots, so a full public listener does not lock the operator out.
constexpr std::size_t admin_connections = 8;

// Asio's own operations (the tick's wait) of which a reactor has at most a few at once.
constexpr std::size_t handler_memory_waits = 16;

void add(http::OpenFileCacheStats& total, const http::OpenFileCacheStats& s) noexcept {
  total.hits += s.hits;
  total.misses += s.misses;
  total.evictions += s.evictions;
  total.revalidations += s.revalidations;
  total.invalidations += s.invalidations;
  total.expirations += s.expirations;
  total.entries += s.entries;
  total.open_fds += s.open_fds;
  total.in_use += s.in_use;
  total.content_bytes += s.content_bytes;
}

}  // namespace

Reactor::Reactor(unsigned id, Shared& shared, const http::RouteSetup& setup, const http::RouteSetup& admin_setup)
    : id_(id),
      shared_(shared),
      setup_(setup),
      admin_setup_(admin_setup),
      config_(shared.config),
      tick_(io_.get_executor()),
      pools_(PoolManagerOptions{.allocator = &blocks_, .pool = {.tag = "connection"}}),
      ring_(shared.config.ring_buffer_bytes),
      connections_(sizeof(Connection), shared.max_connections_per_reactor() + 1 + (id == 0 ? admin_connections : 0)),
      handler_memory_(handler_memory_waits),
      router_(shared.arena),
      admin_router_(shared.arena),
      context_{config_, router_,   pools_, ring_, date_, deadlines_, counters_, shared.access_log,
               *shared.error_log, id, {&Reactor::release, this}},
      admin_context_{config_, admin_router_, pools_, ring_, date_, deadlines_, counters_, shared.access_log,
                     *shared.error_log, id, {&Reactor::release_admin, this}},
      acceptor_(io_, handler_memory_, counters_, {&Reactor::admit, this}, id),
      admin_acceptor_(io_, handler_memory_, counters_, {&Reactor::admit_admin, this}, id),
      max_connections_(shared.max_connections_per_reactor()),
      tick_interval_(tick_interval_for(config_.timeouts)) {}

Reactor::~Reactor() { join(); }

void Reactor::adopt_admin(int listener) {
  admin_acceptor_.adopt(listener);
  admin_ = true;
}

// --- thread -------------------------------------------------------------------------------------

std::future<void> Reactor::start() {
  std::future<void> ready = ready_.get_future();
  thread_ = std::thread([this] { run(); });
  return ready;
}

void Reactor::join() {
  if (thread_.joinable()) thread_.join();
}

void Reactor::run() noexcept {
  // Everything single-owner belongs to this thread from here on.
  blocks_.adopt_current_thread();
  pools_.adopt_current_thread();
  date_.update(std::time(nullptr));
  try {
    setup_(router_, *this);
    if (admin_) admin_setup_(admin_router_, *this);
  } catch (...) {
    ready_.set_exception(std::current_exception());
    return;
  }
  acceptor_.start();
  if (admin_) admin_acceptor_.start();
  schedule_tick();
  ready_.set_value();
  io_.run();
  shared_.publish(snapshot());  // the final figures, for the stats at exit
  shared_.access_log.flush();              // every line out by the time the server has stopped
  done_.store(true, std::memory_order_release);
}

void Reactor::stop() {
  asio::post(io_, [this] { begin_stop(); });
}

void Reactor::stop_now() {
  asio::post(io_, [this] {
    begin_stop();
    close_all(false);
  });
}

void Reactor::reload(std::shared_ptr<const ServerConfig> next) {
  asio::post(io_, [this, next = std::move(next)] { apply(*next); });
}

void Reactor::apply(const ServerConfig& next) noexcept {
  if (stopping_) return;
  const std::size_t max_connections = config_.limits.max_connections;  // sized the connection slots
  config_.limits = next.limits;
  config_.limits.max_connections = max_connections;
  config_.timeouts = next.timeouts;
  tick_interval_ = tick_interval_for(config_.timeouts);
  reloading_ = true;
  try {
    config_.server_name = next.server_name;
    config_.root = next.root;
    config_.routes = next.routes;
    http::Router fresh(shared_.arena);
    setup_(fresh, *this);
    router_ = std::move(fresh);
  } catch (const std::exception& e) {
    shared_.error_log->error("reactor {}: reload: the routes stay as they were: {}", id_, e.what());
  } catch (...) {
    shared_.error_log->error("reactor {}: reload: the routes stay as they were", id_);
  }
  reloading_ = false;
}

void Reactor::begin_stop() noexcept {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = coarse_now() + config_.timeouts.shutdown_grace;
  acceptor_.close();
  if (admin_) admin_acceptor_.close();
  close_all(true);
  if (finished()) tick_.cancel();  // nothing left to wait for: run() returns now, not at the next tick
}

// Idle connections close at once; the others are told to close after their response (or, once
// the grace period is over, at once).
void Reactor::close_all(bool idle_only) noexcept {
  for (Wait wait : {Wait::idle, Wait::linger, Wait::header, Wait::body, Wait::send}) {
    for (Connection* c = deadlines_.first(wait); c != nullptr;) {
      Connection* next = c->deadline_link.next;  // c may leave the list
      if (!idle_only) {
        c->abort();
      } else {
        c->shutdown(shared_.worker_process);  // a worker's master carries on with other workers
      }
      c = next;
    }
  }
}

// --- connections --------------------------------------------------------------------------------

bool Reactor::admit(void* self, Acceptor::Socket& socket, const asio::ip::tcp::endpoint& peer) noexcept {
  auto& r = *static_cast<Reactor*>(self);
  if (r.stopping_ || r.counters_.open - r.admin_open_ >= r.max_connections_) return false;
  Connection* c = r.connections_.make<Connection>(r.context_, std::move(socket), peer);
  if (c == nullptr) return false;
  ++r.counters_.open;
  c->start();
  return true;
}

bool Reactor::admit_admin(void* self, Acceptor::Socket& socket, const asio::ip::tcp::endpoint& peer) noexcept {
  auto& r = *static_cast<Reactor*>(self);
  if (r.stopping_ || r.admin_open_ >= admin_connections) return false;
  Connection* c = r.connections_.make<Connection>(r.admin_context_, std::move(socket), peer);
  if (c == nullptr) return false;
  ++r.counters_.open;
  ++r.admin_open_;
  c->start();
  return true;
}

void Reactor::release_admin(void* self, Connection& connection) noexcept {
  --static_cast<Reactor*>(self)->admin_open_;
  release(self, connection);
}

void Reactor::release(void* self, Connection& connection) noexcept {
  auto& r = *static_cast<Reactor*>(self);
  r.connections_.destroy(&connection);
  --r.counters_.open;
  ++r.counters_.closed;
  if (r.finished()) r.tick_.cancel();  // the last connection of a stop: run() can return now
}

http::StaticFiles& Reactor::add_static_files(std::string_view root, const http::StaticFilesOptions& options) {
  // A reload keeps a handler over the same root (its cache stays warm, its descriptors are not
  // doubled); one over another root is added, and the old one lives on: responses being sent
  // may hold its files.
  if (reloading_) {
    for (StaticRoot& files : static_files_)
      if (files.root == root) return files.files;
  }
  return static_files_.emplace_back(root, shared_.mime, small_objects_, options).files;
}

// --- the tick: dates, deadlines, housekeeping ---------------------------------------------------

void Reactor::schedule_tick() noexcept {
  tick_.expires_after(tick_interval_);
  tick_.async_wait(asio::bind_allocator(HandlerAllocator<void>(handler_memory_), [this](std::error_code ec) {
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
    for (StaticRoot& files : static_files_) files.files.cache().expire_inactive();
    shared_.publish(snapshot());
    shared_.access_log.flush();
  }
  if (!stopping_) {
    acceptor_.resume();
    if (admin_) admin_acceptor_.resume();
  }
  if (!finished()) schedule_tick();
}

http::ReactorSnapshot Reactor::snapshot() const noexcept {
  http::ReactorSnapshot s;
  s.reactor = id_;
  s.published = true;
  s.server = counters_;
  s.block_allocator = blocks_.stats();
  s.pool_manager = pools_.stats();
  s.ring_buffer = ring_.stats();
  s.connection_slots = connections_.stats();
  s.handler_memory = handler_memory_.stats();
  s.handler_memory_large = handler_memory_.large_stats();
  s.handler_memory_heap = handler_memory_.heap_allocations();
  s.small_objects = small_objects_.stats();
  for (const StaticRoot& files : static_files_) add(s.open_files, files.files.cache().stats());
  return s;
}

}  // namespace mempool::server
