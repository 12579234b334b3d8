/// \file
/// Master: the supervisor of master/worker mode (http::run_workers, workers.hpp), kept apart from
/// Server: it binds the listening sockets and maps the scoreboard, forks the workers, reaps them
/// (waitpid), replaces the dead ones with a back-off, and turns its signals into worker
/// generations (SIGHUP), drains (SIGINT, SIGTERM) and log reopening (SIGUSR1). It never serves a
/// request, and never starts a thread: it forks.
///
/// Seats: the scoreboard has 2 × workers seats; generation g sits in the half g % 2, so that the
/// next generation starts beside the one that drains. A worker is named by its seat, from 1
/// ("worker 3" is the first worker of generation 1), in the log and in /stats (worker="3").
///
/// Single-threaded; run() from the main thread, with no other thread started.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mempool/http/config.hpp>
#include <mempool/http/services.hpp>

#include "scoreboard.hpp"

namespace spdlog {
class logger;
}

namespace mempool::server {

using http::ServerConfig;

class Master {
 public:
  using Clock = std::chrono::steady_clock;

  /// Binds the listeners (the bind probe, the open-file limit) and maps the scoreboard; throws
  /// std::system_error naming an address that cannot be bound, std::invalid_argument for
  /// config.workers == 0.
  Master(ServerConfig config, http::RouteSetup setup, std::function<ServerConfig()> reload_config);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  /// Forks the workers and supervises them until SIGINT or SIGTERM has drained them all; returns
  /// that signal's number.
  int run();

  /// A worker that dies within this of its start is replaced after a delay (doubled each time,
  /// from back_off_first up to back_off_cap); one that lived longer resets the delay.
  static constexpr auto quick_death = std::chrono::seconds(1);
  static constexpr auto back_off_first = std::chrono::milliseconds(100);
  static constexpr auto back_off_cap = std::chrono::milliseconds(5000);

  /// "exited with status 1", "killed by signal 9 (Killed)": what waitpid's status says.
  static std::string describe_exit(int status);

 private:
  /// The master's side of a seat: the process in it, and when to start the next one.
  struct Seat {
    WorkerRecord record;  ///< what the scoreboard shows
    Clock::time_point started{};
    Clock::duration back_off{};
    bool restart_pending = false;
    Clock::time_point restart_at{};
  };

  unsigned first_seat(unsigned generation) const noexcept { return (generation % 2) * workers_; }
  bool in_current_generation(unsigned seat) const noexcept;
  void spawn(unsigned seat);
  [[noreturn]] void run_worker(unsigned seat);
  void publish(unsigned seat) noexcept;
  void reap();
  void on_exit(unsigned seat, int status);
  void restart_due();
  /// How long run() may wait for a signal: until the next restart is due, at most a second.
  Clock::duration next_wakeup() const;
  unsigned alive() const noexcept;
  /// Sends `signal` to every live worker; `drain`: to those not draining yet, which now are.
  void signal_workers(int signal, bool drain);
  void reload();
  void reopen_logs();

  ServerConfig config_;  ///< the config in force: the current generation's
  http::RouteSetup setup_;
  std::function<ServerConfig()> reload_config_;
  std::shared_ptr<spdlog::logger> log_;
  unsigned workers_;
  unsigned reactors_;
  int listener_ = -1;
  int admin_listener_ = -1;
  std::unique_ptr<Scoreboard> scoreboard_;
  std::vector<Seat> seats_;
  unsigned generation_ = 0;
  bool stopping_ = false;
  pid_t pid_;
};

}  // namespace mempool::server
