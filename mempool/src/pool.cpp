#include "mempool/pool.hpp"

#include <algorithm>
#include <cstdlib>

#include "mempool/detail/format.hpp"

namespace mempool {

// Bookkeeping at the start of every small block's payload: the block's own bump cursor (the
// current block's lives in Pool::cursor_ while it is current) and its count of failed fits.
struct Pool::BumpHeader {
  char* last;           ///< next free byte of this block
  std::uint32_t failed; ///< requests this block could not fit since the last rewind
};

// Header right before the bytes of a tracked allocation: every large allocation, and in
// MEMPOOL_DEBUG builds every allocation. `check` is last so a probe at p - 8 finds it; it mixes
// the header's address, the owning pool and the kind, so a small allocation never passes for one.
struct Pool::Tracked {
  Tracked* prev;
  Tracked* next;
  void* base;          ///< what to give back: a MemoryBlock*, or a malloc() pointer in MEMPOOL_DEBUG
  std::size_t held;    ///< bytes of memory at base (what a cascading pool's parent is charged)
  std::size_t bytes;   ///< requested size
  Site site;           ///< where it was asked for
  std::uintptr_t check;
};

struct Pool::Cleanup {
  CleanupFn fn;
  void* data;
  CleanupFn child_fn;  ///< run by run_child_cleanups(); may be nullptr
  Cleanup* next;
};

struct Pool::UserData {
  UserData* next;
  std::string_view key;  ///< copied into the pool
  void* value;
};

namespace {

// A block that failed this many requests is nearly full: stop starting the search there
// (nginx moves `current` past a block after its fourth failure).
constexpr std::uint32_t max_failed_fits = 4;
// A block with less room than this cannot take a typical header or string: a request that
// misses it moves `current` on at once instead of retrying it four more times.
constexpr std::size_t min_useful_room = 256;

std::size_t round_to_pages(std::size_t n) noexcept {
  return std::max(detail::align_up(n, BlockAllocator::page_size), BlockAllocator::page_size);
}

constexpr std::uintptr_t large_magic = 0x6c61726765ULL;      // "large"
constexpr std::uintptr_t small_magic = 0x736d616c6cULL;      // "small" (MEMPOOL_DEBUG only)

// What cursor_ and limit_ point at while a pool holds no block, and what alloc(0) returns when
// it takes no bytes: aligned for every alignment, and the eight bytes before it are zeros, which
// no Tracked::check can equal (so free() and realloc() of it find no header).
alignas(Pool::max_alignment) char empty_area[Pool::max_alignment] = {};
char* empty_sentinel() noexcept { return empty_area + sizeof(empty_area); }

bool add_overflows(std::size_t a, std::size_t b) noexcept { return a > std::numeric_limits<std::size_t>::max() - b; }

}  // namespace

// --- construction -------------------------------------------------------------------------------

Pool::Pool(const Options& options)
    : cursor_(empty_sentinel()),
      limit_(empty_sentinel()),
      segment_start_(empty_sentinel()),
      capacity_(options.capacity == 0 ? unlimited : options.capacity),
      allocator_(options.allocator ? options.allocator : &BlockAllocator::shared_default()),
      min_block_size_(round_to_pages(options.block_size)),
      first_block_size_(min_block_size_),
      max_block_size_(std::max(round_to_pages(options.max_block_size), min_block_size_)),
      retain_bytes_(std::clamp(options.retain_bytes / BlockAllocator::page_size * BlockAllocator::page_size,
                               min_block_size_, max_block_size_)),
      small_capacity_(max_block_size_ - sizeof(MemoryBlock) - sizeof(BumpHeader)),
      tag_(options.tag),
      owner_(std::this_thread::get_id()),
      cascade_(options.cascade) {}

Pool::Pool(Pool& parent, const Options& options)
    : Pool(options.allocator && !options.cascade ? options : [&] {
        Options inherited = options;
        inherited.allocator = parent.allocator_;
        return inherited;
      }()) {
  parent.check_owner();
  if (parent.orphaned_) {  // a dead pool's child is born dead: nothing to link it to
    orphaned_ = true;
    return;
  }
  parent_ = &parent;
  next_sibling_ = parent.first_child_;
  if (next_sibling_) next_sibling_->prev_sibling_ = this;
  parent.first_child_ = this;
}

Pool::~Pool() {
  if (orphaned_) return;
  clear(false);
  detach_from_parent();
}

// Each step costs nothing when it has nothing to undo: the keep-alive case (one block, nothing
// registered) runs straight through to the rewind.
void Pool::clear(bool keep_a_block) noexcept {
  if (first_child_ != nullptr || cleanups_ != nullptr) tear_down();
  if (tracked_ != nullptr) release_tracked();
  rewind_blocks(keep_a_block);
}

void Pool::detach_from_parent() noexcept {
  if (parent_ == nullptr) return;
  if (prev_sibling_) {
    prev_sibling_->next_sibling_ = next_sibling_;
  } else {
    parent_->first_child_ = next_sibling_;
  }
  if (next_sibling_) next_sibling_->prev_sibling_ = prev_sibling_;
  parent_ = next_sibling_ = prev_sibling_ = nullptr;
}

// --- reset --------------------------------------------------------------------------------------

void Pool::reset(Retain retain) noexcept {
  check_owner();
  MEMPOOL_EXPECT(!in_cleanup_, "reset() called from inside one of the pool's own cleanups");
  ++resets_;
  clear(retain == Retain::bounded);
}

void Pool::destroy_children() noexcept {
  while (Pool* child = first_child_) {
    child->clear(false);
    child->detach_from_parent();
    child->orphaned_ = true;
  }
}

void Pool::run_cleanups() noexcept {
  check_owner();
  tear_down();
}

// Steps 1 and 2 of the reset contract.
void Pool::tear_down() noexcept {
  destroy_children();
  run_own_cleanups();
  destroy_children();  // any that a cleanup created
}

// APR's run_cleanups: each cleanup leaves the list before it runs, and the list is read afresh
// after it, so a cleanup may remove or run a later one (which then never runs again) or register
// a new one (the newest: it runs next).
void Pool::run_own_cleanups() noexcept {
  in_cleanup_ = true;
  while (Cleanup* c = cleanups_) {
    cleanups_ = c->next;
    c->fn(c->data);
  }
  in_cleanup_ = false;
}

void Pool::release_tracked() noexcept {
  while (Tracked* t = tracked_) {
    tracked_ = t->next;
    release(t);
  }
}

// A header must not outlive its allocation: the block may come back to this same pool as a
// small block, and a stale header with a valid check in it would make free() of a small
// allocation behind it release that block under its live neighbours.
void Pool::release(Tracked* t) noexcept {
  t->check = 0;
  if constexpr (debug_allocations) {
    give_heap(t->base, t->held);
  } else {
    give_block(static_cast<MemoryBlock*>(t->base));
  }
}

// The first block of a cycle follows what cycles need. A cycle that spilled over its blocks
// needed at least their total: the size grows to it at once (up to retain_bytes). A cycle that
// filled less than half of it halves it (down to options.block_size), so one big request stops
// being kept after a few quieter cycles, while a steady workload keeps its block.
void Pool::learn_block_size() noexcept {
  save_cursor();
  std::size_t total = 0;
  std::size_t filled = 0;  // each block up to its cursor, headers included
  for (MemoryBlock* b = first_; b != nullptr; b = b->next) {
    total += b->size;
    filled += static_cast<std::size_t>(reinterpret_cast<BumpHeader*>(b->data())->last - reinterpret_cast<char*>(b));
  }
  if (total > first_block_size_) {
    first_block_size_ = std::min(total, retain_bytes_);
  } else if (filled < first_block_size_ / 2) {
    first_block_size_ = std::max(round_to_pages(first_block_size_ / 2), min_block_size_);
  }
}

void Pool::rewind_blocks(bool keep_a_block) noexcept {
  // What the pool keeps in its own memory dies with that memory, here, on every path that rewinds
  // it: cleanup records (the spare ones too: issue 9's overwritten allocation) and user data.
  cleanups_ = spare_cleanups_ = nullptr;
  user_data_ = nullptr;
  learn_block_size();
  used_ = 0;
  segment_start_ = cursor_;
  current_ = nullptr;  // nothing to save: every cursor is about to be rewound
  MemoryBlock* kept = nullptr;
  if (keep_a_block && first_ != nullptr && first_->size == first_block_size_) kept = first_;
  for (MemoryBlock* b = kept ? kept->next : first_; b != nullptr;) {
    MemoryBlock* next = b->next;
    give_block(b);
    b = next;
  }
  first_ = last_ = kept;
  if (kept == nullptr) {
    cursor_ = limit_ = segment_start_ = empty_sentinel();
    return;
  }
  kept->next = nullptr;
  char* start = kept->data() + sizeof(BumpHeader);
  *reinterpret_cast<BumpHeader*>(kept->data()) = BumpHeader{start, 0};
  detail::poison(start, static_cast<std::size_t>(kept->end() - start));
  make_current(kept);
}

// --- small allocations --------------------------------------------------------------------------

void* Pool::alloc_slow(std::size_t n, std::size_t align, Site site) noexcept {
  if (n == 0) return empty_sentinel();  // nothing to hand out: no block, no budget, no header
  if (orphaned_) return nullptr;
  commit_segment();
  if (capacity_ != unlimited && (used_ > capacity_ || n > capacity_ - used_)) {
    ++capacity_failures_;
    return nullptr;
  }
  // A fresh block's payload starts 16-aligned, so a stricter alignment may cost align - 16 bytes.
  const std::size_t worst_padding = align > default_alignment ? align - default_alignment : 0;
  const bool fits_a_block = n <= small_capacity_ && worst_padding <= small_capacity_ - n;
  if (debug_allocations || !fits_a_block) {
    void* p = alloc_tracked(n, align, site, !fits_a_block);
    if (p != nullptr) used_ += n;
    fit_limit();
    return p;
  }
  return alloc_from_blocks(n, align);
}

// Brings used_ up to date with what the fast path handed out from the current block.
void Pool::commit_segment() noexcept {
  used_ += static_cast<std::size_t>(cursor_ - segment_start_);
  segment_start_ = cursor_;
}

// limit_ = the current block's end, or sooner if the capacity runs out first.
void Pool::fit_limit() noexcept {
  commit_segment();
  limit_ = current_ ? current_->end() : cursor_;
  if (capacity_ != unlimited) {
    const std::size_t left = used_ < capacity_ ? capacity_ - used_ : 0;
    if (left < static_cast<std::size_t>(limit_ - cursor_)) limit_ = cursor_ + left;
  }
}

void Pool::set_capacity(std::size_t bytes) noexcept {
  check_owner();
  capacity_ = bytes == 0 ? unlimited : bytes;
  fit_limit();
}

void Pool::save_cursor() noexcept {
  if (current_) reinterpret_cast<BumpHeader*>(current_->data())->last = cursor_;
}

void Pool::make_current(MemoryBlock* block) noexcept {
  commit_segment();
  save_cursor();
  current_ = block;
  cursor_ = segment_start_ = reinterpret_cast<BumpHeader*>(block->data())->last;
  fit_limit();
}

// Blocks of a cycle grow: the first has the learned size, each next one doubles the last, up
// to max_block_size, and is never smaller than the request that needs it.
MemoryBlock* Pool::add_block(std::size_t min_capacity) noexcept {
  const std::size_t grown = last_ ? std::min(last_->size * 2, max_block_size_) : first_block_size_;
  const std::size_t size = std::max(grown, BlockAllocator::block_size_for(min_capacity + sizeof(BumpHeader)));
  MemoryBlock* b = take_block(size);
  if (b == nullptr) return nullptr;
  char* start = b->data() + sizeof(BumpHeader);
  ::new (b->data()) BumpHeader{start, 0};
  detail::poison(start, static_cast<std::size_t>(b->end() - start));
  b->next = nullptr;
  if (last_) {
    last_->next = b;
  } else {
    first_ = b;
  }
  last_ = b;
  return b;
}

void* Pool::alloc_from_blocks(std::size_t n, std::size_t align) noexcept {
  save_cursor();  // the walk reads every block's cursor from its header, the current one included
  const std::size_t budget = capacity_ == unlimited ? unlimited : capacity_ - used_;  // alloc_slow checked used_ <= capacity_
  void* p = nullptr;
  for (MemoryBlock* b = current_; b != nullptr && p == nullptr; b = b->next) {
    p = bump_in(b, n, align, budget);
    if (p == nullptr) ++reinterpret_cast<BumpHeader*>(b->data())->failed;
  }
  if (p == nullptr) {
    MemoryBlock* b = add_block(n + (align > default_alignment ? align - default_alignment : 0));
    if (b == nullptr) return nullptr;
    if (current_ == nullptr) current_ = b;
    p = bump_in(b, n, align, budget);  // fits, unless the padding overruns the budget
    if (p == nullptr) ++capacity_failures_;
  }
  // Searches start past blocks that can no longer take a typical request.
  while (current_->next != nullptr && exhausted(current_)) current_ = current_->next;
  MemoryBlock* current = std::exchange(current_, nullptr);  // reload without saving over the walk
  make_current(current);
  return p;
}

bool Pool::exhausted(MemoryBlock* b) noexcept {
  auto* header = reinterpret_cast<BumpHeader*>(b->data());
  return static_cast<std::size_t>(b->end() - header->last) < min_useful_room || header->failed > max_failed_fits;
}

void* Pool::bump_in(MemoryBlock* b, std::size_t n, std::size_t align, std::size_t budget) noexcept {
  auto* header = reinterpret_cast<BumpHeader*>(b->data());
  const auto room = std::min(static_cast<std::size_t>(b->end() - header->last), budget);
  const std::size_t pad = detail::padding_for(header->last, align);
  if (pad > room || n > room - pad) return nullptr;
  char* p = header->last + pad;
  header->last = p + n;
  used_ += pad + n;
  detail::unpoison(p, n);
  return p;
}

// --- where memory comes from: the BlockAllocator (malloc in MEMPOOL_DEBUG), charged to the -----
// --- parent when cascading (Melon) ---------------------------------------------------------------

// A block of at least `size` bytes (the allocator's sink may give a larger one: the charge is
// what the block really is).
MemoryBlock* Pool::take_block(std::size_t size) noexcept {
  if (!charge_parent(size)) return nullptr;
  MemoryBlock* b = allocator_->allocate_block(size - sizeof(MemoryBlock));
  if (b == nullptr) {
    uncharge_parent(size);
    return nullptr;
  }
  if (b->size > size && !charge_parent(b->size - size)) {
    allocator_->deallocate_block(b);
    uncharge_parent(size);
    return nullptr;
  }
  return b;
}

void Pool::give_block(MemoryBlock* b) noexcept {
  const std::size_t size = b->size;
  allocator_->deallocate_block(b);
  uncharge_parent(size);
}

void* Pool::take_heap(std::size_t bytes) noexcept {
  if (!charge_parent(bytes)) return nullptr;
  void* p = std::malloc(bytes);
  if (p == nullptr) uncharge_parent(bytes);
  return p;
}

void Pool::give_heap(void* p, std::size_t bytes) noexcept {
  std::free(p);
  uncharge_parent(bytes);
}

// A cascading pool's memory counts against its parent's capacity, and so on up while the
// parents cascade too. A refusal is this pool's capacity failure (its allocation was refused).
bool Pool::charge_parent(std::size_t bytes) noexcept {
  if (charge_ancestors(bytes)) return true;
  ++capacity_failures_;
  return false;
}

// Charges every cascading ancestor, or none.
bool Pool::charge_ancestors(std::size_t bytes) noexcept {
  if (!cascade_ || parent_ == nullptr) return true;
  Pool& p = *parent_;
  p.commit_segment();
  if (p.capacity_ != unlimited && (p.used_ > p.capacity_ || bytes > p.capacity_ - p.used_)) return false;
  if (!p.charge_ancestors(bytes)) return false;
  p.used_ += bytes;
  p.fit_limit();
  return true;
}

void Pool::uncharge_parent(std::size_t bytes) noexcept {
  if (!cascade_ || parent_ == nullptr) return;
  Pool& p = *parent_;
  p.commit_segment();
  p.used_ -= bytes;
  p.fit_limit();
  p.uncharge_parent(bytes);
}

// --- tracked (large, or MEMPOOL_DEBUG) allocations ----------------------------------------------

void* Pool::alloc_tracked(std::size_t n, std::size_t align, Site site, bool large) noexcept {
  // Layout: [base ... padding][Tracked][n bytes], the bytes aligned to max(align, 16).
  const std::size_t a = std::max(align, default_alignment);
  // (With its block's header and page rounding too, so no size wraps on its way to the allocator.)
  if (add_overflows(n, sizeof(Tracked) + a + sizeof(MemoryBlock) + BlockAllocator::page_size)) return nullptr;
  const std::size_t total = sizeof(Tracked) + a - 1 + n;
  void* base;
  char* raw;
  std::size_t held;
  if constexpr (debug_allocations) {
    held = total;
    base = raw = static_cast<char*>(take_heap(total));
  } else {
    MemoryBlock* block = take_block(BlockAllocator::block_size_for(total));
    base = block;
    raw = block ? block->data() : nullptr;
    held = block ? block->size : 0;
  }
  if (raw == nullptr) return nullptr;
  char* p = detail::align_pointer(raw + sizeof(Tracked), a);
  auto* t = ::new (p - sizeof(Tracked)) Tracked{nullptr, tracked_, base, held, n, site, 0};
  t->check = reinterpret_cast<std::uintptr_t>(t) ^ reinterpret_cast<std::uintptr_t>(this) ^
             (large ? large_magic : small_magic);
  if (tracked_) tracked_->prev = t;
  tracked_ = t;
  return p;
}

MEMPOOL_NO_SANITIZE_ADDRESS Pool::Tracked* Pool::tracked_header(void* p) const noexcept {
  // Reads the eight bytes before p, which for a small allocation belong to the pool's own block
  // (possibly poisoned padding, hence no ASan here). Only a real header holds the right check.
  const char* bytes = static_cast<const char*>(p);
  std::uintptr_t check;
  __builtin_memcpy(&check, bytes - sizeof(check), sizeof(check));
  auto* t = reinterpret_cast<Tracked*>(const_cast<char*>(bytes) - sizeof(Tracked));
  const std::uintptr_t mine = reinterpret_cast<std::uintptr_t>(t) ^ reinterpret_cast<std::uintptr_t>(this);
  return (check == (mine ^ large_magic) || check == (mine ^ small_magic)) ? t : nullptr;
}

namespace {
bool is_large(const void* t, const void* pool, std::uintptr_t check) noexcept {
  return check == (reinterpret_cast<std::uintptr_t>(t) ^ reinterpret_cast<std::uintptr_t>(pool) ^ large_magic);
}
}  // namespace

bool Pool::free(void* p) noexcept {
  check_owner();
  if (p == nullptr || tracked_ == nullptr) return false;
  // Small allocations of the current block (most of them) need no probe at all.
  if (current_ != nullptr && static_cast<char*>(p) >= current_->data() && static_cast<char*>(p) < current_->end()) {
    return false;
  }
  Tracked* t = tracked_header(p);
  if (t == nullptr || !is_large(t, this, t->check)) return false;
  if (t->prev) {
    t->prev->next = t->next;
  } else {
    tracked_ = t->next;
  }
  if (t->next) t->next->prev = t->prev;
  commit_segment();
  used_ -= t->bytes;
  release(t);  // (a second free of p then finds no header)
  fit_limit();  // the budget grew
  return true;
}

void* Pool::realloc(void* p, std::size_t old_size, std::size_t n, std::size_t align, Site site) noexcept {
  if (p == nullptr) return alloc(n, align, site);
  check_owner();
  auto* bytes = static_cast<char*>(p);
  if constexpr (!debug_allocations) {
    // The newest allocation of the current block grows or shrinks where it is (Melon mln_alloc_re);
    // limit_ already stops at the capacity.
    if (bytes + old_size == cursor_ && detail::is_aligned(p, align) &&
        n <= static_cast<std::size_t>(limit_ - bytes)) {
      commit_segment();
      cursor_ = segment_start_ = bytes + n;
      used_ = used_ - old_size + n;
      if (n > old_size) detail::unpoison(bytes + old_size, n - old_size);
      else detail::poison(bytes + n, old_size - n);
      fit_limit();
      return p;
    }
    // A large allocation grows inside its own block while the block has room.
    if (tracked_ != nullptr && detail::is_aligned(p, align)) {
      if (Tracked* t = tracked_header(p); t && is_large(t, this, t->check)) {
        commit_segment();
        const bool fits_budget = n <= t->bytes || (used_ <= capacity_ && n - t->bytes <= capacity_ - used_);
        if (fits_budget && n <= static_cast<std::size_t>(static_cast<MemoryBlock*>(t->base)->end() - bytes)) {
          used_ = used_ - t->bytes + n;
          t->bytes = n;
          fit_limit();
          return p;
        }
      }
    }
  }
  void* q = alloc(n, align, site);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, std::min(old_size, n));
  free(p);
  return q;
}

// --- strings ------------------------------------------------------------------------------------

std::string_view Pool::strdup(std::string_view s, Site site) noexcept {
  return detail::strdup_with([&](std::size_t n) noexcept { return alloc_unaligned(n, site); }, s);
}

std::string_view Pool::vformat(fmt::string_view text, fmt::format_args args, Site site) {
  return detail::format_buffered_with([&](std::size_t n) noexcept { return alloc_unaligned(n, site); }, text, args);
}

// --- cleanups -----------------------------------------------------------------------------------

bool Pool::add_cleanup(CleanupFn fn, void* data, CleanupFn child_fn) noexcept {
  check_owner();
  Cleanup* c = spare_cleanups_;
  if (c) {
    spare_cleanups_ = c->next;
  } else {
    c = static_cast<Cleanup*>(alloc(sizeof(Cleanup), alignof(Cleanup)));
    if (c == nullptr) return false;
  }
  *c = Cleanup{fn, data, child_fn, cleanups_};
  cleanups_ = c;
  return true;
}

bool Pool::remove_cleanup(CleanupFn fn, void* data) noexcept {
  check_owner();
  for (Cleanup** link = &cleanups_; *link != nullptr; link = &(*link)->next) {
    Cleanup* c = *link;
    if (c->fn == fn && c->data == data) {
      *link = c->next;
      c->next = spare_cleanups_;
      spare_cleanups_ = c;
      return true;
    }
  }
  return false;
}

// APR's apr_pool_cleanup_for_exec, from this pool down: the process is about to exec.
void Pool::run_child_cleanups() noexcept {
  while (Cleanup* c = cleanups_) {
    cleanups_ = c->next;
    if (c->child_fn != nullptr) c->child_fn(c->data);
  }
  for (Pool* child = first_child_; child != nullptr; child = child->next_sibling_) child->run_child_cleanups();
}

bool Pool::run_cleanup(CleanupFn fn, void* data) noexcept {
  if (!remove_cleanup(fn, data)) return false;
  fn(data);
  return true;
}

// --- user data ----------------------------------------------------------------------------------

bool Pool::set_user_data(std::string_view key, void* data) noexcept {
  check_owner();
  for (UserData* u = user_data_; u != nullptr; u = u->next) {
    if (u->key == key) {
      u->value = data;
      return true;
    }
  }
  std::string_view stored_key = strdup(key);
  if (stored_key.data() == nullptr) return false;
  auto* u = static_cast<UserData*>(alloc(sizeof(UserData), alignof(UserData)));
  if (u == nullptr) return false;
  *u = UserData{user_data_, stored_key, data};
  user_data_ = u;
  return true;
}

void* Pool::user_data(std::string_view key) const noexcept {
  check_owner();
  for (UserData* u = user_data_; u != nullptr; u = u->next) {
    if (u->key == key) return u->value;
  }
  return nullptr;
}

// --- introspection ------------------------------------------------------------------------------

std::size_t Pool::available() const noexcept {
  const std::size_t used = bytes_used();
  const std::size_t own = capacity_ == unlimited ? unlimited : used >= capacity_ ? 0 : capacity_ - used;
  return cascade_ && parent_ != nullptr ? std::min(own, parent_->available()) : own;
}

std::size_t Pool::block_bytes() const noexcept {
  std::size_t bytes = 0;
  for (const MemoryBlock* b = first_; b != nullptr; b = b->next) bytes += b->size;
  return bytes;
}

PoolStats Pool::stats() const noexcept {
  PoolStats s;
  s.bytes_used = bytes_used();
  s.capacity = capacity();
  for (const MemoryBlock* b = first_; b != nullptr; b = b->next) {
    ++s.blocks;
    s.block_bytes += b->size;
  }
  s.held_bytes = s.block_bytes;
  for (const Tracked* t = tracked_; t != nullptr; t = t->next) {
    ++s.large_allocations;
    s.large_bytes += t->bytes;
    s.held_bytes += t->held;
  }
  for (const Pool* c = first_child_; c != nullptr; c = c->next_sibling_) ++s.children;
  for (const Cleanup* c = cleanups_; c != nullptr; c = c->next) ++s.cleanups;
  s.resets = resets_;
  s.capacity_failures = capacity_failures_;
  return s;
}

void Pool::report(std::FILE* out) const noexcept {
  const PoolStats s = stats();
  std::fprintf(out, "pool '%s': %zu bytes used, %zu blocks (%zu bytes), %zu tracked allocations (%zu bytes)\n",
               tag(), s.bytes_used, s.blocks, s.block_bytes, s.large_allocations, s.large_bytes);
  for (const Tracked* t = tracked_; t != nullptr; t = t->next) {
    std::fprintf(out, "  %zu bytes from %s:%u (%s)\n", t->bytes, t->site.file_name(),
                 static_cast<unsigned>(t->site.line()), t->site.function_name());
  }
}

// --- std::pmr::memory_resource ------------------------------------------------------------------

void* Pool::do_allocate(std::size_t bytes, std::size_t align) {
  if (align > max_alignment) throw std::bad_alloc();
  void* p = alloc(bytes, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void Pool::do_deallocate(void* p, std::size_t, std::size_t) { free(p); }

bool Pool::do_is_equal(const std::pmr::memory_resource& other) const noexcept { return this == &other; }

}  // namespace mempool
