/// \file
/// A test hook for the allocators that share memory across processes (SharedArena and the shared
/// modes of RingBuffer and GlobalArena). Each calls crash_point() after every write to shared
/// bookkeeping inside its critical section. Production code never sets the hook; a crash test sets
/// it in a forked child to kill the child at the n-th point (raise(SIGKILL)), so every place where
/// a worker could die mid-update is reached on purpose rather than by luck.
#pragma once

namespace mempool::detail {

/// nullptr except in crash tests. Process-wide; set it only in a child that is about to die.
inline void (*crash_point_hook)() = nullptr;

inline void crash_point() noexcept {
  if (crash_point_hook != nullptr) crash_point_hook();
}

}  // namespace mempool::detail
