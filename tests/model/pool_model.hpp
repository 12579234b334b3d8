/// \file
/// The Pool model harness: every public operation of a tree of pools, interleaved as the input
/// says, checked against a reference model after every step (DESIGN §3.2, pool.hpp's contract).
/// Driven by tests/unit/pool_model_test.cpp (seeded bytes, the committed corpus) and by
/// tests/fuzz/pool_fuzz.cpp (libFuzzer).
///
/// Operations: alloc at every alignment (1 .. max_alignment) with sizes from 0 to several times
/// the largest block and impossible ones, alloc_unaligned, calloc, realloc (in place or moved,
/// growing and shrinking, small and large), free (own, another pool's, moved-from, nullptr),
/// make<T> (trivial, over-aligned, with a destructor), alloc_array (and its overflow), strdup,
/// format (with a formatter that allocates from the same pool), add_cleanup with and without a
/// child cleanup, remove_cleanup, run_cleanup, cleanups that remove, run, register or allocate
/// while they run, set_user_data / user_data, child pools (heap-owned or made in their parent,
/// cascading or not) created and destroyed in any order and orphaned by a parent's reset,
/// reset() both ways, destruction, set_capacity / available, set_tag, run_child_cleanups, and
/// std::pmr containers over resource().
///
/// The model knows, per pool: its live allocations (address, size, fill byte, large or not), the
/// cleanups registered (in order), the spare cleanup records, the user data, the children, the
/// capacity, and the counters. It predicts:
///   - the result of every allocation: certain success, certain failure, or (only where the
///     pool's block layout decides: alignment padding, a cascading parent's budget) either, and
///     then the outcome must be consistent (a failure is counted, a success stays in budget);
///   - bytes_used to the byte (to the padding range where padding applies), large_allocations,
///     large_bytes, children, cleanups, resets, capacity_failures, capacity, available();
///   - the exact order of every cleanup (checked in lockstep as each runs: children newest
///     first, then the pool's own, last registered first, APR's kill-during-run);
///   - that the BlockAllocator holds exactly what the live pools hold.
/// Invariants after every step: every live allocation's bytes intact (sampled; in full when it
/// dies), no two allocations overlap (across all pools), alignment honoured.
#pragma once

#include <mempool/pool.hpp>
#include <mempool/pool_cleanups.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/check_eq.hpp"
#include "model/op_source.hpp"

namespace mempool::test {

namespace pool_model_detail {

constexpr bool debug = Pool::debug_allocations;
constexpr std::size_t page = BlockAllocator::page_size;
// Sizes from here on are impossible: a tracked allocation's header and alignment added to them
// overflow, so the pool must refuse them before asking anyone for memory.
constexpr std::size_t impossible = std::numeric_limits<std::size_t>::max() - (page - 1);

class Harness;
struct Node;


// Who may log a cleanup run: the harness's cleanup function, a made object's destructor, or
// nobody: the cleanup that destroys a child pool made in its parent's memory runs silently, and
// a ready-made close of a descriptor (pool_cleanups.hpp) is seen only by its effect.
enum class Kind : std::uint8_t { plain, object, silent, file };
inline bool logged(Kind k) { return k == Kind::plain || k == Kind::object; }
// What a cleanup does when it runs (while a reset runs them, or from run_cleanup).
enum class Action : std::uint8_t { none, remove_later, run_later, add_new, alloc, count };

struct Subject {  // a cleanup's data: one per registration subject (re-registration allowed)
  Harness* harness;
  int id;
  Node* node;
  Kind kind;
  Action action;
  std::uint32_t param;  ///< Kind::file: the descriptor
};

struct Registration {
  Subject* subject;
  bool child;  ///< registered with the harness's child cleanup (run_child_cleanups)
};

struct Region {
  std::size_t size;
  Node* node;
  std::uint8_t fill;
  bool large;
  bool checked;  ///< the harness owns the bytes (else a container or an object does)
  bool live;     ///< false: moved away by realloc, still the pool's until reset
};

struct Node {
  std::unique_ptr<Pool> owned;  ///< null when made in the parent's memory
  Pool* pool = nullptr;
  Node* parent = nullptr;
  bool in_parent = false;
  bool cascade = false;
  bool orphaned = false;
  std::vector<Node*> children;        ///< live linked children, oldest first
  std::vector<Registration> pending;  ///< registered cleanups, oldest first
  std::size_t spare = 0;              ///< removed cleanup records the pool will reuse
  std::map<std::string, void*, std::less<>> user_data;
  std::size_t own_used = 0;  ///< bytes_used() minus what cascading children hold
  std::size_t capacity = 0;
  std::uint64_t resets = 0;
  std::uint64_t failures = 0;
  std::size_t tracked = 0;  ///< large_allocations: large ones (every allocation in MEMPOOL_DEBUG)
  std::size_t tracked_bytes = 0;
  const char* tag = "";
};

// What the model says of an allocation before it is made.
struct Expect {
  bool certain_ok;
  bool certain_fail;
  bool counts_failure;  ///< a failure is a capacity failure of this pool
};

struct Pod {
  std::uint64_t words[3];
};
struct alignas(64) Wide {
  unsigned char bytes[200];
};
struct Tracker;  // an object with a destructor: its destruction is a cleanup

// A value whose formatter allocates from the pool being formatted into (pool.hpp: allowed).
struct PoolUser {
  Harness* harness;
  Node* node;
};

class Harness {
 public:
  explicit Harness(OpSource& in) : in_(in), blocks_(BlockAllocator::Options{.max_free = in.below(3) * page * 64}) {}

  void run() {
    make_root();
    const bool trace = std::getenv("MEMPOOL_MODEL_TRACE") != nullptr;  // one line per step, to stderr
    for (ModelRun::current().step = 0; !in_.done(); ++ModelRun::current().step) {
      step();
      if (trace) {
        std::fprintf(stderr, "step %zu: %s (%zu pools, %zu allocations)\n", ModelRun::current().step,
                     ModelRun::current().op, nodes_.size(), regions_.size());
      }
      check_all();
    }
    op("destroy everything");
    destroy(*nodes_.front());  // the root: every pool left is an orphan its owner destroys
    while (!nodes_.empty()) destroy(*nodes_.back());
    MODEL_CHECK(blocks_.stats().bytes_in_use == 0);
  }

  // --- callbacks from the pool --------------------------------------------------------------
  void cleanup_ran(Subject* s);
  void child_cleanup_ran(Subject* s);
  void formatter_ran(Node& node);

 private:
  // --- the pools ------------------------------------------------------------------------------
  void make_root() {
    const std::size_t block = page * in_.between(1, 4);
    Pool::Options options{.allocator = &blocks_,
                          .block_size = block,
                          .max_block_size = block << in_.below(4),
                          .retain_bytes = page * in_.between(1, 16),
                          .capacity = in_.below(3) == 0 ? in_.between(1, 256) * 1024 : 0,
                          .tag = "root"};
    auto node = std::make_unique<Node>();
    node->owned = std::make_unique<Pool>(options);
    node->pool = node->owned.get();
    node->capacity = options.capacity;
    node->tag = "root";
    nodes_.push_back(std::move(node));
  }

  Node& pick_node() {
    Node& n = *nodes_[in_.below(nodes_.size())];
    if (n.orphaned && in_.below(4) != 0) return *nodes_.front();  // mostly live pools
    return n;
  }

  void create_child(Node& parent) {
    const bool in_parent = in_.below(3) == 0;
    const bool cascade = in_.flag();
    Pool::Options options{.block_size = page * in_.between(1, 2),
                          .capacity = in_.below(3) == 0 ? in_.between(1, 128) * 1024 : 0,
                          .cascade = cascade};
    auto node = std::make_unique<Node>();
    node->parent = &parent;
    node->cascade = cascade;
    node->in_parent = in_parent;
    node->capacity = options.capacity;
    if (in_parent) {
      op("make<Pool> (a child in its parent's memory)");
      const Expect e = expect_internal(parent);
      const bool spare = parent.spare > 0;
      const std::size_t before = own_of(parent);
      Pool* child = parent.pool->make<Pool>(*parent.pool, options);
      const std::size_t delta = own_of(parent) - before;
      if (child == nullptr) {  // the object did not fit, or its destructor's record did not (then it died at once)
        MODEL_CHECK(!e.certain_ok);
        if (delta > 0) account_internal(parent, sizeof(Pool), alignof(Pool), delta);
        if (e.counts_failure) ++parent.failures;
        return;
      }
      account_made(parent, sizeof(Pool), alignof(Pool), spare, delta);
      parent.pending.push_back({new_subject(parent, Kind::silent), false});  // its destruction, unobserved
      add_region(reinterpret_cast<char*>(child), sizeof(Pool), parent, 0, false, false);
      node->pool = child;
    } else {
      op("Pool(parent)");
      node->owned = std::make_unique<Pool>(*parent.pool, options);
      node->pool = node->owned.get();
    }
    node->orphaned = parent.orphaned;  // a dead pool's child is born dead
    MODEL_CHECK(node->pool->destroyed_by_parent() == node->orphaned);
    if (!node->orphaned) parent.children.push_back(node.get());
    nodes_.push_back(std::move(node));
  }

  // The pools a teardown of `n` runs cleanups for, in order: children newest first (each the
  // same way), then n.
  static void teardown_order(Node& n, std::vector<Node*>& order) {
    for (auto it = n.children.rbegin(); it != n.children.rend(); ++it) teardown_order(**it, order);
    order.push_back(&n);
  }

  // After n's teardown: its memory, records and user data are gone, its children destroyed
  // (orphaned if someone still owns them, gone if they lived in memory just rewound).
  void forget_contents(Node& n) {
    std::erase_if(regions_, [&](const auto& entry) { return entry.second.node == &n; });
    n.pending.clear();
    n.spare = 0;
    n.user_data.clear();
    n.own_used = 0;
    n.tracked = 0;
    n.tracked_bytes = 0;
    children_gone(n);
  }

  // n's children were destroyed (a teardown of n reached n's own cleanups, or ended): orphaned if
  // someone still owns them, gone if they lived in n's memory.
  void children_gone(Node& n) {
    const std::vector<Node*> children = std::move(n.children);
    n.children.clear();
    for (Node* child : children) {
      child->orphaned = true;
      forget_contents(*child);
    }
    for (Node* child : children) {
      if (child->in_parent) remove_node(*child);
    }
  }

  // The descriptors registered with close_on_cleanup in n (and, with `tree`, below it).
  static void collect_files(const Node& n, bool tree, std::vector<int>& fds) {
    for (const Registration& r : n.pending) {
      if (r.subject->kind == Kind::file) fds.push_back(static_cast<int>(r.subject->param));
    }
    if (tree) {
      for (const Node* c : n.children) collect_files(*c, true, fds);
    }
  }

  static bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

  // Every byte of every allocation in n's tree, before a teardown makes them dead.
  void verify_tree(Node& n) {
    for (const auto& [p, r] : regions_) {
      if (r.node == &n) verify_region(p, r, true);
    }
    for (Node* child : n.children) verify_tree(*child);
  }

  void remove_node(Node& n) {
    for (auto& other : nodes_) {
      if (other->parent == &n) other->parent = nullptr;
    }
    std::erase_if(nodes_, [&](const std::unique_ptr<Node>& p) { return p.get() == &n; });
  }

  // Runs a reset or a destruction of n with the cleanup lockstep armed.
  template <class Teardown>
  void tear_down(Node& n, Teardown&& teardown) {
    std::vector<Node*> order;
    if (!n.orphaned) {
      teardown_order(n, order);
      verify_tree(n);
    }
    std::vector<int> closing;  // descriptors the ready-made cleanups of these pools must close
    for (Node* t : order) collect_files(*t, false, closing);
    teardown_ = &order;
    teardown_at_ = 0;
    teardown();
    teardown_ = nullptr;
    keeps_memory_ = nullptr;
    for (int fd : closing) MODEL_CHECK(!is_open(fd));
    for (std::size_t i = teardown_at_; i < order.size(); ++i) {  // pools whose cleanups had not all run
      for (const Registration& r : order[i]->pending) MODEL_CHECK(!logged(r.subject->kind));
    }
  }

  void reset(Node& n, Pool::Retain retain) {
    tear_down(n, [&] { n.pool->reset(retain); });
    if (!n.orphaned) forget_contents(n);  // what cleanups allocated died too; their failures stay
    ++n.resets;
    const PoolStats s = n.pool->stats();
    MODEL_CHECK(s.blocks <= (retain == Pool::Retain::bounded && !debug ? 1u : 0u));
    MODEL_CHECK(s.held_bytes == s.block_bytes);
  }

  void destroy(Node& n) {
    if (n.parent != nullptr && !n.orphaned) std::erase(n.parent->children, &n);
    tear_down(n, [&] { n.owned.reset(); });
    if (!n.orphaned) forget_contents(n);
    remove_node(n);
  }

  // --- allocation bookkeeping ---------------------------------------------------------------
  // bytes_used() of n less what its cascading children hold (they charge it, not the model).
  std::size_t own_of(Node& n) const { return n.pool->bytes_used() - cascaded_into(n); }

  // What n's cascading children charge it: their own memory and, through them, their cascading
  // children's (pool.hpp: a charge goes up while the parents cascade).
  std::size_t cascaded_into(Node& n) const {
    std::size_t charged = 0;
    for (Node* c : n.children) {
      if (c->cascade) charged += c->pool->stats().held_bytes + cascaded_into(*c);
    }
    return charged;
  }

  // pool.hpp: over small_limit() an allocation is large; within align - 16 under it, it is large
  // unless the current block had room (the slow path's rule, MEMPOOL_DEBUG's only path), which
  // the model learns from the large-allocation count after the fact.
  bool is_large(Node& n, std::size_t bytes, std::size_t align) const {
    if (bytes == 0) return false;
    const std::size_t small = n.pool->small_limit();
    const std::size_t worst_padding = align > Pool::default_alignment ? align - Pool::default_alignment : 0;
    if (bytes > small) return true;
    if (worst_padding <= small - bytes) return false;
    return debug || n.pool->stats().large_allocations > n.tracked;
  }

  // A cascading pool's memory also needs room in each cascading ancestor's budget: the model
  // cannot say when a new block is taken, so it predicts no certain success there.
  static bool budget_above(const Node& n) {
    for (const Node* p = &n; p->cascade && p->parent != nullptr; p = p->parent) {
      if (p->parent->capacity != 0) return true;
    }
    return false;
  }

  Expect expect(Node& n, std::size_t bytes, std::size_t align) const {
    if (bytes == 0) return {true, false, false};  // never refused, never tracked
    if (n.orphaned) return {false, true, false};
    if (bytes >= impossible) return {false, true, n.capacity != 0};
    const std::size_t used = n.pool->bytes_used();  // its cascading children's charges included
    if (n.capacity != 0 && (used > n.capacity || bytes > n.capacity - used)) return {false, true, true};
    const std::size_t slack = debug || is_large(n, bytes, align) ? 0 : align - 1;
    const bool room = n.capacity == 0 || bytes + slack <= n.capacity - used;
    return {room && !budget_above(n), false, true};
  }

  // An internal record (cleanup, user data) of unknown size: certain only without a budget.
  Expect expect_internal(Node& n) const {
    if (n.orphaned) return {false, true, false};
    return {n.capacity == 0 && !budget_above(n), false, true};
  }

  // Checks and records one allocation's result: the pool's answer against the prediction,
  // bytes_used against the size (and padding), the large-allocation counters, the region.
  char* account(Node& n, void* result, std::size_t bytes, std::size_t align, const Expect& e, std::size_t before,
                bool checked = true) {
    const std::size_t after = own_of(n);
    if (result == nullptr) {
      MODEL_CHECK(!e.certain_ok);
      MODEL_CHECK(after == before);
      if (e.counts_failure) ++n.failures;
      return nullptr;
    }
    MODEL_CHECK(!e.certain_fail);
    MODEL_CHECK(detail::is_aligned(result, align));
    const bool large = is_large(n, bytes, align);
    const std::size_t delta = after - before;
    if ((debug && bytes > 0) || large) {
      MODEL_CHECK(delta == bytes);
    } else {
      MODEL_CHECK(delta >= bytes && delta <= bytes + (debug ? 0 : align - 1));
    }
    if (bytes > 0 && n.capacity != 0) MODEL_CHECK(n.pool->bytes_used() <= n.capacity);
    n.own_used = after;
    if ((debug && bytes > 0) || large) {
      ++n.tracked;
      n.tracked_bytes += bytes;
    }
    auto* p = static_cast<char*>(result);
    if (bytes > 0) add_region(p, bytes, n, next_fill(), large, checked);
    return p;
  }

  // An internal allocation (a record, a key, an object) whose charge was observed: bytes_used
  // grew by `delta` for an allocation of `bytes` at `align`.
  void account_internal(Node& n, std::size_t bytes, std::size_t align, std::size_t delta) {
    if (debug || is_large(n, bytes, align)) {
      MODEL_CHECK(delta == bytes);
      ++n.tracked;
      n.tracked_bytes += bytes;
    } else {
      MODEL_CHECK(delta >= bytes && delta <= bytes + align - 1);
    }
    n.own_used += delta;
  }

  // make<T> of a T with a destructor: the object, then its cleanup record (or a spare one),
  // seen together in one bytes_used delta.
  void account_made(Node& n, std::size_t object, std::size_t align, bool spare, std::size_t delta) {
    if (debug) {
      account_internal(n, object, align, object);
      take_record(n, delta - object);
      return;
    }
    const std::size_t record_low = spare ? 0 : 16;
    const std::size_t record_high = spare ? 0 : 64 + 7;
    MODEL_CHECK(delta >= object + record_low && delta <= object + align - 1 + record_high);
    n.own_used += delta;
    if (spare) --n.spare;
  }

  // A cleanup record was allocated (`delta` > 0) or a spare one reused (0).
  void take_record(Node& n, std::size_t delta) {
    if (delta == 0) {
      MODEL_CHECK(n.spare > 0);
      --n.spare;
      return;
    }
    MODEL_CHECK(n.spare == 0);
    learn(record_bytes_, delta);
    if (debug) {
      ++n.tracked;
      n.tracked_bytes += record_bytes_;
    }
    n.own_used += delta;
  }

  // Sizes of private records: exact in MEMPOOL_DEBUG (no padding), learned once; else bounded.
  static void learn(std::size_t& learned, std::size_t delta) {
    MODEL_CHECK(delta >= 16 && delta <= 64 + 7);
    if (!debug) return;
    if (learned == 0) learned = delta;
    MODEL_CHECK(delta == learned);
  }

  std::uint8_t next_fill() {
    fill_ = static_cast<std::uint8_t>(fill_ % 255 + 1);
    return fill_;
  }

  void add_region(char* p, std::size_t size, Node& n, std::uint8_t fill, bool large, bool checked) {
    auto next = regions_.lower_bound(p);
    MODEL_CHECK(next == regions_.end() || p + size <= next->first);  // no overlap, whatever pool
    if (next != regions_.begin()) {
      auto prev = std::prev(next);
      MODEL_CHECK(prev->first + prev->second.size <= p);
    }
    if (checked) std::memset(p, fill, size);
    regions_.emplace(p, Region{size, &n, fill, large, checked, true});
  }

  void verify_region(char* p, const Region& r, bool whole) const {
    if (!r.checked || !r.live) return;
    if (whole) {
      for (std::size_t i = 0; i < r.size; ++i) MODEL_CHECK(static_cast<std::uint8_t>(p[i]) == r.fill);
      return;
    }
    const std::size_t middle = ModelRun::current().step % r.size;
    MODEL_CHECK(static_cast<std::uint8_t>(p[0]) == r.fill);
    MODEL_CHECK(static_cast<std::uint8_t>(p[r.size - 1]) == r.fill);
    MODEL_CHECK(static_cast<std::uint8_t>(p[middle]) == r.fill);
  }

  // A live region of n chosen by the input, or end().
  std::map<char*, Region>::iterator pick_region(Node& n, bool live_only = true) {
    std::vector<std::map<char*, Region>::iterator> mine;
    for (auto it = regions_.begin(); it != regions_.end(); ++it) {
      if (it->second.node == &n && it->second.checked && (it->second.live || !live_only)) mine.push_back(it);
    }
    if (mine.empty()) return regions_.end();
    return mine[in_.below(mine.size())];
  }

  std::size_t pick_size(Node& n) {
    const std::size_t small = n.pool->small_limit();
    switch (in_.below(20)) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: return in_.below(65);
      case 8: case 9: case 10: case 11: case 12: return in_.between(64, 1024);
      case 13: case 14: case 15: return in_.between(1024, 8192);
      case 16: case 17: return small - 64 + in_.below(129);  // around the small limit
      case 18: return in_.below(4 * (small + 32) + 1);         // up to several largest blocks
      default: return in_.below(16) == 0 ? impossible + in_.below(page) : in_.below(2 * (small + 32));
    }
  }

  std::size_t pick_align() { return std::size_t{1} << in_.below(13); }  // 1 .. 4096

  Subject* new_subject(Node& n, Kind kind, Action action = Action::none, std::uint32_t param = 0) {
    subjects_.push_back(Subject{this, next_id_++, &n, kind, action, param});
    return &subjects_.back();
  }

  // --- one step -------------------------------------------------------------------------------
  void op(const char* name) { ModelRun::current().op = name; }

  void step();
  void do_alloc(Node& n, int how);
  void do_realloc(Node& n);
  void do_free(Node& n);
  void do_make(Node& n);
  void do_alloc_array(Node& n);
  void do_strdup(Node& n);
  void do_format(Node& n);
  void do_add_cleanup(Node& n);
  void do_remove_or_run_cleanup(Node& n, bool run);
  void do_user_data(Node& n);
  void do_set_capacity(Node& n);
  void do_pmr(Node& n);
  void do_run_child_cleanups(Node& n);
  void do_close_on_cleanup(Node& n);
  void perform(Subject* s, bool memory_dies);
  void do_run_cleanups(Node& n);
  void check_all();
  void check_node(Node& n);

 public:
  // For the pmr resource below: one upstream allocation or deallocation, accounted.
  void* pmr_allocate(Node& n, std::size_t bytes, std::size_t align);
  void pmr_deallocate(Node& n, void* p, std::size_t bytes, std::size_t align);

 private:
  OpSource& in_;
  std::deque<Subject> subjects_;        // before the pools: their cleanups point here
  std::vector<int> user_values_ = std::vector<int>(8);
  BlockAllocator blocks_;
  std::vector<std::unique_ptr<Node>> nodes_;  // nodes_.front() is the root while it lives
  std::map<char*, Region> regions_;           // every allocation of every pool, by address
  std::vector<Node*>* teardown_ = nullptr;    // the pools a running teardown visits, in order
  std::size_t teardown_at_ = 0;
  Subject* explicit_run_ = nullptr;           // the cleanup run_cleanup() is about to run
  Node* keeps_memory_ = nullptr;              // the pool run_cleanups() tears down without rewinding
  Subject* dying_object_ = nullptr;           // a Tracker make<> destroys at once (no record room)
  std::vector<std::pair<char*, std::size_t>> formatter_allocs_;  // what a formatter allocated in this step
  std::vector<Subject*>* child_expected_ = nullptr;  // the child cleanups run_child_cleanups must run, in order
  std::size_t child_at_ = 0;
  std::size_t record_bytes_ = 0;     // a cleanup record, learned (MEMPOOL_DEBUG)
  std::size_t user_record_bytes_ = 0;  // a user data record, learned (MEMPOOL_DEBUG)
  std::uint8_t fill_ = 0;
  int next_id_ = 0;
};

struct Tracker {
  Subject* subject;
  ~Tracker() { subject->harness->cleanup_ran(subject); }
};

inline void on_cleanup(void* data) {
  auto* s = static_cast<Subject*>(data);
  s->harness->cleanup_ran(s);
}

inline void on_child_cleanup(void* data) {
  auto* s = static_cast<Subject*>(data);
  s->harness->child_cleanup_ran(s);
}

}  // namespace pool_model_detail
}  // namespace mempool::test

template <>
struct fmt::formatter<mempool::test::pool_model_detail::PoolUser> : fmt::formatter<std::string_view> {
  auto format(const mempool::test::pool_model_detail::PoolUser& u, fmt::format_context& ctx) const {
    u.harness->formatter_ran(*u.node);
    return fmt::formatter<std::string_view>::format("user", ctx);
  }
};

namespace mempool::test {
namespace pool_model_detail {

// A memory_resource that hands each call to the pool's resource() and accounts it in the model.
class RecordingResource final : public std::pmr::memory_resource {
 public:
  RecordingResource(Harness& h, Node& n) : harness_(h), node_(n) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t align) override { return harness_.pmr_allocate(node_, bytes, align); }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    harness_.pmr_deallocate(node_, p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  Harness& harness_;
  Node& node_;
};

// --- cleanups: the lockstep ----------------------------------------------------------------------

// A cleanup ran. Outside a teardown only run_cleanup() may run one (or make<> destroying an
// object it could not register); inside, it must be the pool the teardown is at (children
// newest first, then the pool itself) and that pool's most recent registration.
inline void Harness::cleanup_ran(Subject* s) {
  if (s == dying_object_) {
    dying_object_ = nullptr;
    return;
  }
  if (s == explicit_run_) {
    explicit_run_ = nullptr;
    perform(s, teardown_ != nullptr && s->node != keeps_memory_);
    return;
  }
  MODEL_CHECK(teardown_ != nullptr);
  std::vector<Node*>& order = *teardown_;
  while (teardown_at_ < order.size() && order[teardown_at_] != s->node) {
    for (const Registration& r : order[teardown_at_]->pending) MODEL_CHECK(!logged(r.subject->kind));
    ++teardown_at_;
  }
  MODEL_CHECK(teardown_at_ < order.size());
  Node& n = *s->node;
  if (!n.children.empty()) children_gone(n);  // the pool destroys its children before its cleanups
  while (!n.pending.empty() && !logged(n.pending.back().subject->kind)) n.pending.pop_back();
  MODEL_CHECK(!n.pending.empty() && n.pending.back().subject == s);
  n.pending.pop_back();
  perform(s, &n != keeps_memory_);
}

// What a cleanup does when it runs. `memory_dies`: its pool is being reset or destroyed, so what
// it allocates dies at once (not so in run_cleanup(), nor in run_cleanups() of its own pool).
inline void Harness::perform(Subject* s, bool memory_dies) {
  Node& n = *s->node;
  Pool& pool = *n.pool;
  // "Later" cleanups: plain ones of the same pool still registered.
  std::vector<std::size_t> later;
  for (std::size_t i = 0; i < n.pending.size(); ++i) {
    if (n.pending[i].subject->kind == Kind::plain) later.push_back(i);
  }
  switch (s->action) {
    case Action::remove_later:
    case Action::run_later: {
      if (later.empty()) break;
      Subject* target = n.pending[later[s->param % later.size()]].subject;
      // The most recent registration of target goes (remove_cleanup's contract).
      for (std::size_t i = n.pending.size(); i-- > 0;) {
        if (n.pending[i].subject == target) {
          n.pending.erase(n.pending.begin() + static_cast<long>(i));
          break;
        }
      }
      ++n.spare;
      if (s->action == Action::remove_later) {
        MODEL_CHECK(pool.remove_cleanup(on_cleanup, target));
      } else {
        explicit_run_ = target;
        MODEL_CHECK(pool.run_cleanup(on_cleanup, target));
        MODEL_CHECK(explicit_run_ == nullptr);
      }
      break;
    }
    case Action::add_new: {
      // It may register one more in turn, with a parameter a quarter of this one: chains end.
      const bool chain = s->param % 4 == 0 && s->param != 0;
      Subject* added = new_subject(n, Kind::plain, chain ? Action::add_new : Action::none, s->param / 4);
      const std::size_t before = memory_dies ? 0 : own_of(n);
      const bool spare = n.spare > 0;
      if (pool.add_cleanup(on_cleanup, added)) {
        n.pending.push_back({added, false});
        if (!memory_dies) take_record(n, own_of(n) - before);
        else if (spare) --n.spare;
      } else {
        MODEL_CHECK(!spare);
        ++n.failures;
      }
      break;
    }
    case Action::alloc: {
      const std::size_t bytes = s->param % 3 == 0 ? s->param % 100000 : s->param % 300;
      if (memory_dies) {  // dies with the teardown: only its failure stays counted
        void* p = pool.alloc_unaligned(bytes);
        if (p == nullptr) ++n.failures;
        else std::memset(p, 0xee, bytes);
        break;
      }
      const Expect e = expect(n, bytes, 1);
      const std::size_t before = own_of(n);
      account(n, pool.alloc_unaligned(bytes), bytes, 1, e, before);
      break;
    }
    case Action::none:
    case Action::count:
      break;
  }
}

inline void Harness::child_cleanup_ran(Subject* s) {
  MODEL_CHECK(child_expected_ != nullptr && child_at_ < child_expected_->size());
  MODEL_CHECK((*child_expected_)[child_at_] == s);
  ++child_at_;
}

inline void Harness::formatter_ran(Node& n) {
  const std::size_t bytes = formatter_allocs_.size() % 3 == 0 ? 40 : 7;
  const Expect e = expect(n, bytes, 1);
  const std::size_t before = own_of(n);
  void* p = n.pool->alloc_unaligned(bytes);
  char* q = account(n, p, bytes, 1, e, before);
  if (q != nullptr) formatter_allocs_.push_back({q, bytes});
}

// --- the operations ------------------------------------------------------------------------------

inline void Harness::step() {
  Node& n = pick_node();
  switch (in_.below(41)) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9:
      return do_alloc(n, 0);
    case 10: case 11: return do_alloc(n, 1);
    case 12: case 13: return do_alloc(n, 2);
    case 14: case 15: case 16: case 17: return do_realloc(n);
    case 18: case 19: case 20: return do_free(n);
    case 21: case 22: return do_make(n);
    case 23: return do_alloc_array(n);
    case 24: case 25: return do_strdup(n);
    case 26: case 27: return do_format(n);
    case 28: case 29: case 30: return do_add_cleanup(n);
    case 31: return do_remove_or_run_cleanup(n, in_.flag());
    case 32: return do_user_data(n);
    case 33:
      if (nodes_.size() < 12) create_child(n);
      return;
    case 34:
      if (&n != nodes_.front().get() && !n.in_parent) {
        op("destroy a pool");
        destroy(n);
      }
      return;
    case 35: {
      const bool keep = in_.flag();
      op(keep ? "reset" : "reset(Retain::nothing)");
      return reset(n, keep ? Pool::Retain::bounded : Pool::Retain::nothing);
    }
    case 36: return do_set_capacity(n);
    case 37: return do_pmr(n);
    case 38: return in_.flag() ? do_run_child_cleanups(n) : do_run_cleanups(n);
    case 39: return do_close_on_cleanup(n);
    default: {
      op("set_tag, report");
      static const char* const tags[] = {"a", "request", "connection"};
      const char* tag = tags[in_.below(3)];
      n.pool->set_tag(tag);
      n.tag = tag;
      MODEL_CHECK(std::strcmp(n.pool->tag(), tag) == 0);
      // report(): a line naming the pool, then one per tracked allocation.
      char* text = nullptr;
      std::size_t size = 0;
      std::FILE* out = open_memstream(&text, &size);
      n.pool->report(out);
      std::fclose(out);
      const std::string report(text, size);
      std::free(text);
      MODEL_CHECK(report.find(std::string("pool '") + tag + "'") == 0);
      MODEL_CHECK_EQ(static_cast<std::size_t>(std::count(report.begin(), report.end(), '\n')),
                    1 + n.pool->stats().large_allocations);
    }
  }
}

// how: 0 alloc, 1 alloc_unaligned, 2 calloc
inline void Harness::do_alloc(Node& n, int how) {
  const std::size_t bytes = pick_size(n);
  const std::size_t align = how == 1 ? 1 : pick_align();
  op(how == 0 ? "alloc" : how == 1 ? "alloc_unaligned" : "calloc");
  const Expect e = expect(n, bytes, align);
  const std::size_t before = own_of(n);
  void* p = how == 0 ? n.pool->alloc(bytes, align) : how == 1 ? n.pool->alloc_unaligned(bytes) : n.pool->calloc(bytes, align);
  if (how == 2 && p != nullptr) {
    for (std::size_t i = 0; i < bytes; ++i) MODEL_CHECK(static_cast<char*>(p)[i] == 0);
  }
  account(n, p, bytes, align, e, before);
}

inline void Harness::do_realloc(Node& n) {
  auto it = pick_region(n);
  if (it == regions_.end() || in_.below(16) == 0) {
    op("realloc(nullptr)");
    const std::size_t bytes = pick_size(n);
    const Expect e = expect(n, bytes, 16);
    const std::size_t before = own_of(n);
    account(n, n.pool->realloc(nullptr, 0, bytes), bytes, 16, e, before);
    return;
  }
  op("realloc");
  char* p = it->first;
  const Region old = it->second;
  std::size_t bytes;
  switch (in_.below(4)) {
    case 0: bytes = old.size > 0 ? in_.below(old.size) : 0; break;     // shrink
    case 1: bytes = old.size + in_.between(1, 64); break;               // grow a little
    default: bytes = pick_size(n);
  }
  const std::size_t align = std::size_t{1} << in_.below(5);
  const std::size_t before = own_of(n);
  const Expect e = expect(n, bytes, align);
  void* q = n.pool->realloc(p, old.size, bytes, align);
  const std::size_t after = own_of(n);
  if (q == nullptr) {
    MODEL_CHECK(!e.certain_ok);
    MODEL_CHECK(after == before);
    if (e.counts_failure) ++n.failures;
    verify_region(p, old, true);  // untouched
    return;
  }
  MODEL_CHECK(detail::is_aligned(q, align));
  auto* bytes_q = static_cast<char*>(q);
  for (std::size_t i = 0; i < std::min(old.size, bytes); ++i) MODEL_CHECK(static_cast<std::uint8_t>(bytes_q[i]) == old.fill);
  regions_.erase(it);
  if (q == p) {  // in place: the allocation keeps its kind, its charge changes by the difference
    MODEL_CHECK(!debug);
    MODEL_CHECK(after - before == bytes - old.size);  // (wraps consistently when shrinking)
    if (old.large) n.tracked_bytes = n.tracked_bytes - old.size + bytes;
    n.own_used = after;
    if (bytes > 0) add_region(p, bytes, n, next_fill(), old.large, true);
    else if (old.large) regions_.emplace(p, Region{0, &n, 0, true, false, true});  // still its block
    return;
  }
  // Moved: a new allocation; the old one is freed if large, else stays the pool's until reset.
  MODEL_CHECK(!e.certain_fail);
  std::size_t freed = 0;
  if (old.large) {
    freed = old.size;
    --n.tracked;
    n.tracked_bytes -= old.size;
  } else {
    regions_.emplace(p, Region{old.size, &n, old.fill, false, true, false});
  }
  const bool large = is_large(n, bytes, align);
  const std::size_t delta = after + freed - before;
  if ((debug && bytes > 0) || large) MODEL_CHECK(delta == bytes);
  else MODEL_CHECK(delta >= bytes && delta <= bytes + (debug ? 0 : align - 1));
  n.own_used = after;
  if ((debug && bytes > 0) || large) {
    ++n.tracked;
    n.tracked_bytes += bytes;
  }
  if (bytes > 0) add_region(bytes_q, bytes, n, next_fill(), large, true);
}

inline void Harness::do_free(Node& n) {
  const std::size_t before = own_of(n);
  switch (in_.below(8)) {
    case 0:
      op("free(nullptr)");
      MODEL_CHECK(!n.pool->free(nullptr));
      break;
    case 1: {  // another pool's allocation, or a moved-away one: never this pool's to free
      op("free(not this pool's)");
      for (auto& [p, r] : regions_) {
        if ((r.node != &n || !r.live) && r.size > 0) {
          MODEL_CHECK(!n.pool->free(p));
          break;
        }
      }
      break;
    }
    default: {
      op("free");
      auto it = pick_region(n);
      if (it == regions_.end()) break;
      verify_region(it->first, it->second, true);
      const bool freed = n.pool->free(it->first);
      MODEL_CHECK(freed == it->second.large);  // true exactly for large allocations
      if (freed) {
        --n.tracked;
        n.tracked_bytes -= it->second.size;
        MODEL_CHECK(before - own_of(n) == it->second.size);
        n.own_used = own_of(n);
        regions_.erase(it);
      }
    }
  }
  MODEL_CHECK(own_of(n) == n.own_used);
}

inline void Harness::do_make(Node& n) {
  const std::size_t before = own_of(n);
  switch (in_.below(3)) {
    case 0: {
      op("make<Pod>");
      const Expect e = expect(n, sizeof(Pod), alignof(Pod));
      account(n, n.pool->make<Pod>(), sizeof(Pod), alignof(Pod), e, before);
      break;
    }
    case 1: {
      op("make<Wide> (alignas 64)");
      const Expect e = expect(n, sizeof(Wide), alignof(Wide));
      account(n, n.pool->make<Wide>(), sizeof(Wide), alignof(Wide), e, before);
      break;
    }
    default: {
      op("make<Tracker> (a destructor: a cleanup)");
      Subject* s = new_subject(n, Kind::object);
      const Expect e = expect_internal(n);
      const bool spare = n.spare > 0;
      dying_object_ = s;
      Tracker* t = n.pool->make<Tracker>(s);
      const bool died = dying_object_ == nullptr;
      dying_object_ = nullptr;
      const std::size_t delta = own_of(n) - before;
      if (t == nullptr) {  // the object did not fit, or its cleanup record did not (it died at once)
        MODEL_CHECK(!e.certain_ok);
        MODEL_CHECK(died == (delta > 0));
        if (delta > 0) account_internal(n, sizeof(Tracker), alignof(Tracker), delta);
        if (e.counts_failure) ++n.failures;
        break;
      }
      MODEL_CHECK(!died);
      MODEL_CHECK(t->subject == s);
      account_made(n, sizeof(Tracker), alignof(Tracker), spare, delta);
      n.pending.push_back({s, false});
      add_region(reinterpret_cast<char*>(t), sizeof(Tracker), n, 0, false, false);
    }
  }
}

inline void Harness::do_alloc_array(Node& n) {
  op("alloc_array<uint32_t>");
  constexpr std::size_t most = std::numeric_limits<std::size_t>::max() / 4;
  std::size_t count;
  switch (in_.below(10)) {
    case 0: count = most + 1 + in_.below(100); break;  // count * 4 overflows
    case 1: count = most - in_.below(1000); break;     // impossible bytes
    default: count = pick_size(n) % impossible / 4;
  }
  const std::size_t before = own_of(n);
  if (count > std::numeric_limits<std::size_t>::max() / 4) {  // the multiplication overflows: refused, not counted
    MODEL_CHECK(n.pool->alloc_array<std::uint32_t>(count) == nullptr);
    MODEL_CHECK(own_of(n) == before);
    return;
  }
  const Expect e = expect(n, count * 4, 4);
  account(n, n.pool->alloc_array<std::uint32_t>(count), count * 4, 4, e, before);
}

inline void Harness::do_strdup(Node& n) {
  op("strdup");
  std::string text(in_.below(8) == 0 ? pick_size(n) % (1 << 18) : in_.below(300), 'a');
  for (std::size_t i = 0; i < text.size(); i += 1 + text.size() / 16) text[i] = static_cast<char>('a' + in_.below(26));
  const Expect e = expect(n, text.size() + 1, 1);
  const std::size_t before = own_of(n);
  const std::string_view copy = n.pool->strdup(text);
  if (copy.data() != nullptr) {
    MODEL_CHECK(copy == text);
    MODEL_CHECK(copy.data()[copy.size()] == '\0');
  }
  account(n, const_cast<char*>(copy.data()), text.size() + 1, 1, e, before);
}

inline void Harness::do_format(Node& n) {
  const bool allocating = in_.flag();
  op(allocating ? "format (a formatter allocating from the pool)" : "format");
  const int number = static_cast<int>(in_.u16());
  const std::size_t width = in_.below(4) == 0 ? in_.between(200, 2000) : in_.below(40);
  const std::string expected =
      allocating ? fmt::format("{}:{}:{:>{}}", number, "user", "x", width) : fmt::format("{}::{:>{}}", number, "x", width);
  formatter_allocs_.clear();
  const Expect e = expect(n, expected.size() + 1, 1);
  const std::size_t before = own_of(n);
  const std::string_view text = allocating ? n.pool->format("{}:{}:{:>{}}", number, PoolUser{this, &n}, "x", width)
                                           : n.pool->format("{}::{:>{}}", number, "x", width);
  if (text.data() != nullptr) {
    MODEL_CHECK(text == expected);
    MODEL_CHECK(text.data()[text.size()] == '\0');
  }
  // The formatter's own allocations were accounted as they happened (formatter_ran); the text's
  // came before or between them, so it is predicted only when there were none.
  std::size_t formatter_bytes = 0;
  for (const auto& [p, size] : formatter_allocs_) formatter_bytes += size;
  const std::size_t before_text = before + formatter_bytes;
  const Expect text_expect = formatter_allocs_.empty() ? e : Expect{false, false, !n.orphaned};
  account(n, const_cast<char*>(text.data()), expected.size() + 1, 1, text_expect, before_text);
}

inline void Harness::do_add_cleanup(Node& n) {
  const auto action = static_cast<Action>(in_.below(static_cast<std::size_t>(Action::count)));
  const bool child = in_.flag();
  Subject* s;
  if (!n.pending.empty() && in_.below(6) == 0) {  // the same (fn, data) once more
    s = n.pending[in_.below(n.pending.size())].subject;
    if (s->kind != Kind::plain) return;
    op("add_cleanup (again)");
  } else {
    s = new_subject(n, Kind::plain, action, in_.u32());
    op("add_cleanup");
  }
  const Expect e = expect_internal(n);
  const bool spare = n.spare > 0;
  const std::size_t before = own_of(n);
  const bool ok = n.pool->add_cleanup(on_cleanup, s, child ? on_child_cleanup : nullptr);
  if (!ok) {
    MODEL_CHECK(!spare && !e.certain_ok);
    if (e.counts_failure) ++n.failures;
    MODEL_CHECK(own_of(n) == before);
    return;
  }
  MODEL_CHECK(!n.orphaned);
  take_record(n, own_of(n) - before);
  n.pending.push_back({s, child});
}

inline void Harness::do_remove_or_run_cleanup(Node& n, bool run) {
  op(run ? "run_cleanup" : "remove_cleanup");
  std::vector<Subject*> plain;
  for (const Registration& r : n.pending) {
    if (r.subject->kind == Kind::plain) plain.push_back(r.subject);
  }
  if (plain.empty() || in_.below(8) == 0) {  // nothing registered under (fn, data)
    Subject* stranger = new_subject(n, Kind::plain);
    MODEL_CHECK(!(run ? n.pool->run_cleanup(on_cleanup, stranger) : n.pool->remove_cleanup(on_cleanup, stranger)));
    return;
  }
  Subject* target = plain[in_.below(plain.size())];
  for (std::size_t i = n.pending.size(); i-- > 0;) {
    if (n.pending[i].subject == target) {
      n.pending.erase(n.pending.begin() + static_cast<long>(i));
      break;
    }
  }
  ++n.spare;
  const std::size_t before = own_of(n);
  if (run) {
    explicit_run_ = target;
    MODEL_CHECK(n.pool->run_cleanup(on_cleanup, target));
    MODEL_CHECK(explicit_run_ == nullptr);
  } else {
    MODEL_CHECK(n.pool->remove_cleanup(on_cleanup, target));
    MODEL_CHECK(own_of(n) == before);
  }
}

inline void Harness::do_user_data(Node& n) {
  static const char* const keys[] = {"a", "user", "connection-state", "a-rather-long-key-for-the-pool-to-copy"};
  const std::string key = keys[in_.below(4)];
  if (in_.flag()) {
    op("user_data");
    auto it = n.user_data.find(key);
    MODEL_CHECK(n.pool->user_data(key) == (it == n.user_data.end() ? nullptr : it->second));
    return;
  }
  op("set_user_data");
  void* value = &user_values_[in_.below(user_values_.size())];
  const std::size_t before = own_of(n);
  const bool known = n.user_data.count(key) != 0;
  const Expect e = expect_internal(n);
  const bool ok = n.pool->set_user_data(key, value);
  const std::size_t delta = own_of(n) - before;
  if (known) {  // an update: no allocation
    MODEL_CHECK(ok && delta == 0);
    n.user_data[key] = value;
    return;
  }
  if (!ok) {
    MODEL_CHECK(!e.certain_ok);
    if (e.counts_failure) ++n.failures;
    MODEL_CHECK(delta == 0 || delta == key.size() + 1);  // the key fit, its record did not
    if (delta > 0) account_internal(n, key.size() + 1, 1, delta);
    return;
  }
  // The key's copy (exact: no alignment) and the record.
  account_internal(n, key.size() + 1, 1, key.size() + 1);
  learn(user_record_bytes_, delta - key.size() - 1);
  if (debug) {
    ++n.tracked;
    n.tracked_bytes += user_record_bytes_;
  }
  n.own_used += delta - key.size() - 1;
  n.user_data[key] = value;
}

inline void Harness::do_set_capacity(Node& n) {
  op("set_capacity");
  std::size_t cap;
  switch (in_.below(4)) {
    case 0: cap = 0; break;
    case 1: cap = n.pool->bytes_used() + in_.below(4096); break;
    case 2: cap = in_.below(n.pool->bytes_used() + 1); break;  // below what is used (0: none)
    default: cap = in_.between(1, 512) * 1024;
  }
  n.pool->set_capacity(cap);
  n.capacity = cap;
}

inline void* Harness::pmr_allocate(Node& n, std::size_t bytes, std::size_t align) {
  const Expect e = expect(n, bytes, align);
  const std::size_t before = own_of(n);
  void* p = nullptr;
  try {
    p = n.pool->resource()->allocate(bytes, align);
  } catch (const std::bad_alloc&) {
    account(n, nullptr, bytes, align, e, before);
    throw;
  }
  account(n, p, bytes, align, e, before, false);
  return p;
}

inline void Harness::pmr_deallocate(Node& n, void* p, std::size_t bytes, std::size_t align) {
  const std::size_t before = own_of(n);
  n.pool->resource()->deallocate(p, bytes, align);
  auto it = regions_.find(static_cast<char*>(p));
  if (bytes == 0 || it == regions_.end()) return;
  if (it->second.large) {  // freed at once
    --n.tracked;
    n.tracked_bytes -= bytes;
    MODEL_CHECK(before - own_of(n) == bytes);
    n.own_used = own_of(n);
    regions_.erase(it);
  } else {
    it->second.live = false;  // stays the pool's until reset
    MODEL_CHECK(own_of(n) == before);
  }
}

inline void Harness::do_pmr(Node& n) {
  op("std::pmr::vector over resource()");
  if (in_.below(8) == 0) {  // alignment beyond a page: the adaptor throws
    bool threw = false;
    try {
      (void)n.pool->resource()->allocate(8, 2 * Pool::max_alignment);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    MODEL_CHECK(threw);
    return;
  }
  MODEL_CHECK(n.pool->resource()->is_equal(*n.pool->resource()));
  MODEL_CHECK(!n.pool->resource()->is_equal(*nodes_.front()->pool->resource()) || &n == nodes_.front().get());
  RecordingResource resource(*this, n);
  const std::size_t count = in_.below(4) == 0 ? in_.below(40000) : in_.below(200);
  std::size_t pushed = 0;
  try {
    std::pmr::vector<std::uint32_t> v(&resource);
    for (; pushed < count; ++pushed) v.push_back(static_cast<std::uint32_t>(pushed * 2654435761u));
    for (std::size_t i = 0; i < count; ++i) MODEL_CHECK(v[i] == static_cast<std::uint32_t>(i * 2654435761u));
  } catch (const std::bad_alloc&) {
    MODEL_CHECK(n.failures > 0 || n.orphaned);
  }
}

// nginx's ngx_pool_cleanup_file and ngx_pool_run_cleanup_file (pool_cleanups.hpp): a
// descriptor closed by the pool's teardown, or now, or handed back to its owner.
inline void Harness::do_close_on_cleanup(Node& n) {
  std::vector<Subject*> files;
  for (const Registration& r : n.pending) {
    if (r.subject->kind == Kind::file) files.push_back(r.subject);
  }
  const std::size_t what = in_.below(3);
  if (what == 0 || files.empty()) {
    op("close_on_cleanup");
    if (files.size() >= 16) return;  // (descriptors are finite)
    int fds[2];
    MODEL_CHECK(::pipe(fds) == 0);
    ::close(fds[1]);
    const Expect e = expect_internal(n);
    const bool spare = n.spare > 0;
    const std::size_t before = own_of(n);
    if (!close_on_cleanup(*n.pool, fds[0])) {
      MODEL_CHECK(!spare && !e.certain_ok);
      if (e.counts_failure) ++n.failures;
      MODEL_CHECK(is_open(fds[0]));  // not registered: still the caller's
      ::close(fds[0]);
      return;
    }
    take_record(n, own_of(n) - before);
    n.pending.push_back({new_subject(n, Kind::file, Action::none, static_cast<std::uint32_t>(fds[0])), false});
    return;
  }
  Subject* file = files[in_.below(files.size())];
  const int fd = static_cast<int>(file->param);
  for (std::size_t i = n.pending.size(); i-- > 0;) {
    if (n.pending[i].subject == file) {
      n.pending.erase(n.pending.begin() + static_cast<long>(i));
      break;
    }
  }
  ++n.spare;
  if (what == 1) {
    op("run_close_cleanup");
    MODEL_CHECK(run_close_cleanup(*n.pool, fd));
    MODEL_CHECK(!is_open(fd));
  } else {
    op("remove_close_cleanup");
    MODEL_CHECK(remove_close_cleanup(*n.pool, fd));
    MODEL_CHECK(is_open(fd));
    ::close(fd);
  }
}

// Steps 1 and 2 of the reset contract, keeping the pool's memory (what a PoolManager calls on the
// releasing thread): children destroyed, cleanups run; allocations, user data stay.
inline void Harness::do_run_cleanups(Node& n) {
  op("run_cleanups");
  keeps_memory_ = &n;
  tear_down(n, [&] { n.pool->run_cleanups(); });
  if (!n.orphaned) children_gone(n);
  n.pending.clear();  // (silent ones included: the children they destroyed are gone)
}

inline void Harness::do_run_child_cleanups(Node& n) {
  op("run_child_cleanups");
  // APR's order: this pool's registrations newest first, then each child's tree, newest first.
  std::vector<Subject*> expected;
  auto visit = [&](auto&& self, Node& p) -> void {
    for (auto it = p.pending.rbegin(); it != p.pending.rend(); ++it) {
      if (it->child) expected.push_back(it->subject);
    }
    for (auto it = p.children.rbegin(); it != p.children.rend(); ++it) self(self, **it);
  };
  visit(visit, n);
  std::vector<int> closing;  // close_on_cleanup's child cleanup closes too (APR's cleanup_for_exec)
  collect_files(n, true, closing);
  child_expected_ = &expected;
  child_at_ = 0;
  n.pool->run_child_cleanups();
  MODEL_CHECK(child_at_ == expected.size());
  child_expected_ = nullptr;
  for (int fd : closing) MODEL_CHECK(!is_open(fd));
  auto forget = [&](auto&& self, Node& p) -> void {
    p.pending.clear();  // every registration went (no spare records: they were not removed)
    for (Node* c : p.children) self(self, *c);
  };
  forget(forget, n);
}

// --- the checks after every step -----------------------------------------------------------------

inline void Harness::check_node(Node& n) {
  const PoolStats s = n.pool->stats();
  MODEL_CHECK(n.pool->destroyed_by_parent() == n.orphaned);
  MODEL_CHECK_EQ(s.resets, n.resets);
  MODEL_CHECK_EQ(s.capacity_failures, n.failures);
  MODEL_CHECK_EQ(s.capacity, n.capacity);
  MODEL_CHECK(std::strcmp(n.pool->tag(), n.tag) == 0);
  if (n.orphaned) {
    MODEL_CHECK(s.bytes_used == 0 && s.held_bytes == 0 && s.blocks == 0 && s.large_allocations == 0);
    MODEL_CHECK(s.children == 0 && s.cleanups == 0);
    return;
  }
  MODEL_CHECK_EQ(own_of(n), n.own_used);
  MODEL_CHECK_EQ(s.large_allocations, n.tracked);
  MODEL_CHECK_EQ(s.large_bytes, n.tracked_bytes);
  MODEL_CHECK_EQ(s.children, n.children.size());
  MODEL_CHECK_EQ(s.cleanups, n.pending.size());
  if (debug) MODEL_CHECK_EQ(s.blocks, 0u);
  MODEL_CHECK_EQ(n.pool->block_bytes(), s.block_bytes);
  MODEL_CHECK(s.held_bytes >= s.block_bytes + s.large_bytes);
  // available(): the tighter of this pool's budget and, cascading, its parent's.
  std::size_t expected = n.capacity == 0 ? std::numeric_limits<std::size_t>::max()
                                         : (s.bytes_used >= n.capacity ? 0 : n.capacity - s.bytes_used);
  if (n.cascade && n.parent != nullptr) expected = std::min(expected, n.parent->pool->available());
  MODEL_CHECK_EQ(n.pool->available(), expected);
}

inline void Harness::check_all() {
  std::size_t held = 0;
  for (auto& n : nodes_) {
    check_node(*n);
    held += n->pool->stats().held_bytes;
  }
  const BlockAllocatorStats b = blocks_.stats();
  MODEL_CHECK_EQ(b.bytes_in_use, debug ? 0 : held);  // nothing leaked, nothing counted twice
  MODEL_CHECK(b.bytes_free <= b.max_free);
  MODEL_CHECK(b.os_frees <= b.os_allocs);
  for (const auto& [p, r] : regions_) verify_region(p, r, false);
}

}  // namespace pool_model_detail

inline void pool_model(OpSource& in) {
  pool_model_detail::Harness harness(in);
  harness.run();
}

}  // namespace mempool::test
