#include "master.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>

#include <spdlog/logger.h>

#include <mempool/http/server.hpp>
#include <mempool/http/workers.hpp>

#include "acceptor.hpp"
#include "error_log.hpp"
#include "shared.hpp"
#include "startup.hpp"
#include "value_syntax.hpp"

namespace mempool::server {

namespace {

/// The signals the master acts on, blocked and taken with sigtimedwait.
sigset_t master_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&set, s);
  return set;
}

void on_sigchld(int) {}  // a handler, so that SIGCHLD is not discarded: sigtimedwait takes it

/// What each worker runs with: its share of max_connections (the config check makes it at least
/// one per reactor), as one process: its Server checks that share against its own reactors.
ServerConfig worker_config(const ServerConfig& config) {
  ServerConfig c = config;
  c.limits.max_connections = std::max<std::size_t>(1, config.limits.max_connections / config.workers);
  c.workers = 0;
  return c;
}

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "signal";
  }
}

/// "127.0.0.1:8080": where a listening socket is bound.
std::string bound_address(int listener) {
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length);
  asio::ip::tcp::endpoint endpoint;
  std::memcpy(endpoint.data(), &bound, std::min<std::size_t>(length, endpoint.capacity()));
  endpoint.resize(length);
  return format_listen({endpoint.address().to_string(), endpoint.port()});
}

int open_listener(const ListenAddress& listen, bool probe) {
  const auto address = resolve(listen);
  if (probe) Acceptor::check_unclaimed(address);
  return Acceptor::open_listener(address);
}

}  // namespace

Master::Master(ServerConfig config, http::RouteSetup setup, std::function<ServerConfig()> reload_config)
    : config_(std::move(config)),
      setup_(std::move(setup)),
      reload_config_(std::move(reload_config)),
      log_(error_log()),
      workers_(config_.workers),
      reactors_(http::reactor_count(config_)),
      pid_(::getpid()) {
  if (workers_ == 0) throw std::invalid_argument("run_workers: config.workers must be at least 1");
  if (!reload_config_ && !config_.source.empty())
    reload_config_ = [source = config_.source] { return http::load_config(source); };
  set_error_log_file(config_.error_log);
  set_error_log_level(config_.log_level);
  const ServerConfig one = worker_config(config_);
  raise_descriptor_limit(one, reactors_, *log_);
  listener_ = open_listener(config_.listen, true);
  if (config_.admin.listen) admin_listener_ = open_listener(*config_.admin.listen, false);
  scoreboard_ = std::make_unique<Scoreboard>(reactors_, 2 * workers_);
  seats_.resize(2 * workers_);
}

Master::~Master() {
  if (::getpid() != pid_) return;  // a worker leaving by an exception: the master's to close
  if (listener_ >= 0) ::close(listener_);
  if (admin_listener_ >= 0) ::close(admin_listener_);
}

int Master::run() {
  const sigset_t handled = master_signals();
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  struct sigaction child {};
  child.sa_handler = on_sigchld;
  child.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &child, nullptr);

  log_->info("master (pid {}): listening on http://{}/ with {} workers of {} reactors", pid_, bound_address(listener_),
             workers_, reactors_);
  if (admin_listener_ >= 0) log_->info("admin listener on http://{}/", bound_address(admin_listener_));
  for (unsigned i = 0; i < workers_; ++i) spawn(i);

  int stop_signal = 0;
  for (;;) {
    reap();
    if (stopping_ && alive() == 0) break;
    restart_due();
    const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next_wakeup());
    const timespec tick{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
    const int signal = sigtimedwait(&handled, nullptr, &tick);
    if (signal == SIGINT || signal == SIGTERM) {
      if (!stopping_) {
        stopping_ = true;
        stop_signal = signal;
        log_->info("{}: draining {} workers (grace period {} ms; {} again stops them at once)", signal_name(signal),
                   alive(), config_.timeouts.shutdown_grace.count(), signal_name(signal));
        signal_workers(SIGTERM, true);
      } else {
        log_->warn("{} again: the workers close every connection now", signal_name(signal));
        signal_workers(SIGTERM, false);  // to a draining worker, the second: it stops at once
      }
    } else if (signal == SIGHUP) {
      if (!stopping_) reload();
    } else if (signal == SIGUSR1) {
      reopen_logs();
    }
  }
  log_->info("master: stopped");
  log_->flush();
  return stop_signal;
}

bool Master::in_current_generation(unsigned seat) const noexcept {
  const unsigned first = first_seat(generation_);
  return seat >= first && seat < first + workers_;
}

void Master::spawn(unsigned seat) {
  Seat& s = seats_[seat];
  s.restart_pending = false;
  scoreboard_->clear(seat);
  log_->flush();  // nothing buffered to be written twice
  const pid_t pid = ::fork();
  if (pid == 0) run_worker(seat);
  if (pid < 0) {
    log_->error("worker {}: fork failed: {}; trying again", seat + 1, std::strerror(errno));
    s.restart_pending = true;
    s.back_off = std::clamp<Clock::duration>(s.back_off * 2, back_off_first, back_off_cap);
    s.restart_at = Clock::now() + s.back_off;
    return;
  }
  s.started = Clock::now();
  s.record.pid = pid;
  s.record.generation = generation_;
  s.record.state = WorkerRecord::State::running;
  publish(seat);
  log_->info("worker {} (pid {}) started, generation {}", seat + 1, pid, generation_);
}

void Master::run_worker(unsigned seat) {
  // The master's death sends SIGTERM (a drain); a master that died before this line is not
  // the parent any more.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != pid_) ::_exit(1);
  ::setpgid(0, 0);  // a terminal's ^C reaches the master, which drains the workers once
  signal(SIGCHLD, SIG_DFL);
  int code = 0;
  try {
    http::Server server(worker_config(config_), setup_, WorkerSeat{scoreboard_.get(), seat, listener_, admin_listener_});
    server.start();
    server.wait_for_signal();
  } catch (const std::exception& e) {
    log_->critical("worker {}: {}", seat + 1, e.what());
    code = 1;
  }
  log_->flush();
  ::_exit(code);  // not exit(): the master's objects are the master's to tear down
}

void Master::publish(unsigned seat) noexcept { scoreboard_->set_worker(seat, seats_[seat].record); }

void Master::reap() {
  int status = 0;
  for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
    for (unsigned i = 0; i < seats_.size(); ++i) {
      if (seats_[i].record.pid == pid && seats_[i].record.state != WorkerRecord::State::empty) {
        on_exit(i, status);
        break;
      }
    }
  }
}

std::string Master::describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* name = ::strsignal(signal);
    return "killed by signal " + std::to_string(signal) + " (" + (name ? name : "?") + ")" +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "ended with status " + std::to_string(status);
}

void Master::on_exit(unsigned seat, int status) {
  Seat& s = seats_[seat];
  const pid_t pid = s.record.pid;
  const bool drained = s.record.state == WorkerRecord::State::draining;
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (drained || stopping_ || !in_current_generation(seat)) {
    if (clean) {
      log_->info("worker {} (pid {}) {} after draining", seat + 1, pid, describe_exit(status));
    } else {
      log_->warn("worker {} (pid {}) {} while draining", seat + 1, pid, describe_exit(status));
    }
    s.record = WorkerRecord{};
    publish(seat);
    return;
  }
  const auto lived = Clock::now() - s.started;
  s.back_off = lived < quick_death ? std::clamp<Clock::duration>(s.back_off * 2, back_off_first, back_off_cap)
                                   : Clock::duration::zero();
  ++s.record.restarts;
  s.record.pid = 0;
  publish(seat);
  s.restart_pending = true;
  s.restart_at = Clock::now() + s.back_off;
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(s.back_off).count();
  log_->error("worker {} (pid {}) {}; {}", seat + 1, pid, describe_exit(status),
              delay == 0 ? std::string("starting another")
                         : "starting another in " + std::to_string(delay) + " ms (it died within a second of its start)");
  if (!scoreboard_->verify()) log_->critical("worker {}: the scoreboard's shared arena is inconsistent", seat + 1);
}

void Master::restart_due() {
  const auto now = Clock::now();
  for (unsigned i = 0; i < seats_.size(); ++i) {
    Seat& s = seats_[i];
    if (!s.restart_pending || now < s.restart_at) continue;
    if (stopping_ || !in_current_generation(i)) {
      s.restart_pending = false;
      s.record = WorkerRecord{};
      publish(i);
      continue;
    }
    spawn(i);
  }
}

Master::Clock::duration Master::next_wakeup() const {
  if (stopping_) return std::chrono::milliseconds(100);
  Clock::duration wait = std::chrono::seconds(1);  // a lost SIGCHLD is reaped within a second
  const auto now = Clock::now();
  for (const Seat& s : seats_)
    if (s.restart_pending) wait = std::min(wait, std::max(Clock::duration::zero(), s.restart_at - now));
  return wait;
}

unsigned Master::alive() const noexcept {
  return static_cast<unsigned>(std::count_if(seats_.begin(), seats_.end(), [](const Seat& s) {
    return s.record.state != WorkerRecord::State::empty && s.record.pid > 0;
  }));
}

void Master::signal_workers(int signal, bool drain) {
  for (unsigned i = 0; i < seats_.size(); ++i) {
    Seat& s = seats_[i];
    if (s.record.pid <= 0 || s.record.state == WorkerRecord::State::empty) continue;
    if (drain) {
      if (s.record.state == WorkerRecord::State::draining) continue;  // already told (a reload's old generation)
      s.record.state = WorkerRecord::State::draining;
      publish(i);
    }
    ::kill(s.record.pid, signal);
  }
}

void Master::reload() {
  if (!reload_config_) {
    log_->warn("SIGHUP: no config file to reload (built-in defaults)");
    return;
  }
  const unsigned next_first = first_seat(generation_ + 1);
  for (unsigned i = next_first; i < next_first + workers_; ++i) {
    if (seats_[i].record.state != WorkerRecord::State::empty) {
      log_->warn("SIGHUP: the workers of the previous generation are still draining; send it again once they have exited");
      return;
    }
  }
  ServerConfig next;
  try {
    next = reload_config_();
    set_error_log_file(next.error_log);
    set_error_log_level(next.log_level);
  } catch (const std::exception& e) {
    log_->error("SIGHUP: config refused, the workers keep the one in force: {}", e.what());
    return;
  }
  std::string kept;
  const auto keep = [&](auto& field, const auto& now, std::string_view name) {
    if (field == now) return;
    field = now;
    kept += (kept.empty() ? "" : ", ") + std::string(name);
  };
  keep(next.listen, config_.listen, "listen");
  keep(next.admin.listen, config_.admin.listen, "admin.listen");
  keep(next.workers, config_.workers, "workers");
  keep(next.reactors, config_.reactors, "reactors");
  if (!kept.empty()) log_->warn("reload: {} changed and need a restart; they stay as they were", kept);
  config_ = std::move(next);
  const unsigned old_first = first_seat(generation_);
  ++generation_;
  for (unsigned i = next_first; i < next_first + workers_; ++i) seats_[i] = Seat{};
  for (unsigned i = next_first; i < next_first + workers_; ++i) spawn(i);
  // The old generation drains: it stops accepting (the queue on the shared socket is the new
  // one's), finishes its requests, exits.
  for (unsigned i = old_first; i < old_first + workers_; ++i) {
    Seat& s = seats_[i];
    s.restart_pending = false;
    if (s.record.pid > 0 && s.record.state == WorkerRecord::State::running) {
      s.record.state = WorkerRecord::State::draining;
      publish(i);
      ::kill(s.record.pid, SIGTERM);
    } else if (s.record.pid <= 0) {
      s.record = WorkerRecord{};
      publish(i);
    }
  }
  log_->info("SIGHUP: config reloaded{}{}: generation {} started, the previous one drains",
             config_.source.empty() ? "" : " from ", config_.source.string(), generation_);
}

void Master::reopen_logs() {
  try {
    reopen_error_log();
    log_->info("SIGUSR1: log files reopened; passed on to the workers");
  } catch (const std::exception& e) {
    log_->error("SIGUSR1: {}", e.what());
  }
  signal_workers(SIGUSR1, false);
}

}  // namespace mempool::server

namespace mempool::http {

int run_workers(ServerConfig config, RouteSetup setup, std::function<ServerConfig()> reload_config) {
  Server::block_signals();
  server::Master master(std::move(config), std::move(setup), std::move(reload_config));
  return master.run();
}

}  // namespace mempool::http
