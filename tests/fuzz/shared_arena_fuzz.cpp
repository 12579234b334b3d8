// libFuzzer target: the SharedArena model harness over the fuzzer's bytes, in one process (forked
// children are the Catch test's part: a fork per input would slow the fuzzer a hundredfold).
#include "model/shared_arena_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::shared_arena_model(in, false);
  return 0;
}
