/// \file
/// Scoreboard: each reactor's counters, published where every thread and every process forked
/// after it was made can read them, like Apache httpd's scoreboard. A SharedArena holds one slot
/// per reactor of each seat; a reactor copies its snapshot in on its tick, /stats and /metrics
/// read the slots, and shutdown reads the final ones.
///
/// Seats: one in a single process. In master/worker mode (master.hpp) the master makes the
/// scoreboard before it forks, with two seats per worker (a reload's new generation sits in the
/// seats the old one does not, while the old drains), and keeps each seat's WorkerRecord: which
/// process sits there, its generation, how often it was restarted.
///
/// A process killed while it holds the lock (SIGKILL in the middle of publish()) leaves the slot
/// as it was: each slot has two copies, publish() writes the one not in use and then switches to
/// it with one store, and the arena's robust mutex hands the lock to the next caller
/// (SharedArena: owner_deaths counts it). Readers never see a half-written snapshot.
#pragma once

#include <cstdint>
#include <sys/types.h>

#include <mempool/http/reactor_stats.hpp>
#include <mempool/shared_arena.hpp>

namespace mempool::server {

/// Who sits in a worker seat; written by the master only.
struct WorkerRecord {
  enum class State : std::uint32_t { empty, running, draining };
  pid_t pid = 0;
  std::uint32_t generation = 0;  ///< 0 at start, one more per reload
  std::uint64_t restarts = 0;    ///< processes of this seat that died and were replaced
  State state = State::empty;
};

class Scoreboard {
 public:
  explicit Scoreboard(unsigned reactors, unsigned seats = 1);
  /// Copies `snapshot` into slot (seat, snapshot.reactor). `midway`, for tests only, runs with the
  /// lock held once half of the new copy is written.
  void publish(unsigned seat, const http::ReactorSnapshot& snapshot, void (*midway)() = nullptr) noexcept;
  http::ReactorSnapshot read(unsigned seat, unsigned reactor) const noexcept;
  WorkerRecord worker(unsigned seat) const noexcept;
  void set_worker(unsigned seat, const WorkerRecord& record) noexcept;
  /// Empties a seat's reactor slots (its next process starts from zero).
  void clear(unsigned seat) noexcept;
  unsigned reactors() const noexcept { return reactors_; }
  unsigned seats() const noexcept { return seats_; }
  SharedArenaStats arena_stats() const noexcept { return arena_.stats(); }
  /// The arena's bookkeeping is whole (SharedArena::verify): for the master after a worker died.
  bool verify() const noexcept { return arena_.verify(); }

 private:
  struct Slot {
    http::ReactorSnapshot copies[2];
    std::uint32_t current = 0;  ///< the copy readers see
  };
  Slot& slot(unsigned seat, unsigned reactor) const noexcept { return slots_[seat * reactors_ + reactor]; }

  unsigned reactors_;
  unsigned seats_;
  mutable SharedArena arena_;
  Slot* slots_;              ///< in arena_, reactors_ per seat
  WorkerRecord* workers_;    ///< in arena_, one per seat
};

}  // namespace mempool::server
