/// \file
/// OpSource: the bytes that drive a model harness, whoever supplies them. A model test feeds it
/// bytes from a seeded generator; a libFuzzer target feeds it the fuzzer's input; both run the
/// same harness (tests/model/<allocator>_model.hpp), so one piece of code states each contract.
///
/// Exhausted input reads as zeros: a harness loops `while (!in.done())`, so every input, however
/// short, is a valid (possibly empty) operation sequence.
///
/// MODEL_CHECK(cond) is the harness's assertion: on failure it prints the expression, where, the
/// input's provenance (seed or file, see ModelRun) and the step, then aborts. Aborting (instead of
/// throwing) works the same under Catch, libFuzzer and inside noexcept callbacks such as cleanups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace mempool::test {

class OpSource {
 public:
  OpSource(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  bool done() const noexcept { return pos_ >= size_; }
  std::size_t consumed() const noexcept { return pos_; }

  std::uint8_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }
  std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
  bool flag() noexcept { return (byte() & 1) != 0; }
  /// A value in [0, n); 0 when n == 0.
  std::size_t below(std::size_t n) noexcept { return n == 0 ? 0 : u32() % n; }
  /// A value in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) noexcept { return lo + below(hi - lo + 1); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// Where the current run's bytes came from and how far it got, for the failure message.
struct ModelRun {
  std::string origin = "fuzz input";
  std::size_t step = 0;
  const char* op = "";

  static ModelRun& current() noexcept {
    static ModelRun run;
    return run;
  }
};

[[noreturn]] inline void model_check_failed(const char* expr, const char* file, int line) noexcept {
  const ModelRun& run = ModelRun::current();
  std::fprintf(stderr, "model check failed: %s (%s:%d)\n  input: %s, step %zu, operation %s\n", expr, file, line,
               run.origin.c_str(), run.step, run.op);
  std::fflush(stderr);
  std::abort();
}

/// `count` bytes from a seeded generator: the model test's input.
inline std::vector<std::uint8_t> seeded_bytes(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> bytes(count);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return bytes;
}

}  // namespace mempool::test

#define MODEL_CHECK(cond) \
  ((cond) ? void(0) : ::mempool::test::model_check_failed(#cond, __FILE__, __LINE__))
