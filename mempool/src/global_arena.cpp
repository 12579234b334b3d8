#include "mempool/global_arena.hpp"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>

#include "mempool/detail/align.hpp"
#include "mempool/detail/crash_point.hpp"
#include "mempool/detail/format.hpp"
#include "mempool/detail/sanitizer.hpp"
#include "mempool/shared_arena.hpp"

namespace mempool {

// Header at the start of every page; the page's bytes follow it, 16-byte aligned. The bump
// cursor lives here rather than beside `current`, so moving to a new page is one store.
struct GlobalArena::Page {
  Page* next;        ///< the page made before this one
  std::size_t size;  ///< bytes of the whole page, this header included
  char* cursor;      ///< next free byte; [cursor, end()) is free (dedicated pages: end())
  std::size_t reserved;  ///< keeps the header a multiple of 16

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  char* end() noexcept { return reinterpret_cast<char*>(this) + size; }
};

/// The arena's lock: its own mutex, or the SharedArena's (which can fail: a lock callback refused).
class GlobalArena::Lock {
 public:
  explicit Lock(const GlobalArena& arena) noexcept : mutex_(arena.shared_ ? nullptr : &arena.mutex_) {
    if (mutex_ != nullptr) {
      mutex_->lock();
    } else {
      shared_.emplace(*arena.shared_);
    }
  }
  ~Lock() {
    if (mutex_ != nullptr) mutex_->unlock();
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  bool locked() const noexcept { return mutex_ != nullptr || shared_->locked(); }

 private:
  std::mutex* mutex_;
  std::optional<SharedArena::Guard> shared_;
};

namespace {

// In ASan builds every allocation of a private arena is followed by poisoned bytes, so an overrun
// is caught even when the next allocation starts right after it (LLVM's allocators keep red zones
// the same way). Shared arenas are not poisoned: shadow memory is private to each process.
constexpr std::size_t asan_redzone = MEMPOOL_HAS_ASAN ? 16 : 0;

// No object may be larger than PTRDIFF_MAX; refusing such sizes here also keeps the size
// arithmetic below from overflowing.
constexpr std::size_t max_request = static_cast<std::size_t>(PTRDIFF_MAX) / 2;

// A page's bytes start 16-aligned, so a stricter alignment may cost up to align - 16 bytes.
constexpr std::size_t worst_padding(std::size_t align) noexcept {
  return align > GlobalArena::default_alignment ? align - GlobalArena::default_alignment : 0;
}

std::size_t page_size_for(const GlobalArenaOptions& options) noexcept {
  return std::max(detail::align_up(options.page_size, GlobalArena::min_page_size), GlobalArena::min_page_size);
}

}  // namespace

GlobalArena::GlobalArena(const Options& options) noexcept : page_size_(page_size_for(options)), state_(&own_state_) {}

GlobalArena::GlobalArena(SharedArena& arena, const Options& options)
    : page_size_(page_size_for(options)), state_(nullptr), shared_(&arena), creator_(getpid()) {
  void* memory = arena.alloc(sizeof(State));
  if (memory == nullptr) throw std::bad_alloc();
  state_ = ::new (memory) State{};
}

GlobalArena::~GlobalArena() {
  if (shared_ != nullptr && getpid() != creator_) return;  // a forked child's copy: not its pages
  while (Page* page = state_->pages) {
    state_->pages = page->next;
    if (shared_ != nullptr) {
      shared_->free(page);
    } else {
      detail::unpoison(page, page->size);
      std::free(page);
    }
  }
  if (shared_ != nullptr) shared_->free(state_);
}

std::size_t GlobalArena::redzone() const noexcept { return shared_ ? 0 : asan_redzone; }

std::size_t GlobalArena::page_capacity() const noexcept { return page_size_ - sizeof(Page) - redzone(); }

// The lock is held only to bump and to link a page, never while a page is being obtained, so the
// SharedArena (whose lock a shared arena's is) can be called in between.
void* GlobalArena::alloc(std::size_t n, std::size_t align) noexcept {
  assert(detail::is_power_of_two(align) && align <= max_alignment);
  char* p = nullptr;
  {
    Lock lock(*this);
    if (!lock.locked()) return nullptr;
    if (n <= max_request && state_->current != nullptr) p = bump(state_->current, n, align);
    if (p != nullptr || n > max_request) {
      ++(p != nullptr ? state_->stats.allocations : state_->stats.failures);
      if (p != nullptr) state_->stats.bytes_used += n;
      return p;
    }
  }
  return alloc_in_new_page(n, align);
}

bool GlobalArena::fits_a_page(std::size_t n, std::size_t align) const noexcept {
  return n + worst_padding(align) <= page_capacity();
}

char* GlobalArena::bump(Page* page, std::size_t n, std::size_t align) noexcept {
  const auto room = static_cast<std::size_t>(page->end() - page->cursor);
  const std::size_t pad = detail::padding_for(page->cursor, align);
  if (pad > room || n > room - pad) return nullptr;
  char* p = page->cursor + pad;
  // The red zone may run past the page's end: then the page is simply full.
  page->cursor = p + std::min(n + redzone(), room - pad);  // the one store that hands p out
  detail::crash_point();
  if (!shared_) detail::unpoison(p, n);
  return p;
}

// A request the current page cannot take: a new shared page (the rest of the old one is
// abandoned, as in Swoole: permanent data is written once, so a page is rarely left with much
// room), or a dedicated page for a request no page could share.
char* GlobalArena::alloc_in_new_page(std::size_t n, std::size_t align) noexcept {
  const bool dedicated = !fits_a_page(n, align);
  Page* page = new_page(dedicated ? sizeof(Page) + worst_padding(align) + n : page_size_);
  Lock lock(*this);
  if (!lock.locked()) return nullptr;  // the page stays unlinked: lost, never wrong
  if (page == nullptr) {
    ++state_->stats.failures;
    return nullptr;
  }
  link(page, dedicated);
  char* p = bump(page, n, align);  // fits: fits_a_page() said so, or the page was sized for it
  ++state_->stats.allocations;
  state_->stats.bytes_used += n;
  return p;
}

GlobalArena::Page* GlobalArena::new_page(std::size_t size) noexcept {
  static_assert(sizeof(Page) % default_alignment == 0, "page bytes must start 16-byte aligned");
  void* raw = shared_ ? shared_->alloc(size) : std::malloc(size);
  if (raw == nullptr) return nullptr;
  auto* page = ::new (raw) Page{nullptr, size, nullptr, 0};
  page->cursor = page->data();
  if (!shared_) detail::poison(page->data(), size - sizeof(Page));
  return page;
}

// Each store leaves a state that works, so a process that dies between two of them leaves the
// shared arena whole: the page is unknown, then listed (freed at the end), then current.
void GlobalArena::link(Page* page, bool dedicated) noexcept {
  page->next = state_->pages;  // the page is nobody else's yet
  state_->pages = page;
  detail::crash_point();
  if (!dedicated) {
    state_->current = page;  // later requests bump here; a dedicated page stays out of the way
    detail::crash_point();
  }
  ++state_->stats.pages;
  if (dedicated) ++state_->stats.oversize_pages;
  state_->stats.bytes_reserved += page->size;
}

std::string_view GlobalArena::strdup(std::string_view s) noexcept {
  return detail::strdup_with([this](std::size_t bytes) noexcept { return alloc_unaligned(bytes); }, s);
}

std::string_view GlobalArena::vformat(fmt::string_view text, fmt::format_args args) {
  // The lock is taken only inside alloc(): a formatter may itself allocate from this arena.
  return detail::format_with([this](std::size_t bytes) noexcept { return alloc_unaligned(bytes); }, text, args);
}

GlobalArenaStats GlobalArena::stats() const noexcept {
  Lock lock(*this);
  return lock.locked() ? state_->stats : Stats{};
}

}  // namespace mempool
