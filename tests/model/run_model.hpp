/// \file
/// How a Catch test runs a model harness: over seeded bytes (MEMPOOL_TEST_SEED replays or varies
/// a seed), and over every committed fuzz corpus file of the harness's target, so whatever the
/// fuzzer once found stays a regression test in every pass of scripts/test.sh.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/op_source.hpp"
#include "support/seed.hpp"

#ifndef MEMPOOL_FUZZ_CORPUS_DIR
#error "tests/CMakeLists.txt defines MEMPOOL_FUZZ_CORPUS_DIR for every test executable"
#endif

namespace mempool::test {

/// Runs harness(OpSource&) over `runs` seeded inputs of `bytes` bytes each, seeds fixed + 0..runs-1.
template <class Harness>
void run_model_seeded(Harness harness, std::uint64_t fixed_seed, int runs, std::size_t bytes) {
  const std::uint64_t first = test_seed(fixed_seed);
  for (int i = 0; i < runs; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    ModelRun::current() = {"seed " + std::to_string(seed) + " (replay: MEMPOOL_TEST_SEED=" + std::to_string(seed) + ")"};
    INFO("seed " << seed);
    const std::vector<std::uint8_t> input = seeded_bytes(seed, bytes);
    OpSource in(input.data(), input.size());
    harness(in);
  }
}

/// Runs harness over every file in tests/fuzz/corpus/<target>/; returns how many it ran.
template <class Harness>
int run_model_corpus(Harness harness, const std::string& target) {
  const std::filesystem::path dir = std::filesystem::path(MEMPOOL_FUZZ_CORPUS_DIR) / target;
  int count = 0;
  if (!std::filesystem::is_directory(dir)) return count;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> input{std::istreambuf_iterator<char>(file), {}};
    ModelRun::current() = {"corpus file " + entry.path().string()};
    OpSource in(input.data(), input.size());
    harness(in);
    ++count;
  }
  return count;
}

}  // namespace mempool::test
