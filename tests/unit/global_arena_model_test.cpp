// The GlobalArena model harness (tests/model/global_arena_model.hpp) over seeded inputs and over
// the committed fuzz corpus, on private and shared arenas.
#include <catch2/catch.hpp>

#include "model/global_arena_model.hpp"
#include "model/run_model.hpp"

using mempool::test::global_arena_model;

// Alignments, page boundaries, dedicated pages and nested formatting, in random orders.
TEST_CASE("GlobalArena matches the allocation model over random operations (seeded)") {
  mempool::test::run_model_seeded(global_arena_model, 0x61a4e, 60, 4000);
}

// Whatever the fuzzer once found stays a regression test.
TEST_CASE("GlobalArena matches the allocation model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus(global_arena_model, "global_arena") > 0);
}
