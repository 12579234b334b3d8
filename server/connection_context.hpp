/// \file
/// ConnectionContext: what a Connection uses of its reactor, and nothing more (DESIGN §4: "it
/// receives a narrow context, not the Reactor"). The reactor owns one and hands it to every
/// connection it accepts. Everything it refers to lives as long as the reactor and is used on
/// the reactor's thread only (the access log, shared by every reactor, locks its own sink).
#pragma once

#include <chrono>

#include <mempool/http/reactor_stats.hpp>
#include <mempool/http/router.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/ring_buffer.hpp>

#include "access_log.hpp"
#include "config.hpp"
#include "date_cache.hpp"
#include "deadlines.hpp"

namespace spdlog {
class logger;
}

namespace mempool::server {

class Connection;

struct ConnectionContext {
  /// Gives a closed connection's slot back; the connection is gone when it returns.
  struct Release {
    void (*release)(void* owner, Connection& connection) noexcept;
    void* owner;
    void operator()(Connection& connection) const noexcept { release(owner, connection); }
  };

  const ServerConfig& config;            ///< limits, timeouts, the Server header
  const http::Router& router;            ///< this reactor's routes
  PoolManager& pools;                    ///< where connection pools come from
  RingBuffer& ring;                      ///< where reads land
  const DateCache& date;                 ///< the Date header and the access log's date
  DeadlineLists<Connection>& deadlines;  ///< the header, body, idle and send waits
  http::ReactorCounters& counters;
  const AccessLog& access_log;
  spdlog::logger& error_log;             ///< handler failures
  unsigned reactor;                      ///< its number, for log lines
  Release release;

  /// The timeout of a kind of wait.
  std::chrono::milliseconds timeout(Wait wait) const noexcept {
    const Timeouts& t = config.timeouts;
    switch (wait) {
      case Wait::header: return t.header;
      case Wait::body: return t.body;
      case Wait::send: return t.send;
      case Wait::linger: return t.linger;
      default: return t.idle;
    }
  }
};

}  // namespace mempool::server
