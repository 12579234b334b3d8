/// \file
/// GuardedMemory: caller memory for an allocator that formats a region it is given (RingBuffer,
/// FixedPool), with guard bytes on both sides that the allocator must never write. The start may
/// be misaligned on purpose, as a caller's buffer may be.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

namespace mempool::test {

class GuardedMemory {
 public:
  static constexpr std::size_t guard = 64;
  static constexpr unsigned char guard_byte = 0xA5;

  /// `bytes` of memory starting `misalign` bytes past a 16-byte boundary.
  GuardedMemory(std::size_t bytes, std::size_t misalign)
      : total_(bytes + 2 * guard + misalign), raw_(new unsigned char[total_]), start_(raw_.get() + guard + misalign),
        bytes_(bytes) {
    std::memset(raw_.get(), guard_byte, total_);
  }
  unsigned char* start() const { return start_; }
  std::size_t bytes() const { return bytes_; }
  bool guards_intact() const {
    for (const unsigned char* p = raw_.get(); p < start_; ++p) {
      if (*p != guard_byte) return false;
    }
    for (const unsigned char* p = start_ + bytes_; p < raw_.get() + total_; ++p) {
      if (*p != guard_byte) return false;
    }
    return true;
  }

 private:
  std::size_t total_;
  std::unique_ptr<unsigned char[]> raw_;  // operator new[]: 16-byte aligned
  unsigned char* start_;
  std::size_t bytes_;
};

}  // namespace mempool::test
