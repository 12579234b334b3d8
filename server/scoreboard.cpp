#include "scoreboard.hpp"

#include <cstring>
#include <mutex>
#include <new>

namespace mempool::server {

namespace {

std::size_t capacity_for(unsigned reactors, unsigned seats) {
  // The bytes asked for, and a block header (and alignment) for each of the two allocations.
  return 4096 + std::size_t{reactors} * seats * (sizeof(http::ReactorSnapshot) * 2 + 64) +
         seats * (sizeof(WorkerRecord) + 64);
}

template <class T>
T* make_array(SharedArena& arena, std::size_t n) {
  void* memory = arena.calloc(n * sizeof(T));
  if (memory == nullptr) throw std::bad_alloc();
  T* first = static_cast<T*>(memory);
  for (std::size_t i = 0; i < n; ++i) ::new (&first[i]) T();
  return first;
}

}  // namespace

Scoreboard::Scoreboard(unsigned reactors, unsigned seats)
    : reactors_(reactors),
      seats_(seats),
      arena_(SharedArena::Options{.capacity = capacity_for(reactors, seats)}),
      slots_(make_array<Slot>(arena_, std::size_t{reactors} * seats)),
      workers_(make_array<WorkerRecord>(arena_, seats)) {
  for (unsigned s = 0; s < seats; ++s) clear(s);
}

void Scoreboard::publish(unsigned seat, const http::ReactorSnapshot& snapshot, void (*midway)()) noexcept {
  const std::lock_guard lock(arena_);
  Slot& s = slot(seat, snapshot.reactor);
  http::ReactorSnapshot& next = s.copies[s.current ^ 1];
  if (midway != nullptr) {  // tests: die with half of the copy written
    std::memcpy(static_cast<void*>(&next), &snapshot, sizeof next / 2);
    midway();
  }
  next = snapshot;
  next.published = true;
  s.current ^= 1;  // one store: a process killed before it leaves the previous copy in use
}

http::ReactorSnapshot Scoreboard::read(unsigned seat, unsigned reactor) const noexcept {
  const std::lock_guard lock(arena_);
  const Slot& s = slot(seat, reactor);
  return s.copies[s.current];
}

WorkerRecord Scoreboard::worker(unsigned seat) const noexcept {
  const std::lock_guard lock(arena_);
  return workers_[seat];
}

void Scoreboard::set_worker(unsigned seat, const WorkerRecord& record) noexcept {
  const std::lock_guard lock(arena_);
  workers_[seat] = record;
}

void Scoreboard::clear(unsigned seat) noexcept {
  const std::lock_guard lock(arena_);
  for (unsigned r = 0; r < reactors_; ++r) {
    Slot& s = slot(seat, r);
    for (http::ReactorSnapshot& copy : s.copies) {
      copy = http::ReactorSnapshot();
      copy.reactor = r;
    }
  }
}

}  // namespace mempool::server
