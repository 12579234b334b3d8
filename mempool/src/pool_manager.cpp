#include "mempool/pool_manager.hpp"

#include <algorithm>
#include <cstdio>
#include <new>

#include "mempool/detail/check.hpp"
#include "optional_lock.hpp"

namespace mempool {

using Guard = detail::OptionalLock;


PoolManager::PoolManager(const Options& options)
    : allocator_(options.allocator ? options.allocator : &own_allocator_),
      pool_options_(options.pool),
      max_idle_(options.max_idle),
      max_idle_bytes_(options.max_idle_bytes),
      queue_capacity_(options.queue_capacity),
      deferred_(options.deferred),
      owner_(std::this_thread::get_id()) {
  pool_options_.allocator = allocator_;
  if (deferred_) {
    queue_.resize(queue_capacity_);
    thread_ = std::thread([this] { run_deferred(); });
  }
}

PoolManager::~PoolManager() {
  stop();
  if (stats_.outstanding != 0) {
    std::fprintf(stderr, "mempool: PoolManager destroyed with %zu pools outstanding:\n", stats_.outstanding);
    report_outstanding(stderr);
  }
}

// --- acquire ------------------------------------------------------------------------------------

PoolManager::Handle PoolManager::acquire(const char* tag) noexcept {
  Slot* slot;
  {
    Guard guard(lock());
    if (!deferred_) {
      MEMPOOL_EXPECT(std::this_thread::get_id() == owner_, "PoolManager::acquire off its owner thread");
      if (foreign_releases_.load(std::memory_order_relaxed) != nullptr) take_foreign_releases();
    }
    slot = pop_idle();
  }
  const bool reused = slot != nullptr;
  if (!reused) {
    slot = new (std::nothrow) Slot(pool_options_, this);
    if (slot == nullptr) return {};
  }
  if (deferred_ || !reused) slot->pool.adopt_current_thread();  // else it came back on this thread
  slot->pool.set_tag(tag);
  Guard guard(lock());
  ++(reused ? stats_.reused : stats_.created);
  link_outstanding(slot);
  return Handle(slot);
}

PoolManager::Slot* PoolManager::pop_idle() noexcept {
  Slot* slot = idle_;
  if (slot != nullptr) {
    idle_ = slot->next;
    --stats_.idle;
    stats_.idle_bytes -= slot->idle_bytes;
  }
  idle_low_water_ = std::min(idle_low_water_, stats_.idle);
  return slot;
}

void PoolManager::link_outstanding(Slot* slot) noexcept {
  slot->prev = nullptr;
  slot->next = outstanding_;
  if (outstanding_) outstanding_->prev = slot;
  outstanding_ = slot;
  ++stats_.outstanding;
}

void PoolManager::unlink_outstanding(Slot* slot) noexcept {
  if (slot->prev) {
    slot->prev->next = slot->next;
  } else {
    outstanding_ = slot->next;
  }
  if (slot->next) slot->next->prev = slot->prev;
  slot->prev = slot->next = nullptr;
  --stats_.outstanding;
  ++stats_.released;
}

// --- release ------------------------------------------------------------------------------------

void PoolManager::release(Slot* slot) noexcept {
  if (!deferred_) {
    if (std::this_thread::get_id() == owner_) {  // the reactor's own pool, on the reactor: the common case
      unlink_outstanding(slot);
      recycle(slot);
      return;
    }
    slot->pool.adopt_current_thread();
    slot->pool.reset();  // cleanups run here; its blocks reach the owner's allocator as foreign frees
    push_foreign_release(slot);  // still outstanding until the owner takes it in
    return;
  }
  slot->pool.adopt_current_thread();
  {
    // Given back: off the outstanding list before anyone touches it again, so that
    // report_outstanding() never reads a pool that is being reset.
    std::lock_guard lock(mutex_);
    unlink_outstanding(slot);
  }
  slot->pool.run_cleanups();  // here, before the pool changes hands
  std::unique_lock lock(mutex_);
  if (!stopped_ && queue_size_ < queue_capacity_) {
    queue_[(queue_head_ + queue_size_++) % queue_capacity_] = slot;
    lock.unlock();
    wake_.notify_one();
    return;
  }
  if (!stopped_) ++stats_.deferred_fallbacks;
  lock.unlock();
  recycle(slot);
}

// Resets a pool that was given back, then keeps it idle or destroys it. Any thread in deferred
// mode; the owner in immediate mode.
void PoolManager::recycle(Slot* slot) noexcept {
  slot->pool.reset();
  bool keep;
  {
    Guard guard(lock());
    keep = !stopped_ && stats_.idle < max_idle_;
    if (keep) {
      slot->idle_bytes = slot->pool.block_bytes();
      if (stats_.idle_bytes + slot->idle_bytes > max_idle_bytes_) {
        slot->pool.reset(Pool::Retain::nothing);  // keep the pool object, drop its block
        slot->idle_bytes = 0;
      }
      slot->next = idle_;
      idle_ = slot;
      ++stats_.idle;
      stats_.idle_bytes += slot->idle_bytes;
    }
  }
  if (!keep) destroy(slot);
}

void PoolManager::destroy(Slot* slot) noexcept {
  slot->pool.adopt_current_thread();
  delete slot;
  Guard guard(lock());
  ++stats_.destroyed;
}

// A lock-free push (Treiber stack); the owner takes the whole list at once, so there is no ABA.
void PoolManager::push_foreign_release(Slot* slot) noexcept {
  Slot* head = foreign_releases_.load(std::memory_order_relaxed);
  do {
    slot->next_released = head;
  } while (!foreign_releases_.compare_exchange_weak(head, slot, std::memory_order_release,
                                                    std::memory_order_relaxed));
}

// Owner thread, immediate mode: pools reset elsewhere come home.
void PoolManager::take_foreign_releases() noexcept {
  Slot* slot = foreign_releases_.exchange(nullptr, std::memory_order_acquire);
  while (slot != nullptr) {
    Slot* next = slot->next_released;
    ++stats_.foreign_releases;
    slot->pool.adopt_current_thread();
    unlink_outstanding(slot);
    recycle(slot);  // resetting again is cheap: it was reset by the releaser
    slot = next;
  }
}

// --- deferred mode ------------------------------------------------------------------------------

void PoolManager::run_deferred() noexcept {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return queue_size_ > 0 || thread_stopping_; });
    if (queue_size_ == 0) return;  // stopping, and everything queued is done
    Slot* slot = queue_[queue_head_];
    queue_head_ = (queue_head_ + 1) % queue_capacity_;
    --queue_size_;
    recycling_ = true;
    lock.unlock();
    slot->pool.adopt_current_thread();
    recycle(slot);
    lock.lock();
    recycling_ = false;
    if (queue_size_ == 0) drained_.notify_all();
  }
}

// --- housekeeping -------------------------------------------------------------------------------

void PoolManager::reclaim() noexcept {
  Slot* all;
  {
    Guard guard(lock());
    // On whichever thread calls: in immediate mode the owner makes no call meanwhile (the
    // contract), and pools released elsewhere must not outlive the manager unclaimed.
    if (!deferred_) take_foreign_releases();
    all = std::exchange(idle_, nullptr);
    stats_.idle = 0;
    stats_.idle_bytes = 0;
    idle_low_water_ = 0;
  }
  while (all != nullptr) destroy(std::exchange(all, all->next));
}

void PoolManager::trim() noexcept {
  Slot* surplus = nullptr;
  {
    Guard guard(lock());
    // Pools idle through the whole period were not needed: let half of them go, oldest first.
    std::size_t keep = stats_.idle - idle_low_water_ / 2;
    Slot** link = &idle_;
    while (*link != nullptr && keep-- > 0) link = &(*link)->next;
    surplus = std::exchange(*link, nullptr);
    for (Slot* s = surplus; s != nullptr; s = s->next) {
      --stats_.idle;
      stats_.idle_bytes -= s->idle_bytes;
    }
    idle_low_water_ = stats_.idle;
  }
  while (surplus != nullptr) destroy(std::exchange(surplus, surplus->next));
}

void PoolManager::stop() noexcept {
  {
    // One step: from here on a release recycles on its own thread, so none can be queued behind
    // a background thread that already emptied the queue and left (it would stay outstanding).
    Guard guard(lock());
    stopped_ = true;
    thread_stopping_ = true;
  }
  if (thread_.joinable()) {
    wake_.notify_all();
    thread_.join();  // it recycles what was queued before it returns
  }
  reclaim();
}

void PoolManager::drain() noexcept {
  if (!deferred_) {
    take_foreign_releases();
    return;
  }
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [this] { return queue_size_ == 0 && !recycling_; });
}

void PoolManager::adopt_current_thread() noexcept {
  MEMPOOL_EXPECT(stats_.outstanding == 0, "PoolManager::adopt_current_thread with pools out");
  owner_ = std::this_thread::get_id();
  if (allocator_ == &own_allocator_) own_allocator_.adopt_current_thread();
}

PoolManagerStats PoolManager::stats() const noexcept {
  Guard guard(lock());
  return stats_;
}

void PoolManager::report_outstanding(std::FILE* out) const noexcept {
  Guard guard(lock());
  for (const Slot* s = outstanding_; s != nullptr; s = s->next) s->pool.report(out);
}

}  // namespace mempool
