// The FixedPool model harness (tests/model/fixed_pool_model.hpp) over seeded inputs and over the
// committed fuzz corpus.
#include <catch2/catch.hpp>

#include "model/fixed_pool_model.hpp"
#include "model/run_model.hpp"

using mempool::test::fixed_pool_model;

// Owned and caller memory (short, misaligned, attached twice), every call interleaved: every
// address and every counter as the free-stack model predicts.
TEST_CASE("FixedPool matches the free-stack model over random operations (seeded)") {
  mempool::test::run_model_seeded(fixed_pool_model, 4242, 150, 3000);
}

// Whatever the fuzzer once found stays a regression test.
TEST_CASE("FixedPool matches the free-stack model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus(fixed_pool_model, "fixed_pool") > 0);
}
