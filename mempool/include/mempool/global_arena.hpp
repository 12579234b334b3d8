/// \file
/// GlobalArena: permanent memory for what lives as long as the process — the configuration, the
/// route table, the MIME table (Swoole's MemoryGlobal, FreeSWITCH's permanent pool; DESIGN §3.6).
///
/// A grow-only list of pages bumped one after another; nothing is ever freed one by one
/// (`free`/`deallocate` are no-ops). Unlike Swoole, a request larger than a page is not refused:
/// it gets a dedicated page of its own, so the only failure is the memory source refusing a page.
///
/// Private or shared, as Swoole's `shared` flag. A private arena takes its pages from the heap.
/// A shared arena (made over a SharedArena before fork()) keeps its page list, its bump cursor
/// and its counters inside the SharedArena mapping and takes its pages from it, so memory one
/// forked process allocates is valid, and counted, in all of them.
///
/// Thread safety: every call may be made from any thread at once (a private arena takes its own
/// mutex, a shared one the SharedArena's lock, from any process; the arena is used at start-up
/// and on reloads, never on a request's hot path). Lifetime: destruction releases every page, and
/// with them every pointer and string the arena handed out; no destructor is run. A shared arena's
/// pages go back to the SharedArena when the creating process's object is destroyed.
///
/// Failure policy: nullptr (data() nullptr for strings), never a throw, except what fmt or a user
/// formatter throws from format(), and std::bad_alloc from the shared constructor when the
/// SharedArena cannot hold the state. A process that dies inside a shared arena's call leaves it
/// whole: every change of the page list and the cursor is one store, each leaving a state that
/// works (at worst a page is linked but never bumped into, or one from the SharedArena is never
/// linked); only the counters may miss the dying call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>

#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "mempool/allocator.hpp"

namespace mempool {

class SharedArena;

/// How an arena is built.
struct GlobalArenaOptions {
  /// Bytes per shared page, its header included. Rounded up to a multiple of 4 KiB, at least
  /// 4 KiB. 64 KiB holds a typical config plus its route and MIME tables in a few pages.
  std::size_t page_size = 64 * 1024;
};

/// A snapshot of one arena's counters.
struct GlobalArenaStats {
  std::size_t pages = 0;           ///< pages held, dedicated ones included
  std::size_t oversize_pages = 0;  ///< dedicated pages, each holding one request larger than a page
  std::size_t bytes_reserved = 0;  ///< total size of all pages, headers included
  std::size_t bytes_used = 0;      ///< requested bytes handed out (alignment padding not counted)
  std::uint64_t allocations = 0;   ///< successful alloc() calls, strdup() and format() included
  std::uint64_t failures = 0;      ///< requests refused: the heap or the SharedArena said no, or the size cannot exist
  bool operator==(const GlobalArenaStats&) const = default;
};

class GlobalArena {
 public:
  using Options = GlobalArenaOptions;
  using Stats = GlobalArenaStats;

  static constexpr std::size_t min_page_size = 4096;
  static constexpr std::size_t default_alignment = alignof(std::max_align_t);
  static constexpr std::size_t max_alignment = 4096;

  GlobalArena() : GlobalArena(Options{}) {}
  /// A private arena. Takes no memory yet: the first page is made by the first allocation.
  explicit GlobalArena(const Options& options) noexcept;
  /// A shared arena whose state and pages live in `arena`, for the processes forked after it is
  /// made. Takes a few dozen bytes of `arena` at once (std::bad_alloc if it cannot).
  explicit GlobalArena(SharedArena& arena, const Options& options = {});
  ~GlobalArena();
  GlobalArena(const GlobalArena&) = delete;
  GlobalArena& operator=(const GlobalArena&) = delete;

  // --- allocation (nullptr only when the memory source refuses) -------------------------------
  /// n bytes aligned to `align` (a power of two up to max_alignment), valid until the arena dies.
  /// n == 0 gives a non-null pointer that must not be dereferenced. A request that cannot share a
  /// page (larger than page_capacity() with its padding) gets a dedicated page.
  [[nodiscard]] void* alloc(std::size_t n, std::size_t align = default_alignment) noexcept;
  /// n bytes with no alignment: strings and byte buffers.
  [[nodiscard]] void* alloc_unaligned(std::size_t n) noexcept { return alloc(n, 1); }
  /// Does nothing: memory goes back only when the arena dies. Returns false (nothing released),
  /// as Pool::free does for its small allocations.
  bool free(const void*) noexcept { return false; }

  // --- strings (FreeSWITCH switch_core_permanent_strdup / switch_core_sprintf) ----------------
  /// A NUL-terminated copy of s; the view excludes the NUL. data() is nullptr on failure.
  [[nodiscard]] std::string_view strdup(std::string_view s) noexcept;
  /// fmt formatting into the arena, NUL-terminated; data() is nullptr on failure. Throws only
  /// what fmt or a user formatter throws.
  template <class... Args>
  [[nodiscard]] std::string_view format(fmt::format_string<Args...> text, Args&&... args) {
    return vformat(text, fmt::make_format_args(args...));
  }
  [[nodiscard]] std::string_view vformat(fmt::string_view text, fmt::format_args args);

  // --- introspection --------------------------------------------------------------------------
  /// Bytes per shared page, header included, after rounding.
  std::size_t page_size() const noexcept { return page_size_; }
  /// The largest request (at 16-byte alignment) that shares a page; larger ones get their own.
  std::size_t page_capacity() const noexcept;
  bool shared() const noexcept { return shared_ != nullptr; }
  Stats stats() const noexcept;

  // --- Allocator concept ----------------------------------------------------------------------
  [[nodiscard]] void* allocate(std::size_t n) noexcept { return alloc(n); }
  void deallocate(void*, std::size_t) noexcept {}

 private:
  struct Page;
  class Lock;
  /// The arena's whole state: in this object, or inside the SharedArena for a shared arena.
  struct State {
    Page* pages = nullptr;    ///< every page, dedicated ones too, newest first
    Page* current = nullptr;  ///< the shared page being bumped; nullptr before the first
    Stats stats{};
  };

  char* bump(Page* page, std::size_t n, std::size_t align) noexcept;
  char* alloc_in_new_page(std::size_t n, std::size_t align) noexcept;
  Page* new_page(std::size_t size) noexcept;
  void link(Page* page, bool dedicated) noexcept;
  bool fits_a_page(std::size_t n, std::size_t align) const noexcept;
  std::size_t redzone() const noexcept;

  const std::size_t page_size_;  ///< bytes per shared page, header included; multiple of 4 KiB
  State own_state_;              ///< a private arena's state
  State* state_;                 ///< own_state_, or the shared state inside shared_; guarded by the lock
  mutable std::mutex mutex_;     ///< a private arena's lock
  SharedArena* shared_ = nullptr;  ///< a shared arena's SharedArena: its lock, its memory
  pid_t creator_ = 0;            ///< a shared arena's creating process, which gives the pages back
};

static_assert(Allocator<GlobalArena>);

}  // namespace mempool
