/// \file
/// Master/worker mode (nginx's process model): fault isolation for a Server. A master process
/// binds the listening sockets, forks config.workers worker processes that each run a Server
/// with config.reactors reactors on them, and does no request work itself. A worker that dies
/// (a crash in a handler, an abort, SIGKILL) is logged with its cause and replaced at once; one
/// that keeps dying within a second of its start is replaced after a delay that doubles up to 5 s.
/// The workers publish to one scoreboard in shared memory, so /stats and /metrics on any of them
/// show every worker (label worker="N") and its restarts.
///
///   int main() {
///     mempool::http::Server::block_signals();   // first: the master must fork single-threaded
///     mempool::http::ServerConfig config = mempool::http::load_config("server.toml");
///     config.workers = 2;
///     return mempool::http::run_workers(config, [](mempool::http::Router& routes, mempool::http::ReactorServices&) {
///       routes.add_exact("/hi", ...);           // runs in each worker, once per reactor
///     }) > 0 ? 0 : 1;
///   }
///
/// Signals to the master: SIGHUP loads reload_config() (a config that fails is refused, its error
/// logged, the workers stay), starts a new generation of workers with it and drains the old one
/// (they stop accepting, finish their requests within the grace period, exit); listen, admin,
/// workers and reactors stay as they were. SIGINT/SIGTERM drain every worker, then run_workers
/// returns; the same signal again stops them at once. SIGUSR1 reopens the master's logs and is
/// passed on to the workers. Workers get SIGTERM if the master dies.
///
/// Call it from the main thread before any other thread starts (a thread would not survive the
/// fork, and a lock it held would stay held in the worker). Throws what the Server constructor
/// throws for an address that cannot be resolved or bound; std::invalid_argument for
/// config.workers == 0.
#pragma once

#include <functional>

#include <mempool/http/config.hpp>
#include <mempool/http/services.hpp>

namespace mempool::http {

/// Runs config.workers worker processes until SIGINT or SIGTERM, and returns that signal's
/// number. An empty `setup` serves config.routes, as Server(config) does. Without reload_config,
/// SIGHUP loads config.source again (nothing when the config came from no file).
int run_workers(ServerConfig config, RouteSetup setup = {}, std::function<ServerConfig()> reload_config = {});

}  // namespace mempool::http
