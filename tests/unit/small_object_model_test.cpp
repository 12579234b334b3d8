// The SmallObjectAllocator model harness (tests/model/small_object_model.hpp) over seeded inputs
// and over the committed fuzz corpus.
#include <catch2/catch.hpp>

#include "model/run_model.hpp"
#include "model/small_object_model.hpp"

using mempool::test::small_object_model;

// Every size class, the large path, reallocation, the STL adaptor, refusals and the handler,
// in random orders: every byte of every chunk accounted for after every call.
TEST_CASE("SmallObjectAllocator matches the live-object model over random operations (seeded)") {
  mempool::test::run_model_seeded(small_object_model, 0xa110c, 60, 6000);
}

// Whatever the fuzzer once found stays a regression test.
TEST_CASE("SmallObjectAllocator matches the live-object model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus(small_object_model, "small_object") > 0);
}
