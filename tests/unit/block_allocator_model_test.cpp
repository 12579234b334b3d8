// The BlockAllocator against its model (tests/model/block_allocator_model.hpp): every public
// operation, from the owner and from other threads, interleaved at random, over seeded bytes and
// over the committed fuzz corpus. In the thread suite, so that ThreadSanitizer runs it too.
#include <catch2/catch.hpp>

#include "model/block_allocator_model.hpp"
#include "model/run_model.hpp"

// DESIGN §3.1 as a whole. A failure prints the seed and the step; MEMPOOL_TEST_SEED=<seed> replays it.
TEST_CASE("block allocator model: random interleavings of the whole API match the model") {
  mempool::test::run_model_seeded(mempool::test::block_allocator_model, 20261201, 20, 3000);
}

// Whatever the fuzzer once found stays a regression test (tests/fuzz/corpus/block_allocator/).
TEST_CASE("block allocator model: the committed fuzz corpus replays clean") {
  CHECK(mempool::test::run_model_corpus(mempool::test::block_allocator_model, "block_allocator") > 0);
}
