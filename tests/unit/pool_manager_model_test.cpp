// The PoolManager model harness (tests/model/pool_manager_model.hpp) over seeded inputs, with
// releases and reclaims on other threads (this suite runs under ThreadSanitizer too), and over
// the committed fuzz corpus.
#include <catch2/catch.hpp>

#include "model/pool_manager_model.hpp"
#include "model/run_model.hpp"

using mempool::test::OpSource;
using mempool::test::pool_manager_model;

// Immediate and deferred modes, both caps, trim periods, stop, and pools released away from their
// owner, interleaved: every pool an acquire returns and every counter as the model says.
TEST_CASE("PoolManager matches the recycling model over random operations with other threads (seeded)") {
  mempool::test::run_model_seeded([](OpSource& in) { pool_manager_model(in, true); }, 1987, 40, 3000);
}

// Whatever the fuzzer once found stays a regression test (single-threaded, as the fuzzer runs it).
TEST_CASE("PoolManager matches the recycling model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus([](OpSource& in) { pool_manager_model(in, false); }, "pool_manager") > 0);
}
