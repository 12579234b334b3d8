// The SharedArena model harness (tests/model/shared_arena_model.hpp) over seeded inputs, with
// forked children taking part, and over the committed fuzz corpus.
#include <catch2/catch.hpp>

#include "model/run_model.hpp"
#include "model/shared_arena_model.hpp"

using mempool::test::OpSource;
using mempool::test::shared_arena_model;

// First fit, splitting, coalescing and realloc meet in random orders here, and forked children
// allocate and free on the same mapping between the parent's steps.
TEST_CASE("SharedArena matches the live-block model over random operations with forked children (seeded)") {
  mempool::test::run_model_seeded([](OpSource& in) { shared_arena_model(in, true); }, 31337, 30, 6000);
}

// Whatever the fuzzer once found stays a regression test (single process, as the fuzzer runs it).
TEST_CASE("SharedArena matches the live-block model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus([](OpSource& in) { shared_arena_model(in, false); }, "shared_arena") > 0);
}
