// A scoped lock of a mutex that may be absent: the allocators that are lock-free for their
// owner and locked only when shared (BlockAllocator::thread_safe, PoolManager's deferred mode).
#pragma once

#include <mutex>

namespace mempool::detail {

class OptionalLock {
 public:
  explicit OptionalLock(std::mutex* mutex) noexcept : mutex_(mutex) {
    if (mutex_) mutex_->lock();
  }
  ~OptionalLock() {
    if (mutex_) mutex_->unlock();
  }
  OptionalLock(const OptionalLock&) = delete;
  OptionalLock& operator=(const OptionalLock&) = delete;

 private:
  std::mutex* mutex_;
};

}  // namespace mempool::detail
