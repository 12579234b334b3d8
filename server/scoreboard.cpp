#include "scoreboard.hpp"

#include <mutex>
#include <new>
#include <stdexcept>

namespace mempool::server {

Scoreboard::Scoreboard(unsigned reactors)
    : reactors_(reactors), arena_(SharedArena::Options{.capacity = 4096 + reactors * (sizeof(http::ReactorSnapshot) + 64)}) {
  void* memory = arena_.calloc(reactors * sizeof(http::ReactorSnapshot));
  if (memory == nullptr) throw std::bad_alloc();
  slots_ = static_cast<http::ReactorSnapshot*>(memory);
  for (unsigned i = 0; i < reactors; ++i) {
    auto* slot = ::new (&slots_[i]) http::ReactorSnapshot();
    slot->reactor = i;
  }
}

void Scoreboard::publish(const http::ReactorSnapshot& snapshot) noexcept {
  std::lock_guard lock(arena_);
  slots_[snapshot.reactor] = snapshot;
  slots_[snapshot.reactor].published = true;
}

http::ReactorSnapshot Scoreboard::read(unsigned reactor) const noexcept {
  std::lock_guard lock(arena_);
  return slots_[reactor];
}

}  // namespace mempool::server
