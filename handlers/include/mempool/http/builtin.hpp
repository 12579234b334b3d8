/// \file
/// The built-in handlers, for an application to mount where it wants (mempool-server mounts them
/// as its config's [routes] say):
///   hello()                       GET/HEAD "Hello, World!" (the TechEmpower plaintext answer)
///   echo()                        POST/PUT: the body back; GET/HEAD: the request line and headers
///   static_files(reactor, root)   GET/HEAD of the files beneath root (static_files.hpp)
///   stats(reactor)                GET: every allocator's figures per reactor, as JSON
///   metrics(reactor)              GET: the same, Prometheus text (version 0.0.4)
///   dashboard()                   GET: a live page of those figures (polls /stats), with charts
///   chart_js(path)                GET: the Chart.js file the page loads from /dashboard/chart.js
/// The last three need a reactor's services: call them in the route setup's second form.
/// Every handler follows the failure rule of router.hpp.
#pragma once

#include <string_view>

#include <mempool/http/router.hpp>
#include <mempool/http/services.hpp>
#include <mempool/http/static_files.hpp>

namespace mempool::http {

/// GET/HEAD: "Hello, World!" as text/plain, the TechEmpower plaintext response (the server adds
/// Server, Date and Content-Length). Other methods: 405.
Handler hello();

/// POST (or PUT): the request body back, with the request's Content-Type (chunked or not on the
/// way in). GET/HEAD: the request line and headers as text/plain. Other methods: 405.
Handler echo();

/// The files beneath `root` (opened now: a root that cannot be opened throws std::system_error),
/// served with the reactor's open-file cache.
Handler static_files(ReactorServices& reactor, std::string_view root, const StaticFilesOptions& options = {});

/// GET/HEAD /stats: reactor.collect_stats() as JSON.
Handler stats(ReactorServices& reactor);

/// GET/HEAD /metrics: reactor.collect_stats() as Prometheus text.
Handler metrics(ReactorServices& reactor);

/// GET/HEAD /dashboard: one self-contained page that polls /stats each second and draws every
/// allocator's figures, per reactor and in total, over the last 5 minutes (dashboard.cpp).
Handler dashboard();

/// GET/HEAD /dashboard/chart.js: the file at `path` (Debian's libjs-chart.js), read once now and
/// served from memory; 404 when it could not be read (the dashboard then shows figures only).
Handler chart_js(std::string_view path);

}  // namespace mempool::http
