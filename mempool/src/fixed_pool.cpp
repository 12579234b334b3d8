#include "mempool/fixed_pool.hpp"

#include <cstdio>
#include <limits>
#include <stdexcept>

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
    : owned_(::operator new(region_size(slice_size, slice_count), heap_alignment)) {
  format(static_cast<char*>(owned_), slice_size, slice_count);
  poison_ = true;
  detail::poison(slices_, std::size_t{ctl_->slice_count} * ctl_->slice_size);
}

FixedPool::FixedPool(std::size_t slice_size, void* memory, std::size_t bytes) noexcept {
  char* start = detail::align_pointer(static_cast<char*>(memory), alignment);
  const auto pad = static_cast<std::size_t>(start - static_cast<char*>(memory));
  const std::size_t usable = bytes > pad ? bytes - pad : 0;
  if (usable < sizeof(Control)) {
    // Not even room for the header: an empty pool whose counters live in the object.
    MEMPOOL_EXPECT(false, "FixedPool: memory too small for the pool header");
    format(reinterpret_cast<char*>(&fallback_), slice_size, 0);
    return;
  }
  format(start, slice_size, slices_that_fit(slice_size, usable));
}

FixedPool::FixedPool(Attach, void* memory) {
  char* start = detail::align_pointer(static_cast<char*>(memory), alignment);
  if (reinterpret_cast<Control*>(start)->magic != format_magic) {
    throw std::invalid_argument("FixedPool::attach: no FixedPool was formatted at this address");
  }
  bind(start);
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
  // Each slice costs its stride plus one link; the estimate is off by at most the header's
  // alignment padding, which the loop takes back.
  std::size_t count = (bytes - sizeof(Control)) / (slice_stride(slice_size) + sizeof(std::uint32_t));
  if (count > in_use_mark) count = in_use_mark;
  while (count != 0 && region_size(slice_size, count) > bytes) --count;
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
