/// \file
/// Fixed seeds for randomised tests. A test takes its seed from here and INFO()s it, so a failure
/// prints the seed; MEMPOOL_TEST_SEED=<n> in the environment replays or varies a run.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>

namespace mempool::test {

inline std::uint64_t test_seed(std::uint64_t fixed) {
  if (const char* env = std::getenv("MEMPOOL_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return fixed;
}

}  // namespace mempool::test
