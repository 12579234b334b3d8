/// \file
/// ReactorServices: what a reactor offers the routes it sets up (the second form of the route
/// setup, server.hpp). The server runs the setup once per reactor, on that reactor's thread,
/// with that reactor's services; a handler may keep references to them.
///
/// Thread safety: pools(), small_objects(), counters(), add_static_files() and the objects they
/// return belong to the reactor's thread, like the handlers that use them. arena() and
/// mime_types() are shared by every reactor (the arena is thread-safe, the table read-only).
/// collect_stats() runs on the reactor's thread (a /stats request). Lifetime: everything lives
/// as long as the reactor, which outlives its routes and every request they serve.
#pragma once

#include <functional>
#include <string_view>

#include <mempool/global_arena.hpp>
#include <mempool/http/mime_types.hpp>
#include <mempool/http/reactor_stats.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/static_files.hpp>
#include <mempool/http/stats.hpp>
#include <mempool/pool_manager.hpp>
#include <mempool/small_object_allocator.hpp>

namespace mempool::http {

class ReactorServices {
 public:
  /// This reactor's number, from 0.
  virtual unsigned reactor() const noexcept = 0;
  /// This reactor's PoolManager: the connection pools come from it, and a handler may acquire
  /// pools of its own (released on this thread).
  virtual PoolManager& pools() noexcept = 0;
  /// Memory that lives as long as the server (the route paths, the MIME table).
  virtual GlobalArena& arena() noexcept = 0;
  /// This reactor's SmallObjectAllocator (its open-file caches live in it).
  virtual SmallObjectAllocator& small_objects() noexcept = 0;
  /// Extension → Content-Type, shared by every reactor.
  virtual const MimeTypes& mime_types() const noexcept = 0;
  /// This reactor's counters, live.
  virtual const ReactorCounters& counters() const noexcept = 0;
  /// The rows /stats and /metrics show: every reactor (this one live, the others as last
  /// published) and the process-wide allocators. Throws std::bad_alloc if the table's pool is full.
  virtual void collect_stats(StatsTable& table) const = 0;
  /// A static-file handler over `root`, owned by the reactor so that it outlives every request
  /// pool holding one of its files; its open-file cache counts in /stats. Throws
  /// std::system_error if `root` is not a directory that can be opened.
  virtual StaticFiles& add_static_files(std::string_view root, const StaticFilesOptions& options) = 0;

 protected:
  ReactorServices() = default;
  ~ReactorServices() = default;
  ReactorServices(const ReactorServices&) = delete;
  ReactorServices& operator=(const ReactorServices&) = delete;
};

/// What the server calls once per reactor, on that reactor's thread, before it accepts: mounts
/// the routes on that reactor's Router. A setup that throws makes Server::start() throw.
using RouteSetup = std::function<void(Router& routes, ReactorServices& reactor)>;

}  // namespace mempool::http
