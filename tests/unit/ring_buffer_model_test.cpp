// The RingBuffer model harness (tests/model/ring_buffer_model.hpp) over seeded inputs and over the
// committed fuzz corpus: every operation interleaved, every result and counter as the model says.
#include <mempool/detail/check.hpp>

#include <catch2/catch.hpp>

#include "model/ring_buffer_model.hpp"
#include "model/run_model.hpp"

using mempool::test::ring_buffer_model;

// The size arithmetic (wrap, skip item, exact fit, collection) is where Swoole's ring went wrong,
// and double frees of reused space are where ours did: random schedules against an independent
// model reach the combinations hand-written cases miss. Shared rings also get forked children
// that free and allocate between the parent's steps.
TEST_CASE("RingBuffer matches the FIFO interval model over random operations (seeded)") {
  mempool::RingBuffer::Stats reached;
  mempool::test::run_model_seeded(
      [&](mempool::test::OpSource& in) {
        const mempool::RingBuffer::Stats s = ring_buffer_model(in, true);
        reached.wraps += s.wraps;
        reached.failed_full += s.failed_full;
        reached.failed_fragmented += s.failed_fragmented;
        reached.failed_oversize += s.failed_oversize;
        reached.failed_extends += s.failed_extends;
        reached.extends += s.extends;
        reached.bad_frees += s.bad_frees;
      },
      20240611, 60, 8000);
  // The schedules must reach every case they exist for.
  CHECK(reached.wraps > 0);
  CHECK(reached.failed_full > 0);
  CHECK(reached.failed_fragmented > 0);
  CHECK(reached.failed_oversize > 0);
  CHECK(reached.failed_extends > 0);
  CHECK(reached.extends > 0);
  CHECK((reached.bad_frees > 0) == !MEMPOOL_CHECKS);  // checked builds abort instead (ring_buffer_test.cpp)
}

// Whatever the fuzzer once found stays a regression test.
TEST_CASE("RingBuffer matches the FIFO interval model over the committed fuzz corpus") {
  CHECK(mempool::test::run_model_corpus([](mempool::test::OpSource& in) { ring_buffer_model(in); }, "ring_buffer") > 0);
}
