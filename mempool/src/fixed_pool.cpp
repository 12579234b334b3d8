#include "mempool/fixed_pool.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "mempool/detail/align.hpp"
#include "mempool/detail/check.hpp"

namespace mempool {

namespace {

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
constexpr std::align_val_t heap_alignment{64};  // the header and the first slices share no line with others

/// Bytes per slice for a requested size: a multiple of the alignment, never 0.
std::size_t slice_stride(std::size_t requested) noexcept {
  if (requested > size_max / 2) return size_max;
  return requested == 0 ? FixedPool::alignment : detail::align_up(requested, FixedPool::alignment);
}

/// A heap region of `bytes`; SIZE_MAX means the size overflowed. Throws std::bad_alloc either way
/// (asked outright, SIZE_MAX would make sanitizer builds abort rather than throw).
void* allocate_region(std::size_t bytes) {
  if (bytes == size_max) throw std::bad_alloc();
  return ::operator new(bytes, heap_alignment);
}

}  // namespace

// --- construction -----------------------------------------------------------------------------

std::size_t FixedPool::links_end(std::size_t slice_count) noexcept {
  return sizeof(Control) + slice_count * sizeof(std::uint32_t);
}

std::size_t FixedPool::region_size(std::size_t slice_size, std::size_t slice_count) noexcept {
  // Indices must stay below the two reserved link values.
  if (slice_count > in_use_mark) return size_max;
  const std::size_t stride = slice_stride(slice_size);
  const std::size_t head = detail::align_up(links_end(slice_count), alignment);
  if (stride == size_max || (slice_count != 0 && stride > (size_max - head) / slice_count)) return size_max;
  return head + slice_count * stride;
}

FixedPool::FixedPool(std::size_t slice_size, std::size_t slice_count)
    : owned_(allocate_region(region_size(slice_size, slice_count))) {
  format(static_cast<char*>(owned_), slice_size, slice_count);
  poison_ = true;
  detail::poison(slices_, std::size_t{ctl_->slice_count} * ctl_->slice_size);
}

FixedPool::FixedPool(std::size_t slice_size, void* memory, std::size_t bytes) noexcept {
  char* start = detail::align_pointer(static_cast<char*>(memory), alignment);
  const auto pad = static_cast<std::size_t>(start - static_cast<char*>(memory));
  const std::size_t usable = bytes > pad ? bytes - pad : 0;
  if (usable < sizeof(Control)) {
    format(reinterpret_cast<char*>(&fallback_), slice_size, 0);  // the header lives in the object
    return;
  }
  format(start, slice_size, slices_that_fit(slice_size, usable));
}

FixedPool::FixedPool(Attach, void* memory, std::size_t bytes) {
  char* start = detail::align_pointer(static_cast<char*>(memory), alignment);
  const auto pad = static_cast<std::size_t>(start - static_cast<char*>(memory));
  if (const char* why = invalid_region(start, bytes > pad ? bytes - pad : 0)) {
    throw std::invalid_argument(std::string("FixedPool::attach: ") + why);
  }
  bind(start);
}

// What is wrong with the region at `start` (`bytes` long), or nullptr if it is a FixedPool that
// fits: every header field, then every link, then the free list walked to its end.
const char* FixedPool::invalid_region(const char* start, std::size_t bytes) noexcept {
  if (bytes < sizeof(Control)) return "the memory is too small for a FixedPool header";
  Control c;
  std::memcpy(&c, start, sizeof c);
  if (c.magic != format_magic) return "no FixedPool was formatted at this address";
  if (c.slice_size == 0 || c.slice_size % alignment != 0 || c.slice_size > size_max / 2 + alignment) {
    return "the slice size is not one a FixedPool uses";
  }
  if (c.slice_count > in_use_mark) return "the slice count is out of range";
  if (c.slices_offset != detail::align_up(links_end(c.slice_count), alignment)) return "the slices are not where the header says";
  if (c.slices_offset > bytes) return "the free-list links run past the end of the memory";
  if (c.slice_count != 0 && c.slice_size > (bytes - c.slices_offset) / c.slice_count) {
    return "the slices run past the end of the memory";
  }
  if (c.in_use > c.slice_count || c.peak < c.in_use || c.peak > c.slice_count) return "the in-use counts are out of range";
  if (c.allocs - c.frees != c.in_use) return "the alloc and free counts disagree with the slices in use";
  const auto* links = reinterpret_cast<const std::uint32_t*>(start + sizeof(Control));
  std::size_t marked = 0;
  for (std::uint32_t i = 0; i < c.slice_count; ++i) {
    const std::uint32_t link = links[i];
    if (link == in_use_mark) {
      ++marked;
    } else if (link != end_of_list && link >= c.slice_count) {
      return "a free-list link points outside the pool";
    }
  }
  if (marked != c.in_use) return "the slices marked in use disagree with the count";
  // The free list must visit exactly the free slices, each once, and end.
  std::size_t length = 0;
  for (std::uint32_t i = c.free_head; i != end_of_list; i = links[i]) {
    if (i >= c.slice_count || links[i] == in_use_mark || ++length > c.slice_count - c.in_use) {
      return "the free list is broken (out of range, through a slice in use, or a cycle)";
    }
  }
  if (length != c.slice_count - c.in_use) return "the free list misses free slices";
  return nullptr;
}

FixedPool::~FixedPool() {
  if (owned_ == nullptr) return;
  if (ctl_->in_use != 0) {
    std::fprintf(stderr, "mempool: FixedPool destroyed with %u slices still in use\n", ctl_->in_use);
  }
  detail::unpoison(slices_, std::size_t{ctl_->slice_count} * ctl_->slice_size);
  ::operator delete(owned_, heap_alignment);
}

std::size_t FixedPool::slices_that_fit(std::size_t slice_size, std::size_t bytes) noexcept {
  const std::size_t stride = slice_stride(slice_size);
  if (stride == size_max) return 0;  // no slice that large fits any memory
  // Each slice costs its stride plus one link (no overflow: stride <= SIZE_MAX / 2 + 16). The
  // header's alignment padding (< 16 bytes, less than one slice) may cost one slice back.
  std::size_t count = (bytes - sizeof(Control)) / (stride + sizeof(std::uint32_t));
  if (count > in_use_mark) count = in_use_mark;
  if (count != 0 && region_size(slice_size, count) > bytes) --count;
  return count;
}

void FixedPool::format(char* start, std::size_t slice_size, std::size_t slice_count) noexcept {
  auto* c = ::new (start) Control{};
  c->slice_size = slice_stride(slice_size);
  c->slices_offset = detail::align_up(links_end(slice_count), alignment);
  c->slice_count = static_cast<std::uint32_t>(slice_count);
  bind(start);
  // Free list in address order, so a fresh pool hands out slices front to back.
  for (std::uint32_t i = 0; i < c->slice_count; ++i) links_[i] = i + 1;
  if (slice_count != 0) links_[slice_count - 1] = end_of_list;
  c->free_head = slice_count != 0 ? 0 : end_of_list;
  c->magic = format_magic;  // last: a region is attachable only once it is complete
}

void FixedPool::bind(char* start) noexcept {
  ctl_ = reinterpret_cast<Control*>(start);
  links_ = reinterpret_cast<std::uint32_t*>(start + sizeof(Control));
  slices_ = start + ctl_->slices_offset;
}

// --- slow paths -------------------------------------------------------------------------------

void* FixedPool::alloc_failed() noexcept {
  ++ctl_->failed_exhausted;
  return nullptr;
}

bool FixedPool::bad_free(bool was_slice) noexcept {
  // Counted first, so the event is on record (in the region) even when the check aborts.
  if (was_slice) {
    ++ctl_->double_frees;
    MEMPOOL_EXPECT(false, "FixedPool::free: double free (the slice is not allocated)");
  } else {
    ++ctl_->invalid_frees;
    MEMPOOL_EXPECT(false, "FixedPool::free: pointer is not the start of a slice of this pool");
  }
  return false;
}

// --- queries ----------------------------------------------------------------------------------

bool FixedPool::owns(const void* p) const noexcept {
  std::size_t i;
  return index_of(p, i);
}

bool FixedPool::is_live(const void* p) const noexcept {
  std::size_t i;
  return index_of(p, i) && links_[i] == in_use_mark;
}

FixedPool::Stats FixedPool::stats() const noexcept {
  Stats s;
  s.slice_size = ctl_->slice_size;
  s.slices_total = ctl_->slice_count;
  s.in_use = ctl_->in_use;
  s.peak = ctl_->peak;
  s.allocs = ctl_->allocs;
  s.frees = ctl_->frees;
  s.failed_exhausted = ctl_->failed_exhausted;
  s.failed_oversize = ctl_->failed_oversize;
  s.double_frees = ctl_->double_frees;
  s.invalid_frees = ctl_->invalid_frees;
  return s;
}

}  // namespace mempool
