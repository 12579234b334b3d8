#include "mempool/global_arena.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "mempool/detail/align.hpp"
#include "mempool/detail/format.hpp"
#include "mempool/detail/sanitizer.hpp"

namespace mempool {

// Header at the start of every page; the page's bytes follow it, 16-byte aligned.
struct GlobalArena::Page {
  Page* next;        ///< the page made before this one
  std::size_t size;  ///< bytes of the whole page, this header included

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  char* end() noexcept { return reinterpret_cast<char*>(this) + size; }
};

namespace {

// In ASan builds every allocation is followed by poisoned bytes, so an overrun is caught even
// when the next allocation starts right after it (LLVM's allocators keep red zones the same way).
constexpr std::size_t redzone = MEMPOOL_HAS_ASAN ? 16 : 0;

// No object may be larger than PTRDIFF_MAX; refusing such sizes here also keeps the size
// arithmetic below from overflowing.
constexpr std::size_t max_request = static_cast<std::size_t>(PTRDIFF_MAX) / 2;

// A page's bytes start 16-aligned, so a stricter alignment may cost up to align - 16 bytes.
constexpr std::size_t worst_padding(std::size_t align) noexcept {
  return align > GlobalArena::default_alignment ? align - GlobalArena::default_alignment : 0;
}

}  // namespace

GlobalArena::GlobalArena(const Options& options) noexcept
    : page_size_(std::max(detail::align_up(options.page_size, min_page_size), min_page_size)) {}

GlobalArena::~GlobalArena() {
  while (Page* page = pages_) {
    pages_ = page->next;
    detail::unpoison(page, page->size);
    std::free(page);
  }
}

std::size_t GlobalArena::page_capacity() const noexcept { return page_size_ - sizeof(Page) - redzone; }

void* GlobalArena::alloc(std::size_t n, std::size_t align) noexcept {
  assert(detail::is_power_of_two(align) && align <= max_alignment);
  std::lock_guard lock(mutex_);
  char* p = nullptr;
  if (n <= max_request) {
    p = bump(n, align);
    if (p == nullptr) p = fits_a_page(n, align) ? bump_in_new_page(n, align) : alloc_dedicated(n, align);
  }
  if (p == nullptr) {
    ++stats_.failures;
    return nullptr;
  }
  ++stats_.allocations;
  stats_.bytes_used += n;
  return p;
}

bool GlobalArena::fits_a_page(std::size_t n, std::size_t align) const noexcept {
  return n + worst_padding(align) <= page_capacity();
}

char* GlobalArena::bump(std::size_t n, std::size_t align) noexcept {
  if (cursor_ == nullptr) return nullptr;  // no page yet
  const auto room = static_cast<std::size_t>(limit_ - cursor_);
  const std::size_t pad = detail::padding_for(cursor_, align);
  if (pad > room || n > room - pad) return nullptr;
  char* p = cursor_ + pad;
  // The red zone may run past the page's end: then the page is simply full.
  cursor_ = p + std::min(n + redzone, room - pad);
  detail::unpoison(p, n);
  return p;
}

char* GlobalArena::bump_in_new_page(std::size_t n, std::size_t align) noexcept {
  // The rest of the old current page is abandoned, as in Swoole: permanent data is written once,
  // so a page is rarely left with much room.
  Page* page = new_page(page_size_);
  if (page == nullptr) return nullptr;
  cursor_ = page->data();
  limit_ = page->end();
  return bump(n, align);  // fits: the caller checked
}

char* GlobalArena::alloc_dedicated(std::size_t n, std::size_t align) noexcept {
  // Not made current: it is full, and the current page keeps serving small requests.
  Page* page = new_page(sizeof(Page) + worst_padding(align) + n);
  if (page == nullptr) return nullptr;
  ++stats_.oversize_pages;
  char* p = detail::align_pointer(page->data(), align);
  detail::unpoison(p, n);
  return p;
}

GlobalArena::Page* GlobalArena::new_page(std::size_t size) noexcept {
  static_assert(sizeof(Page) % default_alignment == 0, "page bytes must start 16-byte aligned");
  void* raw = std::malloc(size);
  if (raw == nullptr) return nullptr;
  auto* page = ::new (raw) Page{pages_, size};
  detail::poison(page->data(), size - sizeof(Page));
  pages_ = page;
  ++stats_.pages;
  stats_.bytes_reserved += size;
  return page;
}

std::string_view GlobalArena::strdup(std::string_view s) noexcept {
  return detail::strdup_with([this](std::size_t bytes) noexcept { return alloc_unaligned(bytes); }, s);
}

std::string_view GlobalArena::vformat(fmt::string_view text, fmt::format_args args) {
  // The lock is taken only inside alloc(): a formatter may itself allocate from this arena.
  return detail::format_with([this](std::size_t bytes) noexcept { return alloc_unaligned(bytes); }, text, args);
}

GlobalArenaStats GlobalArena::stats() const noexcept {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace mempool
