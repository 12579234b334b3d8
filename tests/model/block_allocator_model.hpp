/// \file
/// The BlockAllocator model harness: every public operation, interleaved as the input says, checked
/// against a reference model after every step (DESIGN §3.1, block_allocator.hpp's contract).
/// Driven by tests/unit/block_allocator_model_test.cpp and tests/fuzz/block_allocator_fuzz.cpp.
///
/// Operations: allocate_block of sizes from 0 to past the indexed lists (the sink) and impossible
/// ones, deallocate_block, the concept verbs allocate / deallocate, trim, set_max_free (0, a few
/// pages, unlimited), stats, and the same from another thread: allocation (straight from the OS),
/// deallocation (handed back through the lock-free list), trim and set_max_free (refused on a
/// single-owner allocator, done on a thread-safe one).
///
/// The model mirrors the free lists block by block (APR's free[index], LIFO; the sink, best fit),
/// so it predicts exactly which block each allocation returns (a reused one, or a new one from the
/// OS), and every counter of stats(): bytes_in_use, bytes_free, max_free, blocks_reused,
/// os_allocs, os_frees, os_failures, foreign_frees. Invariants after every step: retained bytes
/// never exceed max_free, os_frees never exceeds os_allocs, every live block's bytes intact, no
/// two live blocks overlap.
#pragma once

#include <mempool/block_allocator.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "model/check_eq.hpp"
#include "model/op_source.hpp"

namespace mempool::test {

namespace block_allocator_model_detail {

constexpr std::size_t page = BlockAllocator::page_size;

struct Live {
  std::size_t size;  ///< the whole block, header included
  std::uint8_t fill;
};

class Harness {
 public:
  explicit Harness(OpSource& in)
      : in_(in), thread_safe_(in.below(4) == 0), max_free_(pick_cap()), blocks_({.max_free = max_free_, .thread_safe = thread_safe_}) {}

  void run() {
    const bool trace = std::getenv("MEMPOOL_MODEL_TRACE") != nullptr;  // one line per step, to stderr
    for (ModelRun::current().step = 0; !in_.done(); ++ModelRun::current().step) {
      step();
      if (trace) std::fprintf(stderr, "step %zu: %s (%zu live blocks)\n", ModelRun::current().step, ModelRun::current().op, live_.size());
      check();
    }
    op("deallocate everything");
    while (!live_.empty()) deallocate(live_.begin()->first, false);
    trim(false);  // takes back what other threads returned, too
    check();
    MODEL_CHECK_EQ(blocks_.stats().bytes_in_use, 0u);
  }

 private:
  void op(const char* name) { ModelRun::current().op = name; }

  std::size_t pick_cap() {
    switch (in_.below(5)) {
      case 0: return 0;
      case 1: return page * in_.between(1, 8);
      case 2: return BlockAllocator::unlimited;
      default: return BlockAllocator::default_max_free;
    }
  }

  // Usable bytes asked for: mostly a few pages, sometimes past the indexed lists, or impossible.
  std::size_t pick_capacity() {
    switch (in_.below(16)) {
      case 0: return 0;
      case 1: return std::numeric_limits<std::size_t>::max() - in_.below(page);  // impossible: refused before malloc
      case 2: case 3: return in_.below((BlockAllocator::indexed_lists + 12) * page);  // the sink too
      default: return in_.below(6 * page);
    }
  }

  // --- the model of the lists ----------------------------------------------------------------
  // A block the owner takes back: onto its list while under the cap, else to the OS.
  void keep_or_release(MemoryBlock* b) {
    const std::size_t size = sizes_.at(b);
    bytes_in_use_ -= size;
    if (bytes_free_ + size > max_free_) {
      ++os_frees_;
      sizes_.erase(b);
      return;
    }
    list_for(size).push_front(b);
    bytes_free_ += size;
  }

  std::deque<MemoryBlock*>& list_for(std::size_t size) {
    const std::size_t index = size / page - 1;
    return index < BlockAllocator::indexed_lists ? lists_[index] : sink_;
  }

  // release_beyond(cap): the sink first, then the indexed lists from the largest, each from its head.
  void release_beyond(std::size_t cap) {
    auto drain = [&](std::deque<MemoryBlock*>& list) {
      while (!list.empty() && bytes_free_ > cap) {
        bytes_free_ -= sizes_.at(list.front());
        sizes_.erase(list.front());
        list.pop_front();
        ++os_frees_;
      }
    };
    drain(sink_);
    for (std::size_t i = BlockAllocator::indexed_lists; i-- > 0;) drain(lists_[i]);
  }

  // The owner takes back what other threads returned, newest first.
  void take_foreign_frees() {
    for (MemoryBlock* b : foreign_) {
      ++foreign_frees_;
      keep_or_release(b);
    }
    foreign_.clear();
  }

  // What allocate_block must return for `size`: a listed block (exact pointer), or nullptr: the OS.
  MemoryBlock* reuse_for(std::size_t size) {
    auto& list = list_for(size);
    if (&list != &sink_) {
      if (list.empty()) return nullptr;
      MemoryBlock* b = list.front();
      list.pop_front();
      return b;
    }
    auto best = sink_.end();  // best fit: the first of the smallest blocks that fit
    for (auto it = sink_.begin(); it != sink_.end(); ++it) {
      if (sizes_.at(*it) >= size && (best == sink_.end() || sizes_.at(*it) < sizes_.at(*best))) best = it;
    }
    if (best == sink_.end()) return nullptr;
    MemoryBlock* b = *best;
    sink_.erase(best);
    return b;
  }

  // --- operations -----------------------------------------------------------------------------
  void step() {
    switch (in_.below(24)) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: return allocate(in_.flag());
      case 8: case 9: case 10: case 11: case 12: case 13: case 14:
        if (!live_.empty()) deallocate(pick_live(), false);
        return;
      case 15: case 16: return foreign_allocate();
      case 17: case 18:
        if (!live_.empty()) deallocate(pick_live(), true);
        return;
      case 19: return trim(in_.below(4) == 0);
      case 20: case 21: return set_max_free(in_.below(4) == 0);
      default: return allocate(false);
    }
  }

  MemoryBlock* pick_live() {
    auto it = live_.begin();
    std::advance(it, static_cast<long>(in_.below(live_.size())));
    return it->first;
  }

  // allocate_block on the owner thread (or the concept's allocate(n)).
  void allocate(bool concept_verb) {
    const std::size_t want = pick_capacity();
    op(concept_verb ? "allocate" : "allocate_block");
    if (want > std::numeric_limits<std::size_t>::max() - sizeof(MemoryBlock) - page) {  // impossible: refused, nothing counted
      MODEL_CHECK((concept_verb ? blocks_.allocate(want) : static_cast<void*>(blocks_.allocate_block(want))) == nullptr);
      return;
    }
    const std::size_t size = BlockAllocator::block_size_for(want);
    take_foreign_frees();  // the owner's allocation takes back what other threads returned
    MemoryBlock* expected = reuse_for(size);
    MemoryBlock* b;
    if (concept_verb) {
      void* p = blocks_.allocate(want);
      MODEL_CHECK(p != nullptr);
      b = static_cast<MemoryBlock*>(p) - 1;
      MODEL_CHECK(b->data() == p);
    } else {
      b = blocks_.allocate_block(want);
      MODEL_CHECK(b != nullptr);
    }
    if (expected != nullptr) {
      MODEL_CHECK(b == expected);  // the free lists' block, as APR's allocator_alloc picks it
      ++blocks_reused_;
      bytes_free_ -= sizes_.at(b);
    } else {
      MODEL_CHECK(b->size == size);
      sizes_[b] = size;
      ++os_allocs_;
    }
    MODEL_CHECK(b->capacity() >= want);
    bytes_in_use_ += b->size;
    add_live(b, concept_verb);
  }

  void add_live(MemoryBlock* b, bool concept_verb) {
    auto next = live_.lower_bound(b);
    MODEL_CHECK(next == live_.end() || reinterpret_cast<char*>(b) + b->size <= reinterpret_cast<char*>(next->first));
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      MODEL_CHECK(reinterpret_cast<char*>(prev->first) + prev->second.size <= reinterpret_cast<char*>(b));
    }
    fill_ = static_cast<std::uint8_t>(fill_ % 255 + 1);
    for_checked_bytes(b, [&](std::uint8_t& byte) { byte = fill_; });
    live_[b] = Live{b->size, fill_};
    concept_[b] = concept_verb;
  }

  // The payload bytes the harness writes and checks: both ends (where a list link or a neighbour
  // would land) and one byte in every 64 (blocks are up to ~180 KB: writing them all would
  // slow the fuzzer down a hundredfold).
  template <class Fn>
  static void for_checked_bytes(MemoryBlock* b, Fn&& fn) {
    auto* bytes = reinterpret_cast<std::uint8_t*>(b->data());
    const std::size_t n = b->capacity();
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 64); ++i) fn(bytes[i]);
    for (std::size_t i = 64; i + 64 < n; i += 64) fn(bytes[i]);
    for (std::size_t i = n > 64 ? n - 64 : n; i < n; ++i) fn(bytes[i]);
  }

  void verify(MemoryBlock* b, const Live& l, bool whole) const {
    MODEL_CHECK(b->size == l.size);  // the header the allocator owns, untouched
    if (whole) {
      for_checked_bytes(b, [&](std::uint8_t& byte) { MODEL_CHECK(byte == l.fill); });
      return;
    }
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(b->data());
    MODEL_CHECK(bytes[0] == l.fill && bytes[b->capacity() - 1] == l.fill);
  }

  void deallocate(MemoryBlock* b, bool foreign) {
    op(foreign ? "deallocate_block from another thread" : "deallocate_block");
    verify(b, live_.at(b), true);
    const std::size_t size = live_.at(b).size;
    const bool concept_verb = concept_.at(b);
    live_.erase(b);
    concept_.erase(b);
    if (foreign && !thread_safe_) {  // handed back through the lock-free list: still in use until taken
      run_elsewhere([&] { concept_verb ? blocks_.deallocate(b->data(), 0) : blocks_.deallocate_block(b); });
      foreign_.insert(foreign_.begin(), b);
      return;
    }
    if (foreign) {
      run_elsewhere([&] { blocks_.deallocate_block(b); });
    } else if (concept_verb) {
      blocks_.deallocate(b->data(), size - sizeof(MemoryBlock));
    } else {
      blocks_.deallocate_block(b);
    }
    keep_or_release(b);
  }

  void foreign_allocate() {
    op("allocate_block from another thread");
    const std::size_t want = in_.below(4 * page);
    MemoryBlock* b = nullptr;
    if (thread_safe_) {  // one lock, the owner's lists: as on the owner
      take_foreign_frees();
      MemoryBlock* expected = reuse_for(BlockAllocator::block_size_for(want));
      run_elsewhere([&] { b = blocks_.allocate_block(want); });
      MODEL_CHECK(b != nullptr);
      if (expected != nullptr) {
        MODEL_CHECK(b == expected);
        ++blocks_reused_;
        bytes_free_ -= sizes_.at(b);
      } else {
        sizes_[b] = b->size;
        ++os_allocs_;
      }
    } else {  // not its lists to touch: straight from the OS
      run_elsewhere([&] { b = blocks_.allocate_block(want); });
      MODEL_CHECK(b != nullptr);
      MODEL_CHECK(b->size == BlockAllocator::block_size_for(want));
      sizes_[b] = b->size;
      ++os_allocs_;
    }
    bytes_in_use_ += b->size;
    add_live(b, false);
  }

  void trim(bool foreign) {
    op(foreign ? "trim from another thread" : "trim");
    bool done = false;
    if (foreign) {
      run_elsewhere([&] { done = blocks_.trim(); });
      MODEL_CHECK(done == thread_safe_);  // refused on a single-owner allocator
      if (!done) return;
    } else {
      MODEL_CHECK(blocks_.trim());
    }
    take_foreign_frees();
    release_beyond(0);
  }

  void set_max_free(bool foreign) {
    const std::size_t cap = pick_cap();
    op(foreign ? "set_max_free from another thread" : "set_max_free");
    bool done = false;
    if (foreign) {
      run_elsewhere([&] { done = blocks_.set_max_free(cap); });
      MODEL_CHECK(done == thread_safe_);
      if (!done) return;
    } else {
      MODEL_CHECK(blocks_.set_max_free(cap));
    }
    release_beyond(cap);
    max_free_ = cap;
  }

  // Runs fn on the harness's other thread and waits for it.
  template <class Fn>
  void run_elsewhere(Fn&& fn) {
    other_.run(fn);
  }

  void check() {
    const BlockAllocatorStats s = blocks_.stats();
    MODEL_CHECK_EQ(s.bytes_in_use, bytes_in_use_);
    MODEL_CHECK_EQ(s.bytes_free, bytes_free_);
    MODEL_CHECK_EQ(s.max_free, max_free_);
    MODEL_CHECK_EQ(s.blocks_reused, blocks_reused_);
    MODEL_CHECK_EQ(s.os_allocs, os_allocs_);
    MODEL_CHECK_EQ(s.os_frees, os_frees_);
    MODEL_CHECK_EQ(s.os_failures, 0u);
    MODEL_CHECK_EQ(s.foreign_frees, foreign_frees_);
    MODEL_CHECK(s.bytes_free <= s.max_free);
    MODEL_CHECK(s.os_frees <= s.os_allocs);
    for (const auto& [b, l] : live_) verify(b, l, false);
  }

  // A second thread that runs one task at a time for the harness (a thread per call would cost
  // more than the rest of a step).
  class OtherThread {
   public:
    OtherThread() : thread_([this] { serve(); }) {}
    ~OtherThread() {
      {
        std::lock_guard lock(mutex_);
        stopping_ = true;
      }
      wake_.notify_all();
      thread_.join();
    }
    void run(const std::function<void()>& task) {
      std::unique_lock lock(mutex_);
      task_ = &task;
      wake_.notify_all();
      wake_.wait(lock, [this] { return task_ == nullptr; });
    }

   private:
    void serve() {
      std::unique_lock lock(mutex_);
      for (;;) {
        wake_.wait(lock, [this] { return task_ != nullptr || stopping_; });
        if (task_ == nullptr) return;
        (*task_)();
        task_ = nullptr;
        wake_.notify_all();
      }
    }
    std::mutex mutex_;
    std::condition_variable wake_;
    const std::function<void()>* task_ = nullptr;
    bool stopping_ = false;
    std::thread thread_;  // last: started once the rest is ready
  };

  OpSource& in_;
  bool thread_safe_;
  std::size_t max_free_;
  BlockAllocator blocks_;
  OtherThread other_;  // after blocks_: stopped before the allocator dies
  std::map<MemoryBlock*, Live> live_;
  std::map<MemoryBlock*, bool> concept_;               // handed out by allocate(n), not allocate_block
  std::map<MemoryBlock*, std::size_t> sizes_;          // every block the allocator holds or lent
  std::array<std::deque<MemoryBlock*>, BlockAllocator::indexed_lists> lists_;  // lists_[i]: (i + 1) pages, head first
  std::deque<MemoryBlock*> sink_;
  std::vector<MemoryBlock*> foreign_;                  // returned by other threads, newest first
  std::size_t bytes_in_use_ = 0;
  std::size_t bytes_free_ = 0;
  std::uint64_t blocks_reused_ = 0;
  std::uint64_t os_allocs_ = 0;
  std::uint64_t os_frees_ = 0;
  std::uint64_t foreign_frees_ = 0;
  std::uint8_t fill_ = 0;
};

}  // namespace block_allocator_model_detail

inline void block_allocator_model(OpSource& in) {
  block_allocator_model_detail::Harness harness(in);
  harness.run();
}

}  // namespace mempool::test
